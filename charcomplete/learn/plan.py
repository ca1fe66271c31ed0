"""A training run's plan: what `train_model` is asked to do, and the defaults every caller
shares (`charcomplete train`, `compare`, the benchmarks).

Kept free of torch, so that the command line can show these defaults in its help and
check its options before torch is imported."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from charcomplete.core.config import ModelConfig
from charcomplete.storage.meta import ModelMeta

if TYPE_CHECKING:
    from charcomplete.learn.distributed import Distributed
    from charcomplete.storage.store import TrainingState

BATCH_SIZE = 64  # parallel streams per update
SEQ_LEN = 128  # characters per stream per update (the BPTT length)
LR = 2e-3  # peak learning rate from random weights
# From trained weights: measured on the new-user protocol (BENCHMARKS.md, "Quality"). With the built-in
# model at 19,000 updates (its schedule ended at 2e-4) no update at 1e-3 beat it on the user's own
# held-out notes; at 2e-4 the notes went 1.793 -> 1.741 bpc in 1,400 updates (5e-5: 1.767 in 400),
# costing the Rust book 2.9% and the shell cheat sheets 3.6%.
FINE_TUNE_LR = 2e-4
EVAL_EVERY_S = 30.0  # seconds between validation checks
CHECKPOINT_EVERY_S = 120.0  # seconds between saves of the best weights so far
VAL_FRACTION = 0.1  # share of documents held out for validation
# When fine-tuning: the share of general text mixed among the user's documents (charcomplete.learn.replay).
# Off: measured on the new-user protocol (BENCHMARKS.md, "Quality"), a fifth of Python's docs
# cut what fine-tuning cost on the Rust book from 4.7% to 3.2%, nothing on shell cheat sheets,
# and cost 0.022 bpc on the user's own notes, which is what `train` is run for.
GENERAL_SHARE = 0.0


def peak_lr(tuning: bool) -> float:
    """The default peak learning rate of a run that starts from trained weights (`tuning`) or not."""
    return FINE_TUNE_LR if tuning else LR


@dataclass
class Budget:
    """When a run stops: the first limit reached."""

    minutes: float | None = None
    steps: int | None = None  # updates in this run
    epochs: float | None = None
    # Updates the model has made in all, this run's included: a long run stopped and
    # resumed in several sittings then follows one learning-rate schedule.
    until_step: int | None = None
    start_step: int = 0  # updates the model had made before this run (for until_step)

    def progress(self, elapsed_s: float, steps: int, epochs: float) -> float:
        fractions = []
        if self.until_step:
            fractions.append((self.start_step + steps) / self.until_step)
        if self.minutes:
            fractions.append(elapsed_s / (self.minutes * 60.0))
        if self.steps:
            fractions.append(steps / self.steps)
        if self.epochs:
            fractions.append(epochs / self.epochs)
        return max(fractions) if fractions else 0.0


@dataclass
class TrainPlan:
    """Everything `train.train_model` needs, prepared by its caller."""

    name: str
    config: ModelConfig
    train_data: np.ndarray
    val_data: np.ndarray
    meta: ModelMeta = field(default_factory=ModelMeta)  # the record it starts from (history, sources, parent...)
    weights: dict[str, np.ndarray] | None = None
    optimizer_state: dict[str, np.ndarray] | None = None
    # A resumed run that starts past its best weights: those weights, which it must beat to replace them.
    kept: TrainingState | None = None
    budget: Budget = field(default_factory=Budget)
    batch_size: int = BATCH_SIZE
    seq_len: int = SEQ_LEN
    lr: float = LR
    device: str = "auto"
    precision: str = "fp32"
    eval_every_s: float = EVAL_EVERY_S
    checkpoint_every_s: float = CHECKPOINT_EVERY_S
    seed: int = 0
    dist: Distributed | None = None  # under torchrun; None: one process
