"""Choose the built-in model's shape by measurement (issue 11): equal-time runs of candidate
shapes on the pretraining text, scored on the held-out sources.

    python benchmarks/model_sizes.py --minutes 8 [--shapes gru-1x512,gru-1x768,gru-2x512,lstm-1x448]

1. The shapes' training speeds are measured in this one process, interleaved, so their
   ratios hold however busy the machine is.
2. "Equal time" is then a step budget per shape: `--minutes` at the fastest shape's measured
   speed, scaled by each shape's speed ratio. Each run is a real `charcomplete train` from
   scratch on the training text of data/pretrain_corpus.py, in a throw-away home.
3. Each model's static bits per character on the first --max-bytes of every held-out set.

Needs ../shared/corpora (skips with a message when it is absent)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "data"))  # first: benchmarks/ has a notes_benchmark.py of its own
from machine import describe  # noqa: E402
from pretrain_corpus import PRETRAIN, assemble, held_out_sets  # noqa: E402

BATCH, SEQ = 64, 128


def parse_shape(text: str) -> dict:
    cell, size = text.split("-")
    layers, hidden = size.split("x")
    return {"cell": cell, "layers": int(layers), "hidden": int(hidden)}


def measure_speeds(shapes: list[str], precision: str, rounds: int = 3, steps: int = 6) -> dict[str, float]:
    """Characters per second of each shape's training step, best of `rounds` interleaved rounds."""
    import numpy as np
    import torch

    from charcomplete.core.config import ModelConfig
    from charcomplete.learn.training import Trainer

    torch.set_num_threads(1)
    trainers = {s: Trainer(ModelConfig(**parse_shape(s)), precision=precision) for s in shapes}
    x = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (BATCH, SEQ + 1)))
    best = dict.fromkeys(shapes, 0.0)
    for _ in range(rounds):
        for shape, trainer in trainers.items():
            trainer.step(x[:, :-1], x[:, 1:], None)  # warm
            t0 = time.perf_counter()
            for _ in range(steps):
                trainer.step(x[:, :-1], x[:, 1:], None)
            best[shape] = max(best[shape], steps * BATCH * SEQ / (time.perf_counter() - t0))
    return best


def train_shape(shape: str, steps: int, text: Path, home: Path, precision: str, dropout: float) -> float:
    spec = parse_shape(shape)
    command = [sys.executable, "-m", "charcomplete", "train", str(text), "--model", shape, "--arch", spec["cell"],
               "--hidden", str(spec["hidden"]), "--layers", str(spec["layers"]), "--steps", str(steps),
               "--precision", precision, "--threads", "1", "--eval-every", "120", "--dropout", str(dropout)]
    t0 = time.monotonic()
    subprocess.run(command, check=True, env={**os.environ, "CHARCOMPLETE_HOME": str(home)})
    return time.monotonic() - t0


def score(shape: str, home: Path, max_bytes: int) -> dict[str, float]:
    os.environ["CHARCOMPLETE_HOME"] = str(home)
    from charcomplete.evaluate.evaluation import evaluate

    out = {}
    for name, files in held_out_sets().items():
        docs = [f.read_bytes() for f in files]
        out[name] = evaluate(shape, docs, max_bytes=max_bytes, ksr_bytes=0)["bpc"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=8.0, help="equal time per shape, at measured speeds")
    parser.add_argument("--shapes", default="gru-1x512,gru-1x768,gru-2x512,lstm-1x448")
    parser.add_argument("--precision", default="bf16")
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--max-bytes", type=int, default=100_000)
    parser.add_argument("--work", type=Path, default=None, help="keep the runs here (default: a temporary folder)")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--speeds", type=json.loads, default=None,
                        help='chars/s per shape measured earlier in one process, as JSON (runs split across processes)')
    args = parser.parse_args()
    if not PRETRAIN.is_dir():
        print(f"skipped: the pretraining corpus is absent ({PRETRAIN})")
        return
    shapes = args.shapes.split(",")
    print(f"machine: {describe()}", flush=True)
    speeds = args.speeds or measure_speeds(shapes, args.precision)
    print(f"speeds (chars/s, 1 thread, measured together): {json.dumps({s: round(speeds[s]) for s in shapes})}")
    fastest = max(speeds.values())
    work = args.work or Path(tempfile.mkdtemp(prefix="model-sizes-"))
    text = work / "text"
    if not text.is_dir():
        print(assemble(text), flush=True)
    rows = {}
    for shape in shapes:
        steps = int(args.minutes * 60 * speeds[shape] / (BATCH * SEQ))
        seconds = train_shape(shape, steps, text, work / "home", args.precision, args.dropout)
        rows[shape] = {"chars_per_s": speeds[shape], "steps": steps, "wall_s": seconds,
                       "bpc": score(shape, work / "home", args.max_bytes)}
        print(json.dumps({shape: rows[shape]}), flush=True)
    sets = list(next(iter(rows.values()))["bpc"])
    print(f"\nequal time: {args.minutes:g} min at each shape's measured speed (1 thread, {args.precision}, "
          f"fastest {fastest:,.0f} chars/s)")
    print(f"{'shape':<12} {'chars/s':>8} {'steps':>6} " + " ".join(f"{s:>12}" for s in sets))
    for shape, r in rows.items():
        figures = " ".join(f"{r['bpc'][s]:>12.3f}" for s in sets)
        print(f"{shape:<12} {r['chars_per_s']:>8,.0f} {r['steps']:>6} {figures}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
