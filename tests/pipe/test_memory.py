"""The pipe suggests through the model's memory (issue 26: a phrase of the user's notes, here
循环神经网络, is suggested from `complete` as in the editor)."""

from __future__ import annotations

import subprocess

from charcomplete.core.config import ModelConfig
from charcomplete.model import memory
from charcomplete.storage import store
from tests.helpers import CLI, cli_env, random_weights, save_weights

NOTES = "今天我们讨论循环神经网络的训练。循环神经网络按字符预测下一个字符。训练循环神经网络时，梯度可能消失。\n" * 3


def complete(model: str, text: str, *extra: str) -> str:
    result = subprocess.run([*CLI, "complete", "-m", model, *extra], input=text.encode(), capture_output=True,
                            env=cli_env(), timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.decode()


def test_the_pipe_suggests_a_phrase_from_the_models_memory():
    config = ModelConfig(cell="gru", embed=8, hidden=24)
    name = save_weights("zh-notes", config, random_weights(config, seed=1, scale=0.3, radius=0.9))
    assert complete(name, "我们讨论循环神经").strip() == ""  # the weights alone know nothing of it
    memory.write(store.model_folder(name), NOTES.encode())
    assert complete(name, "我们讨论循环神经").startswith("网")
    answer = complete(name, '{"text": "我们讨论循环神经"}\n', "--lines")
    assert '"completion": "\\u7f51' in answer
