"""The numpy inference engine: the torch model's forward pass, one byte at a time.

Suggestions never import torch (1.8 s to import on the development machine, against
0.09 s for numpy). The engine reads the same safetensors weights as `model.CharModel`
and follows PyTorch's equations and gate orders exactly, which tests/test_engine.py
checks against torch for all three cells:

    RNN   h' = tanh(W_ih x + b_ih + W_hh h + b_hh)
    GRU   r, z = sigmoid(W_i{r,z} x + b_i{r,z} + W_h{r,z} h + b_h{r,z})
          n = tanh(W_in x + b_in + r * (W_hn h + b_hn));  h' = (1 - z) * n + z * h
    LSTM  i, f, o = sigmoid(...), g = tanh(...);  c' = f * c + i * g;  h' = o * tanh(c')

Speed (one step is one matrix-vector product per layer plus a few vector operations):
- layer 0's input projection does not depend on the state, so `embed @ W_ih.T + b_ih`
  is precomputed for all 256 bytes and a step starts with a row lookup;
- every bias that is simply added (all of them except GRU's b_hn) is folded into that
  table or into one bias vector per layer;
- sigmoid(a) = 0.5 + 0.5 * tanh(a / 2): the rows of sigmoid gates are pre-scaled by
  0.5, so one `np.tanh` over the whole gate vector serves every gate (no exp overflow,
  one call instead of several);
- LSTM gates are reordered i, f, o, g so the three sigmoid gates are contiguous;
- all arithmetic is float32 into buffers preallocated per state (`out=`), and the
  output head runs only when logits are asked for, not for every byte fed.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from charcomplete.core.config import DOC_START, GATES, VOCAB_SIZE, ModelConfig
from charcomplete.core.predictor import PRIME_WINDOW, TAIL_BYTES
from charcomplete.storage import store
from charcomplete.storage.store import LoadedModel

F32 = np.float32


_blas_checked = False


def use_one_blas_thread() -> None:
    """Run numpy's matrix-vector products on one thread (once per process, best effort).

    A step is one product of a few MB of weights: two threads gain little on an idle
    machine and lose badly on a busy one, and the editor's learner keeps the other
    cores busy (on the 2-core development machine under load, a GRU 512 product took
    1.2-2.3 ms on numpy's default two OpenBLAS threads, 0.17-0.29 ms on one). A thread
    count the user set (OPENBLAS_NUM_THREADS, OMP_NUM_THREADS) is left alone.
    threadpoolctl finds the BLAS numpy loaded (OpenBLAS, MKL or BLIS) and sets it."""
    global _blas_checked
    if _blas_checked:
        return
    _blas_checked = True
    if os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS"):
        return
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")  # for the rest of the process, not a `with` block


class _Layer:
    """One recurrent layer's weights, rearranged for single-vector steps."""

    def __init__(self, cell: str, hidden: int, w_ih: np.ndarray, w_hh: np.ndarray, b_ih: np.ndarray, b_hh: np.ndarray):
        H = hidden
        if cell == "lstm":
            # PyTorch stacks i, f, g, o; reorder to i, f, o, g so the sigmoid gates are rows [0, 3H).
            order = np.r_[0 : 2 * H, 3 * H : 4 * H, 2 * H : 3 * H]
            w_ih, w_hh, b_ih, b_hh = w_ih[order], w_hh[order], b_ih[order], b_hh[order]
        sigmoid_rows = {"rnn": 0, "gru": 2 * H, "lstm": 3 * H}[cell]
        scale = np.ones(w_hh.shape[0], F32)  # (G*H,)
        scale[:sigmoid_rows] = 0.5  # sigmoid(a) = 0.5 + 0.5 * tanh(a / 2); halving is exact in float32
        # Input-side bias, with every hidden-side bias that is plainly added folded in.
        # GRU's b_hn is not: it sits inside r * (W_hn h + b_hn).
        bias = np.array(b_ih, dtype=F32)
        if cell == "gru":
            bias[: 2 * H] += b_hh[: 2 * H]
            self.b_hn = np.ascontiguousarray(b_hh[2 * H :], dtype=F32)  # (H,)
        else:
            bias += b_hh
        self.w_ih = np.ascontiguousarray(w_ih * scale[:, None], dtype=F32)  # (G*H, in)
        self.w_hh = np.ascontiguousarray(w_hh * scale[:, None], dtype=F32)  # (G*H, H)
        self.bias = np.ascontiguousarray(bias * scale, dtype=F32)  # (G*H,)

    def input_table(self, embed: np.ndarray) -> np.ndarray:
        """(256, G*H): layer 0's full input projection of every byte, biases included."""
        table = np.asarray(embed, dtype=F32) @ self.w_ih.T  # (256, E) @ (E, G*H)
        table += self.bias
        return np.ascontiguousarray(table, dtype=F32)


class Engine:
    """A loaded model, ready to step: `start()`/`prime()` give states to feed bytes into.

    A `predictor.Predictor`; its states are `predictor.PredictorState`s."""

    def __init__(self, name: str, config: ModelConfig, weights: dict[str, np.ndarray]):
        use_one_blas_thread()
        self.name = name
        self.config = config
        c = config
        self.cell = c.cell
        self.hidden = c.hidden
        self.gate_rows = GATES[c.cell] * c.hidden
        self.layers = [
            _Layer(
                c.cell,
                c.hidden,
                weights[f"rnn.weight_ih_l{i}"],
                weights[f"rnn.weight_hh_l{i}"],
                weights[f"rnn.bias_ih_l{i}"],
                weights[f"rnn.bias_hh_l{i}"],
            )
            for i in range(c.layers)
        ]
        self.table = self.layers[0].input_table(weights["embed.weight"])  # (256, G*H)
        self.head_w = np.ascontiguousarray(weights["head.weight"], dtype=F32)  # (256, H)
        self.head_b = np.ascontiguousarray(weights["head.bias"], dtype=F32)  # (256,)
        self._start: State | None = None
        self.folder: Path | None = None  # the model's folder, where its memory is (memory.py); None: not from the store

    @classmethod
    def from_model(cls, loaded: LoadedModel) -> Engine:
        # (store.load_model, the only maker of a LoadedModel, has checked every tensor's shape)
        engine = cls(loaded.name, loaded.config, loaded.weights)
        engine.folder = loaded.folder
        return engine

    @classmethod
    def load(cls, name: str | None = None) -> Engine:
        return cls.from_model(store.load_model(name))

    def describe(self) -> str:
        return self.config.describe()

    @property
    def parameters(self) -> int:
        return self.config.parameter_count()

    def zero_state(self) -> State:
        """The state before anything, not even DOC_START, was read."""
        return State(self)

    def start(self) -> State:
        """A fresh state at the start of a document (it has read DOC_START)."""
        if self._start is None:
            self._start = self.zero_state()
            self._start.feed(bytes([DOC_START]))
            self._start.logits()  # cache the head output: the first suggestion of a document needs it
        return self._start.fork()

    def prime(self, text: bytes, window: int = PRIME_WINDOW) -> State:
        """The state after the last `window` bytes of `text`.

        When the whole text fits in the window it is the start of a document, so the
        state reads DOC_START first, as in training. A longer text is cut to its tail
        and read from a zero state: the recurrent state forgets the distant past anyway."""
        if isinstance(text, str):
            text = text.encode("utf-8", errors="replace")
        if len(text) <= window:
            state = self.start()
            state.feed(text)
        else:
            state = self.zero_state()
            state.feed(text[len(text) - window :])
        return state


class State:
    """The recurrent state after some text; feed it bytes, ask it for the next byte's odds.

    A state is used by one thread at a time; `fork()` it to look ahead (or to hand it to
    another thread) without disturbing it."""

    __slots__ = ("engine", "h", "c", "tail", "_scratch", "_logits", "_logits_ok")

    def __init__(self, engine: Engine, h: list[np.ndarray] | None = None, c: list[np.ndarray] | None = None):
        self.engine = engine
        H, n = engine.hidden, len(engine.layers)
        self.h = h if h is not None else [np.zeros(H, F32) for _ in range(n)]  # per layer (H,)
        self.c = c if c is not None else ([np.zeros(H, F32) for _ in range(n)] if engine.cell == "lstm" else [])
        self.tail = b""  # the last few bytes read: enough to tell "inside a word" or "inside a character"
        self._scratch = _Scratch(engine.cell, H, n > 1)  # private to this state, so forks never share it
        self._logits = np.empty(VOCAB_SIZE, F32)  # (256,)
        self._logits_ok = False

    def fork(self) -> State:
        twin = State(self.engine, [h.copy() for h in self.h], [c.copy() for c in self.c])
        twin.tail = self.tail
        if self._logits_ok:
            twin._logits[:] = self._logits
            twin._logits_ok = True
        return twin

    def carried_to(self, engine: Engine) -> State:
        """The same hidden state, continued under `engine`'s weights (dynamic evaluation, a
        learner's publish); this state is untouched."""
        twin = State(engine, [h.copy() for h in self.h], [c.copy() for c in self.c])
        twin.tail = self.tail
        return twin

    def move_to(self, engine: Engine) -> None:
        """`carried_to` in place (the scratch buffers fit: the same shape)."""
        self.engine = engine
        self._logits_ok = False  # worked out under the old weights

    def feed(self, data: bytes) -> None:
        """Read `data` (bytes, or a str as UTF-8), updating the state in place."""
        if isinstance(data, str):
            data = data.encode("utf-8", errors="replace")
        if not data:
            return
        step = {"gru": self._step_gru, "lstm": self._step_lstm, "rnn": self._step_rnn}[self.engine.cell]
        for byte in data:
            step(byte)
        self.tail = (self.tail + data[-TAIL_BYTES:])[-TAIL_BYTES:]
        self._logits_ok = False

    def logits(self) -> np.ndarray:
        """(256,) float32: the next-byte logits (a copy)."""
        return self._head().copy()

    def log_probs(self) -> np.ndarray:
        """(256,) float32: log-softmax of the next-byte logits."""
        logits = self._head()
        shifted = logits - logits.max()
        return shifted - np.float32(np.log(np.exp(shifted).sum(dtype=np.float64)))

    def probs(self) -> np.ndarray:
        """(256,) float64: softmax of the next-byte logits."""
        logits = self._head().astype(np.float64)
        odds = np.exp(logits - logits.max())
        return odds / odds.sum()

    # ------------------------------------------------------------ internals

    def _head(self) -> np.ndarray:
        if not self._logits_ok:
            engine = self.engine
            np.dot(engine.head_w, self.h[-1], out=self._logits)
            self._logits += engine.head_b
            self._logits_ok = True
        return self._logits

    def _inputs(self, index: int, byte: int) -> np.ndarray:
        """Layer `index`'s input projection (G*H,), biases folded in: a table row for layer 0."""
        if index == 0:
            return self.engine.table[byte]
        layer, x = self.engine.layers[index], self._scratch.x
        np.dot(layer.w_ih, self.h[index - 1], out=x)
        x += layer.bias
        return x

    def _step_rnn(self, byte: int) -> None:
        hp = self._scratch.hp
        for index, layer in enumerate(self.engine.layers):
            h = self.h[index]
            x = self._inputs(index, byte)
            np.dot(layer.w_hh, h, out=hp)  # (H,)
            np.add(x, hp, out=h)
            np.tanh(h, out=h)

    def _step_gru(self, byte: int) -> None:
        s = self._scratch
        H2 = 2 * self.engine.hidden
        for index, layer in enumerate(self.engine.layers):
            h = self.h[index]
            x = self._inputs(index, byte)  # (3H,) rows r, z pre-scaled by 0.5
            np.dot(layer.w_hh, h, out=s.hp)  # (3H,) likewise
            np.add(x[:H2], s.hp_rz, out=s.rz)
            np.tanh(s.rz, out=s.rz)
            s.rz *= 0.5
            s.rz += 0.5  # sigmoid of the r and z pre-activations
            np.add(s.hp_n, layer.b_hn, out=s.n)
            s.n *= s.r
            s.n += x[H2:]
            np.tanh(s.n, out=s.n)
            # h' = (1 - z) * n + z * h = n + z * (h - n)
            h -= s.n
            h *= s.z
            h += s.n

    def _step_lstm(self, byte: int) -> None:
        s = self._scratch
        for index, layer in enumerate(self.engine.layers):
            h, c = self.h[index], self.c[index]
            x = self._inputs(index, byte)  # (4H,) gates i, f, o (pre-scaled by 0.5), g
            np.dot(layer.w_hh, h, out=s.hp)
            np.add(x, s.hp, out=s.gates)
            np.tanh(s.gates, out=s.gates)
            s.sig *= 0.5
            s.sig += 0.5  # sigmoid of i, f and o
            c *= s.f
            np.multiply(s.i, s.g, out=s.n)
            c += s.n
            np.tanh(c, out=h)
            h *= s.o


class _Scratch:
    """Buffers a state computes in, and named views of them made once (slicing costs per step)."""

    def __init__(self, cell: str, hidden: int, stacked: bool):
        H = hidden
        rows = GATES[cell] * H
        self.hp = np.empty(rows, F32)  # (G*H,) W_hh h
        self.x = np.empty(rows, F32) if stacked else None  # (G*H,) input projection of layers above 0
        self.n = np.empty(H, F32)  # (H,) GRU candidate, LSTM i * g
        if cell == "gru":
            self.rz = np.empty(2 * H, F32)  # (2H,) gates r, z
            self.r, self.z = self.rz[:H], self.rz[H:]
            self.hp_rz, self.hp_n = self.hp[: 2 * H], self.hp[2 * H :]
        elif cell == "lstm":
            self.gates = np.empty(rows, F32)  # (4H,) i, f, o, g
            self.sig = self.gates[: 3 * H]
            self.i, self.f, self.o, self.g = (self.gates[k * H : (k + 1) * H] for k in range(4))
