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

# What a model may declare, whether it comes from the command line or from a model's meta.json:
# a hostile meta.json must not decide how much memory is allocated or read. The largest model
# allowed holds 2^28 parameters (1 GiB of float32 weights), far beyond what a character model
# on a laptop needs (the default GRU 1x512 has about 1 M).
LIMITS = {"embed": 4096, "hidden": 4096, "layers": 16}
MAX_PARAMETERS = 2**28


@dataclass(frozen=True)
class ModelConfig:
    cell: str = "gru"  # "rnn" (tanh), "gru" or "lstm"
    embed: int = 64  # size of the byte embedding fed to the first layer
    hidden: int = 512  # size of each recurrent layer's state
    layers: int = 1  # stacked recurrent layers
    dropout: float = 0.0  # on the embedding, between layers and before the head; training only

    def __post_init__(self) -> None:
        if not isinstance(self.cell, str) or self.cell not in GATES:
            raise ValueError(f"unknown cell {self.cell!r}; choose one of {', '.join(CELLS)}")
        for name, limit in LIMITS.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1 or value > limit:
                raise ValueError(f"{name} must be a whole number from 1 to {limit}, not {value!r}")
        dropout = self.dropout
        if not isinstance(dropout, (int, float)) or isinstance(dropout, bool) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be a number in [0, 1), not {dropout!r}")
        if self.parameter_count() > MAX_PARAMETERS:
            raise ValueError(
                f"a {self.describe()} with embedding {self.embed} has {self.parameter_count():,} parameters, "
                f"more than the {MAX_PARAMETERS:,} allowed"
            )

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
