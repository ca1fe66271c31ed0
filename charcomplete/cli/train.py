"""`charcomplete train PATH...`: learn from the user's files."""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from charcomplete.cli import app, fail
from charcomplete.core.config import CELLS, ModelConfig
from charcomplete.core.errors import CharcompleteError
from charcomplete.core.paths import locations
from charcomplete.learn import plan as plans
from charcomplete.model import memory
from charcomplete.storage import store
from charcomplete.storage.meta import ModelMeta

DEFAULT_MINUTES = 5.0  # when no --minutes, --steps or --epochs is given
VAL_BYTES = 131072  # validation text kept for the checks during training
LOCK_WAIT_S = 10.0  # how long train waits for another writer of the same model before refusing


SHAPE_OPTIONS = {"cell": "--arch", "hidden": "--hidden", "layers": "--layers", "embed": "--embed"}
SHAPE = ModelConfig()  # a new model's shape where no option sets one


@dataclass
class Start:
    """Where a run starts: the config, weights (None: random), optimizer state and the model's record."""

    config: ModelConfig
    weights: dict | None
    optimizer_state: dict | None
    meta: ModelMeta
    how: str  # for the first line: "fine-tuning from 'default' (the model in use)", "from scratch", ...
    tuning: bool  # starts from trained weights (a lower peak learning rate suits it)
    resumed_lr: float | None = None  # --resume: the peak rate the model was trained at, so its schedule goes on
    kept: store.TrainingState | None = None  # --resume past the best: the best weights, to be beaten
    remembered: bytes = b""  # the memory (memory.py) of the model it starts from, which the new one adds to

    def lr(self, chosen: float | None) -> float:
        if chosen is not None:
            return chosen
        return self.resumed_lr if self.resumed_lr is not None else plans.peak_lr(self.tuning)


def _start(name: str, resume: bool, from_model: str | None, scratch: bool, overrides: dict) -> Start:
    """Decide where training starts. Without a shape option or --scratch, a new run fine-tunes
    the model in use: a fresh install's first `train` then builds on the built-in model's
    broad pretraining instead of throwing it away for random weights."""
    store.check_name(name)
    shape = [flag for key, flag in SHAPE_OPTIONS.items() if overrides.get(key) is not None]
    exists = store.model_exists(name)
    if resume and (from_model or scratch):
        raise CharcompleteError("--resume continues this model; it cannot be combined with --from or --scratch")
    if from_model and scratch:
        raise CharcompleteError("use either --from (start from another model) or --scratch (random weights), not both")
    if resume:
        if not exists:
            raise CharcompleteError(f"there is no model {name!r} to resume; drop --resume to start it")
        loaded = store.load_model(name)
        clash = {k: v for k, v in overrides.items() if v is not None and getattr(loaded.config, k) != v}
        if clash:
            raise CharcompleteError(
                f"model {name!r} is a {loaded.config.describe()}; its shape cannot change on --resume"
            )
        return dataclasses.replace(_resume_start(loaded), remembered=memory.read_sound(loaded.folder))
    if scratch or (shape and not from_model):
        if exists:
            raise CharcompleteError(
                f"model {name!r} already exists; add --resume to keep training it, or pick another --model name"
            )
        config = ModelConfig(**{k: (v if v is not None else getattr(SHAPE, k)) for k, v in overrides.items()})
        why = "--scratch" if scratch else f"{', '.join(shape)} asks for a new shape"
        return Start(config, None, None, ModelMeta(), f"from scratch (random weights: {why})", False)
    if shape:
        raise CharcompleteError(
            f"--from fine-tunes {from_model!r} as it is; {', '.join(shape)} cannot change its shape "
            "(add --scratch, without --from, for a new model of that shape)"
        )
    parent = from_model or store.current_model_name()
    in_use = "" if from_model else " (the model in use)"
    if exists and name != parent:
        raise CharcompleteError(
            f"model {name!r} already exists; add --resume to keep training it, --from {name} to fine-tune it "
            "on this text, or pick another --model name"
        )
    source = store.load_model(parent)
    config = source.config
    if overrides.get("dropout") is not None:
        config = ModelConfig(**{**config.to_dict(), "dropout": overrides["dropout"]})
    if name == parent:  # more learning for the same model: its record goes on
        meta = source.meta
        how = f"fine-tuning {name!r}{in_use} further on this text"
    else:
        meta = ModelMeta(parent=parent, sources=source.meta.sources, trained_chars=source.meta.trained_chars)
        how = f"fine-tuning from {parent!r}{in_use}"
    return Start(config, source.weights, None, meta, how, True, remembered=memory.read_sound(source.folder))


def _resume_start(loaded: store.LoadedModel) -> Start:
    """--resume goes on from the latest training state the model saved (a checkpoint past its
    best), else from the best; either way at the peak learning rate it was trained at."""
    meta, optimizer = loaded.meta, store.load_optimizer_state(loaded)
    point = store.load_resume_point(loaded)
    if point is None:
        return Start(loaded.config, loaded.weights, optimizer, meta, f"resuming at step {meta.steps:,}", True,
                     resumed_lr=meta.lr)
    kept = store.TrainingState(loaded.weights, optimizer or {}, meta.steps, meta.trained_chars)
    return Start(loaded.config, point.weights, point.optimizer, meta.record(steps=point.step,
                 trained_chars=point.chars), f"resuming at step {point.step:,} (its best so far, from step "
                 f"{meta.steps:,}, stays the model until beaten)", True, resumed_lr=meta.lr, kept=kept)


def _read_corpus(paths: list[Path], meta: ModelMeta, exclude: list[str], val_fraction: float):
    """(corpus, train docs, val docs, `meta` with the sources, fingerprint and exclusions recorded)."""
    from charcomplete.learn import corpus as corpus_mod

    corpus = corpus_mod.scan(paths, exclude=exclude)
    corpus_mod.require_text(corpus)
    train_docs, val_docs = corpus_mod.split(corpus.documents, val_fraction)
    sources = list(dict.fromkeys([*meta.sources, *(str(p) for p in corpus.roots)]))
    meta = meta.record(sources=sources, data_fingerprint=corpus_mod.fingerprint(corpus.documents),
                       exclude=list(exclude) or meta.exclude)
    return corpus, train_docs, corpus_mod.mixed_order(val_docs), meta


@app.command("train")
def train(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders of text to learn from.", show_default=False)],
    model: Annotated[str, typer.Option("--model", "-m", help="Name of the model to train.")] = "mine",
    resume: Annotated[bool, typer.Option("--resume", help="Continue training this model where it stopped.")] = False,
    from_model: Annotated[
        str | None,
        typer.Option("--from", help="Fine-tune this model's weights into --model (default: the model in use)."),
    ] = None,
    scratch: Annotated[
        bool, typer.Option("--scratch", help="Start from random weights instead of fine-tuning the model in use.")
    ] = False,
    arch: Annotated[
        str | None, typer.Option("--arch", help=f"Cell: {', '.join(CELLS)} (default {SHAPE.cell}).")
    ] = None,
    hidden: Annotated[int | None, typer.Option("--hidden", help=f"Hidden size (default {SHAPE.hidden}).")] = None,
    layers: Annotated[int | None, typer.Option("--layers", help=f"Recurrent layers (default {SHAPE.layers}).")] = None,
    embed: Annotated[
        int | None, typer.Option("--embed", help=f"Byte embedding size (default {SHAPE.embed}).")
    ] = None,
    dropout: Annotated[
        float | None, typer.Option("--dropout", help=f"Dropout while training (default {SHAPE.dropout:g}).")
    ] = None,
    minutes: Annotated[
        float | None,
        typer.Option("--minutes", help=f"Stop after this long (default {DEFAULT_MINUTES:g} when no other limit)."),
    ] = None,
    steps: Annotated[int | None, typer.Option("--steps", help="Stop after this many updates.")] = None,
    until_step: Annotated[
        int | None,
        typer.Option("--until-step", help="Stop when the model has made this many updates in all; the learning "
                     "rate follows one schedule across --resume sittings."),
    ] = None,
    epochs: Annotated[float | None, typer.Option("--epochs", help="Stop after this many passes over the text.")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Parallel streams per update.")] = plans.BATCH_SIZE,
    seq_len: Annotated[
        int, typer.Option("--seq-len", help="Characters per stream per update (BPTT length).")
    ] = plans.SEQ_LEN,
    lr: Annotated[
        float | None,
        typer.Option("--lr", help=f"Peak learning rate (default {plans.LR:g}, {plans.FINE_TUNE_LR:g} when "
                     "fine-tuning)."),
    ] = None,
    device: Annotated[str, typer.Option("--device", help="auto, cpu or cuda.")] = "auto",
    precision: Annotated[
        str, typer.Option("--precision", help="auto (bf16 where the hardware has it natively), fp32 or bf16.")
    ] = "auto",
    exclude: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude", help='Glob of files to keep out (repeatable), on top of the settings file\'s "exclude" list.'
        ),
    ] = None,
    val_fraction: Annotated[
        float, typer.Option("--val-fraction", help="Share of documents held out for validation.")
    ] = plans.VAL_FRACTION,
    eval_every: Annotated[
        float, typer.Option("--eval-every", help="Seconds between validation checks.")
    ] = plans.EVAL_EVERY_S,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    threads: Annotated[
        int | None, typer.Option("--threads", help="CPU threads (default: the cores not busy with other work).")
    ] = None,
    general_share: Annotated[
        float, typer.Option("--general-share", help="When fine-tuning: the share of general text (Python's "
                            "documentation) mixed into the training text, so that the model keeps what it knew.")
    ] = plans.GENERAL_SHARE,
    remember: Annotated[
        bool, typer.Option("--memory/--no-memory", help="Keep the text learned from with the model (up to "
                           f"{memory.MEMORY_BYTES // 2**20} MiB, compressed), so suggestions know your names, paths "
                           "and links from the first keystroke; --no-memory keeps only the weights.")
    ] = True,
) -> None:
    """Learn (or keep learning) from folders of text. Ctrl-C stops and keeps the best model."""
    if arch is not None and arch not in CELLS:
        raise CharcompleteError(f"unknown --arch {arch!r}; choose one of {', '.join(CELLS)}")
    if precision not in ("auto", "fp32", "bf16"):
        raise CharcompleteError(f"unknown --precision {precision!r}; choose auto, fp32 or bf16")
    if not 0.0 < val_fraction < 0.9:
        raise CharcompleteError("--val-fraction must be between 0 and 0.9")
    if not 0.0 <= general_share <= 0.5:  # "not" catches NaN too
        raise CharcompleteError("--general-share must be from 0 to 0.5")
    for label, value in (("--batch-size", batch_size), ("--seq-len", seq_len), ("--steps", steps),
                         ("--until-step", until_step), ("--threads", threads)):
        if value is not None and value < 1:
            raise CharcompleteError(f"{label} must be at least 1")
    for label, value in (("--minutes", minutes), ("--epochs", epochs), ("--lr", lr), ("--eval-every", eval_every)):
        if value is not None and not value > 0:  # not "<= 0": NaN is refused too
            raise CharcompleteError(f"{label} must be more than 0")
    if not 0 <= seed <= 2**32 - 1:
        raise CharcompleteError("--seed must be a whole number from 0 to 4294967295")
    for label, value in (("--minutes", minutes), ("--epochs", epochs), ("--lr", lr), ("--dropout", dropout)):
        if value is not None and not math.isfinite(value):
            raise CharcompleteError(f"{label} must be a finite number, not {value}")
    overrides = {"cell": arch, "hidden": hidden, "layers": layers, "embed": embed, "dropout": dropout}
    try:  # bounded like a model's meta.json, and refused before the model's folder is even created
        ModelConfig(**{key: value for key, value in overrides.items() if value is not None})
    except ValueError as error:
        raise CharcompleteError(str(error)) from None
    excluded = [*store.exclude_patterns(), *(exclude or [])]
    # The lock is taken before the model is read, so that two runs on one model take turns
    # (the second sees what the first saved) instead of both starting from the same version.
    # torchrun sets RANK: rank 0 alone writes the model, so it alone takes the lock.
    lock = _lock_model(model) if os.environ.get("RANK", "0") == "0" else None
    dist = None
    try:
        try:
            start = _start(model, resume, from_model, scratch, overrides)
        except ValueError as error:  # a ModelConfig value out of range
            raise CharcompleteError(str(error)) from None
        config = start.config
        corpus, train_docs, val_docs, meta = _read_corpus(paths, start.meta, excluded, val_fraction)
        general_bytes = 0
        if start.tuning and not resume:
            from charcomplete.learn import replay

            train_docs, general_bytes = replay.mix_in(train_docs, general_share)
        from charcomplete.learn import training as training  # torch: imported only once the input is known to be good
        from charcomplete.learn.corpus import encode
        from charcomplete.learn.distributed import from_environment

        budget = plans.Budget(minutes, steps, epochs, until_step, start_step=meta.steps)
        if not (minutes or steps or epochs or until_step):
            budget.minutes = DEFAULT_MINUTES
        dist = from_environment(device)  # under torchrun: join the process group (it sets threads itself)
        if dist.world == 1:
            training.pick_threads(threads)
        precision, why = training.choose_precision(
            precision, dist.device if dist.world > 1 else training.pick_device(device)
        )
        train_bytes = sum(len(d.data) for d in train_docs) - general_bytes
        val_bytes = sum(len(d.data) for d in val_docs)
        documents = len(corpus.documents)
        train_data, val_data = encode(train_docs), encode(val_docs)[:VAL_BYTES].copy()
        remembered = memory.gather((d.data for d in corpus.documents), start.remembered) if remember else b""
        # Once the text is one byte stream its documents are dropped: while training, `train`
        # holds the text once (one byte per character) plus VAL_BYTES held out, not three copies.
        for listed in (corpus.documents, train_docs, val_docs):
            listed.clear()
        plan = plans.TrainPlan(
            name=model, config=config, train_data=train_data, val_data=val_data, meta=meta,
            weights=start.weights, optimizer_state=start.optimizer_state, kept=start.kept, budget=budget,
            batch_size=batch_size, seq_len=seq_len, lr=start.lr(lr), device=device, precision=precision,
            eval_every_s=eval_every, seed=seed, dist=dist,
        )
        if not dist.main:  # other ranks train silently; rank 0 holds the lock, reports and saves
            training.train_model(plan)
            return
        processes = f" in {dist.world} processes" if dist.world > 1 else ""
        print(
            f"training {model!r}: {start.how} ({config.describe()}, {config.parameter_count():,} parameters, "
            f"{precision}: {why}){processes} on {documents} documents: {train_bytes:,} bytes to learn, "
            f"{val_bytes:,} held out" + (f", {general_bytes:,} of general text mixed in" if general_bytes else ""),
            file=sys.stderr,
        )
        with _ProgressView(budget) as view:
            result = training.train_model(plan, view.update, view.warn)
        in_use = store.current_model_name()
        if result.saved:  # we hold the model's lock
            memory.write(result.folder, remembered)
            if in_use == store.DEFAULT_MODEL and model != store.DEFAULT_MODEL:
                store.update_settings(model=model)  # the rule: see _in_use_line
        print(_summary(model, corpus, documents, train_bytes, val_bytes, result, len(remembered)))
        if result.saved:
            print(_in_use_line(model, in_use))
            cost = _general_cost(config, start.weights, result.folder, model, threads)
            if cost:
                print(cost)
    except KeyboardInterrupt:  # Ctrl-C while reading the text or starting up (training catches its own)
        raise fail("stopped by Ctrl-C before training began; nothing was saved", 130) from None
    finally:
        if dist is not None:
            dist.close()
        if lock is not None:
            store.unlock_model(lock, model)  # a folder holding only the lock (nothing saved) goes too


def _lock_model(name: str):
    """Take the model's writer lock, waiting up to LOCK_WAIT_S for another writer; one sentence if we can't."""
    store.check_name(name)
    try:
        return store.lock_model(name, timeout=LOCK_WAIT_S)
    except OSError as error:  # the model folder cannot be created or written
        raise CharcompleteError(
            f"cannot write model {name!r} in {locations().models}: {error.strerror or error}"
        ) from None


def _summary(name, corpus, documents, train_bytes, val_bytes, result, remembered: int) -> str:
    if not result.saved:
        kept = "the saved model is unchanged" if store.model_exists(name) else f"the name {name!r} is still free"
        return f"stopped by {result.stopped_by} before the first validation check: nothing was kept ({kept})"
    stop = f"stopped by {result.stopped_by}; " if result.interrupted else ""
    return "\n".join([
        f"{stop}trained {result.steps_run:,} steps in {result.seconds:.0f} s ({result.chars_per_s:,.0f} chars/s)",
        f"documents: {documents:,} ({train_bytes:,} bytes trained on, "
        f"{val_bytes:,} held out); {corpus.skip_summary()}",
        f"best validation: {result.best_val_bpc:.3f} bits per character (at step {result.total_steps:,})",
        *([] if result.improved or not result.steps_run else
          [f"none of the {result.steps_run:,} updates beat the weights it started from on the held-out text, "
           f"so {name!r} keeps those weights unchanged"]),
        f"model {name!r} saved in {result.folder}",
        (f"it remembers {remembered:,} bytes of your text, for suggestions ({memory.MEMORY_FILE}; "
         "--no-memory keeps none)" if remembered else "it keeps no memory of your text (only the weights)"),
    ])


def _in_use_line(name: str, was_in_use: str) -> str:
    """One rule for the model the editor and the pipes use next (README, "Models"): while the
    built-in model is in use, the model you train becomes the one in use; after that only
    `charcomplete models use` changes it."""
    if was_in_use == name:
        return f"the editor and pipes use {name!r}, with these weights from their next start"
    if was_in_use == store.DEFAULT_MODEL:
        return (f"the editor and pipes now use {name!r} (your first model replaces the built-in one); "
                f"`charcomplete models use {store.DEFAULT_MODEL}` goes back to the built-in model")
    return f"the editor and pipes still use {was_in_use!r}; `charcomplete models use {name}` switches them to this one"


def _general_cost(config, start_weights, folder, name: str, threads) -> str | None:
    """What the run did to the model on general text: the figure `models` lists, before and after."""
    from charcomplete.evaluate import general

    text = general.general_text()
    if text is None:
        return None
    after = general.general_bpc(config, store.load_from_folder(folder, name).weights, threads)
    if start_weights is None:
        return f"general text ({general.describe_text(text)}): {after:.3f} bpc"
    before = general.general_bpc(config, start_weights, threads)
    change = after - before
    verdict = (f"{change:.3f} bpc worse: what learning this text cost on text in general" if change > 0.0005 else
               f"{-change:.3f} bpc better" if change < -0.0005 else "unchanged")
    return f"general text ({general.describe_text(text)}): {before:.3f} -> {after:.3f} bpc, {verdict}"


def progress_line(p, budget) -> str:
    """A validation check as a line of a log (issue 26: "step 28122 17%" said neither what the
    share is of nor how long is left): this run's steps, the model's in all when they differ,
    the share of the run's limit, named, and the time left at the pace so far."""
    val = f"{p.val_bpc:.3f}" if p.val_bpc is not None else "-"
    steps = f"step {p.total_steps:,}" + (f" ({p.step:,} in all)" if p.step != p.total_steps else "")
    share = f"{min(p.progress, 1.0):.0%} of {_limit_words(budget)}"
    if 0 < p.progress < 1:
        share += f", about {_duration(p.elapsed_s * (1 - p.progress) / p.progress)} left"
    return f"{steps}  {share}  train {p.train_bpc:.3f} bpc  val {val} bpc  {p.chars_per_s:,.0f} chars/s"


def _limit_words(budget) -> str:
    """The run's limits as words: "5 minutes", "200 steps or 2 epochs"."""
    limits = []
    if budget.minutes:
        limits.append(f"{budget.minutes:g} minute{'s' if budget.minutes != 1 else ''}")
    if budget.steps:
        limits.append(f"{budget.steps:,} steps")
    if budget.epochs:
        limits.append(f"{budget.epochs:g} epoch{'s' if budget.epochs != 1 else ''}")
    if budget.until_step:
        limits.append(f"the run to step {budget.until_step:,} in all")
    return " or ".join(limits) or "the run"


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class _ProgressView:
    """A live rich progress bar on a terminal; a line per validation check otherwise."""

    def __init__(self, budget) -> None:
        self.budget = budget
        self.live = sys.stderr.isatty()
        self.last_draw = 0.0
        self.progress = None

    def __enter__(self) -> _ProgressView:
        if self.live:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(
                TextColumn("step {task.fields[step]:>6}"), BarColumn(),
                TextColumn("train {task.fields[train]} bpc  val {task.fields[val]} bpc  {task.fields[speed]} chars/s"),
                TimeRemainingColumn(), console=Console(stderr=True), transient=False,
            )
            self.progress.start()
            self.task = self.progress.add_task("train", total=1.0, step=0, train="-", val="-", speed="-")
        return self

    def update(self, p) -> None:
        val = f"{p.val_bpc:.3f}" if p.val_bpc is not None else "-"
        if self.progress is not None:
            now = time.monotonic()
            if now - self.last_draw < 0.2 and not p.evaluated:
                return
            self.last_draw = now
            self.progress.update(self.task, completed=min(p.progress, 1.0), step=p.step, train=f"{p.train_bpc:.3f}",
                                 val=val, speed=f"{p.chars_per_s:,.0f}")
        elif p.evaluated or p.progress >= 1.0:  # a line per validation check, and the run's last step
            print(progress_line(p, self.budget), file=sys.stderr, flush=True)

    def warn(self, message: str) -> None:
        if self.progress is not None:
            self.progress.console.print(f"charcomplete: {message}", markup=False, highlight=False)
        else:
            print(f"charcomplete: {message}", file=sys.stderr, flush=True)

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.stop()
