"""The torch model: bytes -> Embedding -> RNN | GRU | LSTM -> Linear -> next-byte logits.

Only training imports this module; suggestions run on the numpy engine, which reads
the same weights (see engine.py)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from charcomplete.core.config import VOCAB_SIZE, ModelConfig

_TORCH_CELLS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}

Hidden = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


class CharModel(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(VOCAB_SIZE, config.embed)
        self.drop = nn.Dropout(config.dropout)
        between_layers = config.dropout if config.layers > 1 else 0.0  # torch warns on dropout with one layer
        self.rnn = _TORCH_CELLS[config.cell](
            config.embed, config.hidden, config.layers, batch_first=True, dropout=between_layers
        )
        self.head = nn.Linear(config.hidden, VOCAB_SIZE)

    def forward(
        self, idx: torch.Tensor, hidden: Hidden | None = None, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, Hidden, torch.Tensor | None]:
        x = self.drop(self.embed(idx))  # (B, T, E)
        out, hidden = self.rnn(x, hidden)  # (B, T, H)
        logits = self.head(self.drop(out))  # (B, T, 256)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.reshape(-1, VOCAB_SIZE).float(), targets.reshape(-1))
        return logits, hidden, loss

    def init_hidden(self, batch: int) -> Hidden:
        weight = self.head.weight
        zeros = weight.new_zeros(self.config.layers, batch, self.config.hidden)
        if self.config.cell == "lstm":
            return zeros, weight.new_zeros(self.config.layers, batch, self.config.hidden)
        return zeros


def detach_hidden(hidden: Hidden) -> Hidden:
    """Cut the graph between truncated-BPTT chunks while carrying the state forward."""
    if isinstance(hidden, tuple):
        return tuple(h.detach() for h in hidden)
    return hidden.detach()


def weights_to_numpy(model: nn.Module) -> dict[str, np.ndarray]:
    return {k: v.detach().to("cpu", torch.float32).numpy().copy() for k, v in model.state_dict().items()}


def weights_from_numpy(model: nn.Module, weights: dict[str, np.ndarray]) -> None:
    state = {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in weights.items()}
    model.load_state_dict(state, strict=True)
