"""How far should the typing cache be trusted before its mixer has learned anything? (cache.CACHE_TRUST)

    nice python benchmarks/cache_trust.py                  # the built-in model, the notes dev slice

The editor starts a fresh typing cache (`cache.typing_cache`) for each document it opens,
and its mixer starts from CACHE_TRUST. This fits that table the way the editor uses it:
editing sessions of the notes dev slice (the held-out notes of the notes benchmark after
the first 100 kB that the benchmarks score, the first --doc-bytes of each document until
--bytes), each document typed into a fresh cache, the mixer carried from one session to
the next so that it ends up with what a typical session teaches it. The model's weights
stay fixed (the editor's published model). It prints the cache's learned weight per bin,
rows by the longest context the cache had seen, columns by how often, as a Python table,
and how many bytes fell in each bin. cache.py says why the table it ships is not this one:
over long text they score the same, and this one is slow to pick up a new name. One
thread; skips when the corpus is absent."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "data"))
from notes_benchmark import NOTES, notes_split  # noqa: E402

SCORED_BYTES = 100_000  # the held-out text the benchmarks score: not fitted on


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="default", help="model (default: the built-in one)")
    parser.add_argument("--notes", type=Path, default=NOTES, help="the til-notes corpus")
    parser.add_argument("--bytes", type=int, default=60_000, help="text typed in all")
    parser.add_argument("--doc-bytes", type=int, default=4096, help="typed of each document (an editing session)")
    parser.add_argument("--neural-bins", type=int, default=1,
                        help="also bin by the model's confidence (1, 2 or 3 bins)")
    args = parser.parse_args()
    if not args.notes.is_dir():
        print(f"cache trust skipped: the corpus is absent ({args.notes}); it lives in ../shared/corpora")
        return
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from charcomplete.evaluate.evaluation import as_documents
    from charcomplete.learn import corpus
    from charcomplete.model.cache import CACHE_MIX_LR, CACHE_ORDER, CacheEngine
    from charcomplete.model.engine import Engine, use_one_blas_thread
    from charcomplete.model.ngram import NGram
    from charcomplete.storage import store

    use_one_blas_thread()
    loaded = store.load_model(args.model)
    engine = Engine.from_model(loaded)
    held = as_documents(corpus.scan(notes_split(args.notes)[1]).documents)
    sessions, position, typed = [], 0, 0
    for doc in held:
        if position >= SCORED_BYTES and typed < args.bytes:
            sessions.append(doc[: args.doc_bytes])
            typed += len(sessions[-1])
        position += len(doc)
    mixer = None
    shape = (CACHE_ORDER + 1, 4, args.neural_bins)
    visits = np.zeros(int(np.prod(shape)), dtype=np.int64)
    for text in sessions:
        cache = CacheEngine(engine, [NGram(CACHE_ORDER, adaptive=True)], lr=CACHE_MIX_LR,
                            neural_bins=args.neural_bins)
        if mixer is not None:
            cache.mixer = mixer  # what the sessions before taught it
        mixer = cache.mixer
        state = cache.start()
        for byte in text:
            visits[state.cached_components()[1]] += 1
            cache.observe(state, byte)
            state.feed(bytes((byte,)))
    weights = np.array([mixer.weights(b)[1] for b in range(mixer.params.shape[0])]).reshape(shape)
    print(f"model {args.model}: {len(sessions)} sessions, {typed:,} bytes typed; the cache's weight per bin "
          "(rows: longest context seen, none then 0..7 bytes; columns: seen 1, 2-3, 4-7, 8+ times)")
    print("CACHE_TRUST = (")
    for row, used in zip(weights, visits.reshape(shape), strict=True):
        cells = ", ".join("(" + ", ".join(f"{w:.2f}" for w in cell) + ")" for cell in row)
        print(f"    ({cells}),  # bytes: {', '.join('/'.join(str(int(n)) for n in cell) for cell in used)}")
    print(")")


if __name__ == "__main__":
    main()
