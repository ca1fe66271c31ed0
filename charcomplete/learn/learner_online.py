"""The learner's side of a surface's online weights (`online_remote` has the surface's side and
the why): per session (the editor's document, `serve`'s shell, each document the language
server has open), one `adapt.OnlineAdapter` with the shared online defaults, stepped on each
chunk the surface sends, its weights written after each step to
`online_remote.weights_path(pid, session)`.

An adapter is made at its session's first chunk (a document opened and never typed in costs
nothing), from the weights last published (what the surface suggests with). At most
`MAX_SESSIONS` adapters live at once (each holds three copies of the weights): the one used
longest ago goes, its file with it, and if its session types again it starts afresh, from a new
document.

Nothing learned online outlives what it was learned for: `OnlineReset` and `OnlineEnd` drop
it, `forget` ends the learner (and `close` removes the files), and the files are private (0600,
in the private state folder) and never synced to disk: they are a hand-over, not a save."""

from __future__ import annotations

import base64
import binascii
import math
import os
import tempfile
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from charcomplete.core.config import ModelConfig
from charcomplete.core.paths import private_dir
from charcomplete.learn.learner import (
    Message,
    OnlineChunk,
    OnlineDocument,
    OnlineEnd,
    OnlineReset,
    OnlineStart,
    OnlineUpdated,
)
from charcomplete.learn.learner_log import log
from charcomplete.learn.online import online_adapter
from charcomplete.learn.online_remote import weights_path

# The built-in model's adapter holds about 12 MB (its weights, their starting copy, the
# gradients); a language server with many documents open types in a few at a time.
MAX_SESSIONS = 8


@dataclass(frozen=True)
class _Statistics:
    """An "rms" adapter's gradient statistics (what `adapt.OnlineAdapter`'s `rms_of` reads): one
    measurement serves every session and every publish of the model."""

    rms: list
    pull: list


class OnlineServer:
    """Answers the surface's online messages. `published` gives the weights last published (or
    loaded): what the surface suggests with, so what its online weights start from."""

    def __init__(self, config: ModelConfig, published: Callable[[], dict], send: Callable[[Message], None],
                 threads: int):
        self.config, self.published, self.send, self.threads = config, published, send, threads
        self.sessions: set[int] = set()  # started and not ended
        self.adapters: OrderedDict[int, object] = OrderedDict()  # session -> adapt.OnlineAdapter, used last at the end
        self._statistics: _Statistics | None = None  # what the first step measured; the next adapters take it
        self.pid = os.getpid()
        private_dir(weights_path(self.pid, 0).parent)  # once, not at each step (the learner's log made it already)
        self.steps = 0

    def handle(self, message) -> bool:
        """Act on `message` if it is an online one; whether it was."""
        if isinstance(message, OnlineStart):
            self.sessions.add(message.session)
            self._drop(message.session)  # (a session number is never started twice; to be sure)
        elif isinstance(message, OnlineChunk):
            self._step(message)
        elif isinstance(message, OnlineDocument):
            adapter = self.adapters.get(message.session)
            if adapter is not None:
                adapter.start_document()
        elif isinstance(message, OnlineReset):
            self._drop(message.session)  # the next chunk starts again from the published weights
        elif isinstance(message, OnlineEnd):
            self.sessions.discard(message.session)
            self._drop(message.session)
        else:
            return False
        return True

    def _step(self, message: OnlineChunk) -> None:
        session = message.session
        if session not in self.sessions:
            # Ended, or sent before this learner heard of it: say so at once, so that no thread
            # waits for an answer that will not come.
            self.send(OnlineUpdated(session=session, seq=message.seq, bits=math.nan))
            return
        try:
            chunk = base64.b64decode(message.data, validate=True)
        except (binascii.Error, ValueError):
            log("an online chunk that was not base64: ignored")
            self.send(OnlineUpdated(session=session, seq=message.seq, bits=math.nan))
            return
        adapter = self._adapter(session)
        bits = adapter.update(chunk)
        if self._statistics is None and adapter.rms is not None:
            self._statistics = _Statistics(adapter.rms, adapter.pull)
        self._write(session, adapter.weights())
        self.steps += 1
        self.send(OnlineUpdated(session=session, seq=message.seq, bits=bits))

    def _adapter(self, session: int):
        adapter = self.adapters.get(session)
        if adapter is None:
            while len(self.adapters) >= MAX_SESSIONS:
                oldest = next(iter(self.adapters))
                log(f"online weights: {MAX_SESSIONS} sessions at once; the one used longest ago is let go")
                self._drop(oldest)
            # After a publish the new weights start from the statistics the first ones measured.
            adapter = online_adapter(self.config, self.published(), threads=self.threads, rms_of=self._statistics)
            self.adapters[session] = adapter
        self.adapters.move_to_end(session)
        return adapter

    def _write(self, session: int, weights: dict) -> None:
        path = weights_path(self.pid, session)
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # 0600
        try:
            with os.fdopen(fd, "wb") as handle:
                np.savez(handle, **weights)
            os.replace(temp, path)
        except BaseException:
            try:
                os.unlink(temp)
            except FileNotFoundError:
                pass
            raise

    def _drop(self, session: int) -> None:
        if self.adapters.pop(session, None) is not None:
            try:
                weights_path(self.pid, session).unlink()
            except FileNotFoundError:
                pass

    def close(self) -> None:
        """The learner ends: what was learned online goes with it."""
        for session in list(self.adapters):
            self._drop(session)
        if self.steps:
            log(f"online weights: {self.steps} steps on what was typed, dropped at the end")
