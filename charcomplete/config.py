"""The one place that describes a model's shape. Torch-free, so the CLI and the
numpy inference engine can read it without paying for `import torch`."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

VOCAB_SIZE = 256  # bytes: every model shares this vocabulary, so any text fine-tunes any model
DOC_START = 0  # the NUL byte opens every document; text files never contain it (binary files are skipped)

# How many gate blocks each cell stacks in its weight matrices (PyTorch's layout).
GATES = {"rnn": 1, "gru": 3, "lstm": 4}
CELLS = tuple(GATES)

LN2 = math.log(2.0)  # nats in a bit: a loss in nats per byte / LN2 is bits per character


@dataclass(frozen=True)
class ModelConfig:
    cell: str = "gru"  # "rnn" (tanh), "gru" or "lstm"
    embed: int = 64  # size of the byte embedding fed to the first layer
    hidden: int = 512  # size of each recurrent layer's state
    layers: int = 1  # stacked recurrent layers
    dropout: float = 0.0  # on the embedding, between layers and before the head; training only

    def __post_init__(self) -> None:
        if self.cell not in GATES:
            raise ValueError(f"unknown cell {self.cell!r}; choose one of {', '.join(CELLS)}")
        for name in ("embed", "hidden", "layers"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1 or value > 8192:
                raise ValueError(f"{name} must be a whole number from 1 to 8192, not {value!r}")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), not {self.dropout!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model settings: {', '.join(sorted(unknown))}")
        return cls(**data)

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        """Name and shape of every tensor, as the torch model's state_dict has them."""
        rows = GATES[self.cell] * self.hidden
        shapes: dict[str, tuple[int, ...]] = {"embed.weight": (VOCAB_SIZE, self.embed)}
        for layer in range(self.layers):
            width = self.embed if layer == 0 else self.hidden
            shapes[f"rnn.weight_ih_l{layer}"] = (rows, width)
            shapes[f"rnn.weight_hh_l{layer}"] = (rows, self.hidden)
            shapes[f"rnn.bias_ih_l{layer}"] = (rows,)
            shapes[f"rnn.bias_hh_l{layer}"] = (rows,)
        shapes["head.weight"] = (VOCAB_SIZE, self.hidden)
        shapes["head.bias"] = (VOCAB_SIZE,)
        return shapes

    def parameter_count(self) -> int:
        total = 0
        for shape in self.weight_shapes().values():
            count = 1
            for dim in shape:
                count *= dim
            total += count
        return total

    def describe(self) -> str:
        """Short human label, e.g. 'GRU 1x512'."""
        return f"{self.cell.upper()} {self.layers}x{self.hidden}"
