"""Shared fixtures. Every test runs with its own CHARCOMPLETE_HOME, so no test ever
touches the real user directories."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from charcomplete.paths import HOME_ENV


def pytest_configure(config) -> None:
    # One thread per test process: on a busy 2-core machine, two OpenMP threads
    # fighting other processes run many times slower than one.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")


@pytest.fixture(autouse=True)
def charcomplete_home(tmp_path_factory, monkeypatch) -> Path:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv(HOME_ENV, str(home))
    return home


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
