"""What a model's memory costs per MB of text kept (issue 23.3): build time and bytes held.

    python benchmarks/memory_size.py --sizes 1,2,4,8,16

For each size, in a fresh process: the last N MB of the pretraining corpus's text (Markdown,
documents separated as memory.gather does), then the order-8 n-gram (`NGram.fit`, what
memory.ngram builds when a document opens) and the match index (`match.TextIndex`, what
memory.recall builds): seconds to build, bytes of their arrays, and the process's peak RSS
growth. Quality per MB comes from benchmarks/long_context.py --memory --memory-bytes N.
Needs ../shared/corpora (skips with a message when it is absent)."""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRETRAIN = ROOT.parent / "shared" / "corpora" / "pretrain"


def measure(megabytes: float) -> dict:
    from charcomplete.model.match import TextIndex
    from charcomplete.model.ngram import NGram

    files = sorted(p for p in PRETRAIN.rglob("*.md") if p.is_file() and not p.is_symlink())
    text = b"\x02".join(p.read_bytes() for p in files)[-int(megabytes * 2**20) :]
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    model = NGram(8).fit(text)
    ngram_s = time.perf_counter() - t0
    ngram_bytes = sum(t.contexts.nbytes + t.starts.nbytes + t.symbols.nbytes + t.counts.nbytes + t.totals.nbytes
                      for t in model._tables if t is not None)
    after_ngram = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    index = TextIndex(text)
    index_s = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"mb": megabytes, "bytes": len(text), "ngram_s": ngram_s, "ngram_mb": ngram_bytes / 2**20,
            "index_s": index_s, "index_mb": index.nbytes / 2**20, "rss_ngram_mb": (after_ngram - base) / 1024,
            "rss_peak_mb": (peak - base) / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,2,4,8,16")
    parser.add_argument("--one", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(measure(args.one)))
        return
    if not PRETRAIN.is_dir():
        print("memory size benchmark skipped: ../shared/corpora is absent")
        return
    print(f"{'MB':>5} {'n-gram s':>9} {'n-gram MB':>10} {'index s':>8} {'index MB':>9} {'RSS growth MB':>14}")
    for size in args.sizes.split(","):
        done = subprocess.run([sys.executable, __file__, "--one", size], capture_output=True, text=True, check=True)
        r = json.loads(done.stdout)
        print(f"{r['mb']:>5g} {r['ngram_s']:>9.2f} {r['ngram_mb']:>10.1f} {r['index_s']:>8.2f} {r['index_mb']:>9.1f} "
              f"{r['rss_peak_mb']:>14.0f}", flush=True)


if __name__ == "__main__":
    main()
