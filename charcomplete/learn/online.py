"""The online adaptation every surface's session and `eval --adapt` share: its settings, the
`Adapter` contract, `OnlineWeights` (which drives an adapter from the text as it is typed) and
its factory. Torch-free: the editor imports it, and its adapter runs in the learner process
(`online_remote`); `adapt.OnlineAdapter` is the adapter that runs torch in this process."""

from __future__ import annotations

import atexit
import queue
import threading
import weakref
from typing import Protocol

from charcomplete.core.priority import run_when_idle
from charcomplete.model.engine import Engine

# The online defaults every surface's session and `eval --adapt` share (chosen on a dev slice
# of the notes benchmark; evaluate.evaluation.AdaptSettings has the figures).
ONLINE_CHUNK = 32  # bytes between two gradient steps
# Krause et al.'s RMS-normalised step (adapt.py) against plain SGD at 0.1 (the best SGD rate), the
# built-in model on the dev slices (20 kB of each held-out set after the first 100 kB), bpc:
#                           notes    rust-book  cheatsheets
#   sgd 0.1, decay 0.01     1.7508   1.5005     1.9598
#   rms 3e-4, decay 0.01    1.7437   1.4831     1.9194   (the default; RMS floored: adapt.RMS_FLOOR)
#   the same, unfloored     1.7449   1.4812     1.9172   (Chinese 3.019 against SGD's 2.557, floored 2.550)
#   unfloored 2e-4 / 5e-4        1.7398 / 1.7749   1.4852 / 1.4984   1.9459 / 1.9054
#   unfloored, decay 0.003 / 0.02   1.7634 / 1.7403   1.4769 / 1.4886   1.9288 / 1.9259
# (unfloored, chunk 16 / 64 at 3e-4: 1.7367 / 1.7710, 1.4865 / 1.4856, 1.9169 / 1.9339; 16 steps twice as often.)
ONLINE_LR = 3e-4  # times the gradient over its RMS over general text
ONLINE_OPTIMIZER = "rms"
ONLINE_DECAY = 0.01  # pulled back towards the starting weights by this share (times the RMS ratio) each step


def online_adapter(config, weights: dict, threads: int | None = 1, rms_of=None):
    """An `adapt.OnlineAdapter` from these weights with the shared defaults (imports torch);
    `rms_of`: an earlier one of the same model, whose gradient statistics it reuses."""
    from charcomplete.learn.adapt import OnlineAdapter  # torch

    return OnlineAdapter(config, weights, lr=ONLINE_LR, optimizer=ONLINE_OPTIMIZER, decay=ONLINE_DECAY,
                         threads=threads, chunk=ONLINE_CHUNK, rms_of=rms_of)


def online_weights(name: str, background: bool = True, threads: int | None = 1) -> OnlineWeights:
    """Online weights for model `name` with the shared defaults, stepped in this process (torch
    is imported here: call it off the keystroke path)."""
    from charcomplete.storage import store

    loaded = store.load_model(name)
    adapter = online_adapter(loaded.config, loaded.weights, threads=threads)
    return OnlineWeights(adapter, ONLINE_CHUNK, background=background, name=loaded.name)


class Adapter(Protocol):
    """Weights that take one gradient step per chunk of text read (`adapt.OnlineAdapter` here,
    `online_remote.RemoteAdapter` in the learner process)."""

    def start_document(self) -> None: ...

    def reset(self) -> None: ...

    def update(self, chunk: bytes) -> float: ...

    def engine(self, name: str = "adapted") -> Engine: ...

    def close(self) -> None:
        """The updates still waiting are not wanted, nor the weights (a remote adapter stops
        waiting for them, and its session ends in the learner)."""


# Every OnlineWeights whose worker runs. A torch step still running on a daemon thread while the
# interpreter tears down aborts the process (SIGABRT, "terminate called without an active
# exception": `serve` exited so with steps queued), so whatever a surface left open is closed
# before that, at exit.
_running: weakref.WeakSet[OnlineWeights] = weakref.WeakSet()


@atexit.register
def _close_running() -> None:
    for online in list(_running):
        online.close()


class OnlineWeights:
    """Dynamic evaluation driven by the text as it is typed, off the keystroke path.

    The suggestion session (or `eval --adapt`) hands it each byte the user wrote (`feed`);
    every `chunk` bytes make one `Adapter.update`. Between keystrokes the session asks
    `latest()` for the newest weights as a numpy `Engine` and swaps it in (through
    `cache.CacheEngine.current`, which the typing cache does for it). Two modes:

    - background (the editor, `lsp`, `serve`): a worker thread takes the updates, so a
      keystroke never waits for torch (its matrix products release the GIL); `latest()`
      returns only what is finished, the newest engine once, then None until the next;
    - deterministic (`background=False`, `eval --adapt`, tests): the update runs inside
      `feed` at the chunk boundary, so the next byte is predicted by the new weights, which
      is what eval scores. `wait()` makes a background run reach the same point, so a session
      that waits after each chunk gives the same per-byte probabilities as eval.

    `start_document()` ends a document (its last partial chunk is learned, as eval does)
    and resets the hidden state for the next; `forget()` drops all that was learned (the
    session's `forget --all`, pause and exclusions must not keep online weights)."""

    def __init__(self, adapter: Adapter, chunk: int = 32, background: bool = True, name: str = "adapted"):
        if chunk < 1:
            raise ValueError("chunk must be at least one byte")
        self.adapter, self.chunk, self.background, self.name = adapter, chunk, background, name
        self.pending = bytearray()  # bytes fed since the last chunk was handed over
        self._fresh: Engine | None = None  # the newest engine, not yet taken by `latest`
        self._lock = threading.Lock()
        self._jobs: queue.Queue = queue.Queue()
        self._worker: threading.Thread | None = None
        self._unpublished = False  # the worker skipped exporting its last update (more were waiting)

    # -------------------------------------------------------------- the session's side

    def feed(self, data: bytes) -> None:
        """The user wrote `data` (after everything fed so far)."""
        for byte in data:
            self.pending.append(byte)
            if len(self.pending) >= self.chunk:
                self._submit(("update", bytes(self.pending)))
                self.pending = bytearray()

    def start_document(self) -> None:
        """What follows is a new document: learn the last one's partial chunk, reset the hidden state."""
        if self.pending:
            self._submit(("update", bytes(self.pending)))
            self.pending = bytearray()
        self._submit(("start", None))

    def latest(self) -> Engine | None:
        """The newest adapted engine not handed out yet, or None; never waits."""
        with self._lock:
            fresh, self._fresh = self._fresh, None
        return fresh

    def wait(self) -> None:
        """Until every update handed over is done (a no-op in deterministic mode)."""
        if self._worker is not None:
            self._jobs.join()

    def forget(self) -> Engine:
        """Drop everything learned online: back to the starting weights (returned as an engine)."""
        self.wait()
        self.pending = bytearray()
        self.adapter.reset()
        engine = self.adapter.engine(self.name)
        with self._lock:
            self._fresh = engine
        return engine

    def close(self) -> None:
        """Stop the worker: the updates still queued are dropped (nothing reads weights after
        this), one in progress finishes, and the thread has ended when this returns."""
        if self._worker is None:
            self.adapter.close()  # (a remote adapter's session ends in the learner too)
            return
        while True:
            try:
                self._jobs.get_nowait()
            except queue.Empty:
                break
            self._jobs.task_done()
        self._jobs.put(None)
        self.adapter.close()
        self._worker.join()
        self._worker = None
        _running.discard(self)

    # -------------------------------------------------------------- the updates

    def _submit(self, job: tuple) -> None:
        if not self.background:
            self._run(job, publish=True)
            return
        if self._worker is None:
            self._worker = threading.Thread(target=self._work, name="charcomplete-online-weights", daemon=True)
            self._worker.start()
            _running.add(self)
        self._jobs.put(job)

    def _work(self) -> None:
        # A torch step every ONLINE_CHUNK typed bytes on a normal-priority thread took a core the
        # keystroke path wanted: idle class, the next keystroke's suggestion never waits for it.
        run_when_idle()
        while True:
            job = self._jobs.get()
            try:
                if job is None:
                    return
                # Export only the newest weights: when the typist is ahead, intermediate engines
                # would be replaced before any keystroke read them.
                self._run(job, publish=self._jobs.empty())
            finally:
                self._jobs.task_done()

    def _run(self, job: tuple, publish: bool) -> None:
        kind, chunk = job
        if kind == "start":
            self.adapter.start_document()
        else:
            self.adapter.update(chunk)
            self._unpublished = True
        if publish and self._unpublished:
            engine = self.adapter.engine(self.name)
            with self._lock:
                self._fresh = engine
            self._unpublished = False
