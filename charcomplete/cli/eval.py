"""`charcomplete eval PATH...`: how good is a model on this text; with --context, also how far
back it looks (the probes `compare` runs for each cell, evaluate/probes.py)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from charcomplete.cli import app
from charcomplete.core.errors import CharcompleteError

DEFAULT_MAX_BYTES = 100_000
DEFAULT_KSR_BYTES = 20_000


def read_documents(paths: list[Path], exclude: list[str] | None = None) -> list:
    """The documents under `paths` (files and folders), in path order, as `train` would read them."""
    from charcomplete.learn import corpus
    from charcomplete.storage import store

    found = corpus.scan(paths, exclude=[*store.exclude_patterns(), *(exclude or [])])
    corpus.require_text(found)
    return found.documents


@app.command("eval")
def eval_command(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders of text to evaluate on.", show_default=False)],
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model to evaluate (default: the one in use).")
    ] = None,
    adapt: Annotated[
        bool, typer.Option("--adapt", help="Keep learning while reading (dynamic evaluation + cache).")
    ] = False,
    no_dynamic: Annotated[
        bool, typer.Option("--no-dynamic", help="With --adapt: no gradient steps, cache only.")
    ] = False,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="With --adapt: no n-gram cache, gradient steps only.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print every figure as JSON.")] = False,
    max_bytes: Annotated[
        int, typer.Option("--max-bytes", help="Evaluate the first N bytes of the text (0: all).")
    ] = DEFAULT_MAX_BYTES,
    ksr_bytes: Annotated[
        int, typer.Option("--ksr-bytes", help="Simulate typing on the first N bytes, whole documents (0: skip).")
    ] = DEFAULT_KSR_BYTES,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", help="Glob of files to keep out (repeatable).")
    ] = None,
    context: Annotated[
        bool,
        typer.Option("--context", help="Also probe how far back the model looks: bpc with its state reset every "
                     "K bytes, and the probability of long-range closers by distance (weights fixed)."),
    ] = False,
    png: Annotated[
        Path | None,
        typer.Option("--png", help="With --context: draw both probes to this PNG file (needs matplotlib: "
                     "pip install 'charcomplete[plot]')."),
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option("--threads", help="CPU threads for --adapt's gradient steps (default: the cores not "
                     "busy with other work); suggestions run on one."),
    ] = None,
) -> None:
    """Bits per character, next-character accuracy, keystroke savings and suggestion latency on your text."""
    if max_bytes < 0 or ksr_bytes < 0:
        raise CharcompleteError("--max-bytes and --ksr-bytes must be 0 or more")
    if threads is not None and threads < 1:
        raise CharcompleteError("--threads must be at least 1")
    if (no_dynamic or no_cache) and not adapt:
        raise CharcompleteError("--no-dynamic and --no-cache only go with --adapt")
    if no_dynamic and no_cache:
        raise CharcompleteError("--no-dynamic with --no-cache leaves nothing to adapt; drop --adapt instead")
    if png is not None and not context:
        raise CharcompleteError("--png draws the probes: it goes with --context")
    if png is not None:
        if not png.parent.is_dir():
            raise CharcompleteError(f"cannot write {png}: the folder {png.parent} does not exist")
        from charcomplete.evaluate.plot import pyplot

        pyplot()  # matplotlib missing: said before the evaluation, not after
    from charcomplete.evaluate.evaluation import evaluate
    from charcomplete.storage import store

    documents = read_documents(paths, exclude)
    loaded = store.load_model(model)
    dynamic = adapt and not no_dynamic
    if dynamic:
        from charcomplete.learn.training import pick_threads  # torch: dynamic evaluation needs it anyway

        pick_threads(threads)
    total = sum(len(d.data) for d in documents)
    evaluated = min(total, max_bytes) if max_bytes else total
    how = ("learning while it reads: " + ", ".join(
        part for part, on in (("gradient steps", dynamic), ("cache", adapt and not no_cache)) if on)
    ) if adapt else "weights fixed"
    print(f"evaluating {loaded.name!r} ({loaded.config.describe()}) on {evaluated:,} bytes of {len(documents):,} "
          f"documents, {how}", file=sys.stderr, flush=True)
    with _Bar() as bar:
        result = evaluate(loaded, documents, adapt, dynamic=None if not no_dynamic else False,
                          cache=None if not no_cache else False, max_bytes=max_bytes or None, ksr_bytes=ksr_bytes,
                          progress=bar.update)
    probes = None
    if context:
        from charcomplete.evaluate.probes import probe
        from charcomplete.model.engine import Engine

        print("probing: bpc with the state reset every K bytes, and long-range closers by distance",
              file=sys.stderr, flush=True)
        probes = result["probes"] = probe(Engine.from_model(loaded), documents, max_bytes=max_bytes or None)
    if png is not None:
        try:
            write_probes_png(png, loaded.name, probes)
        except OSError as error:
            raise CharcompleteError(f"cannot write {png}: {error.strerror or error}") from None
        result["png"] = str(png)
    if as_json:
        print(json.dumps(result, indent=1))
        return
    print_result(result)
    if probes is not None:
        from charcomplete.cli.probe_output import print_probes

        print()
        print_probes({loaded.name: probes})
    if png is not None:
        print(f"\nboth probes drawn in {png}")


def write_probes_png(path: Path, name: str, probes: dict) -> None:
    from charcomplete.cli.probe_output import draw_probes
    from charcomplete.evaluate.plot import pyplot, write_figure

    plt = pyplot()
    figure, (context_axes, distance_axes) = plt.subplots(1, 2, figsize=(11, 5), layout="constrained")
    draw_probes(context_axes, distance_axes, {name: probes})
    figure.suptitle(f"how far back {name} looks, on {probes['context']['bytes']:,} bytes")
    try:
        write_figure(path, figure)
    finally:
        plt.close(figure)


def print_result(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False, show_header=False)
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("note")
    table.add_row("model", f"{result['model']}", f"{result['description']}, {result['parameters']:,} parameters")
    table.add_row("mode", result["mode"], "learns while reading" if result["mode"] != "static" else "weights fixed")
    table.add_row("text", f"{result['bytes']:,} bytes", f"{result['documents']:,} documents")
    table.add_row("bits per character", f"{result['bpc']:.3f}", "lower is better")
    table.add_row("next-character top-1", f"{result['top1']:.1%}", "")
    table.add_row("next-character top-3", f"{result['top3']:.1%}", "")
    ksr = result.get("ksr")
    if ksr:
        where = f"typing the first {ksr['documents']:,} documents ({ksr['chars']:,} characters)"
        table.add_row("keystroke savings", f"{ksr['whole']:.1%}", f"Tab takes the whole suggestion, {where}")
        table.add_row("  first word only", f"{ksr['word']:.1%}", "Ctrl+Right takes its first word")
        table.add_row("  both keys", f"{ksr['both']:.1%}", "Tab when all of it fits, else Ctrl+Right")
        table.add_row("  suggestions taken", f"{ksr['precision']:.1%}", "of those shown")
        lat = result["latency_ms"]
        table.add_row("suggestion latency", f"{lat['p50']:.2f} ms",
                      f"p50; p99 {lat['p99']:.2f} ms, {lat['suggestions']:,} suggestions")
    table.add_row("step", f"{result['step_us']:.0f} us", "per character read and predicted")
    table.add_row("time", f"{result['seconds']:.1f} s", "")
    # Off a terminal (a pipe, a file) rich would wrap at 80 columns; a row per line reads better.
    Console(highlight=False, width=None if sys.stdout.isatty() else 160).print(table)


class _Bar:
    """Progress on stderr, as `train` shows it: a live rich bar (bytes read, bits per
    character so far, time left) on a terminal; otherwise a line every LINE_EVERY_S."""

    LINE_EVERY_S = 10.0

    def __init__(self) -> None:
        self.progress = None
        self.started = self.last_line = time.monotonic()

    def __enter__(self) -> _Bar:
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(TextColumn("evaluating"), BarColumn(), DownloadColumn(),
                                     TextColumn("{task.fields[bpc]} bpc"), TimeRemainingColumn(),
                                     console=Console(stderr=True), transient=True)
            self.progress.start()
            self.task = self.progress.add_task("eval", total=None, bpc="-")
        return self

    def update(self, done: int, total: int, bpc: float) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=done, total=total, bpc=f"{bpc:.3f}")
            return
        now = time.monotonic()
        if now - self.last_line >= self.LINE_EVERY_S and done < total:
            self.last_line = now
            left = (now - self.started) / done * (total - done)
            print(f"evaluating: {done:,} of {total:,} bytes read, {bpc:.3f} bpc so far, about {_duration(left)} left",
                  file=sys.stderr, flush=True)

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.stop()


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} minute{'' if minutes == 1 else 's'}"
