"""Training throughput: `charcomplete train` against a plain PyTorch loop, same run.

Both train the same model (GRU 512 by default, embedding 64) on the same bytes with the
same batch shape (64 x 128), fp32 unless --precision says otherwise. The plain loop is the
textbook one: random windows, forward, cross-entropy, backward, clip, AdamW step.
`charcomplete train` runs as a real subprocess; its own summary reports characters per
second over its training steps (validation excluded), which is what the plain loop times.

    python benchmarks/train_speed.py [--corpus PATH] [--steps 40] [--rounds 2]

The corpus defaults to ../shared/corpora/tinyshakespeare; the script says so and exits
cleanly when it is absent."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpora" / "tinyshakespeare" / "input.txt"


def plain_loop(data: bytes, steps: int, cell: str, hidden: int, batch: int, seq: int, precision: str) -> float:
    import torch
    from torch import nn

    torch.manual_seed(0)
    rnn_class = {"gru": nn.GRU, "lstm": nn.LSTM, "rnn": nn.RNN}[cell]

    class Plain(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(256, 64)
            self.rnn = rnn_class(64, hidden, batch_first=True)
            self.head = nn.Linear(hidden, 256)

        def forward(self, x):
            out, _ = self.rnn(self.embed(x))
            return self.head(out)

    model = Plain()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    tokens = torch.frombuffer(bytearray(data), dtype=torch.uint8)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")

    def one_step():
        starts = torch.randint(0, len(tokens) - seq - 1, (batch,))
        window = torch.stack([tokens[s : s + seq + 1] for s in starts.tolist()]).long()
        x, y = window[:, :-1], window[:, 1:]
        with autocast:
            logits = model(x)
        loss = nn.functional.cross_entropy(logits.float().reshape(-1, 256), y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    for _ in range(3):  # warm-up: first steps pay for allocations
        one_step()
    started = time.perf_counter()
    for _ in range(steps):
        one_step()
    return steps * batch * seq / (time.perf_counter() - started)


def charcomplete_train(corpus: Path, steps: int, cell: str, hidden: int, batch: int, seq: int, precision: str) -> float:
    with tempfile.TemporaryDirectory() as home:
        command = [sys.executable, "-m", "charcomplete", "train", str(corpus), "--model", "bench",
                   "--steps", str(steps), "--arch", cell, "--hidden", str(hidden), "--batch-size", str(batch),
                   "--seq-len", str(seq),
                   "--precision", precision, "--eval-every", "1e9", "--device", "cpu"]
        result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "CHARCOMPLETE_HOME": home})
        if result.returncode != 0:
            sys.exit(f"charcomplete train failed: {result.stderr.strip()}")
        match = re.search(r"\(([\d,]+) chars/s\)", result.stdout)
        return float(match.group(1).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cell", default="gru")
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--plain-precision", default="fp32", choices=["fp32", "bf16"])
    args = parser.parse_args()
    if not args.corpus.exists():
        print(f"skipped: corpus {args.corpus} is absent (it lives in ../shared/corpora beside the checkout)")
        return
    data = args.corpus.read_bytes() if args.corpus.is_file() else None
    if data is None:
        sys.path.insert(0, str(ROOT))
        from charcomplete.corpus import encode, scan

        data = encode(scan([args.corpus]).documents).tobytes()
    shape = (args.cell, args.hidden, args.batch, args.seq)
    plain, ours = [], []
    for round_index in range(args.rounds):  # interleaved, so drift in machine load hits both alike
        plain.append(plain_loop(data, args.steps, *shape, args.plain_precision))
        ours.append(charcomplete_train(args.corpus, args.steps, *shape, args.precision))
        print(f"round {round_index + 1}: plain loop {plain[-1]:,.0f} chars/s, "
              f"charcomplete train {ours[-1]:,.0f} chars/s", flush=True)
    best_plain, best_ours = max(plain), max(ours)
    import torch

    print(f"{args.cell.upper()} {args.hidden}, batch {args.batch} x {args.seq}, {args.steps} steps, torch threads "
          f"{torch.get_num_threads()} of {os.cpu_count()} cores: plain loop ({args.plain_precision}) "
          f"{best_plain:,.0f} chars/s, charcomplete train ({args.precision}) {best_ours:,.0f} chars/s, "
          f"ratio {best_ours / best_plain:.2f}")


if __name__ == "__main__":
    main()
