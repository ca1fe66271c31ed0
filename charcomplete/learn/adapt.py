"""Dynamic evaluation: the model keeps learning from the text while it reads it.

After each chunk of text has been predicted, one gradient step is taken on that chunk,
so the next chunk is predicted by weights that have just seen the user's latest words
(Graves 2013, "Generating sequences with recurrent neural networks", section 3.2;
Krause et al. 2018, "Dynamic evaluation of neural sequence models"). The hidden state
is carried from chunk to chunk, as in truncated back-propagation through time, and
reset at each document start.

`OnlineAdapter` holds a torch `CharModel` built from a model's weights and exports the
adapted weights as a new numpy `Engine`, so suggestions keep running without torch in
the loop. `online.OnlineWeights` drives it as the user types; `eval --adapt`, `lsp` and
`serve` run it in their own process, the editor in its learner's (`online_remote`).
Importing this module imports torch."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from charcomplete.core.config import DOC_START, LN2, VOCAB_SIZE, ModelConfig
from charcomplete.model.engine import Engine
from charcomplete.model.network import CharModel, Hidden, detach_hidden, weights_from_numpy, weights_to_numpy

OPTIMIZERS = ("adam", "sgd", "rms")
# The "rms" step (Krause et al. 2018, "Dynamic evaluation of neural sequence models", section 5):
# each gradient is divided by its parameter's RMS gradient over general text (+ RMS_EPSILON),
# and the pull back towards the starting weights is scaled per parameter by the same RMS (a
# parameter that general text moves a lot may be moved back more), capped at 1 / decay.
RMS_EPSILON = 2e-5
# No parameter's RMS below this share of its tensor's mean (_gradient_rms says why). Dev slices, bpc,
# notes / rust-book / cheatsheets (20 kB each) and Chinese (zh-rust-book's last chapters, 12 kB):
#   floor 0 (none)  1.7449 / 1.4812 / 1.9172   3.0185   (SGD: 1.7508 / 1.5005 / 1.9598   2.5567)
#   0.1 / 0.5       1.7435 / 1.4831 / 1.9124   2.7878;  1.7424 / 1.4810 / 1.9117   2.5775
#   1.0             1.7437 / 1.4831 / 1.9194   2.5500   (the default: no worse than SGD on Chinese)
#   2.0             1.7432 / 1.4898 / 1.9425   2.5497;  one RMS per tensor: notes 1.8314
RMS_FLOOR = 1.0
STATISTICS_STREAMS = 16  # general text read as this many parallel streams for the RMS statistics
# The built-in model's statistics, measured when it was exported (`write_statistics`) and shipped
# beside its weights: measuring them takes seconds of CPU, which `serve` spent beside the shell's
# keystrokes (zsh p99 7.8-9.0 -> 10.1-13.1 ms). Every model of the built-in one's shapes (those
# fine-tuned from it) steps with them; a model of other shapes measures its own at its first step.
STATISTICS_FILE = "online-rms.safetensors"
STATISTICS_CHUNK = 32  # the chunk length the shipped statistics are measured at (online.ONLINE_CHUNK)


class OnlineAdapter:
    """A model that takes one gradient step per chunk of text it has read.

    lr, optimizer: a step on each chunk's mean cross-entropy: "rms" (each gradient over its RMS
        on general text, the shared default, online.py has the figures), plain SGD or Adam.
    chunk: the chunk length the RMS is measured at (the online steps'), on the built-in
        model's heldout.txt;
        rms_of: an "rms" adapter of the same model (or its `rms` and `pull`, as the learner
        keeps them: `learner_online`) whose RMS to take instead of measuring it.
    decay: after each step, pull every weight back towards the weights it started from by this
        fraction (with "rms", times its RMS over the mean RMS: Krause et al.'s "global prior"),
        so a long session cannot drift far.
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
        chunk: int = 32,
        rms_of: OnlineAdapter | None = None,
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
        self.optimizer: torch.optim.Optimizer | None = None  # None: the "rms" step (_rms_step)
        if optimizer == "adam":
            self.optimizer = torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999))
        elif optimizer == "sgd":
            self.optimizer = torch.optim.SGD(params, lr=lr)
        self.rms = self.pull = None  # the "rms" step's statistics, once known
        self._statistics = None  # (chunk, digest): what they are to be measured for
        if optimizer == "rms":
            # Measuring the RMS costs seconds of CPU, so it waits for the first update (on the worker
            # thread, off the keystroke path; the built-in model's ship instead) and is done once per
            # process for the same weights; an adapter that starts from newer weights of the same
            # model (the learner's, after each publish) takes its predecessor's.
            if rms_of is not None and rms_of.rms is not None:
                self.rms, self.pull = rms_of.rms, rms_of.pull
            else:
                self._statistics = (chunk, _digest(weights, chunk, decay))
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
        if self.optimizer is not None:
            self.optimizer = type(self.optimizer)(self.model.parameters(), **self.optimizer.defaults)
        self.steps = self.chars = 0
        self.start_document()

    def update(self, chunk: bytes) -> float:
        """Learn from `chunk`, the text that followed what was read so far.

        Returns the bits per byte the model gave the chunk before the step (the
        dynamic-evaluation loss)."""
        if not chunk:
            return 0.0
        if self.optimizer is None:
            self._measure()
        data = torch.tensor([self.last, *chunk], dtype=torch.int64)
        x = data[:-1].unsqueeze(0)  # (1, T)
        y = data[1:].unsqueeze(0)  # (1, T)
        logits, hidden, _ = self.model(x, self.hidden)  # (1, T, 256)
        loss = F.cross_entropy(logits.reshape(-1, VOCAB_SIZE), y.reshape(-1))
        self.model.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
        if self.optimizer is None:
            self._rms_step()
        else:
            self.optimizer.step()
        if self.decay and self.optimizer is not None:
            with torch.no_grad():
                for param, start in zip(self.model.parameters(), self.initial, strict=True):
                    param.lerp_(start, self.decay)
        self.hidden = detach_hidden(hidden)
        self.last = chunk[-1]
        self.steps += 1
        self.chars += len(chunk)
        return loss.item() / LN2

    def _measure(self) -> None:
        """The RMS statistics: the built-in model's when the shapes are its, else measured if no
        one has yet in this process (before the first step: with the weights as they started)."""
        if self.rms is not None:
            return
        chunk, key = self._statistics
        measured = _MEASURED.get(key)
        if measured is None:
            shipped = _shipped_rms(self.model) if chunk == STATISTICS_CHUNK else None
            rms = shipped or _gradient_rms(self.model, _general_text(), chunk)
            measured = (rms, _pulls(rms, self.decay))
            _MEASURED.clear()  # one model's statistics at a time: a process serves one model
            _MEASURED[key] = measured
        self.rms, self.pull = measured

    def _rms_step(self) -> None:
        with torch.no_grad():
            for param, start, rms, pull in zip(self.model.parameters(), self.initial, self.rms, self.pull,
                                               strict=True):
                param.sub_(self.lr * param.grad / (rms + RMS_EPSILON))
                param.add_(self.decay * pull * (start - param))

    def weights(self) -> dict[str, np.ndarray]:
        return weights_to_numpy(self.model)

    def close(self) -> None:
        """Nothing to let go of: the updates handed over run here, to the end."""

    def engine(self, name: str = "adapted") -> Engine:
        """The adapted weights as a numpy engine (a copy: later updates do not change it)."""
        return Engine(name, self.config, self.weights())


# (weights, chunk, decay) digest -> the RMS statistics measured for them in this process
_MEASURED: dict[bytes, tuple[list, list]] = {}


def _digest(weights: dict[str, np.ndarray], chunk: int, decay: float) -> bytes:
    digest = hashlib.blake2b(f"{chunk} {decay} {sorted(weights)}".encode(), digest_size=16)
    for name in sorted(weights):
        digest.update(np.ascontiguousarray(weights[name]).tobytes())
    return digest.digest()


def _general_text() -> bytes:
    """The built-in model's held-out general text: what every process computes the same RMS from."""
    from charcomplete.storage import store

    data = store.read_heldout(store.builtin_folder())
    if not data:
        raise ValueError("the built-in model's heldout.txt is missing: the rms step needs it")
    return data


def _gradient_rms(model: CharModel, text: bytes, chunk: int) -> list[torch.Tensor]:
    """Each parameter's RMS gradient over `text` read in `chunk`-byte steps (STATISTICS_STREAMS
    streams at once, the hidden state carried): Krause et al.'s gradstat, floored."""
    streams = STATISTICS_STREAMS
    length = len(text) // streams
    data = torch.tensor(list(text[: length * streams]), dtype=torch.int64).view(streams, length)
    squares = [torch.zeros_like(p) for p in model.parameters()]
    hidden, batches = None, 0
    for start in range(0, length - 1 - chunk, chunk):
        x, y = data[:, start : start + chunk], data[:, start + 1 : start + chunk + 1]
        logits, hidden, _ = model(x, hidden)
        loss = F.cross_entropy(logits.reshape(-1, VOCAB_SIZE), y.reshape(-1))
        model.zero_grad(set_to_none=True)
        loss.backward()
        hidden = detach_hidden(hidden)
        for square, param in zip(squares, model.parameters(), strict=True):
            square += param.grad * param.grad
        batches += 1
    model.zero_grad(set_to_none=True)
    rms = [torch.sqrt(square / max(1, batches)) for square in squares]
    # A byte the general text never holds (a CJK character's UTF-8) leaves its embedding row's RMS
    # near 0, and a step divided by it threw that row far away the first time the user typed it
    # (Chinese 2.557 bpc with SGD, 3.019 unfloored): each RMS is at least RMS_FLOOR of its tensor's mean.
    return [torch.clamp(r, min=RMS_FLOOR * float(r.mean())) for r in rms]


def _pulls(rms: list[torch.Tensor], decay: float) -> list[torch.Tensor]:
    """Each parameter's pull-back rate: its RMS over the mean RMS of all parameters, at most 1 / decay."""
    mean = sum(float(r.mean()) for r in rms) / len(rms)
    cap = 1.0 / decay if decay > 0 else float("inf")
    return [torch.clamp(r / mean, max=cap) for r in rms]


def write_statistics(folder: Path, config: ModelConfig, weights: dict[str, np.ndarray],
                     chunk: int = STATISTICS_CHUNK) -> Path:
    """Measure a model's RMS statistics on the built-in general text and write them to `folder`
    (STATISTICS_FILE): each tensor as float16 over its mean (1 and up, the floor being its mean)
    and that mean, half the weights' size. Run when the built-in model is exported."""
    from safetensors.numpy import save

    model = OnlineAdapter(config, weights, optimizer="sgd").model  # as the online steps read
    rms = _gradient_rms(model, _general_text(), chunk)
    tensors = {}
    for (name, _), r in zip(model.named_parameters(), rms, strict=True):
        scale = float(r.mean())
        tensors[name] = (r / scale).numpy().astype(np.float16)
        tensors[f"{name}.scale"] = np.array([scale], dtype=np.float32)
    path = folder / STATISTICS_FILE
    path.write_bytes(save(tensors))
    return path


def _shipped_rms(model: CharModel) -> list[torch.Tensor] | None:
    """The built-in model's shipped statistics, when `model` has its shapes (else None)."""
    from charcomplete.core.errors import CharcompleteError
    from charcomplete.storage import store

    path = store.builtin_folder() / STATISTICS_FILE
    if not path.is_file():
        return None
    try:
        tensors = store.read_tensor_file(path, "the built-in model's online statistics")
    except CharcompleteError:
        return None
    rms = []
    for name, param in model.named_parameters():
        relative, scale = tensors.get(name), tensors.get(f"{name}.scale")
        if relative is None or scale is None or relative.shape != tuple(param.shape):
            return None
        rms.append(torch.from_numpy(relative.astype(np.float32) * float(scale[0])))
    return rms
