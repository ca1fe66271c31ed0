"""Dynamic evaluation: the model keeps learning from the text while it reads it.

After each chunk of text has been predicted, one gradient step is taken on that chunk,
so the next chunk is predicted by weights that have just seen the user's latest words
(Graves 2013, "Generating sequences with recurrent neural networks", section 3.2;
Krause et al. 2018, "Dynamic evaluation of neural sequence models"). The hidden state
is carried from chunk to chunk, as in truncated back-propagation through time, and
reset at each document start.

`OnlineAdapter` holds a torch `CharModel` built from a model's weights and exports the
adapted weights as a new numpy `Engine`, so suggestions keep running without torch in
the loop. The evaluator uses it; the editor's background learner can too. Importing
this module imports torch."""

from __future__ import annotations

import queue
import threading

import numpy as np
import torch
import torch.nn.functional as F

from charcomplete.core.config import DOC_START, LN2, VOCAB_SIZE, ModelConfig
from charcomplete.model.engine import Engine
from charcomplete.model.network import CharModel, Hidden, detach_hidden, weights_from_numpy, weights_to_numpy

OPTIMIZERS = ("adam", "sgd")


class OnlineAdapter:
    """A model that takes one gradient step per chunk of text it has read.

    lr, optimizer: plain SGD (default) or Adam on each chunk's mean cross-entropy. On the
        notes, SGD at 0.1 on 32-byte chunks did best (see evaluate.AdaptSettings).
    decay: after each step, pull every weight back towards the weights it started from
        by this fraction (Krause et al.'s "global prior"), so a long session cannot drift far.
    clip: the gradient norm is clipped, as in training, so one odd chunk (a table, a
        pasted log) cannot undo what the model knows."""

    def __init__(
        self,
        config: ModelConfig,
        weights: dict[str, np.ndarray],
        lr: float = 0.1,
        optimizer: str = "sgd",
        decay: float = 0.0,
        clip: float = 1.0,
        threads: int | None = None,
    ):
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        if threads is not None:
            torch.set_num_threads(threads)
        # Dropout off: adaptation should fit what is read now, not regularise a long run.
        self.config = ModelConfig(**{**config.to_dict(), "dropout": 0.0})
        self.model = CharModel(self.config)
        weights_from_numpy(self.model, weights)
        self.model.train()
        self.initial = [p.detach().clone() for p in self.model.parameters()]
        params = list(self.model.parameters())
        if optimizer == "adam":
            self.optimizer = torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999))
        else:
            self.optimizer = torch.optim.SGD(params, lr=lr)
        self.lr = lr
        self.decay = decay
        self.clip = clip
        self.steps = 0
        self.chars = 0
        self.hidden: Hidden | None = None
        self.last = DOC_START  # the byte read before the next chunk: its first input

    def start_document(self) -> None:
        """The next chunk is the start of a document (it follows DOC_START, from a zero state)."""
        self.hidden = None
        self.last = DOC_START

    def reset(self) -> None:
        """Back to the starting weights, a fresh optimizer and a new document: nothing learned
        online is kept (`forget`)."""
        with torch.no_grad():
            for param, start in zip(self.model.parameters(), self.initial, strict=True):
                param.copy_(start)
        self.optimizer = type(self.optimizer)(self.model.parameters(), **self.optimizer.defaults)
        self.steps = self.chars = 0
        self.start_document()

    def update(self, chunk: bytes) -> float:
        """Learn from `chunk`, the text that followed what was read so far.

        Returns the bits per byte the model gave the chunk before the step (the
        dynamic-evaluation loss)."""
        if not chunk:
            return 0.0
        data = torch.tensor([self.last, *chunk], dtype=torch.int64)
        x = data[:-1].unsqueeze(0)  # (1, T)
        y = data[1:].unsqueeze(0)  # (1, T)
        logits, hidden, _ = self.model(x, self.hidden)  # (1, T, 256)
        loss = F.cross_entropy(logits.reshape(-1, VOCAB_SIZE), y.reshape(-1))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
        self.optimizer.step()
        if self.decay:
            with torch.no_grad():
                for param, start in zip(self.model.parameters(), self.initial, strict=True):
                    param.lerp_(start, self.decay)
        self.hidden = detach_hidden(hidden)
        self.last = chunk[-1]
        self.steps += 1
        self.chars += len(chunk)
        return loss.item() / LN2

    def weights(self) -> dict[str, np.ndarray]:
        return weights_to_numpy(self.model)

    def engine(self, name: str = "adapted") -> Engine:
        """The adapted weights as a numpy engine (a copy: later updates do not change it)."""
        return Engine(name, self.config, self.weights())


class OnlineWeights:
    """Dynamic evaluation driven by the text as it is typed, off the keystroke path.

    The suggestion session (or `eval --adapt`) hands it each byte the user wrote (`feed`);
    every `chunk` bytes make one `OnlineAdapter.update`. Between keystrokes the session asks
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

    def __init__(self, adapter: OnlineAdapter, chunk: int = 32, background: bool = True, name: str = "adapted"):
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
        """Stop the worker (after the updates already handed over)."""
        if self._worker is not None:
            self._jobs.put(None)
            self._worker.join()
            self._worker = None

    # -------------------------------------------------------------- the updates

    def _submit(self, job: tuple) -> None:
        if not self.background:
            self._run(job, publish=True)
            return
        if self._worker is None:
            self._worker = threading.Thread(target=self._work, name="charcomplete-online-weights", daemon=True)
            self._worker.start()
        self._jobs.put(job)

    def _work(self) -> None:
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
