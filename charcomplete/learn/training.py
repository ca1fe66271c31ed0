"""Training: truncated back-propagation through time over byte streams.

`train_model` is what `charcomplete train` runs: corpus in, best model saved, with its
learning-rate schedule, validation, checkpoints and stop signals. The update step is
`trainer.Trainer` (the editor's background learner uses it too); the machine's threads,
device and precision are `hardware`."""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from charcomplete.core.config import LN2
from charcomplete.core.errors import CharcompleteError
from charcomplete.learn.distributed import SINGLE
from charcomplete.learn.hardware import (  # noqa: F401 - train_model's callers choose with these
    PRECISIONS,
    choose_precision,
    cpu_flags,
    free_cores,
    pick_device,
    pick_threads,
)
from charcomplete.learn.plan import TrainPlan
from charcomplete.learn.trainer import ChunkStream, Trainer  # noqa: F401 - and train with these
from charcomplete.model.network import Hidden
from charcomplete.storage import store
from charcomplete.storage.meta import ModelMeta

# A run stopped before its first validation check is kept (validated once on stopping) only
# after this long: stopped sooner, it is a false start and leaves nothing behind.
KEEP_AFTER_S = 10.0

WARMUP_STEPS = 50
WARMUP_SHARE = 0.02  # ...or this share of the budget, whichever ends first: a short run must not spend
# a third of its steps warming up
DECAY_SHARE = 0.2  # the last fifth of the budget anneals


def lr_at(progress: float, step: int, base: float, warmup: int = WARMUP_STEPS) -> float:
    """Warm-up, stable, decay: a linear warm-up, the base rate until the last fifth of the
    budget, then a cosine decay to a tenth of it at progress 1.

    Unlike a cosine over the whole run, the rate stays high while most of the learning
    happens, so a run that is stopped early (Ctrl-C) or is short has learned more, and the
    final anneal still gives the low-noise end (Hägele et al. 2024, "Scaling laws and
    compute-optimal training beyond fixed training durations"). Measured here at a fixed
    time against a plain constant-rate loop: see BENCHMARKS.md, "Training"."""
    progress = min(max(progress, 0.0), 1.0)
    warm = min(1.0, max((step + 1) / warmup, progress / WARMUP_SHARE))
    decay = max(0.0, (progress - (1.0 - DECAY_SHARE)) / DECAY_SHARE)
    return base * warm * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * decay)))


@dataclass
class Progress:
    """What the trainer reports while it runs (the CLI draws it)."""

    step: int
    total_steps: int  # steps done in this run
    progress: float  # 0..1 of the budget
    train_bpc: float
    val_bpc: float | None
    best_val_bpc: float | None
    chars_per_s: float
    elapsed_s: float
    evaluated: bool = False  # True when this report carries a fresh validation figure


@dataclass
class TrainResult:
    folder: Path
    steps_run: int
    total_steps: int
    seconds: float
    train_seconds: float  # time inside training steps only (no validation, no saving)
    chars_trained: int
    best_val_bpc: float
    interrupted: bool
    history: list[dict] = field(default_factory=list)
    saved: bool = True  # False: stopped before the first validation check, so nothing was kept
    improved: bool = True  # False: no update of this run beat the weights it started from
    stopped_by: str = "Ctrl-C"  # what interrupted it: Ctrl-C, SIGTERM or SIGHUP

    @property
    def chars_per_s(self) -> float:
        return self.chars_trained / self.train_seconds if self.train_seconds > 0 else 0.0


def train_model(
    plan: TrainPlan,
    report: Callable[[Progress], None] = lambda p: None,
    warn: Callable[[str], None] = lambda message: None,
) -> TrainResult:
    """Train until the budget is spent or Ctrl-C; save the best model (by validation bpc).

    A checkpoint that cannot be saved (disk full, permissions) is reported through `warn`
    once, and training goes on; the next checkpoint, or the end, tries again. The final
    save failing raises CharcompleteError: the model on disk stays the last one saved whole.

    Under torchrun every rank runs this: each learns from its own shard of the text,
    validation is summed across ranks, and only rank 0 reports and writes the model."""
    set_up_at = time.monotonic()
    try:
        run = _Run(plan)
    except KeyboardInterrupt:
        # Ctrl-C while the model is set up and first checked (seconds, on a big corpus or a busy
        # machine): as before the first validation, nothing was learned and nothing is kept.
        return TrainResult(folder=store.model_folder(plan.name), steps_run=0, total_steps=plan.meta.steps,
                           seconds=time.monotonic() - set_up_at, train_seconds=0.0, chars_trained=0,
                           best_val_bpc=float("nan"), interrupted=True, history=list(plan.meta.history), saved=False)
    checkpoints = Checkpointer(plan, warn)
    dist = run.dist
    started = last_eval = last_save = time.monotonic()
    stop = StopSignal(catch=dist.world > 1)
    with stop:  # held through the final save: a second SIGTERM must not interrupt it
        try:
            while True:
                now = time.monotonic()
                progress = plan.budget.progress(now - started, run.steps, run.epochs)
                # Rank 0's clock decides for everyone, so all ranks stop and validate at the same step.
                finish, evaluate, save = dist.agree(
                    progress >= 1.0 or stop.requested, now - last_eval >= plan.eval_every_s,
                    now - last_save >= plan.checkpoint_every_s,
                )
                if finish:
                    stop.requested = stop.requested or progress < 1.0
                    break
                run.train_step(lr_at(progress, run.steps, plan.lr))
                if evaluate:
                    run.validate()
                    last_eval = time.monotonic()
                if save:
                    checkpoints.save(run.best, run.record, run.latest())
                    last_save = time.monotonic()
                if dist.main:  # the share after this step: the last step of a run reports 100%
                    elapsed = time.monotonic() - started
                    report(run.progress(plan.budget.progress(elapsed, run.steps, run.epochs), elapsed, evaluate))
        except KeyboardInterrupt:
            stop.requested = True
        stop.interruptible = False  # from here on a stop signal only sets the flag: the save must finish
        keep = run.worth_keeping(stop.requested, time.monotonic() - started)
        if keep and run.steps and not run.validated_last_step():  # a last look at validation, then keep the best
            try:
                run.validate()
            except KeyboardInterrupt:
                stop.requested = True
        if keep:
            checkpoints.save(run.best, run.record, run.latest(), final=True)
    return TrainResult(
        folder=store.model_folder(plan.name),
        steps_run=run.steps,
        total_steps=run.best.step,
        seconds=time.monotonic() - started,
        train_seconds=run.train_seconds,
        chars_trained=run.steps * run.chars_per_step,
        best_val_bpc=run.best.bpc,
        interrupted=stop.requested,
        history=run.record.history,
        saved=keep,
        improved=run.best.step > run.start_step,
        stopped_by=stop.stopped_by,
    )


@dataclass
class BestSoFar:
    """The best validation of a run so far and, on the rank that saves, the weights and
    optimizer state that scored it (what a checkpoint writes)."""

    bpc: float
    step: int  # the model's update count when it scored
    chars: int  # the model's trained characters then
    weights: dict[str, np.ndarray] | None = None
    optimizer: dict[str, np.ndarray] | None = None

    def beaten_by(self, bpc: float) -> bool:
        return bpc < self.bpc or not math.isfinite(self.bpc)


class _Run:
    """One training run's state: the trainer and its text, the steps taken, the running
    training loss, the model's record with this run's validations, and the best so far."""

    def __init__(self, plan: TrainPlan) -> None:
        dist = self.dist = plan.dist or SINGLE
        torch.manual_seed(plan.seed)  # same seed on every rank: DDP needs identical starting weights
        device = dist.device if dist.world > 1 else pick_device(plan.device)
        self.start_step, self.start_chars = plan.meta.steps, plan.meta.trained_chars
        self.trainer = Trainer(plan.config, plan.weights, lr=plan.lr, device=device, precision=plan.precision,
                               dist=dist)
        if plan.optimizer_state:
            self.trainer.load_optimizer_state(plan.optimizer_state)
        self.stream = ChunkStream(dist.shard(plan.train_data), plan.batch_size, plan.seq_len, device,
                                  seed=plan.seed + dist.rank + self.start_step, skip=self.start_step)
        self.val_data = dist.shard(plan.val_data)
        self.chars_per_step = self.stream.batch * self.stream.seq_len * dist.world
        self.steps = 0  # updates in this run
        self.validations = 0  # checks of weights this run trained; none yet: there is nothing worth keeping
        self.train_seconds = 0.0  # inside training steps only
        self.ema: float | None = None  # the training loss, smoothed, in bits per character
        self.hidden: Hidden | None = None
        bpc = self.trainer.evaluate(self.val_data)
        self.best = BestSoFar(bpc, self.start_step, self.start_chars)
        self._keep_if_main()
        if plan.kept is not None:
            self._compare_with_kept(plan.kept)
        self.record = plan.meta.record(
            {"step": self.start_step, "chars": self.start_chars, "val_bpc": bpc, "time": store.now_iso()})

    @property
    def epochs(self) -> float:
        return self.stream.epoch + self.stream.position / max(1, self.stream.lane_len)

    def train_step(self, lr: float) -> None:
        self.trainer.set_lr(lr)
        t0 = time.perf_counter()
        x, y, new_epoch = self.stream.next()
        if new_epoch:
            self.hidden = None
        loss, self.hidden = self.trainer.step(x, y, self.hidden)
        self.train_seconds += time.perf_counter() - t0
        self.steps += 1
        if not math.isfinite(loss):
            raise CharcompleteError("training diverged (the loss became NaN); try a smaller --lr")
        bpc = loss / LN2
        self.ema = bpc if self.ema is None else 0.95 * self.ema + 0.05 * bpc

    def validate(self) -> None:
        """Check the weights on the validation text; record the figure, and keep the weights if best."""
        self.validations += 1
        bpc = self.trainer.evaluate(self.val_data)
        step, chars = self.start_step + self.steps, self.start_chars + self.steps * self.chars_per_step
        self.record = self.record.record(
            {"step": step, "chars": chars, "train_bpc": self.ema, "val_bpc": bpc, "time": store.now_iso()})
        if self.best.beaten_by(bpc):
            self.best = BestSoFar(bpc, step, chars)
            self._keep_if_main()

    def _compare_with_kept(self, kept: store.TrainingState) -> None:
        """A run resumed past its best weights keeps them as the best until it beats them
        (judged on this run's validation text, which may differ from the earlier sitting's)."""
        start = self.trainer.weights()
        self.trainer.load_weights(kept.weights)
        bpc = self.trainer.evaluate(self.val_data)
        self.trainer.load_weights(start)
        if not self.best.beaten_by(bpc):
            return
        self.best = BestSoFar(bpc, kept.step, kept.chars)
        if self.dist.main:
            self.best.weights, self.best.optimizer = kept.weights, kept.optimizer or None

    def latest(self) -> store.TrainingState | None:
        """The weights and optimizer state now, if training went on past the best (rank 0
        only): saved beside the best so that `--resume` loses at most one checkpoint interval."""
        step = self.start_step + self.steps
        if not self.dist.main or step == self.best.step:
            return None
        return store.TrainingState(self.trainer.weights(), self.trainer.optimizer_state(), step,
                                   self.start_chars + self.steps * self.chars_per_step)

    def _keep_if_main(self) -> None:
        if self.dist.main:  # only rank 0 saves: the others need not copy their weights out
            self.best.weights, self.best.optimizer = self.trainer.weights(), self.trainer.optimizer_state()

    def validated_last_step(self) -> bool:
        return self.record.history[-1].get("step") == self.start_step + self.steps

    def worth_keeping(self, stopped: bool, elapsed_s: float) -> bool:
        """Stopped in its first seconds, before any validation check (Ctrl-C right after the
        start): the user gave up on this run, so nothing is kept (a new model's name stays
        free for the next try; a resumed one stays as it was). A run stopped later (`timeout
        25`, a service manager's SIGTERM) is validated once more and kept: those seconds count."""
        return self.validations > 0 or not stopped or (self.steps > 0 and elapsed_s >= KEEP_AFTER_S)

    def progress(self, share: float, elapsed_s: float, evaluated: bool) -> Progress:
        return Progress(self.start_step + self.steps, self.steps, share, self.ema,
                        self.record.history[-1].get("val_bpc"), self.best.bpc,
                        self.steps * self.chars_per_step / max(self.train_seconds, 1e-9), elapsed_s, evaluated)


class Checkpointer:
    """Writes a run's best weights into its model (rank 0 only), with the latest training
    state beside them when the run has gone on past the best (what `--resume` goes on from).

    A failed checkpoint is told through `warn` once and retried at the next; a failed final
    save raises CharcompleteError. Either way the model on disk is the last one saved whole."""

    def __init__(self, plan: TrainPlan, warn: Callable[[str], None]) -> None:
        self.plan, self.warn = plan, warn
        self.saved: tuple[float, int] | None = None  # (best figure, step of the latest state) last written
        self.failing = False  # the last save failed; set until one succeeds, so the user is told once

    def save(self, best: BestSoFar, record: ModelMeta, latest: store.TrainingState | None = None,
             final: bool = False) -> None:
        plan = self.plan
        saving = (best.bpc, latest.step if latest else best.step)
        if not (plan.dist or SINGLE).main or saving == self.saved:
            return
        record = record.record(best_val_bpc=best.bpc, steps=best.step, trained_chars=best.chars, lr=plan.lr)
        try:
            store.save_model(plan.name, plan.config, best.weights, record, best.optimizer, latest=latest)
        except OSError as error:
            kept = "the previous version is kept" if store.model_exists(plan.name) else "nothing was saved"
            message = f"could not save model {plan.name!r}: {error.strerror or error}; {kept}"
            if final:
                raise CharcompleteError(message) from None
            if not self.failing:
                self.warn(f"{message}; training goes on and tries again at the next checkpoint")
            self.failing = True
            return
        self.saved = saving
        self.failing = False


class StopSignal:
    """SIGTERM and SIGHUP (`timeout`, `kill`, service managers, a closed terminal) stop
    training the way Ctrl-C does: the best model is kept.

    In one process they raise KeyboardInterrupt, like Ctrl-C, while the training loop runs;
    once it has ended (the last validation and the final save) they only set the flag, so
    they cannot interrupt that save. With
    `catch` set (under torchrun) every stop signal, Ctrl-C included, is a flag: an exception
    in the middle of a collective would leave the other ranks waiting forever; the flag is
    shared at the next step and all ranks stop together."""

    SIGNALS = (signal.SIGTERM, signal.SIGHUP)

    def __init__(self, catch: bool):
        self.catch = catch
        self.requested = False
        self.stopped_by = "Ctrl-C"
        self.interruptible = True  # the training loop runs: a signal may raise KeyboardInterrupt there
        self._previous: dict = {}

    def _handler(self, signum, frame) -> None:
        first = not self.requested
        self.requested = True
        if signum != signal.SIGINT and first:
            self.stopped_by = signal.Signals(signum).name
        if first and self.interruptible and not self.catch and signum != signal.SIGINT:
            raise KeyboardInterrupt

    def __enter__(self) -> StopSignal:
        if threading.current_thread() is not threading.main_thread():
            return self  # signal handlers can only be set from the main thread
        for sig in (signal.SIGINT, *self.SIGNALS) if self.catch else self.SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
