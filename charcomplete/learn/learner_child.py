"""The background learner's process: `python -P -m charcomplete.learn.learner_child MODEL SETTINGS`,
started by `charcomplete.learn.learner.Learner` (through `core.selfrun`, never from the current
directory). It reads the editor's messages from stdin, writes its own to stdout (one JSON line
each), logs to stderr (`learner.log`, capped), and runs the learning session
(`learner_session`) at idle priority, so a suggestion never waits behind a training step.

The parts: `learner_text` (what it learns from), `learner_session` (the loop), `learner_publish`
(what a publish must pass and where it writes), `learner_log` (its log lines)."""

from __future__ import annotations

import os
import queue
import signal
import sys
import threading

from charcomplete.core.errors import CharcompleteError
from charcomplete.core.logs import CappedLog, stderr_to_capped_log, without_text
from charcomplete.core.priority import run_when_idle
from charcomplete.learn.learner import Failed, Message, decode_message, encode_message, settings_from_json
from charcomplete.learn.learner_log import log
from charcomplete.learn.learner_session import EDITOR_GONE, learn


class _PipeOutbox:
    """Messages to the editor, one JSON line each; an editor that is gone is not an error."""

    def __init__(self, fd: int):
        self._stream = os.fdopen(fd, "wb")
        self.open = True

    def put(self, message: Message) -> None:
        if not self.open:
            return
        try:
            self._stream.write(encode_message(message))
            self._stream.flush()
        except (OSError, ValueError):
            self.open = False  # the editor has exited: the learner may still finish a handed-over publish


def _read_editor(stream, inbox: queue.Queue) -> None:
    for line in stream:
        message = decode_message(line)
        if message is not None:
            inbox.put(message)
    inbox.put(EDITOR_GONE)


def main(argv: list[str]) -> int:
    model_name, settings = argv[0], settings_from_json(argv[1])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # in its own session already; a stray Ctrl-C is not for it
    try:
        os.nice(settings.nice)
    except OSError:
        pass  # not allowed on this system: learning at normal priority is still correct
    run_when_idle(whole_process=True)  # on top of the niceness: the learner takes only spare CPU
    # stdout is the channel to the editor; whatever else writes to it (torch warnings) goes to the log.
    outbox = _PipeOutbox(os.dup(1))
    os.dup2(2, 1)
    stderr_to_capped_log(2)  # the log stays capped as it grows; tracebacks leave out their messages
    sys.stdout = CappedLog(1)
    inbox: queue.Queue = queue.Queue()
    threading.Thread(target=_read_editor, args=(sys.stdin.buffer, inbox), daemon=True).start()
    log(f"learner started (model {model_name!r}, nice {settings.nice}, {settings.threads} thread(s))")
    try:
        learn(model_name, settings, inbox, outbox)
    except BaseException as error:  # noqa: BLE001 - the editor is told in one sentence; the log has the rest
        sys.stderr.write(without_text(error))
        outbox.put(Failed(message=_one_sentence(error)))
        return 1
    return 0


def _one_sentence(error: BaseException) -> str:
    if isinstance(error, CharcompleteError):
        return str(error)
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}{': ' + text[:160] if text else ''} (details in learner.log)"


def exit_now(code: int) -> None:
    """Leave without interpreter finalisation. Everything worth keeping is already on disk
    (publishes are atomic and synced) and in the log (flushed per line); finalising would
    only tear down the still-blocked reader thread and torch's thread pools, which aborted
    the process now and then ("terminate called without an active exception", exit -6)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


if __name__ == "__main__":
    exit_now(main(sys.argv[1:]))
