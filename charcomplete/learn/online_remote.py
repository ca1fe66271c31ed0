"""The editor's online weights, stepped in its learner process.

Dynamic evaluation needs torch, and torch in the editor's process costs about 300 MB of
memory (70 -> 365 MB peak in a trial): the editor never imports it. Its learner process has
torch already, so the online steps run there (`learner_online.OnlineServer`) and the editor
holds only a `RemoteAdapter`: the `online.Adapter` that `online.OnlineWeights` drives, whose
`update` sends a chunk over the learner's pipe and waits (on OnlineWeights' worker thread,
never on a keystroke) for the answer, and whose `engine` reads the new weights from
`weights_path(pid, session)`, a private file (0600, in the state folder) the learner rewrites
atomically after each step and removes when the session or the learner ends. One learner
serves many sessions at once (the language server's documents, each its own), each named by a
number this process gives out. The steps are the very ones `eval
--adapt`, `lsp` and `serve` take in their own process (`online.online_adapter`), on the same
bytes, so the editor adapts as `eval --adapt` measures (tests/learn/test_online_remote.py)."""

from __future__ import annotations

import base64
import itertools
import math
import threading
from pathlib import Path

import numpy as np

from charcomplete.core.paths import locations
from charcomplete.learn.learner import (
    Learner,
    OnlineChunk,
    OnlineDocument,
    OnlineEnd,
    OnlineReset,
    OnlineStart,
    OnlineUpdated,
)
from charcomplete.learn.online import ONLINE_CHUNK, OnlineWeights
from charcomplete.model.engine import Engine

ANSWER_TIMEOUT_S = 30.0  # an online step is ~10-50 ms; a learner this late is stuck or gone
_sessions = itertools.count(1)


WEIGHTS_GLOB = "online-weights-*.npz"  # every learner's file in the state folder (`forget --all` removes them)


def weights_path(pid: int, session: int) -> Path:
    """Where the learner process `pid` keeps `session`'s latest online weights."""
    return locations().state / WEIGHTS_GLOB.replace("*", f"{pid}-{session}")


class RemoteAdapter:
    """An `online.Adapter` whose steps run in `learner`'s process; `base` is the engine the
    editor suggests with now (the weights the learner starts its online weights from)."""

    def __init__(self, learner: Learner, base: Engine):
        self.learner, self.base = learner, base
        self._answered = threading.Condition()
        self._sent = 0  # chunks sent since the last start
        self._answer: OnlineUpdated | None = None
        self._gone = learner.stopped or learner.process is None  # a learner handed over answers no more
        self._has_weights = False  # an answer arrived since the last start or reset
        self._closed = False
        self.session = next(_sessions)
        learner.listen_online(self.session, self._on_answer)
        learner.send_online(OnlineStart(self.session))

    def _on_answer(self, answer: OnlineUpdated | None) -> None:
        with self._answered:
            if answer is None:
                self._gone = True
            elif answer.session == self.session:
                self._answer = answer
            self._answered.notify_all()

    def close(self) -> None:
        """No more answers are wanted: a step still waiting for one gives up now, and the
        learner lets this session's weights go."""
        with self._answered:
            if self._closed:
                return
            self._closed = self._gone = True
            self._answered.notify_all()
        self.learner.stop_listening(self.session)
        self.learner.send_online(OnlineEnd(self.session))

    def start_document(self) -> None:
        self.learner.send_online(OnlineDocument(self.session))

    def reset(self) -> None:
        self.learner.send_online(OnlineReset(self.session))
        self._has_weights = False

    def update(self, chunk: bytes) -> float:
        """One step on `chunk` in the learner; its bits per byte before the step (NaN when the
        learner did not answer: it is gone, or stuck)."""
        with self._answered:
            self._sent += 1
            seq = self._sent
        self.learner.send_online(OnlineChunk(self.session, seq, base64.b64encode(chunk).decode("ascii")))
        with self._answered:
            answered = self._answered.wait_for(
                lambda: self._gone or (self._answer is not None and self._answer.seq >= seq), ANSWER_TIMEOUT_S)
            if not answered or self._gone:
                return math.nan
            bits = self._answer.bits
            self._has_weights = not math.isnan(bits)  # NaN: the learner holds no weights for this session
            return bits

    def engine(self, name: str = "adapted") -> Engine:
        """The newest online weights as a numpy engine (the base engine before any step)."""
        pid = self.learner.pid
        if not self._has_weights or pid is None:
            return self.base
        try:
            with np.load(weights_path(pid, self.session), allow_pickle=False) as stored:
                weights = {key: stored[key] for key in stored.files}
            engine = Engine(name, self.base.config, weights)
        except (OSError, ValueError, KeyError):
            return self.base  # the learner ended meanwhile (its file goes with it): suggest with the base
        engine.folder = self.base.folder  # the same model: its memory is where the base's is
        return engine


def remote_online(learner: Learner, engine: Engine) -> OnlineWeights:
    """Online weights for the editor: stepped in `learner`'s process, from `engine`'s weights."""
    return OnlineWeights(RemoteAdapter(learner, engine), ONLINE_CHUNK, background=True, name=engine.name)
