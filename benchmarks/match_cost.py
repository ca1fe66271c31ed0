"""What the match model (or SSE) costs a keystroke (issue 23.2): microseconds per byte read
and per suggestion, the typing cache with and without it, interleaved so that the machine's
load falls on both alike.

    python benchmarks/match_cost.py [--bytes 20000] [--suggestions 300]
    python benchmarks/match_cost.py --stage sse    # the match model on, SSE (model/sse.py) off / on

The built-in model (no dynamic evaluation: the cost measured is the cache's) reads the first
--bytes of the held-out notes as typed (observe + feed + probs per byte), then asks the
editor's suggestion (`decoder.suggest`, its defaults) at --suggestions positions of the next
part; prints the mean per byte, and the p50/p99 of a suggestion. Needs ../shared/corpora."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "data"))
from notes_benchmark import NOTES, notes_split  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bytes", type=int, default=20_000)
    parser.add_argument("--suggestions", type=int, default=300)
    parser.add_argument("--stage", choices=("match", "sse"), default="match", help="what is compared: the typing "
                        "cache without and with the match model, or (the match model on) without and with SSE")
    args = parser.parse_args()
    if not NOTES.is_dir():
        print("match cost benchmark skipped: ../shared/corpora is absent")
        return
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from charcomplete.model.cache import typing_cache
    from charcomplete.model.engine import Engine, use_one_blas_thread
    from charcomplete.model.sse import SSESettings
    from charcomplete.suggest.decoder import suggest

    use_one_blas_thread()
    text = b"\x02".join(p.read_bytes() for p in notes_split()[1])[: args.bytes * 2]
    base = Engine.load("default")
    if args.stage == "match":
        engines = {False: typing_cache(base, match=False), True: typing_cache(base, match=True)}
    else:
        engines = {False: typing_cache(base, sse=None), True: typing_cache(base, sse=SSESettings())}
    states = {flag: engine.start() for flag, engine in engines.items()}
    read = {False: 0.0, True: 0.0}
    for byte in text[: args.bytes]:
        for flag, engine in engines.items():
            state = states[flag]
            t0 = time.perf_counter()
            state.probs()
            engine.observe(state, byte)
            state.feed(bytes((byte,)))
            read[flag] += time.perf_counter() - t0
    spent: dict[bool, list[float]] = {False: [], True: []}
    step = max(1, args.bytes // args.suggestions)
    for i in range(args.bytes, 2 * args.bytes):
        byte = text[i]
        if (i - args.bytes) % step == 0:
            for flag in engines:
                t0 = time.perf_counter()
                suggest(states[flag])
                spent[flag].append(time.perf_counter() - t0)
        for flag, engine in engines.items():
            engine.observe(states[flag], byte)
            states[flag].feed(bytes((byte,)))
    print(f"{'typing cache':<22} {'us/byte read':>13} {'suggest p50 ms':>15} {'p99 ms':>7}")
    for flag in engines:
        ms = np.asarray(spent[flag]) * 1e3
        label = f"with {'SSE' if args.stage == 'sse' else 'match model'}" if flag else "without (before)"
        print(f"{label:<22} {read[flag] / args.bytes * 1e6:>13.1f} "
              f"{np.percentile(ms, 50):>15.2f} {np.percentile(ms, 99):>7.2f}")


if __name__ == "__main__":
    main()
