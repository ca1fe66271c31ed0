"""Training throughput: `charcomplete train` against a plain PyTorch loop, same run.

Both train the same model (GRU 512 by default, embedding 64) on the same bytes with the
same batch shape (64 x 128), fp32 unless --precision says otherwise. The plain loop is the
textbook one: random windows, forward, cross-entropy, backward, clip, AdamW step.
`charcomplete train` runs as a real subprocess; its own summary reports characters per
second over its training steps (validation excluded), which is what the plain loop times.

    python benchmarks/train_speed.py [--corpus PATH] [--steps 40] [--rounds 2]

The corpus defaults to ../shared/corpora/tinyshakespeare; the script says so and exits
cleanly when it is absent.

    python benchmarks/train_speed.py --fixed-minutes 4 --shapes 64x128,256x64

Quality at a fixed time: the plain loop (64 x 128) and `charcomplete train` (each shape
in --shapes) train for the same wall-clock minutes on the notes benchmark's training 90%,
one after the other, then both are scored by the same code (`charcomplete.evaluate.evaluation`,
static bits per character) on the first --eval-bytes of its held-out notes. Prints
chars/s, the ratio to the plain loop and the validation bpc of each."""

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


def plain_loop(data: bytes, steps: int, cell: str, hidden: int, batch: int, seq: int, precision: str,
               seconds: float | None = None, keep: dict | None = None) -> float:
    """chars/s of the textbook loop over `steps` steps (or for `seconds`); `keep` receives the model."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    rnn_class = {"gru": nn.GRU, "lstm": nn.LSTM, "rnn": nn.RNN}[cell]

    class Plain(nn.Module):
        def __init__(self):
            super().__init__()
            # The same names as charcomplete's CharModel, so its weights can be scored by the same code.
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
    done = 0
    while done < steps if seconds is None else time.perf_counter() - started < seconds:
        one_step()
        done += 1
    rate = done * batch * seq / (time.perf_counter() - started)
    if keep is not None:
        keep["model"] = model
    return rate


def charcomplete_train(corpus: Path, steps: int, cell: str, hidden: int, batch: int, seq: int, precision: str,
                       minutes: float | None = None, home: str | None = None) -> float:
    """chars/s of a real `charcomplete train` run (its own summary line); the model stays in `home`.

    It gets the plain loop's thread count, so the two compare arithmetic, not thread choices."""
    import torch

    with tempfile.TemporaryDirectory() as scratch:
        limit = ["--minutes", str(minutes), "--val-fraction", "0.02"] if minutes else ["--steps", str(steps)]
        command = [sys.executable, "-m", "charcomplete", "train", str(corpus), "--model", "bench", *limit,
                   "--arch", cell, "--hidden", str(hidden), "--batch-size", str(batch), "--seq-len", str(seq),
                   "--precision", precision, "--eval-every", "1e9", "--device", "cpu",
                   "--threads", str(torch.get_num_threads())]
        env = {**os.environ, "CHARCOMPLETE_HOME": home or scratch}
        result = subprocess.run(command, capture_output=True, text=True, env=env)
        if result.returncode != 0:
            sys.exit(f"charcomplete train failed: {result.stderr.strip()}")
        match = re.search(r"\(([\d,]+) chars/s\)", result.stdout)
        return float(match.group(1).replace(",", ""))


def fixed_time(args) -> None:
    """Plain loop (64 x 128) against `charcomplete train` per shape: same minutes, same scorer."""
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "data"))
    from notes_benchmark import NOTES, link_tree, notes_split

    if not NOTES.is_dir():
        print(f"skipped: the notes corpus {NOTES} is absent (it lives in ../shared/corpora beside the checkout)")
        return
    from charcomplete.core.config import ModelConfig
    from charcomplete.evaluate.evaluation import evaluate
    from charcomplete.learn import corpus
    from charcomplete.model.network import weights_to_numpy
    from charcomplete.storage import store

    train_files, held_files = notes_split()
    held = corpus.scan(held_files).documents
    train_bytes = corpus.encode(corpus.scan(train_files).documents).tobytes()
    seconds = args.fixed_minutes * 60

    def score(loaded) -> float:
        return evaluate(loaded, held, max_bytes=args.eval_bytes, ksr_bytes=0)["bpc"]

    rows = []
    with tempfile.TemporaryDirectory() as work:
        kept: dict = {}
        rate = plain_loop(train_bytes, 0, args.cell, args.hidden, 64, 128, "fp32", seconds=seconds, keep=kept)
        config = ModelConfig(cell=args.cell, hidden=args.hidden, layers=1, embed=64)
        folder = store.save_model("plain", config, weights_to_numpy(kept["model"]), {}, folder=Path(work) / "plain")
        rows.append(("plain PyTorch loop, 64 x 128", rate, score(store.load_from_folder(folder, "plain"))))
        print(f"{rows[-1][0]}: {rate:,.0f} chars/s, {rows[-1][2]:.3f} bpc", flush=True)
        text = link_tree(train_files, NOTES, Path(work) / "text")
        for shape in args.shapes.split(","):
            batch, seq = (int(n) for n in shape.split("x"))
            home = tempfile.mkdtemp(dir=work)
            rate = charcomplete_train(text, 0, args.cell, args.hidden, batch, seq, "fp32", args.fixed_minutes, home)
            loaded = store.load_from_folder(Path(home) / "data" / "models" / "bench", "bench")
            rows.append((f"charcomplete train, {batch} x {seq}", rate, score(loaded)))
            print(f"{rows[-1][0]}: {rate:,.0f} chars/s, {rows[-1][2]:.3f} bpc", flush=True)
    import torch

    print(f"\n{args.cell.upper()} {args.hidden}, {args.fixed_minutes:g} minutes each, torch threads "
          f"{torch.get_num_threads()} of {os.cpu_count()} cores, bpc on the first {args.eval_bytes:,} bytes "
          f"of the held-out notes:")
    reference = rows[0][1]
    for label, rate, bpc in rows:
        print(f"  {label:<34} {rate:>8,.0f} chars/s  ratio {rate / reference:4.2f}  {bpc:.3f} bpc")


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
    parser.add_argument("--fixed-minutes", type=float, default=0.0,
                        help="instead: train each for this long on the notes and compare validation bpc")
    parser.add_argument("--shapes", default="64x128,256x64", help="with --fixed-minutes: charcomplete's BATCHxSEQ")
    parser.add_argument("--eval-bytes", type=int, default=50_000)
    args = parser.parse_args()
    if args.fixed_minutes:
        fixed_time(args)
        return
    if not args.corpus.exists():
        print(f"skipped: corpus {args.corpus} is absent (it lives in ../shared/corpora beside the checkout)")
        return
    data = args.corpus.read_bytes() if args.corpus.is_file() else None
    if data is None:
        sys.path.insert(0, str(ROOT))
        from charcomplete.learn.corpus import encode, scan

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
