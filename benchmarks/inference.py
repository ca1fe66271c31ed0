"""Inference speed (issue 3): the numpy engine and `charcomplete complete`, measured in one run.

    python benchmarks/inference.py                       # speed figures
    python benchmarks/inference.py --savings MODEL       # + keystroke savings of decoding settings

Speed figures, all on a GRU 1x512 (embedding 64) made here in a temporary
CHARCOMPLETE_HOME, so nothing depends on the shipped model. Its weights are random
except for a head bias that makes "e" very likely, so every suggestion runs to its
length cap: the suggestion and --lines figures are worst cases, not flattering ones.

- cold start: `printf 'The quick brown fox jumps over the la' | charcomplete complete`
  (median of several runs) against `python -c "import torch"`, and their ratio;
- one recurrent step: numpy engine against the torch model (batch 1, hidden state carried,
  inference_mode), both with and without the output head;
- suggestion latency while typing (Completer.complete per keystroke, completions capped
  at 20 characters): p50 and p99;
- requests per second in `charcomplete complete --lines` (a text typed one character per request).

--savings MODEL replays the held-out tenth of ../shared/corpora/til-notes (documents in
sorted path order, as data/notes_benchmark.py splits them) as if typed in the editor with
a trained model, for several decoding settings: at each position the suggestion is
accepted with one key (Tab) when the text goes on with it, else one character is typed.
keystroke savings = 1 - keys pressed / characters; precision = accepted / shown. It says
so and skips when the corpus is absent."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from machine import describe

ROOT = Path(__file__).resolve().parent.parent
NOTES = ROOT.parent / "shared" / "corpora" / "til-notes"
PROMPT = "The quick brown fox jumps over the la"
TYPED = (
    "To rebase the current branch onto main, run git rebase main and then check the result. "
    "If a conflict stops it, fix the files, add them, and continue with git rebase --continue. "
) * 4


# ------------------------------------------------------------ setup


def make_bench_model(name: str = "bench-gru512"):
    """A GRU 1x512 with torch-like random weights and a head that strongly favours 'e'."""
    from charcomplete.core.config import ModelConfig
    from charcomplete.storage import store

    config = ModelConfig(cell="gru", embed=64, hidden=512, layers=1)
    rng = np.random.default_rng(0)
    weights = {}
    for key, shape in config.weight_shapes().items():
        bound = 1 / np.sqrt(config.hidden)  # nn.GRU / nn.Linear initialisation range
        weights[key] = rng.uniform(-bound, bound, shape).astype(np.float32)
    weights["embed.weight"] = rng.standard_normal((256, 64)).astype(np.float32)
    weights["head.bias"][ord("e")] = 9.0  # P("e") about 0.97: suggestions always reach the cap
    with store.lock_model(name):
        store.save_model(name, config, weights, {"history": []})
    store.update_settings(model=name)  # the model `charcomplete complete` uses with no --model
    return config, weights


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


# ------------------------------------------------------------ cold start


def time_command(command: list[str], stdin: bytes, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, input=stdin, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return times


def cold_start(runs: int) -> dict:
    charcomplete = shutil.which("charcomplete") or str(Path(sys.executable).with_name("charcomplete"))
    command = [charcomplete, "complete"]
    time_command(command, PROMPT.encode(), 1)  # warm the page cache
    ours = time_command(command, PROMPT.encode(), runs)
    answer = subprocess.run(command, input=PROMPT.encode(), capture_output=True, check=True).stdout.decode().strip()
    torch = time_command([sys.executable, "-c", "import torch"], b"", max(3, runs // 2))
    baseline = time_command([sys.executable, "-c", "pass"], b"", runs)
    return {
        "complete_s": statistics.median(ours),
        "complete_min_s": min(ours),
        "import_torch_s": statistics.median(torch),
        "python_s": statistics.median(baseline),
        "ratio": statistics.median(ours) / statistics.median(torch),
        "answer": answer,
    }


def import_breakdown() -> list[tuple[str, float]]:
    """Cumulative import time of the main pieces of the complete path (python -X importtime)."""
    code = "import charcomplete.cli, charcomplete.suggest.decoder, safetensors.numpy, typer._adapters"
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True)
    cumulative: dict[str, float] = {}
    for line in result.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            cumulative[parts[2].strip()] = int(parts[1]) / 1e6
    wanted = [
        "numpy",
        "typer",
        "pydantic",
        "rich",
        "charcomplete.storage.store",
        "charcomplete.model.engine",
        "charcomplete.cli",
        "safetensors.numpy",
        "typer._adapters",
    ]
    return [(name, cumulative[name]) for name in wanted if name in cumulative]


# ------------------------------------------------------------ per-step latency


def step_numpy(engine, data: bytes, head: bool) -> float:
    state = engine.start()
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for byte in data:
            state.feed(bytes((byte,)))
            if head:
                state.log_probs()
        best = min(best, (time.perf_counter() - start) / len(data))
    return best


def step_torch(config, weights, data: bytes, head: bool, threads: int | None) -> float:
    import torch

    from charcomplete.model.network import CharModel, weights_from_numpy

    default_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    model = CharModel(config).eval()
    weights_from_numpy(model, weights)
    inputs = [torch.tensor([[byte]]) for byte in data]
    best = float("inf")
    with torch.inference_mode():
        for _ in range(5):
            hidden = model.init_hidden(1)
            start = time.perf_counter()
            for x in inputs:
                if head:
                    logits, hidden, _ = model(x, hidden)  # embedding, GRU step, head
                    torch.log_softmax(logits, -1)
                else:
                    _, hidden = model.rnn(model.embed(x), hidden)
            best = min(best, (time.perf_counter() - start) / len(data))
    torch.set_num_threads(default_threads)
    return best


# ------------------------------------------------------------ suggestions


def suggestion_latency(engine, max_chars: int = 20) -> dict:
    """Completer.complete per keystroke while TYPED is typed; wall time and this thread's CPU time.

    On a shared machine the wall-clock tail mostly measures the scheduler (a keystroke
    descheduled for a time slice); the CPU time shows what the work itself costs."""
    from charcomplete.suggest.decoder import Completer

    completer = Completer(engine)
    wall, cpu, lengths = [], [], []
    for round_ in range(2):
        for cut in range(1, len(TYPED) + 1):
            start, start_cpu = time.perf_counter(), time.thread_time()
            result = completer.complete(TYPED[:cut], max_chars=max_chars)
            if round_:  # the first round warms caches
                wall.append(time.perf_counter() - start)
                cpu.append(time.thread_time() - start_cpu)
                lengths.append(len(result.text))
    return {
        "p50_ms": percentile(wall, 50) * 1e3,
        "p99_ms": percentile(wall, 99) * 1e3,
        "cpu_p50_ms": percentile(cpu, 50) * 1e3,
        "cpu_p99_ms": percentile(cpu, 99) * 1e3,
        "mean_chars": float(np.mean(lengths)),
        "keystrokes": len(wall),
    }


def lines_throughput(requests: int) -> dict:
    charcomplete = shutil.which("charcomplete") or str(Path(sys.executable).with_name("charcomplete"))
    text = (TYPED * (requests // len(TYPED) + 1))[:requests]
    payload = b"".join(json.dumps({"text": text[: i + 1]}).encode() + b"\n" for i in range(requests))
    process = subprocess.Popen(
        [charcomplete, "complete", "--lines"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    # Startup is not part of the rate: wait for the first answer, then time the rest.
    process.stdin.write(json.dumps({"text": "warm up"}).encode() + b"\n")
    process.stdin.flush()
    process.stdout.readline()

    def send() -> None:  # from a thread: answers must be read while requests are written
        process.stdin.write(payload)
        process.stdin.close()

    start = time.perf_counter()
    writer = threading.Thread(target=send)
    writer.start()
    answers = process.stdout.read().splitlines()
    elapsed = time.perf_counter() - start
    writer.join()
    process.wait()
    assert len(answers) == requests, (len(answers), process.stderr.read()[-500:])
    return {"requests": requests, "per_s": requests / elapsed, "mean_ms": elapsed / requests * 1e3}


# ------------------------------------------------------------ keystroke savings


def held_out_text(limit_chars: int) -> list[str]:
    documents = sorted(p for p in NOTES.rglob("*.md") if p.is_file())
    held_out = documents[len(documents) - int(round(len(documents) * 0.10)) :]
    texts, total = [], 0
    for path in held_out:
        text = path.read_text(encoding="utf-8", errors="replace")
        texts.append(text)
        total += len(text)
        if total >= limit_chars:
            break
    return texts


def simulate(engine, texts: list[str], options: dict) -> dict:
    """Type `texts` with Tab accepting a suggestion whenever the text goes on with it."""
    from charcomplete.suggest.decoder import Completer

    keys = chars = shown = accepted = saved = 0
    seconds: list[float] = []
    for text in texts:
        completer = Completer(engine)
        position = 0
        chars += len(text)
        while position < len(text):
            start = time.perf_counter()
            offer = completer.complete(text[:position], **options).text
            seconds.append(time.perf_counter() - start)
            keys += 1
            if offer:
                shown += 1
                if text.startswith(offer, position):
                    accepted += 1
                    saved += len(offer) - 1
                    position += len(offer)
                    continue
            position += 1
    return {
        "savings": 1 - keys / chars,
        "precision": accepted / shown if shown else 0.0,
        "shown_per_key": shown / keys,
        "chars_per_accept": (saved + accepted) / accepted if accepted else 0.0,
        "p50_ms": percentile(seconds, 50) * 1e3,
        "p99_ms": percentile(seconds, 99) * 1e3,
        "chars": chars,
    }


BASE = {"beam": 1, "min_total": 0.1}  # the first candidate: greedy, the thresholds first tried
SETTINGS = [
    ("greedy, 1 word", BASE),
    ("beam 2, 1 word", {**BASE, "beam": 2}),
    ("beam 4, 1 word", {**BASE, "beam": 4}),
    ("greedy, 2 words", {**BASE, "words": 2}),
    ("greedy, up to 40 chars", {**BASE, "words": 99}),
    ("greedy, whole words only", {**BASE, "whole_words": True}),
    ("greedy, min_prob 0.1", {**BASE, "min_prob": 0.1}),
    ("greedy, min_prob 0.4", {**BASE, "min_prob": 0.4}),
    ("greedy, min_total 0.03", {**BASE, "min_total": 0.03}),
    ("greedy, min_total 0.3", {**BASE, "min_total": 0.3}),
    ("greedy, min_total 0.2", {**BASE, "min_total": 0.2}),
    ("beam 2, whole words", {**BASE, "beam": 2, "whole_words": True}),
    ("beam 2, min_total 0.2 (default)", {}),
    ("beam 2, whole, min_total 0.2", {"whole_words": True}),
    ("beam 2, whole, min_total 0.3", {"whole_words": True, "min_total": 0.3}),
    ("beam 2, p 0.15, min_total 0.3", {"min_prob": 0.15, "min_total": 0.3}),
]


def savings(model: str, limit_chars: int, only: str | None = None) -> list[tuple[str, dict]] | None:
    from charcomplete.model.engine import Engine

    if not NOTES.is_dir():
        print(f"keystroke savings skipped: {NOTES} is absent")
        return None
    engine = Engine.load(model)
    texts = held_out_text(limit_chars)
    print(f"\nkeystroke savings, model {model} ({engine.config.describe()}), {sum(map(len, texts)):,} held-out chars")
    print(
        f"{'decoding':<32} {'savings':>8} {'precision':>9} {'shown/key':>9} {'chars/accept':>12} "
        f"{'p50 ms':>7} {'p99 ms':>7}"
    )
    rows = []
    for label, options in SETTINGS:
        if only and only not in label:
            continue
        row = simulate(engine, texts, options)
        rows.append((label, row))
        print(
            f"{label:<32} {row['savings']:>8.1%} {row['precision']:>9.1%} {row['shown_per_key']:>9.2f} "
            f"{row['chars_per_accept']:>12.1f} {row['p50_ms']:>7.2f} {row['p99_ms']:>7.2f}",
            flush=True,
        )
    return rows


# ------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=9, help="cold-start runs (median)")
    parser.add_argument("--requests", type=int, default=2000, help="--lines requests")
    parser.add_argument("--savings", metavar="MODEL", help="also measure keystroke savings with this trained model")
    parser.add_argument("--savings-chars", type=int, default=20_000, help="held-out characters to type")
    parser.add_argument("--skip-speed", action="store_true", help="only the keystroke savings")
    parser.add_argument("--only", help="only the decoding settings whose label contains this")
    args = parser.parse_args()

    print("machine: " + describe(f"Python {platform.python_version()}, numpy {np.__version__}"))
    print("load average at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    if args.savings and args.skip_speed:
        savings(args.savings, args.savings_chars, args.only)
        return
    savings_home = os.environ.get("CHARCOMPLETE_HOME")
    with tempfile.TemporaryDirectory(prefix="charcomplete-bench-") as home:
        os.environ["CHARCOMPLETE_HOME"] = home
        speed(args)
    if args.savings:
        if savings_home is None:
            os.environ.pop("CHARCOMPLETE_HOME", None)
        else:
            os.environ["CHARCOMPLETE_HOME"] = savings_home
        savings(args.savings, args.savings_chars, args.only)


def speed(args) -> None:
    from charcomplete.model.engine import Engine

    config, weights = make_bench_model()
    engine = Engine.load()
    print(f"model: {config.describe()}, embedding {config.embed}, random weights biased towards 'e'")

    cold = cold_start(args.runs)
    print(f"\ncold start, printf '{PROMPT}' | charcomplete complete -> {cold['answer']!r}")
    print(
        f"  charcomplete complete  {cold['complete_s']:.3f} s median of {args.runs} "
        f"(best {cold['complete_min_s']:.3f} s)"
    )
    print(f"  python -c 'import torch'  {cold['import_torch_s']:.3f} s")
    print(f"  python -c 'pass'  {cold['python_s']:.3f} s")
    print(f"  ratio  {cold['ratio']:.3f}")
    print("  import time, cumulative (python -X importtime, one run):")
    for name, seconds in import_breakdown():
        print(f"    {name:<22} {seconds * 1e3:6.0f} ms")

    data = bytes(np.random.default_rng(0).integers(32, 127, 1000, dtype=np.uint8))
    print("\none step, GRU 1x512, batch 1 (best of 5 x 1000 steps); numpy on one BLAS thread")
    for head in (False, True):
        ours = step_numpy(engine, data, head)
        one = step_torch(config, weights, data, head, threads=1)
        default = step_torch(config, weights, data, head, threads=None)
        label = "step + head + log-softmax" if head else "recurrent step"
        print(
            f"  {label:<26} numpy {ours * 1e6:6.1f} us   torch 1 thread {one * 1e6:6.1f} us ({one / ours:.1f}x)   "
            f"torch default threads {default * 1e6:6.1f} us ({default / ours:.1f}x)"
        )

    latency = suggestion_latency(engine)
    print(
        f"\nsuggestion per keystroke, completions up to 20 chars (mean {latency['mean_chars']:.1f} chars), "
        f"{latency['keystrokes']} keystrokes"
    )
    print(f"  wall  p50 {latency['p50_ms']:.2f} ms   p99 {latency['p99_ms']:.2f} ms")
    print(f"  CPU   p50 {latency['cpu_p50_ms']:.2f} ms   p99 {latency['cpu_p99_ms']:.2f} ms")
    # The same keystrokes on the built-in model: the suggestions a user gets, which stop where the
    # model is no longer sure (the worst case above always runs to the cap).
    from charcomplete.storage import store

    real = suggestion_latency(Engine.from_model(store.load_model(store.DEFAULT_MODEL)))
    print(f"the same keystrokes, the built-in model (mean {real['mean_chars']:.1f} chars)")
    print(f"  wall  p50 {real['p50_ms']:.2f} ms   p99 {real['p99_ms']:.2f} ms")
    print(f"  CPU   p50 {real['cpu_p50_ms']:.2f} ms   p99 {real['cpu_p99_ms']:.2f} ms")

    rate = lines_throughput(args.requests)
    print(
        f"\ncharcomplete complete --lines: {rate['requests']} requests (a text typed a character per request, "
        f"40-char completions)"
    )
    print(f"  {rate['per_s']:.0f} requests/s, {rate['mean_ms']:.2f} ms each")


if __name__ == "__main__":
    main()
