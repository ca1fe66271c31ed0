"""`charcomplete train PATH...`: learn from the user's files."""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from charcomplete import store
from charcomplete.cli import app
from charcomplete.config import CELLS, ModelConfig
from charcomplete.errors import CharcompleteError
from charcomplete.paths import locations

DEFAULT_MINUTES = 5.0  # when no --minutes, --steps or --epochs is given
VAL_BYTES = 131072  # validation text kept for the checks during training
LOCK_WAIT_S = 10.0  # how long train waits for another writer of the same model before refusing


def _plan(
    paths: list[Path], name: str, resume: bool, from_model: str | None, config_overrides: dict,
    exclude: list[str], val_fraction: float,
):
    """Read the corpus and the starting point; return (plan pieces, corpus, train docs, val docs)."""
    from charcomplete import corpus as corpus_mod

    store.check_name(name)
    if resume and from_model:
        raise CharcompleteError("use either --resume (continue this model) or --from (start from another), not both")
    exists = store.model_exists(name)
    weights = optim = None
    meta: dict = {}
    if resume:
        if not exists:
            raise CharcompleteError(f"there is no model {name!r} to resume; drop --resume to start it")
        loaded = store.load_model(name)
        asked = {k: v for k, v in config_overrides.items() if v is not None}
        clash = {k: v for k, v in asked.items() if getattr(loaded.config, k) != v}
        if clash:
            raise CharcompleteError(
                f"model {name!r} is a {loaded.config.describe()}; its shape cannot change on --resume"
            )
        config, weights, meta = loaded.config, loaded.weights, dict(loaded.meta)
        optim = store.load_optimizer_state(loaded)
    elif from_model:
        if exists:
            raise CharcompleteError(f"model {name!r} already exists; choose a new --model name for the fine-tuned copy")
        source = store.load_model(from_model)
        config, weights = source.config, source.weights
        if config_overrides.get("dropout") is not None:
            config = ModelConfig(**{**config.to_dict(), "dropout": config_overrides["dropout"]})
        meta = {"parent": from_model, "sources": list(source.meta.get("sources", [])),
                "trained_chars": int(source.meta.get("trained_chars", 0)), "steps": 0, "history": []}
    else:
        if exists:
            raise CharcompleteError(
                f"model {name!r} already exists; add --resume to keep training it, or pick another --model name"
            )
        defaults = ModelConfig()
        config = ModelConfig(**{k: (v if v is not None else getattr(defaults, k)) for k, v in config_overrides.items()})
        meta = {"steps": 0, "trained_chars": 0, "history": []}

    corpus = corpus_mod.scan(paths, exclude=exclude)
    corpus_mod.require_text(corpus)
    train_docs, val_docs = corpus_mod.split(corpus.documents, val_fraction)
    sources = list(dict.fromkeys([*meta.get("sources", []), *(str(p) for p in corpus.roots)]))
    meta.update(sources=sources, data_fingerprint=corpus_mod.fingerprint(corpus.documents),
                exclude=list(exclude) or meta.get("exclude", []))
    return config, weights, optim, meta, corpus, train_docs, val_docs


@app.command("train")
def train(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders of text to learn from.", show_default=False)],
    model: Annotated[str, typer.Option("--model", "-m", help="Name of the model to train.")] = "mine",
    resume: Annotated[bool, typer.Option("--resume", help="Continue training this model where it stopped.")] = False,
    from_model: Annotated[
        str | None, typer.Option("--from", help="Start from this model's weights (fine-tune into --model).")
    ] = None,
    arch: Annotated[str | None, typer.Option("--arch", help=f"Cell: {', '.join(CELLS)} (default gru).")] = None,
    hidden: Annotated[int | None, typer.Option("--hidden", help="Hidden size (default 512).")] = None,
    layers: Annotated[int | None, typer.Option("--layers", help="Recurrent layers (default 1).")] = None,
    embed: Annotated[int | None, typer.Option("--embed", help="Byte embedding size (default 64).")] = None,
    dropout: Annotated[float | None, typer.Option("--dropout", help="Dropout while training (default 0).")] = None,
    minutes: Annotated[
        float | None,
        typer.Option("--minutes", help=f"Stop after this long (default {DEFAULT_MINUTES:g} when no other limit)."),
    ] = None,
    steps: Annotated[int | None, typer.Option("--steps", help="Stop after this many updates.")] = None,
    epochs: Annotated[float | None, typer.Option("--epochs", help="Stop after this many passes over the text.")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Parallel streams per update.")] = 64,
    seq_len: Annotated[int, typer.Option("--seq-len", help="Characters per stream per update (BPTT length).")] = 128,
    lr: Annotated[
        float | None, typer.Option("--lr", help="Peak learning rate (default 2e-3, 1e-3 when fine-tuning).")
    ] = None,
    device: Annotated[str, typer.Option("--device", help="auto, cpu or cuda.")] = "auto",
    precision: Annotated[str, typer.Option("--precision", help="fp32 or bf16 (autocast).")] = "fp32",
    exclude: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude", help='Glob of files to keep out (repeatable), on top of the settings file\'s "exclude" list.'
        ),
    ] = None,
    val_fraction: Annotated[
        float, typer.Option("--val-fraction", help="Share of documents held out for validation.")
    ] = 0.1,
    eval_every: Annotated[float, typer.Option("--eval-every", help="Seconds between validation checks.")] = 30.0,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    threads: Annotated[
        int | None, typer.Option("--threads", min=1, help="CPU threads (default: the cores not busy with other work).")
    ] = None,
) -> None:
    """Learn (or keep learning) from folders of text. Ctrl-C stops and keeps the best model."""
    if arch is not None and arch not in CELLS:
        raise CharcompleteError(f"unknown --arch {arch!r}; choose one of {', '.join(CELLS)}")
    if precision not in ("fp32", "bf16"):
        raise CharcompleteError(f"unknown --precision {precision!r}; choose fp32 or bf16")
    if not 0.0 < val_fraction < 0.9:
        raise CharcompleteError("--val-fraction must be between 0 and 0.9")
    for label, value in (("--batch-size", batch_size), ("--seq-len", seq_len), ("--steps", steps)):
        if value is not None and value < 1:
            raise CharcompleteError(f"{label} must be at least 1")
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
            config, weights, optim, meta, corpus, train_docs, val_docs = _plan(
                paths, model, resume, from_model, overrides, excluded, val_fraction
            )
        except ValueError as error:  # a ModelConfig value out of range
            raise CharcompleteError(str(error)) from None
        from charcomplete import train as training  # torch: imported only once the input is known to be good
        from charcomplete.corpus import encode
        from charcomplete.distributed import from_environment

        budget = training.Budget(minutes, steps, epochs)
        if not (minutes or steps or epochs):
            budget.minutes = DEFAULT_MINUTES
        tuning = bool(resume or from_model)
        dist = from_environment(device)  # under torchrun: join the process group (it sets threads itself)
        if dist.world == 1:
            training.pick_threads(threads)
        train_bytes = sum(len(d.data) for d in train_docs)
        val_bytes = sum(len(d.data) for d in val_docs)
        documents = len(corpus.documents)
        train_data, val_data = encode(train_docs), encode(val_docs)[:VAL_BYTES].copy()
        # Once the text is one byte stream its documents are dropped: while training, `train`
        # holds the text once (one byte per character) plus VAL_BYTES held out, not three copies.
        for listed in (corpus.documents, train_docs, val_docs):
            listed.clear()
        plan = training.TrainPlan(
            name=model, config=config, train_data=train_data, val_data=val_data, meta=meta,
            weights=weights, optimizer_state=optim, budget=budget, batch_size=batch_size, seq_len=seq_len,
            lr=lr if lr is not None else (1e-3 if tuning else 2e-3), device=device, precision=precision,
            eval_every_s=eval_every, seed=seed, dist=dist,
        )
        if not dist.main:  # other ranks train silently; rank 0 holds the lock, reports and saves
            training.train_model(plan)
            return
        processes = f" in {dist.world} processes" if dist.world > 1 else ""
        print(
            f"training {model!r} ({config.describe()}, {config.parameter_count():,} parameters){processes} on "
            f"{documents} documents: {train_bytes:,} bytes to learn, {val_bytes:,} held out",
            file=sys.stderr,
        )
        with _ProgressView(budget) as view:
            result = training.train_model(plan, view.update, view.warn)
        print(_summary(model, corpus, documents, train_bytes, val_bytes, result))
    finally:
        if dist is not None:
            dist.close()
        if lock is not None:
            lock.release()


def _lock_model(name: str):
    """Take the model's writer lock, waiting up to LOCK_WAIT_S for another writer; one sentence if we can't."""
    store.check_name(name)
    try:
        return store.lock_model(name, timeout=LOCK_WAIT_S)
    except OSError as error:  # the model folder cannot be created or written
        raise CharcompleteError(
            f"cannot write model {name!r} in {locations().models}: {error.strerror or error}"
        ) from None


def _summary(name, corpus, documents, train_bytes, val_bytes, result) -> str:
    stop = f"stopped by {getattr(result, 'stopped_by', 'Ctrl-C')}; " if result.interrupted else ""
    return "\n".join([
        f"{stop}trained {result.steps_run:,} steps in {result.seconds:.0f} s ({result.chars_per_s:,.0f} chars/s)",
        f"documents: {documents:,} ({train_bytes:,} bytes trained on, "
        f"{val_bytes:,} held out); {corpus.skip_summary()}",
        f"best validation: {result.best_val_bpc:.3f} bits per character (at step {result.total_steps:,})",
        f"model {name!r} saved in {result.folder}",
    ])


class _ProgressView:
    """A live rich progress bar on a terminal; a line per validation check otherwise."""

    def __init__(self, budget) -> None:
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
        elif p.evaluated:
            print(f"step {p.step:>7}  {p.progress:4.0%}  train {p.train_bpc:.3f} bpc  val {val} bpc  "
                  f"{p.chars_per_s:,.0f} chars/s", file=sys.stderr, flush=True)

    def warn(self, message: str) -> None:
        if self.progress is not None:
            self.progress.console.print(f"charcomplete: {message}", markup=False, highlight=False)
        else:
            print(f"charcomplete: {message}", file=sys.stderr, flush=True)

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.stop()
