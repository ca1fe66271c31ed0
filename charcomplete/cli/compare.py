"""`charcomplete compare PATH...`: RNN vs LSTM vs GRU, trained side by side on your text
(the run itself is `charcomplete.evaluate.comparison.run_compare`); its tables (overall
figures, the context curve, long-range closers by distance), the learning curves in the
terminal, and with --png all three plots drawn by matplotlib (the optional extra [plot]).

The held-out documents are split as `train` splits them. `--keep` leaves the three models
(compare-rnn, -lstm, -gru) in the store until the next compare, to be inspected,
evaluated or used afterwards."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from charcomplete.cli import app
from charcomplete.cli.probe_output import draw_probes, print_probes
from charcomplete.core.config import LIMITS
from charcomplete.core.errors import CharcompleteError
from charcomplete.evaluate.comparison import (
    DEFAULT_HIDDEN,
    DEFAULT_MINUTES,
    EVAL_BYTES,
    KSR_BYTES,
    MAX_COMPARE_HIDDEN,
    MIN_MEANINGFUL_MINUTES,
    run_compare,
)
from charcomplete.learn import plan as plans


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
        Path | None,
        typer.Option("--png", help="Also draw the learning curves and both probes to this PNG file (needs "
                     "matplotlib: pip install 'charcomplete[plot]')."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print every figure as JSON.")] = False,
    max_bytes: Annotated[
        int, typer.Option("--max-bytes", help="Evaluate on the first N held-out bytes (0: all).")
    ] = EVAL_BYTES,
    ksr_bytes: Annotated[
        int, typer.Option("--ksr-bytes", help="Simulate typing on the first N held-out bytes (0: skip).")
    ] = KSR_BYTES,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", help="Glob of files to keep out (repeatable).")
    ] = None,
    steps: Annotated[
        int | None, typer.Option("--steps", hidden=True, help="Stop each run after this many updates.")
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", hidden=True)] = plans.BATCH_SIZE,
    seq_len: Annotated[int, typer.Option("--seq-len", hidden=True)] = plans.SEQ_LEN,
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
    if png is not None:
        from charcomplete.evaluate.plot import pyplot

        pyplot()  # matplotlib missing: said now, not after the training
    from charcomplete.cli.eval import read_documents
    from charcomplete.learn.corpus import split

    documents = read_documents(paths, exclude)
    train_docs, val_docs = split(documents, plans.VAL_FRACTION)

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
            write_compare_png(png, result)
        except OSError as error:
            raise CharcompleteError(f"cannot write {png}: {error.strerror or error}") from None
        result["png"] = str(png)
    if as_json:
        print(json.dumps(result, indent=1))
        return
    print_table(result)
    if keep:
        print("the models are kept: " + ", ".join(row["name"] for row in result["cells"]))
    print()
    print_probes({row["cell"].upper(): row["probes"] for row in result["cells"]})
    from charcomplete.evaluate.plot import clipped, focus, terminal_plot

    print()
    series = _series(result)
    print(terminal_plot(clipped(series, focus(series)), x_label="training characters", y_label="validation bpc",
                        color=sys.stdout.isatty()))
    if png is not None:
        print(f"\nlearning curves and both probes drawn in {png}")


def minutes_text(minutes: float) -> str:
    """"1 minute", "2.5 minutes"."""
    return f"{minutes:g} minute{'' if minutes == 1 else 's'}"


def _series(result: dict) -> dict:
    return {cell.upper(): [tuple(point) for point in points] for cell, points in result["curves"].items()}


def write_compare_png(path: Path, result: dict) -> None:
    """Three panels: the learning curves (the y axis on where they differ), the context curve, the closers."""
    from charcomplete.evaluate.plot import focus, line_panel, pyplot, write_figure

    plt = pyplot()
    figure, (curves, context, distance) = plt.subplots(1, 3, figsize=(16, 5), layout="constrained")
    series = _series(result)
    line_panel(curves, series, "validation bpc while training", "training characters", "bpc", focus(series))
    draw_probes(context, distance, {row["cell"].upper(): row["probes"] for row in result["cells"]})
    settings = result["settings"]
    budget = minutes_text(settings["minutes"]) if settings["minutes"] else f"{settings['steps']:,} steps"
    figure.suptitle(f"RNN vs LSTM vs GRU, {budget} each, matched parameters "
                    f"({result['cells'][0]['parameters']:,}), on {settings['train_bytes']:,} training bytes")
    try:
        write_figure(path, figure)
    finally:
        plt.close(figure)


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
