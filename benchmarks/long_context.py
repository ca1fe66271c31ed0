"""Choosing the typing cache's mix on a dev slice, one change at a time (issue 23.2).

    python benchmarks/long_context.py                       # every variant, the three dev slices
    python benchmarks/long_context.py --variants base,match --sets notes

Dev slices: of each held-out set (data/pretrain_corpus.py: notes, rust-book, cheatsheets),
the whole documents after the first 100 kB (the part the held-out figures score), their
first --max-bytes. The built-in model reads them as `eval --adapt` does (dynamic evaluation,
32-byte chunks, decaying 1% a step); its per-byte probabilities do not depend on the cache, so
they are computed once (cached under --scratch) and replayed under each variant of the typing
cache (`cache.typing_cache` options), which is what changes, the variants interleaved byte by
byte (their us/byte compare under the same load; the first one also pays the shared memory's
first look-ups, so to compare costs list the baseline twice and read its second row). With
--memory, the notes' 90% is the model's memory (the new-user protocol keeps it). Prints bpc per
set and variant.
Needs ../shared/corpora (skips with a message when it is absent)."""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "data"))
from anchors import anchors  # noqa: E402
from notes_benchmark import NOTES, notes_split  # noqa: E402
from pretrain_corpus import PRETRAIN, held_out_sets  # noqa: E402

from charcomplete.core.config import DOC_START, LN2  # noqa: E402
from charcomplete.model.sse import SSESettings  # noqa: E402

SKIP = 100_000  # the held-out figures' part of each set

# name -> typing_cache options; "base" is the cache as it stood before the match model, and
# every variant before the SSE ones is the cache as it stood before SSE (sse=None).
VARIANTS: dict[str, dict] = {
    "base": {"match": False, "sse": None},
    "match": {"sse": None},
    "match-4": {"min_match": 4, "sse": None},
    "match-5": {"min_match": 5, "sse": None},
    "match-8": {"min_match": 8, "sse": None},
    "match-trust-low": {"match_trust": (0.02, 0.1, 0.2, 0.05, 0.1), "sse": None},
    "match-trust-high": {"match_trust": (0.02, 0.35, 0.5, 0.2, 0.4), "sse": None},
    "match+order2": {"low_order": 2, "sse": None},
    "match+order3": {"low_order": 3, "sse": None},
    "match+order4": {"low_order": 4, "sse": None},
    # SSE after the mixer (model/sse.py): the likeliest byte's probability refined by tables
    # contexted by the mixer's bin, the previous byte and how many components agree, 3/4 of the
    # answer (SSESettings' defaults); then one change each.
    "match+sse": {"sse": SSESettings()},
    "match+sse-w50": {"sse": SSESettings(weight=0.5)},
    "match+sse-w90": {"sse": SSESettings(weight=0.9)},
    "match+sse-slow": {"sse": SSESettings(rate=0.005)},
    "match+sse-fast": {"sse": SSESettings(rate=0.05)},
    "match+sse-top2": {"sse": SSESettings(candidates=2)},
    "match+sse-no-agree": {"sse": SSESettings(contexts=("bin", "order1"))},
    "match+sse-no-order1": {"sse": SSESettings(contexts=("bin", "agree"))},
    "match+sse+order2": {"sse": SSESettings(contexts=("bin", "order1", "agree", "order2"))},
    "match+sse-prior0": {"sse": SSESettings(prior=0.0)},
}


def dev_documents(files: list[Path], max_bytes: int, skip: int = SKIP) -> list[bytes]:
    """The whole documents after the first `skip` bytes, their first `max_bytes` (skip 0: the
    held-out figures' text itself, as `evaluate` cuts it)."""
    out, position, kept = [], 0, 0
    for path in files:
        data = path.read_bytes()
        position += len(data)
        if position - len(data) < skip or not data:
            continue
        out.append(data[: max_bytes - kept])
        kept += len(out[-1])
        if kept >= max_bytes:
            break
    return out


def neural_probs(docs: list[bytes], scratch: Path) -> np.ndarray:
    """(bytes, 256) float32: the built-in model's prediction of each byte, adapting as `eval --adapt`."""
    from charcomplete.learn import online

    steps = f"{online.ONLINE_OPTIMIZER} {online.ONLINE_LR} {online.ONLINE_DECAY} {online.ONLINE_CHUNK}".encode()
    key = hashlib.sha256(b"\0".join([steps, *docs])).hexdigest()[:16]
    path = scratch / f"neural-{key}.npy"
    if path.exists():
        return np.load(path)
    from charcomplete.evaluate.evaluation import AdaptSettings
    from charcomplete.model.engine import Engine
    from charcomplete.storage import store

    loaded = store.load_model("default")
    settings = AdaptSettings()
    adapter = online.online_adapter(loaded.config, loaded.weights, threads=None)  # eval --adapt's step
    engine = Engine.from_model(loaded)
    out = np.zeros((sum(map(len, docs)), 256), np.float32)
    row = 0
    for doc in docs:
        adapter.start_document()
        state = engine.start()
        start = 0
        for i, byte in enumerate(doc):
            out[row] = state.probs()
            row += 1
            state.feed(bytes((byte,)))
            if i + 1 - start >= settings.chunk or i + 1 == len(doc):
                adapter.update(doc[start : i + 1])
                engine = adapter.engine(engine.name)
                state = state.carried_to(engine)
                start = i + 1
    scratch.mkdir(parents=True, exist_ok=True)
    np.save(path, out)
    return out


class Replay:
    """A Predictor that gives recorded probabilities, one row per byte read (documents in order)."""

    name = "replay"
    parameters = 0

    def __init__(self, probs: np.ndarray):
        self.rows = probs
        self.cursor = 0  # the row of the next document's first byte

    def describe(self) -> str:
        return "recorded probabilities"

    def start(self) -> ReplayState:
        return ReplayState(self, self.cursor, bytes([DOC_START]))

    zero_state = start


class ReplayState:
    def __init__(self, engine: Replay, index: int, tail: bytes):
        self.engine, self.index, self.tail = engine, index, tail

    def feed(self, data: bytes) -> None:
        self.index += len(data)
        self.tail = (self.tail + data)[-4:]

    def fork(self) -> ReplayState:
        return ReplayState(self.engine, self.index, self.tail)

    def carried_to(self, engine: Replay) -> ReplayState:
        return ReplayState(engine, self.index, self.tail)

    def move_to(self, engine: Replay) -> None:
        self.engine = engine

    def probs(self) -> np.ndarray:
        row = self.engine.rows[self.index].astype(np.float64)
        return row / row.sum()

    def log_probs(self) -> np.ndarray:
        return np.log(np.maximum(self.probs(), 1e-300))


def score(docs: list[bytes], probs: np.ndarray, variants: list[dict], remembered) -> list[tuple[float, float]]:
    """(bpc, microseconds per byte) of the typing cache with each of `variants`' options over the
    replayed model; the variants read byte by byte in turn, so that the machine's load falls on
    each alike (a byte: probs, observe, feed)."""
    from charcomplete.model.cache import typing_cache

    bases = [Replay(probs) for _ in variants]
    engines = [typing_cache(base, "", **remembered, **options) for base, options in zip(bases, variants, strict=True)]
    bits, seconds = [0.0] * len(variants), [0.0] * len(variants)
    for doc in docs:
        states = [engine.start() for engine in engines]
        for byte in doc:
            for i, (engine, state) in enumerate(zip(engines, states, strict=True)):
                t0 = time.perf_counter()
                p = float(state.probs()[byte])
                engine.observe(state, byte)
                state.feed(bytes((byte,)))
                seconds[i] += time.perf_counter() - t0
                bits[i] -= np.log(max(p, 1e-300)) / LN2
        for base in bases:
            base.cursor += len(doc)
    n = sum(map(len, docs))
    return [(b / n, t / n * 1e6) for b, t in zip(bits, seconds, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="notes,rust-book,cheatsheets")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--max-bytes", type=int, default=40_000)
    parser.add_argument("--memory", action="store_true", help="the notes' 90%% as the model's memory")
    parser.add_argument("--memory-bytes", type=int, default=None, help="of that memory, the last this many bytes "
                        "(default memory.MEMORY_BYTES)")
    parser.add_argument("--recall-bytes", type=int, default=None, help="the match model searches the last this many "
                        "bytes (default: --memory-bytes)")
    parser.add_argument("--older", action="store_true", help="before the notes, the pretraining corpus's other "
                        "sources (older text of a larger folder)")
    parser.add_argument("--held-out", action="store_true", help="score the held-out figures' text (the first "
                        "--max-bytes of each set) instead of the dev slice, with the PPMd and xz anchors: for the "
                        "report only, never to choose")
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/charcomplete-long-context"))
    args = parser.parse_args()
    if not PRETRAIN.is_dir() or not NOTES.is_dir():
        print("long-context benchmark skipped: ../shared/corpora is absent")
        return
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    remembered: dict = {}
    if args.memory:
        from charcomplete.core.config import DOC_START as SEP
        from charcomplete.model import memory

        files = notes_split()[0]
        if args.older:
            from pretrain_corpus import source_files, training_sources

            files = [path for source in training_sources() for path in source_files(source)] + files
        whole = bytes([SEP]).join(path.read_bytes() for path in files)
        text = whole[-(args.memory_bytes or memory.MEMORY_BYTES) :]
        recall = whole[-(args.recall_bytes or len(text)) :]
        started = time.perf_counter()
        remembered = {"remembered": memory.ngram_of(text), "recalled": memory.recall_of(recall)}
        print(f"memory: n-gram of {len(text):,} bytes, match index of {len(recall):,} bytes, built in "
              f"{time.perf_counter() - started:.1f} s")
    sets = held_out_sets()
    print(f"{'set':<12} {'variant':<28} {'bpc':>7} {'us/byte':>8}" + ("   ppmd     xz  /ppmd" if args.held_out else ""))
    for name in args.sets.split(","):
        docs = dev_documents(sets[name], args.max_bytes, 0 if args.held_out else SKIP)
        probs = neural_probs(docs, args.scratch)
        anchor = anchors(b"".join(docs)) if args.held_out else None
        names = args.variants.split(",")
        for variant, (bpc, us) in zip(names, score(docs, probs, [VARIANTS[v] for v in names], remembered), strict=True):
            extra = f" {anchor['ppmd']:>6.3f} {anchor['xz']:>6.3f} {bpc / anchor['ppmd']:>6.3f}" if anchor else ""
            print(f"{name:<12} {variant:<28} {bpc:>7.4f} {us:>8.1f}" + extra, flush=True)


if __name__ == "__main__":
    main()
