"""`charcomplete compare PATH...`: RNN vs LSTM vs GRU, trained side by side on your text.

Each cell gets the same parameter budget (hidden sizes chosen so the parameter counts
match the GRU's within a few per cent) and the same training time, on the same
training documents; each is then evaluated on the same held-out documents (split as
`train` splits them), next to an adaptive byte 5-gram as the baseline. The models live
in the model store as compare-rnn, compare-lstm and compare-gru while it runs and are
removed at the end, unless `--keep` asks to keep them (until the next compare) to be
inspected, evaluated or used afterwards."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from charcomplete.cli import app
from charcomplete.config import LIMITS, ModelConfig
from charcomplete.errors import CharcompleteError

PREFIX = "compare"
ORDER = ("rnn", "lstm", "gru")  # as the seed article names them
DEFAULT_MINUTES = 2.0
DEFAULT_HIDDEN = 256  # the GRU's; the RNN and LSTM get the hidden size that matches its parameter count
MAX_COMPARE_HIDDEN = 2048  # the matching RNN is about 1.7 times wider, and must stay within LIMITS["hidden"]
CURVE_POINTS = 12  # validation checks per training run: the points of the learning curve
CURVE_VAL_BYTES = 32_768  # held-out bytes each check reads: the checks' time counts against the training budget
# Below this, a warning. The notes benchmark's 4- and 8-minute runs ranked the cells alike
# (BENCHMARKS.md, "RNN vs LSTM vs GRU"); shorter runs were not measured, and in a minute
# every cell is still learning letter statistics. The default is the least that passes.
MIN_MEANINGFUL_MINUTES = DEFAULT_MINUTES


def matched_configs(hidden: int, embed: int = 64, reference: str = "gru") -> dict[str, ModelConfig]:
    """One config per cell, each with about as many parameters as `reference` at `hidden`."""
    target = ModelConfig(cell=reference, hidden=hidden, embed=embed).parameter_count()
    configs = {}
    for cell in ORDER:
        # An RNN needs about 1.7 times the GRU's hidden size, an LSTM a little less; never past the limit.
        sizes = range(1, min(4 * hidden + 64, LIMITS["hidden"] + 1))
        best = min(sizes, key=lambda h: abs(ModelConfig(cell=cell, hidden=h, embed=embed).parameter_count() - target))
        configs[cell] = ModelConfig(cell=cell, hidden=best, embed=embed)
    return configs


def run_compare(
    train_docs: list,
    val_docs: list,
    minutes: float | None = DEFAULT_MINUTES,
    steps: int | None = None,
    hidden: int = DEFAULT_HIDDEN,
    batch_size: int = 64,
    seq_len: int = 128,
    lr: float = 2e-3,
    max_bytes: int | None = 100_000,
    ksr_bytes: int = 10_000,
    seed: int = 0,
    eval_docs: list | None = None,
    say=lambda message: None,
    keep: bool = False,
) -> dict:
    """Train the three cells and evaluate them; every figure in a JSON-ready dict.

    `val_docs` give the learning curves (and pick each run's best weights); the models
    are evaluated on `eval_docs`, by default the same documents. keep: leave the three
    models in the store afterwards (otherwise they are removed, even when a run fails)."""
    from charcomplete import store
    from charcomplete import train as training  # torch
    from charcomplete.evaluate import evaluate
    from charcomplete.ngram import NGram

    if not minutes and not steps:
        raise ValueError("give a time (minutes) or a number of steps")
    eval_docs = val_docs if eval_docs is None else eval_docs
    train_data, val_data = _stream(train_docs), _stream(val_docs)
    configs = matched_configs(hidden)
    rows, curves = [], {}
    budget_s = minutes * 60 if minutes else None
    created: list[str] = []
    try:
        for cell, config in configs.items():
            name = f"{PREFIX}-{cell}"
            if store.model_exists(name):
                store.remove_model(name)  # the previous compare's
            created.append(name)
            say(f"training {name} ({config.describe()}, {config.parameter_count():,} parameters)")
            plan = training.TrainPlan(
                name=name, config=config, train_data=train_data, val_data=val_data[:CURVE_VAL_BYTES],
                meta={"steps": 0, "trained_chars": 0, "history": [], "compare": True},
                budget=training.Budget(minutes=minutes, steps=steps), batch_size=batch_size, seq_len=seq_len, lr=lr,
                device="cpu", eval_every_s=budget_s / CURVE_POINTS if budget_s else 0.5, checkpoint_every_s=1e9,
                seed=seed,
            )
            lock = store.lock_model(name)
            try:
                result = training.train_model(plan)
            finally:
                store.unlock_model(lock, name)
            curves[cell] = [(point["chars"], point["val_bpc"]) for point in result.history
                            if isinstance(point.get("val_bpc"), (int, float))]
            say(f"evaluating {name}")
            figures = evaluate(store.load_model(name), eval_docs, max_bytes=max_bytes, ksr_bytes=ksr_bytes)
            rows.append({"name": name, "cell": cell, "hidden": config.hidden, "parameters": config.parameter_count(),
                         "steps": result.steps_run, "train_seconds": result.train_seconds,
                         "train_chars": result.chars_trained, "train_chars_per_s": result.chars_per_s,
                         "best_val_bpc": result.best_val_bpc, "eval": figures})
    finally:
        if not keep:  # out of the user's list of models, whatever happened
            for name in created:
                if store.model_exists(name):
                    store.remove_model(name)
    say("evaluating the n-gram baseline")
    baseline = evaluate(NGram(adaptive=True).fit(train_data), eval_docs, adapt=True, max_bytes=max_bytes,
                        ksr_bytes=ksr_bytes)
    return {
        "settings": {"minutes": minutes, "steps": steps, "hidden": hidden, "batch_size": batch_size,
                     "seq_len": seq_len, "lr": lr, "max_bytes": max_bytes, "ksr_bytes": ksr_bytes,
                     "train_bytes": int(len(train_data)), "val_bytes": int(len(val_data)), "kept": keep},
        "cells": rows,
        "baseline": baseline,
        "curves": {cell: [[x, y] for x, y in points] for cell, points in curves.items()},
    }


def _stream(documents: list):
    """Documents (corpus.Document, bytes or str) as one stream, each after DOC_START, as corpus.encode lays it out."""
    import numpy as np

    from charcomplete.config import DOC_START
    from charcomplete.evaluate import as_documents

    joined = b"".join(bytes([DOC_START]) + doc for doc in as_documents(documents))
    return np.frombuffer(joined, dtype=np.uint8).copy()


@app.command("compare")
def compare(
    paths: Annotated[
        list[Path], typer.Argument(help="Files and folders of text to train and evaluate on.", show_default=False)
    ],
    minutes: Annotated[float, typer.Option("--minutes", help="Training time for each cell.")] = DEFAULT_MINUTES,
    hidden: Annotated[
        int, typer.Option("--hidden", help="The GRU's hidden size; RNN and LSTM are sized to match its parameters.")
    ] = DEFAULT_HIDDEN,
    png: Annotated[
        Path | None, typer.Option("--png", help="Also write the learning curves to this PNG file.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print every figure as JSON.")] = False,
    max_bytes: Annotated[
        int, typer.Option("--max-bytes", help="Evaluate on the first N held-out bytes (0: all).")
    ] = 100_000,
    ksr_bytes: Annotated[
        int, typer.Option("--ksr-bytes", help="Simulate typing on the first N held-out bytes (0: skip).")
    ] = 10_000,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", help="Glob of files to keep out (repeatable).")
    ] = None,
    steps: Annotated[
        int | None, typer.Option("--steps", hidden=True, help="Stop each run after this many updates.")
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", hidden=True)] = 64,
    seq_len: Annotated[int, typer.Option("--seq-len", hidden=True)] = 128,
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the three models (compare-rnn, -lstm, -gru) among your models.")
    ] = False,
) -> None:
    """Train RNN, LSTM and GRU with the same parameter and time budgets on your text, and compare them."""
    if minutes <= 0:
        raise CharcompleteError("--minutes must be more than 0")
    if not 1 <= hidden <= MAX_COMPARE_HIDDEN:
        raise CharcompleteError(
            f"--hidden must be from 1 to {MAX_COMPARE_HIDDEN} (the RNN is sized to match it and may not pass "
            f"{LIMITS['hidden']})"
        )
    if max_bytes < 0 or ksr_bytes < 0:
        raise CharcompleteError("--max-bytes and --ksr-bytes must be 0 or more")
    if (steps is not None and steps < 1) or batch_size < 1 or seq_len < 1:
        raise CharcompleteError("--steps, --batch-size and --seq-len must be at least 1")
    if png is not None and not png.parent.is_dir():
        raise CharcompleteError(f"cannot write {png}: the folder {png.parent} does not exist")
    from charcomplete.cli.eval import read_documents
    from charcomplete.corpus import split

    documents = read_documents(paths, exclude)
    train_docs, val_docs = split(documents, 0.1)

    def say(message: str) -> None:
        print(f"charcomplete: {message}", file=sys.stderr, flush=True)

    if not steps and minutes < MIN_MEANINGFUL_MINUTES:
        say(f"{minutes_text(minutes)} per cell is too short for the comparison to mean much (every cell is still "
            f"learning letter statistics); give --minutes {MIN_MEANINGFUL_MINUTES:g} or more")
    result = run_compare(train_docs, val_docs, minutes=None if steps else minutes, steps=steps, hidden=hidden,
                         batch_size=batch_size, seq_len=seq_len, max_bytes=max_bytes or None, ksr_bytes=ksr_bytes,
                         say=say, keep=keep)
    if png is not None:
        try:
            write_curves_png(png, result)
        except OSError as error:
            raise CharcompleteError(f"cannot write {png}: {error.strerror or error}") from None
        result["png"] = str(png)
    if as_json:
        print(json.dumps(result, indent=1))
        return
    print_table(result)
    if keep:
        print("the models are kept: " + ", ".join(row["name"] for row in result["cells"]))
    from charcomplete.plot import terminal_plot

    print()
    print(terminal_plot(_series(result), x_label="training characters", y_label="validation bpc",
                        color=sys.stdout.isatty()))
    if png is not None:
        print(f"\nlearning curves written to {png}")


def minutes_text(minutes: float) -> str:
    """"1 minute", "2.5 minutes"."""
    return f"{minutes:g} minute{'' if minutes == 1 else 's'}"


def _series(result: dict) -> dict:
    return {cell.upper(): [tuple(point) for point in points] for cell, points in result["curves"].items()}


def write_curves_png(path: Path, result: dict) -> None:
    from charcomplete.plot import write_png

    write_png(path, _series(result), title="RNN vs LSTM vs GRU: validation bpc while training",
              x_label="training characters", y_label="val bpc")


def print_table(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("cell", "hidden", "params", "val bpc", "top-1", "KSR", "step us", "train chars/s"):
        table.add_column(column, justify="left" if column == "cell" else "right")

    def ksr(figures: dict) -> str:
        return f"{figures['ksr']['whole']:.1%}" if figures.get("ksr") else "-"

    for row in result["cells"]:
        ev = row["eval"]
        table.add_row(row["cell"].upper(), str(row["hidden"]), f"{row['parameters']:,}", f"{ev['bpc']:.3f}",
                      f"{ev['top1']:.1%}", ksr(ev), f"{ev['step_us']:.0f}", f"{row['train_chars_per_s']:,.0f}")
    base = result["baseline"]
    table.add_row("5-gram, adaptive", "-", "-", f"{base['bpc']:.3f}", f"{base['top1']:.1%}", ksr(base),
                  f"{base['step_us']:.0f}", "-")
    settings = result["settings"]
    budget = minutes_text(settings["minutes"]) if settings["minutes"] else f"{settings['steps']:,} steps"
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    console.print(f"each cell trained for {budget} on {settings['train_bytes']:,} bytes; "
                  f"evaluated on {result['baseline']['bytes']:,} held-out bytes")
    console.print(table)
