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

    def close(self) -> None:
        """Nothing to let go of: the updates handed over run here, to the end."""

    def engine(self, name: str = "adapted") -> Engine:
        """The adapted weights as a numpy engine (a copy: later updates do not change it)."""
        return Engine(name, self.config, self.weights())
