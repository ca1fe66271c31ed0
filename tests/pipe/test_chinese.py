"""The pipe in Chinese (issue 26, item 6): `printf '今天我们讨论循环神经' | charcomplete complete`
printed nothing, one sure character never being worth a Tab. A GRU trained for real (torch, a
few seconds) on a small Chinese text answers through the real command."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys

import numpy as np
import pytest

from charcomplete.core.config import ModelConfig
from tests.helpers import save_weights, trained_weights

CLI = [sys.executable, "-m", "charcomplete", "complete"]
CONFIG = ModelConfig(cell="gru", embed=8, hidden=32, layers=1)


@pytest.fixture(scope="module")
def chinese_weights() -> dict[str, np.ndarray]:
    """After "循环神经" always "网", then one of six characters at random: too many sentences to
    learn by heart, so the model learns the odds (about 1 in 6 for each)."""
    rng = random.Random(0)
    text = "\0" + "".join(f"循环神经网{rng.choice('络站页球关格')}。" for _ in range(4000))
    weights, _ = trained_weights(CONFIG, text.encode(), steps=100, lr=3e-2, batch=16, seq_len=32)
    return weights


@pytest.fixture
def chinese_model(chinese_weights) -> str:
    return save_weights("zh-tiny", CONFIG, chinese_weights)


def complete(*args: str, text: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, "-m", "zh-tiny", *args], input=text.encode(), capture_output=True,
                          env=dict(os.environ), timeout=60)


def test_the_pipe_suggests_a_whole_chinese_character(chinese_model):
    result = complete(text="这是循环神经")
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode("utf-8") == "网\n"  # strict UTF-8: a broken character fails here
    answer = json.loads(complete("--json", text="这是循环神经").stdout)
    assert answer["completion"] == "网" and answer["probability"] > 0.9
    assert answer["saves"] == pytest.approx(answer["probability"], abs=1e-5)  # two keys saved, one Tab spent


def test_the_pipe_never_prints_a_broken_character(chinese_model):
    # After "网" six characters are about equally likely; after a character's first byte (the
    # prompt cut inside it) nothing decodable can be added. Whatever is printed is whole.
    for text in ("循环神经网", "循环神经网络。循环", "循环神", "。"):
        plain = complete(text=text)
        assert plain.returncode == 0, plain.stderr
        assert "\ufffd" not in plain.stdout.decode("utf-8")  # strict: a broken character fails here
        answer = json.loads(complete("--json", "-k", "4", text=text).stdout)
        for option in answer["alternatives"]:
            assert "\ufffd" not in option["completion"] and option["completion"].isprintable()
    cut = subprocess.run([*CLI, "-m", "zh-tiny"], input="循环神经".encode()[:-1], capture_output=True,
                         env=dict(os.environ), timeout=60)
    assert cut.returncode == 0 and cut.stdout == b"\n"
