"""Helpers shared by the test modules (fixtures live in conftest.py): model makers, the
command line in a subprocess, and the error rule every command keeps."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from charcomplete.core.config import ModelConfig
from charcomplete.shell import server as serve
from charcomplete.storage import store
from charcomplete.suggest.decoder import Policy

TINY = ModelConfig(cell="gru", embed=8, hidden=16, layers=1)
SENTENCE = "the quick brown fox jumps over the lazy dog.\n"  # what the `sentence_model` fixture knows by heart
SENTENCE_CONFIG = ModelConfig(cell="gru", embed=16, hidden=32, layers=1)
FAST = ["--hidden", "32", "--embed", "8", "--batch-size", "8", "--seq-len", "32"]  # a quick `train` shape


# ------------------------------------------------------------ models


def random_weights(config: ModelConfig = TINY, seed: int = 0, scale: float = 1.0,
                   radius: float | None = None) -> dict[str, np.ndarray]:
    """Normal random weights of standard deviation `scale`, the same for the same seed.

    radius: give the recurrent matrices a spectral radius near it (0.9 for an engine that
    must stay comparable with torch: beyond 1 a vanilla RNN turns chaotic and float32
    rounding alone would make two exact implementations drift apart). A `scale` of about
    0.5 makes gates saturate now and then, as in a trained model."""
    rng = np.random.default_rng(seed)
    weights = {}
    for key, shape in config.weight_shapes().items():
        std = radius / math.sqrt(config.hidden) if radius is not None and "weight_hh" in key else scale
        weights[key] = (rng.standard_normal(shape) * std).astype(np.float32)
    return weights


def save_weights(name: str, config: ModelConfig, weights: dict[str, np.ndarray]) -> str:
    with store.lock_model(name):
        store.save_model(name, config, weights, {"history": []})
    return name


# A chain for the decoding tests: "qu" goes on as "ick " (likely) or "est " (less likely), and then "brown." (not sure
# enough to be run into: 0.44 < decoder.MORE); after "x" comes a line end;
# "f" is followed by the lead byte C5 but not surely by the byte that ends the character;
# after "z" or "é" comes "é" (C3 A9) forever, and after "h" "✓" (E2 9C 93) forever.
CHAIN = {
    "q": {"u": 0.95},
    "u": {"i": 0.6, "e": 0.3},
    "i": {"c": 0.95},
    "c": {"k": 0.95},
    "k": {" ": 0.9},
    " ": {"b": 0.6},
    "b": {"r": 0.95},
    "r": {"o": 0.95},
    "o": {"w": 0.95},
    "w": {"n": 0.95},
    "n": {".": 0.9},
    "e": {"s": 0.9},
    "s": {"t": 0.9},
    "t": {" ": 0.9},
    "a": {"x": 0.9},
    "x": {"\n": 0.9},
    "f": {0xC5: 0.9},
    0xC5: {0xBF: 0.2, 0xBE: 0.2},
    0xC3: {0xA9: 0.99},
    "h": {0xE2: 0.9},  # "h✓✓✓...": E2 9C 93, every byte sure
    0xE2: {0x9C: 0.99},
    0x9C: {0x93: 0.99},
    0x93: {0xE2: 0.99},
    "z": {0xC3: 0.99},
    0xA9: {0xC3: 0.99},
}


# A chain whose likeliest continuation of "o" runs past a line end: "k;", a line end, "end ".
# A document's suggestion goes on into the next line (decoder.Policy.line_ends); any other ends
# with the line.
LINE_CHAIN = {"o": {"k": 0.95}, "k": {";": 0.95}, ";": {"\n": 0.95}, "\n": {"e": 0.95}, "e": {"n": 0.95},
              "n": {"d": 0.95}, "d": {" ": 0.9}}


def chain_weights(transitions: dict[str, dict[str, float]] | dict[int, dict[int, float]]) -> tuple[ModelConfig, dict]:
    """A hand-made bigram model: P(next byte | current byte) = transitions[current][next].

    The mass left over is spread evenly over the other bytes; a byte with no entry is
    followed by any byte with equal odds. Built as an RNN whose state is the one-hot
    code of the last byte (W_hh = 0), so the head reads the transition table."""
    config = ModelConfig(cell="rnn", embed=256, hidden=256, layers=1)
    logp = np.full((256, 256), math.log(1 / 256))  # [current, next]
    for current, nexts in transitions.items():
        cur = ord(current) if isinstance(current, str) else current
        rest = max(1e-9, 1.0 - sum(nexts.values())) / (256 - len(nexts))
        row = np.full(256, math.log(rest))
        for nxt, p in nexts.items():
            row[ord(nxt) if isinstance(nxt, str) else nxt] = math.log(p)
        logp[cur] = row
    weights = {k: np.zeros(shape, np.float32) for k, shape in config.weight_shapes().items()}
    weights["embed.weight"] = np.eye(256, dtype=np.float32)
    weights["rnn.weight_ih_l0"] = 20 * np.eye(256, dtype=np.float32)  # tanh(20) == 1 in float32: a clean one-hot
    weights["head.weight"] = logp.T.astype(np.float32)  # (next, current)
    return config, weights


def trained_weights(config: ModelConfig, data: bytes, steps: int, lr: float, batch: int, seq_len: int,
                    stop_below: float | None = None) -> tuple[dict[str, np.ndarray], float]:
    """Weights trained for real (torch, seed 0) on `data` for at most `steps` updates, stopping
    early once the loss is under `stop_below` (after 80 updates); and the last loss."""
    import torch

    from charcomplete.learn.training import ChunkStream, Trainer

    array = np.frombuffer(data, dtype=np.uint8).copy()
    torch.manual_seed(0)
    trainer = Trainer(config, lr=lr)
    stream = ChunkStream(array, batch, seq_len, torch.device("cpu"))
    hidden, loss = None, float("nan")
    for step in range(steps):
        x, y, new_epoch = stream.next()
        loss, hidden = trainer.step(x, y, None if new_epoch else hidden)
        if stop_below is not None and step >= 80 and loss < stop_below:
            break
    return trainer.weights(), loss


def memorised_weights(config: ModelConfig, text: bytes) -> dict[str, np.ndarray]:
    """Weights of a model that has learned `text` by heart (real torch training, a few seconds),
    so that its suggestions are predictable."""
    weights, loss = trained_weights(config, text, steps=400, lr=2e-2, batch=8, seq_len=48, stop_below=0.02)
    assert loss < 0.1, loss
    return weights


def unigram_bpc(data: np.ndarray) -> float:
    """Bits per character of the byte frequencies of `data`: the bar a model must beat."""
    counts = Counter(data.tolist())
    total = sum(counts.values())
    return -sum(c / total * math.log2(c / total) for c in counts.values())


# ------------------------------------------------------------ suggestion policies

# The policy before issue 15: its thresholds, one word (the word being typed counts, so right
# after a word the suggestion was a lone space), never more, cut after the word's space or
# punctuation, and any length shown. Tests pin the decoder's mechanics with it.
ISSUE3_POLICY = Policy(min_prob=0.25, min_total=0.2, more=1.0, min_chars=0, blank_ok=True, finish_typed_word=True,
                       cut_by_savings=False, min_value=0.0)


# ------------------------------------------------------------ the command line


def cli_env(**extra: str) -> dict[str, str]:
    """Environment for a `python -m charcomplete` subprocess (inherits the test's home)."""
    env = dict(os.environ)
    env.setdefault("PYTHONIOENCODING", "utf-8")
    env.update(extra)
    return env


CLI = [sys.executable, "-m", "charcomplete"]


def ctrl_c_default() -> None:
    """preexec_fn for a child that a test stops with Ctrl-C (SIGINT): a shell starts background
    jobs with SIGINT ignored and children inherit that, but a user's terminal never does."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def make_notes(folder: Path, count: int = 24, seed: int = 0) -> Path:
    """A small folder of Markdown notes with learnable, repetitive structure."""
    import random

    rng = random.Random(seed)
    topics = ["git", "vim", "shell", "python", "sql"]
    verbs = ["rebase", "commit", "search", "replace", "select", "install", "format", "list"]
    objects = ["the branch", "a file", "every line", "the table", "old logs", "the buffer"]
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        topic = topics[index % len(topics)]
        lines = [f"# How to {rng.choice(verbs)} {rng.choice(objects)} in {topic}", ""]
        for _ in range(12):
            verb, thing, command = rng.choice(verbs), rng.choice(objects), rng.choice(verbs)
            lines.append(f"To {verb} {thing}, run `{topic} {command}` and then check the result.")
        (folder / f"note-{index:03d}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def run(*args: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    """`charcomplete ARGS...` in a subprocess, text captured."""
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=cli_env(), timeout=timeout, **kw)


def assert_one_clear_error(result: subprocess.CompletedProcess, fragment: str, *, only_line: bool = True) -> str:
    """Non-zero exit, no traceback, and one `charcomplete: ...` sentence holding `fragment`; returns it."""
    assert result.returncode not in (0, None), (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("charcomplete: ")]
    if only_line:
        assert len(lines) == 1, result.stderr
    assert len(errors) == 1, result.stderr
    assert fragment in errors[0], errors[0]
    return errors[0]


def assert_cli_error(args: list[str], fragment: str) -> None:
    """In-process (fast): the command raises a CharcompleteError, which main() prints as one line."""
    from typer.testing import CliRunner

    from charcomplete.cli import app
    from charcomplete.core.errors import CharcompleteError

    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, CharcompleteError), (args, result.output, result.exception)
    message = str(result.exception)
    assert fragment in message and "\n" not in message, message


# ------------------------------------------------------------ the shell server and terminals


def start_server(*extra: str, model: str = "chain") -> subprocess.Popen:
    process = subprocess.Popen([*CLI, "serve", "--model", model, "--no-learner", *extra], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env())
    deadline = time.monotonic() + 60
    while serve.request({"status": True}) is None:
        if process.poll() is not None:
            raise AssertionError(f"the server exited: {process.stderr.read().decode()}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("the server did not start")
        time.sleep(0.05)
    return process


def stop(process: subprocess.Popen) -> str:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    return process.stderr.read().decode()


class Tmux:
    def __init__(self, folder: Path):
        self.socket = str(folder / "tmux.sock")
        self.env = cli_env()

    def run(self, *args: str) -> str:
        return subprocess.run(["tmux", "-S", self.socket, *args], capture_output=True, text=True, env=self.env,
                              timeout=30, check=True).stdout

    def start(self, command: str) -> None:
        self.run("new-session", "-d", "-x", "120", "-y", "20", command)

    def keys(self, *keys: str) -> None:
        self.run("send-keys", *keys)

    def screen(self) -> str:
        return self.run("capture-pane", "-p")

    def wait_for(self, condition, what: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if condition(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; the screen:\n{screen}")
            time.sleep(0.1)

    def close(self) -> None:
        subprocess.run(["tmux", "-S", self.socket, "kill-server"], capture_output=True, timeout=30)


def last_line(screen: str) -> str:
    lines = screen.rstrip().splitlines()
    return lines[-1] if lines else ""


def remembering_tiny_model() -> str:
    """A tiny GRU of random weights, saved as "tiny", with a memory of two short lines."""
    from charcomplete.model import memory
    from charcomplete.storage import store

    config = ModelConfig(cell="gru", embed=8, hidden=24)
    name = save_weights("tiny", config, random_weights(config, seed=1, scale=0.3, radius=0.9))
    memory.write(store.model_folder(name), b"a line the model remembers\x02another line it keeps")
    return name
