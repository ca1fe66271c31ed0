"""The notes benchmark (issue 6): how well models predict a held-out tenth of real notes.

    python benchmarks/notes_benchmark.py                         # n-grams and the default model
    python benchmarks/notes_benchmark.py --new-user-minutes 10   # + train --from default on the 90%, then eval
    python benchmarks/notes_benchmark.py --compare-minutes 5     # + RNN vs LSTM vs GRU, same parameters and time
                                                                 #   (and both probes; benchmarks/compare_cells.py
                                                                 #   runs it resumably, on the Rust book too)

Corpus: ../shared/corpora/til-notes (MIT), split by data/notes_benchmark.py: documents in
sorted path order, the last 10% held out (never trained on, by any model). Figures are
on the first --max-bytes (default 100 kB) of the held-out text, keystroke savings on
its first --ksr-bytes (default 20 kB, whole documents). It says so and skips when the
corpus is absent.

Rows: the order-5 byte n-gram (interpolated absolute discounting) fitted on the 90%,
static and adaptive (counting as it reads); the model (default: the built-in default
model) static, with dynamic evaluation, with the cache of the text read, with both, and
with both plus a second cache fitted on the 90% (the user's own folders); with
--decoders, keystroke savings for several decoding thresholds; optionally the "new
user" model (--new-user-rows picks its rows) and the cell comparison. Everything runs
in a throw-away CHARCOMPLETE_HOME except reading --model.
Prints a table and writes every figure as JSON (--json)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "data"))
from machine import describe  # noqa: E402
from notes_benchmark import NOTES, link_tree, notes_split  # noqa: E402


# Decoding settings whose keystroke savings are measured (suggest() options on top of its
# defaults); the first is what the editor shows.
def decoders() -> dict[str, dict]:
    from charcomplete.suggest import decoder

    return {
        f"editor default (beam {decoder.BEAM}, min_prob {decoder.MIN_PROB}, min_total {decoder.MIN_TOTAL})": {},
        "greedy": {"beam": 1},
        "min_total 0.1": {"min_total": 0.1},
        "min_total 0.03": {"min_total": 0.03},
        "min_prob 0.15": {"min_prob": 0.15},
        "min_prob 0.4": {"min_prob": 0.4},
        "2 words": {"words": 2},
    }


# The model rows: (key for --rows, label, evaluate() options). "primed" also fits the cache on the 90%.
ROWS = [
    ("static", "static", {}),
    ("dynamic", "+ dynamic evaluation", {"adapt": True, "cache": False}),
    ("cache", "+ cache", {"adapt": True, "dynamic": False}),
    ("both", "+ dynamic evaluation + cache", {"adapt": True}),
    ("primed", "+ both + 5-gram of the 90%", {"adapt": True}),
]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def row_line(label: str, r: dict) -> str:
    ksr = r.get("ksr")
    lat = r.get("latency_ms")
    ksr_text = f"{ksr['whole']:>7.1%} {ksr['word']:>7.1%}" if ksr else f"{'-':>7} {'-':>7}"
    lat_text = f"{lat['p50']:>6.2f} {lat['p99']:>6.2f}" if lat else f"{'-':>6} {'-':>6}"
    return (f"{label:<42} {r['bpc']:>6.3f} {r['top1']:>6.1%} {r['top3']:>6.1%} {ksr_text} {lat_text} "
            f"{r['seconds']:>6.0f}")


HEADER = (f"{'predictor':<42} {'bpc':>6} {'top-1':>6} {'top-3':>6} {'KSR':>7} {'KSR-w':>7} {'p50ms':>6} {'p99ms':>6} "
          f"{'sec':>6}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="default", help="model to evaluate (default: the built-in one)")
    parser.add_argument("--max-bytes", type=int, default=100_000)
    parser.add_argument("--ksr-bytes", type=int, default=20_000)
    parser.add_argument("--rows", default="ngram,static,dynamic,cache,both",
                        help="which rows: ngram, static, dynamic, cache, both, primed (cache fitted on the 90%%)")
    parser.add_argument("--decoders", action="store_true", help="also measure KSR for several decoding thresholds")
    parser.add_argument("--new-user-minutes", type=float, default=0.0, help="train --from default on the 90%% first")
    parser.add_argument("--new-user-rows", default="static,both", help="the rows (as --rows) for the new-user model")
    parser.add_argument("--compare-minutes", type=float, default=0.0, help="RNN vs LSTM vs GRU, minutes each")
    parser.add_argument("--compare-hidden", type=int, default=256, help="the GRU's hidden size in the comparison")
    parser.add_argument("--png", help="with --compare-minutes: draw the learning curves and both probes here")
    parser.add_argument("--json", help="write every figure to this file")
    args = parser.parse_args()

    if not NOTES.is_dir():
        print(f"notes benchmark skipped: the corpus is absent ({NOTES}); it lives in ../shared/corpora")
        return
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from charcomplete.evaluate.evaluation import AdaptSettings, evaluate
    from charcomplete.learn import corpus
    from charcomplete.model.ngram import NGram
    from charcomplete.storage import store

    rows_wanted = set(args.rows.split(","))
    train_files, held_files = notes_split()
    train_docs = corpus.scan(train_files).documents
    held_docs = corpus.scan(held_files).documents
    train_data = corpus.encode(train_docs)
    loaded = store.load_model(args.model)
    decoding = decoders() if args.decoders else None
    report: dict = {
        "machine": describe(),
        "python": platform.python_version(),
        "corpus": str(NOTES),
        "train_documents": len(train_docs), "train_bytes": int(len(train_data)),
        "held_out_documents": len(held_docs), "held_out_bytes": sum(len(d.data) for d in held_docs),
        "max_bytes": args.max_bytes, "ksr_bytes": args.ksr_bytes,
        "model": {"name": args.model, "description": loaded.config.describe(),
                  "parameters": loaded.config.parameter_count(), "updated": loaded.meta.updated,
                  "trained_chars": loaded.meta.trained_chars, "best_val_bpc": loaded.meta.best_val_bpc,
                  "builtin": loaded.builtin},
        "adapt_settings": vars(AdaptSettings()) | {"dynamic": None, "cache": None},
        "rows": {},
    }
    print(f"machine: {report['machine']}")
    print(f"model: {args.model} ({report['model']['description']}, updated {report['model']['updated']}, "
          f"{report['model']['trained_chars'] or 0:,} characters trained)")
    print(f"held-out text: first {args.max_bytes:,} of {report['held_out_bytes']:,} bytes "
          f"({report['held_out_documents']} documents); keystroke savings on the first {args.ksr_bytes:,}")
    print(HEADER, flush=True)

    def add(label: str, result: dict) -> None:
        report["rows"][label] = result
        print(row_line(label, result), flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=1))

    common = {"max_bytes": args.max_bytes, "ksr_bytes": args.ksr_bytes}
    if "ngram" in rows_wanted:
        log("n-gram, static")
        add("5-gram static", evaluate(NGram().fit(train_data), held_docs, **common))
        log("n-gram, adaptive")
        add("5-gram adaptive", evaluate(NGram().fit(train_data), held_docs, adapt=True, **common))
    def model_rows(name: str, model, wanted: set[str]) -> None:
        for key, label, options in ROWS:
            if key in wanted:
                log(f"{name}: {label}")
                options = {**options, "cache_text": bytes(train_data)} if key == "primed" else options
                add(f"{name} {label}", evaluate(model, held_docs, decoders=decoding, **options, **common))

    model_rows(args.model, loaded, rows_wanted)
    if args.new_user_minutes:
        with tempfile.TemporaryDirectory(prefix="charcomplete-notes-") as work:
            model_rows("new user", new_user(args, Path(work), train_files, report), set(args.new_user_rows.split(",")))
    if args.compare_minutes:
        with tempfile.TemporaryDirectory(prefix="charcomplete-compare-") as home:
            compare(args, Path(home), train_docs, held_docs, report)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
        print(f"figures written to {args.json}")


def new_user(args, work: Path, train_files, report):
    """`charcomplete train <the 90%> --from default --minutes M` in a fresh home; returns the model."""
    from charcomplete.storage import store

    text = link_tree(train_files, NOTES, work / "text")
    home = work / "home"
    command = [sys.executable, "-m", "charcomplete", "train", str(text), "--from", "default", "--model", "new-user",
               "--minutes", str(args.new_user_minutes)]
    log(" ".join(["charcomplete", *command[3:]]))
    started = time.time()
    done = subprocess.run(command, env={**os.environ, "CHARCOMPLETE_HOME": str(home)}, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"training the new-user model failed: {done.stderr.strip()[-500:]}")
    print(done.stdout.strip().replace("\n", "\n    "), flush=True)
    loaded = store.load_from_folder(home / "data" / "models" / "new-user", "new-user")
    report["new_user"] = {"command": " ".join(["charcomplete", *command[3:]]), "seconds": time.time() - started,
                          "trained_chars": loaded.meta.trained_chars,
                          "best_val_bpc": loaded.meta.best_val_bpc}
    return loaded


def compare(args, home: Path, train_docs, held_docs, report) -> None:
    """RNN vs LSTM vs GRU on the 90%, evaluated on the held-out text (in a throw-away home).

    The learning curves (and each run's choice of its best weights) use the held-out text
    after the evaluated part, so no model is chosen on the text it is scored on."""
    os.environ["CHARCOMPLETE_HOME"] = str(home)
    from charcomplete.cli.compare import print_table, write_compare_png
    from charcomplete.cli.probe_output import print_probes
    from charcomplete.evaluate.comparison import run_compare
    from charcomplete.evaluate.evaluation import as_documents
    from charcomplete.evaluate.plot import clipped, focus, terminal_plot

    docs = as_documents(held_docs)
    cut, total = 0, 0
    while cut < len(docs) and total < args.max_bytes:
        total += len(docs[cut])
        cut += 1
    evaluated, curve = docs[:cut], docs[cut:]
    if not curve:
        raise SystemExit("--max-bytes leaves no held-out text for the learning curves; lower it")
    result = run_compare(train_docs, curve, minutes=args.compare_minutes, hidden=args.compare_hidden,
                         max_bytes=args.max_bytes, ksr_bytes=min(args.ksr_bytes, 10_000), eval_docs=evaluated,
                         say=log)
    result["curve_bytes"] = sum(len(d) for d in curve)
    report["compare"] = result
    print()
    print_table(result)
    print()
    print_probes({row["cell"].upper(): row["probes"] for row in result["cells"]})
    series = {k.upper(): v for k, v in result["curves"].items()}
    print(terminal_plot(clipped(series, focus(series)), x_label="training characters", y_label="validation bpc"))
    if args.png:
        write_compare_png(Path(args.png), result)
        print(f"learning curves and both probes drawn in {args.png}")


if __name__ == "__main__":
    main()
