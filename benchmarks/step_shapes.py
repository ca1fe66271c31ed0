"""Raw training-step throughput of a plain PyTorch model by batch shape, cell and torch.compile.

    python benchmarks/step_shapes.py [--seconds 8] [--shapes 64x128,128x128,256x64,512x64] [--compile]

Random bytes, no data pipeline: this isolates what the step itself costs at each shape
(embedding 64 -> cell 512 -> linear 256, AdamW, fp32, torch's default threads). Each
shape trains for --seconds after one warm-up step; the figures are characters per second.
--compile adds a row per shape with the model wrapped in torch.compile (first steps,
which compile, are timed separately)."""

from __future__ import annotations

import argparse
import time

import torch
from machine import describe
from torch import nn

CELLS = {"gru": nn.GRU, "lstm": nn.LSTM, "rnn": nn.RNN}


class Plain(nn.Module):
    def __init__(self, cell: str, hidden: int):
        super().__init__()
        self.embed = nn.Embedding(256, 64)
        self.rnn = CELLS[cell](64, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 256)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(self.embed(x))[0])


def chars_per_s(cell: str, hidden: int, batch: int, seq: int, seconds: float, compiled: bool) -> tuple[float, float]:
    """(chars/s over `seconds`, seconds the first two steps took)."""
    torch.manual_seed(0)
    model = Plain(cell, hidden)
    run = torch.compile(model) if compiled else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    x = torch.randint(0, 256, (batch, seq))
    y = torch.randint(0, 256, (batch, seq))

    def step() -> None:
        loss = nn.functional.cross_entropy(run(x).reshape(-1, 256), y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    started = time.perf_counter()
    step()
    step()
    first = time.perf_counter() - started
    steps, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        step()
        steps += 1
    return steps * batch * seq / (time.perf_counter() - started), first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--cells", default="gru,lstm")
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--shapes", default="64x128,128x128,256x128,256x64,512x64")
    parser.add_argument("--compile", action="store_true", help="also time each shape under torch.compile")
    args = parser.parse_args()
    print(f"machine: {describe()}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    for cell in args.cells.split(","):
        reference = None
        for shape in args.shapes.split(","):
            batch, seq = (int(n) for n in shape.split("x"))
            for compiled in (False, True) if args.compile else (False,):
                rate, first = chars_per_s(cell, args.hidden, batch, seq, args.seconds, compiled)
                reference = reference or rate
                label = f"{cell.upper()} {args.hidden} {batch:>4} x {seq:<4}{' compiled' if compiled else ''}"
                print(f"{label:<32} {rate:>9,.0f} chars/s  ratio {rate / reference:4.2f}  "
                      f"(first 2 steps {first:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
