"""The background learner, editor side: the settings, the messages both sides exchange,
and `Learner`, the editor's handle on the learner process (the learning itself is in
`charcomplete.learn.learner_child`, which imports torch; this module never does, so the editor
can import it).

Why a process and not a thread: the Python parts of a training loop hold the GIL and
would stall typing in the editor. It is started with
`subprocess` (a clean interpreter, nothing of the editor's state, no forked threads) in
its own session, so the terminal's Ctrl-C, Ctrl-Z and hang-up are the editor's business
alone, and so it can outlive the editor: quitting hands the final publish over to it
(`Learner.hand_over`) instead of waiting for it.

The protocol: one JSON object per line, each a frozen dataclass below ("type" names the
class). The editor writes to the child's stdin, the child answers on its stdout; its
stderr is the learner's log (`learner.log`, in the state folder). The end of the
editor's stream without a `Stop` means the editor is gone without asking for a publish.

What it learns is described in `charcomplete.learn.learner_text`, what a publish must pass
and where it publishes in `charcomplete.learn.learner_publish`.

`forget --all` reaches running learners through the forget generation: a file in the
state folder whose content changes at every forget. A learner remembers it at start and
checks it before every publish; when it changed, the learner drops what it holds and
stops without publishing.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import subprocess
import threading
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

LOG_NAME = "learner.log"  # under locations().state: what the learner did (reads, steps, publishes, refusals)
FORGET_GENERATION_FILE = "forget-generation"  # under locations().state; rewritten by every `forget`


@dataclass(frozen=True)
class LearnerSettings:
    publish_every_s: float = 25.0  # publish improved weights this often...
    publish_every_steps: int = 0  # ...or after this many updates (0: time only)
    batch: int = 16  # lanes per update
    seq_len: int = 64  # characters per lane per update
    lr: float = 5e-4  # gentle: the model already knows the user's folders; it should adapt, not forget
    warmup_steps: int = 20  # a fresh optimizer's first steps are the least reliable
    user_share: float = 0.7  # share of updates taken from the document at hand (the rest: the model's sources)
    recent_bytes: int = 4096  # the document's latest text: sampled most; its held-out lines judge a publish
    heldout_every: int = 5  # one document line in this many (by a hash of its text) is held out of training
    min_heldout_bytes: int = 48  # less held-out text of the user's than this: no publish yet (nothing to judge on)
    # Learning on the built-in model creates the user's own model and makes it the one in use (the
    # built-in is never written): only once this much of the user's held-out text judges it, about
    # 2,000 characters of complete lines. Issue 26: a one-step publish on an 85-character note made a
    # model the default, with a held-out figure measured on that note.
    min_create_heldout_bytes: int = 400
    # How much worse than the model's starting figure on general held-out text (heldout.txt, the sources'
    # validation documents) a publish may be. Adapting to one person moves a model a little away from text in
    # general; a hard zero would refuse nearly every publish. Measured against the figure the model had when
    # it was created (not the last publish), so that many publishes cannot add up to more than this.
    general_tolerance_bpc: float = 0.02
    background_bytes: int = 2_000_000  # cap on the text kept from the folders the model was trained on
    background_file_bytes: int = 256_000  # files larger than this in those folders are left out
    background_scan_bytes: int = 8_000_000  # at most this much is read from those folders (see file_limit)
    # Passes over the document's training text, at most (and at most `idle_steps` updates after it last
    # changed). More overfits a few kilobytes: with 15 passes over 2 KB of typed notes, benchmarks/
    # editor_learning.py saw the held-out lines get 0.1-0.35 bpc worse and every publish refused.
    passes: float = 2.0
    idle_steps: int = 300
    lock_timeout_s: float = 0.5  # a busy model lock (`charcomplete train`) skips a publish, never waits long
    progress_every_s: float = 1.0
    threads: int = 1
    nice: int = 10
    seed: int = 0


# ---------------------------------------------------------------- messages


@dataclass(frozen=True)
class Text:
    """editor -> learner: the whole document (as the user allows it to be learned), when it changed."""

    text: str


@dataclass(frozen=True)
class Pause:
    """editor -> learner: learn nothing until Resume."""


@dataclass(frozen=True)
class Resume:
    """editor -> learner: learning may go on."""


@dataclass(frozen=True)
class Stop:
    """editor -> learner: publish what is worth keeping, then exit."""


@dataclass(frozen=True)
class Ready:
    """learner -> editor: torch is imported and the model loaded; `model` is the one it learns on."""

    model: str
    steps: int = 0


@dataclass(frozen=True)
class SourcesRead:
    """learner -> editor: what it read from the folders the model was trained on."""

    files: tuple[str, ...]  # the files it read (after exclusions), at most `listed` of them named
    total_files: int
    bytes: int
    skipped: str  # the scan's skip summary, e.g. "skipped 3 files: 2 excluded, 1 hidden"


@dataclass(frozen=True)
class Progress:
    steps: int
    bpc: float | None  # training loss on the user's text, bits per character (smoothed)
    paused: bool


@dataclass(frozen=True)
class Published:
    """learner -> editor: new weights are saved under `name` (swap them in)."""

    name: str
    steps: int
    bpc: float  # on the user's held-out text
    was: float  # the previous weights on the same text
    general_bpc: float | None = None  # on the general held-out text, when there is some
    created: bool = False  # `name` is the user's own model, created by this publish (and now in use)


@dataclass(frozen=True)
class Refused:
    """learner -> editor: a publish was refused; the weights went back to the last published ones."""

    reason: str
    steps: int


@dataclass(frozen=True)
class Busy:
    """learner -> editor: another process (`charcomplete train`) holds the model's lock; tried again later."""

    steps: int


@dataclass(frozen=True)
class Rebased:
    """learner -> editor: someone else saved the model meanwhile; learning starts again from their weights."""

    name: str
    steps: int


@dataclass(frozen=True)
class Forgotten:
    """learner -> editor: `charcomplete forget` ran; the learner dropped everything and stops."""

    steps: int


@dataclass(frozen=True)
class Stopped:
    steps: int


@dataclass(frozen=True)
class Failed:
    """learner -> editor: the learner failed (details in its log) and exits."""

    message: str


@dataclass(frozen=True)
class OnlineStart:
    """surface -> learner: start online weights for a new session from the weights last
    published (or loaded): the surface suggests with those now (`online_remote`). A surface
    may hold several at once (the language server, one per open document)."""

    session: int  # names this session; its chunks, answers, document starts, resets and end carry it


@dataclass(frozen=True)
class OnlineChunk:
    """editor -> learner: the next `ONLINE_CHUNK` bytes typed; take one online step on them."""

    session: int
    seq: int  # counts the chunks since OnlineStart; the answer carries it
    data: str  # the bytes, base64


@dataclass(frozen=True)
class OnlineDocument:
    """surface -> learner: what is typed next in `session` starts a new document (reset its hidden state)."""

    session: int


@dataclass(frozen=True)
class OnlineReset:
    """surface -> learner: drop what `session`'s online weights learned (forget, exclusions, pause)."""

    session: int


@dataclass(frozen=True)
class OnlineEnd:
    """surface -> learner: `session` is over (its document closed, or new weights replaced it):
    its online weights and their file go."""

    session: int


@dataclass(frozen=True)
class OnlineUpdated:
    """learner -> surface: `session`'s online weights took chunk `seq`; they are in
    `online_remote.weights_path`. NaN bits: the learner holds no such session (it was let go to
    make room for newer ones: `learner_online.MAX_SESSIONS`), and no file."""

    session: int
    seq: int
    bits: float  # bits per byte the weights gave the chunk before the step


Message = (Text | Pause | Resume | Stop | Ready | SourcesRead | Progress | Published | Refused | Busy
           | Rebased | Forgotten | Stopped | Failed | OnlineStart | OnlineChunk | OnlineDocument | OnlineReset
           | OnlineEnd | OnlineUpdated)
_MESSAGE_TYPES = {cls.__name__: cls for cls in Message.__args__}


def encode_message(message: Message) -> bytes:
    return json.dumps({"type": type(message).__name__, **asdict(message)}).encode() + b"\n"


def decode_message(line: bytes) -> Message | None:
    """The message on `line`, or None for anything that is not one (never raises)."""
    try:
        record = json.loads(line)
        cls = _MESSAGE_TYPES[record.pop("type")]
        names = {f.name for f in fields(cls)}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in record.items() if k in names}
        return cls(**values)
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return None


def settings_to_json(settings: LearnerSettings) -> str:
    return json.dumps(asdict(settings))


def settings_from_json(text: str) -> LearnerSettings:
    return LearnerSettings(**json.loads(text))


# ---------------------------------------------------------------- forget generation


def _generation_path() -> Path:
    from charcomplete.core.paths import locations

    return locations().state / FORGET_GENERATION_FILE


def forget_generation() -> str:
    """The current forget generation ("" before the first forget)."""
    try:
        return _generation_path().read_text(encoding="ascii", errors="replace")[:64]
    except OSError:
        return ""


def forget_generation_stamp() -> tuple[int, int] | None:
    """What identifies the current forget generation, for a resident process that asks before
    every answer: one stat, no read (every `forget` writes a new file: a new inode)."""
    try:
        info = os.stat(_generation_path())
    except OSError:
        return None
    return info.st_ino, info.st_mtime_ns


def new_forget_generation() -> None:
    """Tell every running learner that what it holds is forgotten (called by `forget` before it deletes)."""
    from charcomplete.core.paths import private_dir
    from charcomplete.storage.atomic import atomic_write_bytes

    path = _generation_path()
    private_dir(path.parent)
    atomic_write_bytes(path, uuid.uuid4().hex.encode())


def log_path() -> Path:
    from charcomplete.core.paths import locations

    return locations().state / LOG_NAME


@dataclass(frozen=True)
class Exited:
    """handle -> surface (never on the wire): the learner process is gone; `how` says how."""

    how: str


# ---------------------------------------------------------------- editor side


class Learner:
    """A surface's handle on the learner process. Nothing here blocks the caller for long.

    Its messages reach the surface through `on_message`, called on the handle's reader thread
    as each arrives (the surface hands it to its own loop or lock); without one they wait for
    `poll`."""

    def __init__(self, model_name: str, settings: LearnerSettings | None = None,
                 on_message: Callable[[Message], None] | None = None):
        self.model_name = model_name
        self.on_message = on_message
        # The online weights' answers go to their session's listener, not to `on_message`: they are
        # the business of the thread waiting for them (`online_remote.RemoteAdapter`), not of the
        # surface's loop.
        self._online_listeners: dict[int, Callable[[OnlineUpdated | None], None]] = {}
        self._listeners_lock = threading.Lock()
        self.settings = settings or LearnerSettings()
        self.process: subprocess.Popen | None = None
        self.stopped = False  # told to stop (or handed over): nothing more is sent
        self.ready = False  # it said Ready: torch is imported and the model loaded
        self._received: queue.Queue = queue.Queue()
        self._outgoing: list[Message] = []  # waiting for the writer thread; a newer Text replaces an older one
        self._outgoing_ready = threading.Condition()
        self._reading_done = False  # its output ended: no online answer will come

    def start(self) -> Learner:
        from charcomplete.core.logs import open_log
        from charcomplete.core.paths import private_dir
        from charcomplete.core.selfrun import CHILD_CWD, python_module_command

        path = log_path()
        private_dir(path.parent)
        log = open_log(path)  # capped now, and by the learner as it writes (core.logs)
        env = dict(os.environ)
        # Before torch is imported in the child, so its thread pools are sized once, small.
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(self.settings.threads)
        try:
            self.process = subprocess.Popen(
                [*python_module_command("charcomplete.learn.learner_child"), self.model_name,
                 settings_to_json(self.settings)],
                cwd=CHILD_CWD,  # never the user's directory: see selfrun
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=env,
                start_new_session=True,  # the terminal's signals are the editor's; it may outlive the editor
                close_fds=True,
            )
        finally:
            os.close(log)
        threading.Thread(target=self._read, name="learner-read", daemon=True).start()
        threading.Thread(target=self._write, name="learner-write", daemon=True).start()
        return self

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def is_alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def exit_description(self) -> str:
        code = None if self.process is None else self.process.poll()
        if code is None:
            return "still running"
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exit status {code}"

    # ------------------------------------------------------------ talking to it

    def _read(self) -> None:
        for line in self.process.stdout:
            message = decode_message(line)
            if isinstance(message, OnlineUpdated):
                with self._listeners_lock:
                    listener = self._online_listeners.get(message.session)
                if listener is not None:
                    listener(message)
            elif message is not None:
                self.ready = self.ready or isinstance(message, Ready)
                if self.on_message is not None:
                    try:
                        self.on_message(message)
                    except Exception:  # noqa: BLE001 - a surface's mistake must not stop the reading
                        logging.getLogger(__name__).exception("a learner message was not handled")
                else:
                    self._received.put(message)
        with self._listeners_lock:
            listeners, self._reading_done = list(self._online_listeners.values()), True
        for listener in listeners:  # None: no more answers will come
            listener(None)
        if self.on_message is not None:  # the end of its output: the process is gone, or going
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            try:
                self.on_message(Exited(self.exit_description()))
            except Exception:  # noqa: BLE001
                logging.getLogger(__name__).exception("a learner message was not handled")

    def _write(self) -> None:
        stream = self.process.stdin
        while True:
            with self._outgoing_ready:
                while not self._outgoing:
                    self._outgoing_ready.wait()
                batch, self._outgoing = self._outgoing, []
            try:
                for message in batch:
                    stream.write(encode_message(message))
                stream.flush()
                if any(isinstance(message, Stop) for message in batch):
                    stream.close()  # the end of the stream: nothing follows a Stop
                    return
            except (OSError, ValueError):
                return  # the learner is gone; `is_alive` tells the rest

    def _send(self, message: Message) -> None:
        if self.stopped or self.process is None:
            return
        with self._outgoing_ready:
            if isinstance(message, Text):  # only the latest text matters: never queue a backlog of documents
                self._outgoing = [m for m in self._outgoing if not isinstance(m, Text)]
            self._outgoing.append(message)
            self._outgoing_ready.notify()

    def send_text(self, text: str) -> None:
        self._send(Text(text))

    def send_online(self, message: OnlineStart | OnlineChunk | OnlineDocument | OnlineReset | OnlineEnd) -> None:
        self._send(message)

    def listen_online(self, session: int, listener: Callable[[OnlineUpdated | None], None]) -> None:
        """Hand `session`'s answers to `listener` (on the reader thread); None once no more can
        come (at once when the learner's output has already ended)."""
        with self._listeners_lock:
            done = self._reading_done
            if not done:
                self._online_listeners[session] = listener
        if done:
            listener(None)

    def stop_listening(self, session: int) -> None:
        with self._listeners_lock:
            self._online_listeners.pop(session, None)

    def pause(self) -> None:
        self._send(Pause())

    def resume(self) -> None:
        self._send(Resume())

    def poll(self) -> list[Message]:
        """Every message the learner has sent since the last poll."""
        messages = []
        while True:
            try:
                messages.append(self._received.get_nowait())
            except queue.Empty:
                return messages

    # ------------------------------------------------------------ ending it

    def hand_over(self) -> None:
        """Ask the learner to publish what is worth keeping and exit, without waiting for it.

        It finishes in the background, even after the editor has exited: quitting never
        waits for a final publish. A learner still starting (no Ready yet) has learned
        nothing, so it is simply ended."""
        if self.stopped or self.process is None:
            self.stopped = True
            return
        if self.ready:
            self._send(Stop())
        elif self.is_alive():
            self.process.terminate()
        self.stopped = True
