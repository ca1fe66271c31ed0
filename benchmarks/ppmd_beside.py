"""PPMd beside `charcomplete eval`: bits per byte on the same text, with the same start.

A new user's model learned their first documents and then reads the rest (`eval --adapt`);
PPMd is given the same: it compresses the training documents and then the evaluated text,
and the figure is the extra bits the evaluated text cost, per byte, as `eval` counts them
(its "bpc" divides by bytes; the per-character figure is printed too, for non-Latin text).
The evaluated text is what `eval --max-bytes N` reads: the documents `corpus.scan` finds,
in its order, the first N bytes taken as one text.

    python benchmarks/ppmd_beside.py --train TRAIN_DIR --test TEST_DIR --max-bytes 30000

Needs `pip install pyppmd` (a benchmark's dependency, not the package's)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pyppmd

from charcomplete.evaluate.evaluation import char_starts, truncate
from charcomplete.learn import corpus


def documents(folder: Path) -> list[bytes]:
    return [doc.data for doc in corpus.scan([folder]).documents if doc.data]


def compressed_bits(data: bytes, order: int, mem_mb: int) -> int:
    return 8 * len(pyppmd.compress(data, max_order=order, mem_size=mem_mb << 20))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, help="the documents learned first (none: PPMd starts empty)")
    parser.add_argument("--test", type=Path, required=True)
    parser.add_argument("--max-bytes", type=int, default=100_000)
    parser.add_argument("--orders", default="4,6,8", help="PPMd model orders to try")
    parser.add_argument("--mem-mb", type=int, default=64)
    args = parser.parse_args()
    prior = b"".join(documents(args.train)) if args.train else b""
    tested = truncate(documents(args.test), args.max_bytes or None)
    text = b"".join(tested)
    chars = sum(len(char_starts(doc)) for doc in tested)
    print(f"{len(text):,} bytes ({chars:,} characters) evaluated after {len(prior):,} bytes learned first")
    for order in (int(o) for o in args.orders.split(",")):
        bits = compressed_bits(prior + text, order, args.mem_mb) - (compressed_bits(prior, order, args.mem_mb)
                                                                     if prior else 0)
        print(f"PPMd order {order}: {bits / len(text):.3f} bits per byte, {bits / chars:.3f} per character")


if __name__ == "__main__":
    main()
