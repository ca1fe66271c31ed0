"""Choose `eval --adapt`'s settings (evaluate.AdaptSettings) on dev slices, not on the text the benchmarks score.

    nice python benchmarks/adapt_settings.py ""  "decay=0"  "cache_order=5 mix_lr=0.1"  "lr=0.05"
    nice python benchmarks/adapt_settings.py "optimizer=sgd lr=0.1" "" --sets notes,rust-book,cheatsheets --bytes 20000

Each argument is one setting to try: space-separated NAME=VALUE changes to the defaults
("" is the defaults; "dynamic=0": the typing cache without the online step). The dev slices:
--bytes of the notes benchmark's held-out notes after the first 100 kB (which generalise.py and
the notes benchmark score), or with --sets of each held-out set's whole documents after its first
100 kB (long_context.py's), read adaptively by --model (the online step and the typing cache).
Prints bits per character per setting and set. One thread; skips when the corpus is absent."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "data"))  # first: data/notes_benchmark.py, not the benchmark of that name
from notes_benchmark import NOTES, notes_split  # noqa: E402

SCORED_BYTES = 100_000


def parse(setting: str, fields: dict[str, type]) -> dict:
    """"decay=0 cache_order=5" -> {"decay": 0.0, "cache_order": 5}, typed as AdaptSettings declares."""
    changes = {}
    for item in setting.split():
        name, _, value = item.partition("=")
        if name not in fields or not value:
            raise SystemExit(f"unknown setting {item!r}; AdaptSettings has {', '.join(fields)}")
        kind = fields[name]
        if kind is bool:
            changes[name] = value.lower() in ("1", "true", "yes")
        else:
            changes[name] = value if kind is str else kind(float(value)) if kind is int else kind(value)
    return changes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("settings", nargs="+", help='e.g. "" (the defaults) or "decay=0 mix_lr=0.1"')
    parser.add_argument("--model", default="default", help="model (default: the built-in one)")
    parser.add_argument("--notes", type=Path, default=NOTES, help="the til-notes corpus")
    parser.add_argument("--bytes", type=int, default=40_000, help="dev slice length")
    parser.add_argument("--sets", help="held-out sets (notes,rust-book,cheatsheets): their dev slices instead")
    parser.add_argument("--primed", action="store_true",
                        help="the cache has also counted the notes' training 90%% (what `train` remembers)")
    args = parser.parse_args()
    if not args.notes.is_dir():
        print(f"adaptation settings skipped: the corpus is absent ({args.notes}); it lives in ../shared/corpora")
        return
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from charcomplete.core.config import DOC_START
    from charcomplete.evaluate.evaluation import AdaptSettings, evaluate
    from charcomplete.storage import store

    kinds = {"bool": bool, "int": int, "float": float, "str": str}
    fields = {f.name: kinds.get(str(f.type), float) for f in dataclasses.fields(AdaptSettings)}
    training, held_out = notes_split(args.notes)
    primed = bytes([DOC_START]).join(path.read_bytes() for path in training) if args.primed else None
    if args.sets:
        from long_context import dev_documents
        from pretrain_corpus import held_out_sets

        sets = held_out_sets()
        slices = {name: dev_documents(sets[name], args.bytes) for name in args.sets.split(",")}
    else:
        held = b"".join(path.read_bytes() for path in held_out)
        slices = {"notes": [held[SCORED_BYTES : SCORED_BYTES + args.bytes]]}
    model = store.load_model(args.model)
    print(f"model {args.model}: dev slices of {args.bytes:,} bytes after the first {SCORED_BYTES:,} of "
          + ", ".join(slices))
    for setting in args.settings:
        started = time.perf_counter()
        changes = parse(setting, fields)
        dynamic = changes.pop("dynamic", True)
        settings = AdaptSettings(**changes)
        figures = []
        for name, docs in slices.items():
            result = evaluate(model, docs, adapt=True, dynamic=dynamic, settings=settings, ksr_bytes=0,
                              max_bytes=None, cache_text=primed)
            figures.append(f"{name} {result['bpc']:.4f}")
        print(f"{setting or 'defaults':<40} {'  '.join(figures)} bpc ({time.perf_counter() - started:.0f} s)",
              flush=True)

if __name__ == "__main__":
    main()
