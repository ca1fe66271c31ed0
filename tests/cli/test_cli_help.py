"""The conventions of the command line: --version, -h, and help that reads as words."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.helpers import CLI, cli_env

COMMANDS = ["train", "eval", "compare", "edit", "forget", "paths", "models", "models info", "models rm", "models use"]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=cli_env(), timeout=120)


def test_version():
    from importlib.metadata import version

    result = run("--version")
    assert result.returncode == 0 and result.stdout == f"charcomplete {version('charcomplete')}\n"


@pytest.mark.parametrize("command", ["", *COMMANDS, "complete"])
def test_dash_h_is_help(command):
    short, long = run(*command.split(), "-h"), run(*command.split(), "--help")
    assert short.returncode == 0 and short.stdout == long.stdout
    prefix = f"Usage: charcomplete {command}".rstrip() + " "
    assert short.stdout.replace("python -m charcomplete", "charcomplete").startswith(prefix), short.stdout
    assert "-h, --help  " in short.stdout


def test_help_names_values_with_words_not_code():
    for command in COMMANDS:
        text = run(*command.split(), "--help").stdout
        assert not re.search(r"<[a-z][\w\[\] ]*>|\{\w+\}", text), (command, text)  # <list[str]>, {paths}
    train = run("train", "--help").stdout.replace("python -m charcomplete", "charcomplete")
    assert "Usage: charcomplete train [OPTIONS] PATH..." in train
    assert "-m, --model NAME" in train and "--minutes MINUTES" in train and "--exclude GLOB" in train
    assert "--from NAME" in train and "--hidden N" in train
    assert "charcomplete edit [OPTIONS] [FILE]" in run("edit", "--help").stdout


def test_complete_help_reads_like_the_other_commands_help():
    text = run("complete", "--help").stdout
    lines = text.splitlines()
    assert lines[0] == "Usage: charcomplete complete [OPTIONS]" and lines[1] == ""
    assert lines[2].startswith("  Print the most likely continuation")
    assert "\nOptions:\n" in text
    assert "  -m, --model NAME" in text and "  -k, --alternatives K" in text and "  --max-chars N" in text
    assert "  -h, --help" in text and "Show this message and exit." in text
    assert not re.search(r"\b[A-Z]+_[A-Z_]+\b", text)  # no MAX_CHARS-style placeholders
