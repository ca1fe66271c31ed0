"""Crash safety of model saves, measured: a writer process saves one model over and over,
alternating between two versions A and B (different weights, optimizer state and
metadata), and is killed with SIGKILL at a random moment. After every kill:

- the model must load cleanly and be exactly A or B: weights, optimizer state and
  metadata all of the same version (a mix, a torn file or a failed load is a lost file);
- the next save (under the model's lock, as every writer does) must leave the folder
  clean: meta.json, .lock, one weights and one optimizer generation, no temp files.

    python benchmarks/crash_stress.py [--trials 200] [--seed 0] [--max-delay 0.25]

It prints how many trials ran, how many kills landed, how many of those interrupted a
save half-way (they left a temp file or an uncommitted generation behind), and how many
files were lost, which must be 0. tests/test_faults.py runs the same trials."""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from charcomplete.core.config import ModelConfig  # noqa: E402
from charcomplete.core.paths import HOME_ENV  # noqa: E402
from charcomplete.storage import store  # noqa: E402
from charcomplete.storage.atomic import TEMP_MARK  # noqa: E402
from charcomplete.storage.meta import ModelMeta  # noqa: E402

MODEL = "crash"
CONFIG = ModelConfig(cell="gru", embed=8, hidden=32, layers=2)
VERSIONS = ("A", "B")


def version(tag: str) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict]:
    """Weights, optimizer state and metadata of version `tag`, the same in every process."""
    rng = np.random.default_rng(VERSIONS.index(tag) + 1)
    weights = {k: rng.standard_normal(s).astype(np.float32) for k, s in CONFIG.weight_shapes().items()}
    optim = {f"{i}.exp_avg": rng.standard_normal(s).astype(np.float32)
             for i, s in enumerate(CONFIG.weight_shapes().values())}
    # Metadata of different sizes, so meta.json itself changes length between versions.
    steps = 100 if tag == "A" else 200
    meta = {"version": tag, "steps": steps, "history": [{"step": i, "val_bpc": 2.0} for i in range(steps)]}
    return weights, optim, meta


def save(tag: str) -> None:
    weights, optim, meta = version(tag)
    store.save_model(MODEL, CONFIG, weights, meta, optim)


def writer() -> None:
    """The process that gets killed: holds the lock, as `train` does, and saves B, A, B, A..."""
    lock = store.lock_model(MODEL, timeout=30)
    print("ready", flush=True)
    try:
        while True:
            for tag in ("B", "A"):
                save(tag)
    finally:
        lock.release()


def check_model() -> str | None:
    """Why the model on disk is not exactly A or B, or None when it is."""
    try:
        loaded = store.load_model(MODEL)
        optim = store.load_optimizer_state(loaded)
    except Exception as error:  # any failure to load is exactly what this counts
        return f"does not load: {error}"
    tag = loaded.meta.extra.get("version")
    if tag not in VERSIONS:
        return f"metadata names no version: {tag!r}"
    weights, expected_optim, meta = version(tag)
    if any(loaded.weights[k].tobytes() != v.tobytes() for k, v in weights.items()):
        return f"metadata says {tag} but the weights are not {tag}'s"
    if optim is None or any(optim[k].tobytes() != v.tobytes() for k, v in expected_optim.items()):
        return f"metadata says {tag} but the optimizer state is not {tag}'s"
    if loaded.meta.steps != meta["steps"] or len(loaded.meta.history) != len(meta["history"]):
        return f"metadata of {tag} is mixed with another version's"
    return None


def debris(folder: Path) -> list[str]:
    """Files a save leaves behind only when it is interrupted: temp files and generations meta.json doesn't name."""
    try:
        meta = store.load_meta(MODEL)[0]
    except Exception:
        meta = ModelMeta()
    named = {meta.weights, meta.optimizer}
    return sorted(
        p.name for p in folder.iterdir()
        if TEMP_MARK in p.name or (p.suffix == ".safetensors" and p.name not in named)
    )


@dataclass
class TrialResult:
    killed: bool  # the writer was still running when the kill came (it died of SIGKILL)
    debris: list[str] = field(default_factory=list)  # what the kill left half-done
    problem: str | None = None  # the model was lost or mixed: must never happen
    unclean: list[str] = field(default_factory=list)  # what the next save failed to clean up


def run_trial(rng: random.Random, max_delay: float = 0.25, timeout: float = 60.0) -> TrialResult:
    """One kill. CHARCOMPLETE_HOME must point at a scratch folder; version A must be saved there first."""
    process = subprocess.Popen(
        [sys.executable, __file__, "--writer"], stdout=subprocess.PIPE, text=True, env=dict(os.environ),
    )
    try:
        line = process.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"the writer did not start (said {line!r})")
        time.sleep(rng.uniform(0.0, max_delay))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
    result = TrialResult(killed=process.returncode == -signal.SIGKILL)
    folder = store.model_folder(MODEL)
    result.debris = debris(folder)
    result.problem = check_model()  # loading must ignore the debris
    try:
        with store.lock_model(MODEL, timeout=timeout):
            save("A")  # the next save: it must clean up after the dead writer
    except Exception as error:  # a damaged model can stop the next save too: count it, start afresh
        result.problem = result.problem or f"the save after the kill failed: {error}"
        shutil.rmtree(folder)
        with store.lock_model(MODEL, timeout=timeout):
            save("A")
        return result
    meta = store.load_meta(MODEL)[0]
    expected = {store.META_FILE, ".lock", meta.weights, meta.optimizer}
    result.unclean = sorted({p.name for p in folder.iterdir()} ^ expected)
    if result.problem is None and check_model() is not None:
        result.problem = f"the save after the kill did not give a clean model: {check_model()}"
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-delay", type=float, default=0.25, help="longest wait before the kill, in seconds")
    parser.add_argument("--writer", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.writer:
        writer()
        return
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="crash-stress-") as home:
        os.environ[HOME_ENV] = home
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        with store.lock_model(MODEL):
            save("A")
        started = time.monotonic()
        kills = half_done = lost = unclean = 0
        for trial in range(args.trials):
            result = run_trial(rng, args.max_delay)
            kills += result.killed
            half_done += bool(result.debris)
            if result.problem:
                lost += 1
                print(f"trial {trial}: {result.problem}", file=sys.stderr)
            if result.unclean:
                unclean += 1
                print(f"trial {trial}: the next save left {result.unclean}", file=sys.stderr)
        elapsed = time.monotonic() - started
    print(f"trials: {args.trials}, kills: {kills}, kills during a save's writes (debris left): {half_done}, "
          f"folders left unclean by the next save: {unclean}, files lost: {lost}  ({elapsed:.0f} s)")
    sys.exit(1 if lost or unclean else 0)


if __name__ == "__main__":
    main()
