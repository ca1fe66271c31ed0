"""RNN vs LSTM vs GRU at matched parameters and matched wall time, with both probes (issue 22),
on two held-out sources: the notes benchmark and the Rust book. Resumable, and cells can run
side by side (one process and one core each).

    # one after another (each cell's figures are saved as soon as it finishes; a rerun skips them):
    python benchmarks/compare_cells.py --corpus notes --minutes 4 --out /tmp/cmp-notes-4
    # side by side, one core each, then the table (the 30-minute run):
    for cell in rnn lstm gru; do
        OMP_NUM_THREADS=1 python benchmarks/compare_cells.py --corpus notes --minutes 30 \
            --out /tmp/cmp-notes-30 --cells $cell &
    done; wait
    python benchmarks/compare_cells.py --corpus notes --minutes 30 --out /tmp/cmp-notes-30 --report --png c.png

Corpora (../shared/corpora, skipped with a message when absent):
- notes: til-notes, split by data/notes_benchmark.py (sorted paths, last 10% held out);
- rust-book: pretrain/rust-book/src/*.md, the same split (sorted paths, last 10% of the
  chapters held out). Code-heavy Markdown; a held-out source of the default model's corpus.
Every cell trains from scratch on the 90% in a throw-away CHARCOMPLETE_HOME. Figures are on
the first --max-bytes of the held-out text; the learning curves (and each run's choice of
its best weights) use the held-out text after it, so no model is chosen on what it is
scored on. --out holds <cell>.json per cell, baseline.json, and settings.json."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "data"))
from machine import describe  # noqa: E402
from notes_benchmark import NOTES, notes_split  # noqa: E402

CORPORA = ROOT.parent / "shared" / "corpora"
RUST_BOOK = CORPORA / "pretrain" / "rust-book" / "src"
HELD_OUT_FRACTION = 0.10


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def split(corpus: str) -> tuple[list[Path], list[Path]] | None:
    if corpus == "notes":
        return notes_split() if NOTES.is_dir() else None
    if not RUST_BOOK.is_dir():
        return None
    files = sorted(p for p in RUST_BOOK.glob("*.md") if p.is_file())
    cut = len(files) - int(round(len(files) * HELD_OUT_FRACTION))
    return files[:cut], files[cut:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", choices=("notes", "rust-book"), default="notes")
    parser.add_argument("--minutes", type=float, default=4.0, help="training time per cell")
    parser.add_argument("--hidden", type=int, default=256, help="the GRU's hidden size (the others match its size)")
    parser.add_argument("--max-bytes", type=int, default=100_000, help="held-out bytes evaluated and probed")
    parser.add_argument("--ksr-bytes", type=int, default=0, help="held-out bytes the simulated typist types")
    parser.add_argument("--cells", default="rnn,lstm,gru", help="which cells this process runs")
    parser.add_argument("--out", required=True, help="folder for the figures (resumable: finished cells are kept)")
    parser.add_argument("--report", action="store_true", help="print the tables from --out (runs nothing)")
    parser.add_argument("--png", help="with --report: draw the learning curves and both probes here")
    args = parser.parse_args()

    halves = split(args.corpus)
    if halves is None:
        print(f"compare benchmark skipped: the {args.corpus} corpus is absent (it lives in {CORPORA})")
        return
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    settings = {"corpus": args.corpus, "minutes": args.minutes, "hidden": args.hidden, "max_bytes": args.max_bytes,
                "ksr_bytes": args.ksr_bytes}
    saved = out / "settings.json"
    if saved.exists() and json.loads(saved.read_text())["settings"] != settings:
        raise SystemExit(f"{out} holds a run with other settings ({saved}); give another --out")
    if not saved.exists():
        saved.write_text(json.dumps({"settings": settings, "machine": describe()}, indent=1))
    if args.report:
        report(out, args.png)
        return
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    run(args, halves, out)


def run(args, halves, out: Path) -> None:
    from charcomplete.evaluate.comparison import ORDER, run_compare
    from charcomplete.evaluate.evaluation import as_documents
    from charcomplete.learn import corpus

    train_docs = corpus.scan(halves[0]).documents
    docs = as_documents(corpus.scan(halves[1]).documents)
    cut, total = 0, 0
    while cut < len(docs) and total < args.max_bytes:
        total += len(docs[cut])
        cut += 1
    evaluated, curve = docs[:cut], docs[cut:]
    if not curve:
        raise SystemExit("--max-bytes leaves no held-out text for the learning curves; lower it")
    wanted = [cell for cell in args.cells.split(",") if cell]
    if any(cell not in ORDER for cell in wanted):
        raise SystemExit(f"--cells takes {', '.join(ORDER)}")
    todo = tuple(cell for cell in wanted if not (out / f"{cell}.json").exists())
    log(f"{args.corpus}: {sum(len(d.data) for d in train_docs):,} training bytes, {total:,} held-out bytes evaluated, "
        f"{sum(len(d) for d in curve):,} for the curves; to run: {', '.join(todo) or 'nothing'}")
    if not todo:
        return

    def save(row: dict) -> None:
        row["load_at_end"] = os.getloadavg()[0]
        (out / f"{row['cell']}.json").write_text(json.dumps(row, indent=1))
        log(f"{row['cell']}: saved ({row['eval']['bpc']:.3f} bpc, probes {row['probes']['seconds']:.1f} s)")

    with tempfile.TemporaryDirectory(prefix="charcomplete-compare-") as home:
        os.environ["CHARCOMPLETE_HOME"] = home
        result = run_compare(train_docs, curve, minutes=args.minutes, hidden=args.hidden, max_bytes=args.max_bytes,
                             ksr_bytes=args.ksr_bytes, eval_docs=evaluated, say=log, cells=todo, done=save)
    result["settings"]["curve_bytes"] = sum(len(d) for d in curve)
    if not (out / "baseline.json").exists():
        (out / "baseline.json").write_text(json.dumps({"baseline": result["baseline"],
                                                       "settings": result["settings"]}, indent=1))


def report(out: Path, png: str | None) -> None:
    from charcomplete.cli.compare import print_table, write_compare_png
    from charcomplete.cli.probe_output import print_probes
    from charcomplete.evaluate.comparison import ORDER

    head = json.loads((out / "settings.json").read_text())
    rows = [json.loads((out / f"{cell}.json").read_text()) for cell in ORDER if (out / f"{cell}.json").exists()]
    if not rows or not (out / "baseline.json").exists():
        raise SystemExit(f"{out} has no finished run yet")
    base = json.loads((out / "baseline.json").read_text())
    result = {"settings": base["settings"], "cells": rows, "baseline": base["baseline"],
              "curves": {row["cell"]: row["curve"] for row in rows}}
    print(f"{head['settings']['corpus']}: {head['machine']}")
    for row in rows:
        cpu = row.get("cpu_seconds")  # runs from before it was recorded have none
        cpu_text = (f"; CPU: train {cpu['train']:.0f} s, eval {cpu['eval']:.0f} s, probes {cpu['probes']:.0f} s"
                    if cpu else "")
        load = row.get("load_at_end")
        load = load if load is not None else float(row["machine"].split("load average ")[1].split()[0])
        print(f"  {row['cell']}: load average {load:.1f} at its end; {row['steps']:,} steps, "
              f"{row['train_chars']:,} characters trained; "
              f"wall: train {row['train_seconds']:.0f} s, eval {row['eval']['seconds']:.0f} s, probes "
              f"{row['probes']['seconds']:.0f} s{cpu_text}")
    print_table(result)
    print()
    print_probes({row["cell"].upper(): row["probes"] for row in rows})
    by_kind = {}
    for row in rows:
        for bucket in row["probes"]["distance"]["buckets"]:
            for kind, figures in bucket["by_kind"].items():
                by_kind.setdefault((kind, bucket["bucket"]), {})[row["cell"].upper()] = figures
    print("\nby kind (count: mean p per cell):")
    for (kind, bucket), cells in by_kind.items():
        count = next(iter(cells.values()))["count"]
        if count:
            print(f"  {kind:<8} {bucket:>8} {count:>5}: " + "  ".join(
                f"{name} {figures['mean_p']:.3f}" for name, figures in cells.items()))
    if png:
        write_compare_png(Path(png), result)
        print(f"\ndrawn in {png}")


if __name__ == "__main__":
    main()
