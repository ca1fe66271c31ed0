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

import numpy as np

from charcomplete import store
from charcomplete.config import DOC_START, GATES, VOCAB_SIZE, ModelConfig
from charcomplete.errors import ModelError
from charcomplete.store import LoadedModel

F32 = np.float32
PRIME_WINDOW = 1024  # bytes of context replayed when a state is rebuilt from text


class _Layer:
    """One recurrent layer's weights, rearranged for single-vector steps."""

    def __init__(self, cell: str, hidden: int, w_ih: np.ndarray, w_hh: np.ndarray, b_ih: np.ndarray, b_hh: np.ndarray):
        H = hidden
        w_ih, w_hh, b_ih, b_hh = (np.array(a, dtype=np.float64) for a in (w_ih, w_hh, b_ih, b_hh))
        if cell == "lstm":
            # PyTorch stacks i, f, g, o; reorder to i, f, o, g so the sigmoid gates are rows [0, 3H).
            order = np.r_[0 : 2 * H, 3 * H : 4 * H, 2 * H : 3 * H]
            w_ih, w_hh, b_ih, b_hh = w_ih[order], w_hh[order], b_ih[order], b_hh[order]
        sigmoid_rows = {"rnn": 0, "gru": 2 * H, "lstm": 3 * H}[cell]
        scale = np.ones(w_hh.shape[0])
        scale[:sigmoid_rows] = 0.5  # sigmoid(a) = 0.5 + 0.5 * tanh(a / 2)
        self.sigmoid_rows = sigmoid_rows
        # Input-side bias, with every hidden-side bias that is plainly added folded in.
        # GRU's b_hn is not: it sits inside r * (W_hn h + b_hn).
        bias = b_ih.copy()
        if cell == "gru":
            bias[: 2 * H] += b_hh[: 2 * H]
            self.b_hn = np.ascontiguousarray(b_hh[2 * H :], dtype=F32)  # (H,)
        else:
            bias += b_hh
        self.w_ih = np.ascontiguousarray(w_ih * scale[:, None], dtype=F32)  # (G*H, in)
        self.w_hh = np.ascontiguousarray(w_hh * scale[:, None], dtype=F32)  # (G*H, H)
        self.bias = np.ascontiguousarray(bias * scale, dtype=F32)  # (G*H,)
        self.scale = scale

    def input_table(self, embed: np.ndarray) -> np.ndarray:
        """(256, G*H): layer 0's full input projection of every byte, biases included."""
        table = np.asarray(embed, dtype=np.float64) @ self.w_ih.astype(np.float64).T + self.bias
        return np.ascontiguousarray(table, dtype=F32)


class Engine:
    """A loaded model, ready to step: `start()`/`prime()` give states to feed bytes into."""

    def __init__(self, name: str, config: ModelConfig, weights: dict[str, np.ndarray]):
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

    @classmethod
    def from_model(cls, loaded: LoadedModel) -> Engine:
        expected = loaded.config.weight_shapes()
        for key, shape in expected.items():
            if key not in loaded.weights or tuple(loaded.weights[key].shape) != shape:
                raise ModelError(f"model {loaded.name!r} does not have the weights its configuration describes ({key})")
        return cls(loaded.name, loaded.config, loaded.weights)

    @classmethod
    def load(cls, name: str | None = None) -> Engine:
        return cls.from_model(store.load_model(name))

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
            text = text.encode("utf-8")
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

    __slots__ = ("engine", "h", "c", "_gates", "_hproj", "_tmp", "_logits", "_logits_ok")

    def __init__(self, engine: Engine, h: list[np.ndarray] | None = None, c: list[np.ndarray] | None = None):
        self.engine = engine
        H, n = engine.hidden, len(engine.layers)
        self.h = h if h is not None else [np.zeros(H, F32) for _ in range(n)]  # per layer (H,)
        self.c = c if c is not None else ([np.zeros(H, F32) for _ in range(n)] if engine.cell == "lstm" else [])
        # Scratch buffers, private to this state so forks never share them.
        self._gates = np.empty(engine.gate_rows, F32)  # (G*H,) pre-activations, then gates
        self._hproj = np.empty(engine.gate_rows, F32)  # (G*H,) W_hh h
        self._tmp = np.empty(H, F32)  # (H,)
        self._logits = np.empty(VOCAB_SIZE, F32)  # (256,)
        self._logits_ok = False

    def fork(self) -> State:
        twin = State(self.engine, [h.copy() for h in self.h], [c.copy() for c in self.c])
        if self._logits_ok:
            twin._logits[:] = self._logits
            twin._logits_ok = True
        return twin

    def feed(self, data: bytes) -> None:
        """Read `data` (bytes, or a str as UTF-8), updating the state in place."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        if not data:
            return
        step = {"gru": self._step_gru, "lstm": self._step_lstm, "rnn": self._step_rnn}[self.engine.cell]
        for byte in data:
            step(byte)
        self._logits_ok = False

    def feed_byte(self, byte: int) -> None:
        self.feed(bytes((byte,)))

    def logits(self) -> np.ndarray:
        """(256,) float32: the next-byte logits (a copy)."""
        return self._head().copy()

    def log_probs(self) -> np.ndarray:
        """(256,) float32: log-softmax of the next-byte logits."""
        logits = self._head()
        shifted = logits - logits.max()
        return shifted - np.log(np.exp(shifted).sum(dtype=np.float64)).astype(F32)

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

    def _layer_input(self, index: int, byte: int) -> None:
        """Write layer `index`'s input projection, biases folded in, into self._gates."""
        if index == 0:
            self._gates[:] = self.engine.table[byte]
        else:
            layer = self.engine.layers[index]
            np.dot(layer.w_ih, self.h[index - 1], out=self._gates)
            self._gates += layer.bias

    def _step_rnn(self, byte: int) -> None:
        gates, hproj = self._gates, self._hproj
        for index, layer in enumerate(self.engine.layers):
            h = self.h[index]
            self._layer_input(index, byte)
            np.dot(layer.w_hh, h, out=hproj)
            np.add(gates, hproj, out=gates)
            np.tanh(gates, out=h)

    def _step_gru(self, byte: int) -> None:
        gates, hproj, n = self._gates, self._hproj, self._tmp
        H = self.engine.hidden
        for index, layer in enumerate(self.engine.layers):
            h = self.h[index]
            self._layer_input(index, byte)
            np.dot(layer.w_hh, h, out=hproj)  # (3H,) rows r, z pre-scaled by 0.5
            rz = gates[: 2 * H]
            np.add(rz, hproj[: 2 * H], out=rz)
            np.tanh(rz, out=rz)
            rz *= 0.5
            rz += 0.5  # now sigmoid of the r and z pre-activations
            r, z = gates[:H], gates[H : 2 * H]
            np.add(hproj[2 * H :], layer.b_hn, out=n)
            n *= r
            n += gates[2 * H :]
            np.tanh(n, out=n)
            # h' = (1 - z) * n + z * h = n + z * (h - n)
            h -= n
            h *= z
            h += n

    def _step_lstm(self, byte: int) -> None:
        gates, hproj, tmp = self._gates, self._hproj, self._tmp
        H = self.engine.hidden
        for index, layer in enumerate(self.engine.layers):
            h, c = self.h[index], self.c[index]
            self._layer_input(index, byte)
            np.dot(layer.w_hh, h, out=hproj)  # (4H,) gates i, f, o (pre-scaled by 0.5), g
            gates += hproj
            np.tanh(gates, out=gates)
            sig = gates[: 3 * H]
            sig *= 0.5
            sig += 0.5
            i, f, o, g = gates[:H], gates[H : 2 * H], gates[2 * H : 3 * H], gates[3 * H :]
            c *= f
            np.multiply(i, g, out=tmp)
            c += tmp
            np.tanh(c, out=h)
            h *= o
