"""Choose `eval --adapt`'s settings (evaluate.AdaptSettings) on a dev slice, not on the text the benchmarks score.

    nice python benchmarks/adapt_settings.py ""  "decay=0"  "cache_order=5 mix_lr=0.1"  "lr=0.05"

Each argument is one setting to try: space-separated NAME=VALUE changes to the defaults
("" is the defaults). The dev slice: --bytes of the notes benchmark's held-out notes after
the first 100 kB (which generalise.py and the notes benchmark score), read adaptively by
--model (dynamic evaluation and the typing cache). Prints bits per character per setting.
One thread; skips when the corpus is absent."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "data"))
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
    held = b"".join(path.read_bytes() for path in held_out)
    primed = bytes([DOC_START]).join(path.read_bytes() for path in training) if args.primed else None
    dev = held[SCORED_BYTES : SCORED_BYTES + args.bytes]
    model = store.load_model(args.model)
    print(f"model {args.model}: dev slice {len(dev):,} bytes of the held-out notes after the first {SCORED_BYTES:,}")
    for setting in args.settings:
        started = time.perf_counter()
        settings = AdaptSettings(**parse(setting, fields))
        result = evaluate(model, [dev], adapt=True, settings=settings, ksr_bytes=0, max_bytes=None,
                          cache_text=primed)
        print(f"{setting or 'defaults':<40} {result['bpc']:.4f} bpc ({time.perf_counter() - started:.0f} s)",
              flush=True)


if __name__ == "__main__":
    main()
