"""The learner's side of the editor's online weights (`online_remote` has the editor's side and
the why): one `adapt.OnlineAdapter` with the shared online defaults, stepped on each chunk the
editor sends, its weights written after each step to `online_remote.weights_path(pid)`.

Nothing learned online outlives what it was learned for: `OnlineReset` and a new `OnlineStart`
drop it, `forget` ends the session (and `close` removes the file), and the file is private
(0600, in the private state folder) and never synced to disk: it is a hand-over, not a save."""

from __future__ import annotations

import base64
import binascii
import os
import tempfile
from collections.abc import Callable

import numpy as np

from charcomplete.core.config import ModelConfig
from charcomplete.learn.learner import (
    Message,
    OnlineChunk,
    OnlineDocument,
    OnlineReset,
    OnlineStart,
    OnlineUpdated,
)
from charcomplete.learn.learner_log import log
from charcomplete.learn.online import online_adapter
from charcomplete.learn.online_remote import weights_path


class OnlineServer:
    """Answers the editor's online messages. `published` gives the weights last published (or
    loaded): what the editor suggests with, so what its online weights start from."""

    def __init__(self, config: ModelConfig, published: Callable[[], dict], send: Callable[[Message], None],
                 threads: int):
        self.config, self.published, self.send, self.threads = config, published, send, threads
        self.adapter = None  # adapt.OnlineAdapter, made at the first OnlineStart
        self.session: int | None = None  # the OnlineStart it answers to
        self.path = weights_path(os.getpid())
        self.steps = 0

    def handle(self, message) -> bool:
        """Act on `message` if it is an online one; whether it was."""
        if isinstance(message, OnlineStart):
            # After a publish the new weights start from the statistics the first ones measured.
            self.adapter = online_adapter(self.config, self.published(), threads=self.threads, rms_of=self.adapter)
            self.session = message.session
            self._remove()
        elif isinstance(message, OnlineChunk):
            self._step(message)
        elif isinstance(message, OnlineDocument):
            if self.adapter is not None:
                self.adapter.start_document()
        elif isinstance(message, OnlineReset):
            if self.adapter is not None:
                self.adapter.reset()
            self._remove()
        else:
            return False
        return True

    def _step(self, message: OnlineChunk) -> None:
        if self.adapter is None or message.session != self.session:
            return  # sent before the latest OnlineStart: its sender has been closed
        try:
            chunk = base64.b64decode(message.data, validate=True)
        except (binascii.Error, ValueError):
            log("an online chunk that was not base64: ignored")
            return
        bits = self.adapter.update(chunk)
        self._write(self.adapter.weights())
        self.steps += 1
        self.send(OnlineUpdated(session=message.session, seq=message.seq, bits=bits))

    def _write(self, weights: dict) -> None:
        fd, temp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)  # 0600
        try:
            with os.fdopen(fd, "wb") as handle:
                np.savez(handle, **weights)
            os.replace(temp, self.path)
        except BaseException:
            try:
                os.unlink(temp)
            except FileNotFoundError:
                pass
            raise

    def _remove(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass

    def close(self) -> None:
        """The session ends: what was learned online goes with it."""
        self._remove()
        if self.steps:
            log(f"online weights: {self.steps} steps on what was typed, dropped at the end")
