"""The zsh snippet in a real zsh with the zsh-autosuggestions plugin, inside tmux: a typed
prefix shows the model's completion as the autosuggestion, and a command run is learned
(a later server suggests it)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from charcomplete.shell import server as serve
from tests.helpers import CHAIN, CLI, Tmux, chain_weights, cli_env, last_line, save_weights, start_server, stop

PLUGINS = [Path("/usr/share/zsh-autosuggestions/zsh-autosuggestions.zsh"),
           Path("/usr/share/zsh/plugins/zsh-autosuggestions/zsh-autosuggestions.zsh")]
PLUGIN = next((p for p in PLUGINS if p.is_file()), None)
MISSING = [name for name, found in (("zsh", shutil.which("zsh")), ("tmux", shutil.which("tmux")),
                                    ("zsh-autosuggestions", PLUGIN)) if not found]
pytestmark = pytest.mark.skipif(
    bool(MISSING), reason=f"needs {', '.join(MISSING)} (Debian: apt-get install zsh zsh-autosuggestions tmux)"
)


def _wait_until(condition, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
    return value


def test_zsh_autosuggestion_and_learning(tmp_path, charcomplete_home):
    config, weights = chain_weights(CHAIN)
    save_weights("shell", config, weights)  # the shell model: "qu" goes on as "ick "; other bytes are a toss-up
    home = tmp_path / "zdotdir"
    home.mkdir()
    (home / ".zshrc").write_text(
        "PROMPT='$ '\n"
        f"source {PLUGIN}\n"
        "ZSH_AUTOSUGGEST_STRATEGY=(charcomplete)\n"  # not the plugin's history: it would know the command too
        f"eval \"$({' '.join(CLI)} init zsh --serve-arg=--no-learner)\"\n"
    )
    tmux = Tmux(tmp_path)
    tmux.env.update(ZDOTDIR=str(home), TERM="xterm-256color")
    tmux.start("zsh -i")
    try:
        tmux.wait_for(lambda s: s.rstrip().endswith("$"), "the prompt")
        # The first prompt started the server (detached); it needs a moment to load the model.
        _wait_until(lambda: serve.request({"status": True}), "the server the snippet starts")
        tmux.keys("-l", "echo the qu")
        tmux.wait_for(lambda s: last_line(s).startswith("$ echo the quick"), "the suggestion after echo the qu",
                      timeout=30)
        tmux.keys("C-u")
        tmux.keys("-l", "echo zygo-marker")
        tmux.keys("Enter")
        history = charcomplete_home / "cache" / serve.HISTORY_NAME
        _wait_until(lambda: history.is_file() and "echo zygo-marker\n" in history.read_text(), "the command learned")
        tmux.keys("-l", " echo zygo-private")
        tmux.keys("Enter")
        tmux.wait_for(lambda s: s.count("zygo-private") >= 2, "the private command's output")
        time.sleep(0.5)
        assert "private" not in history.read_text()  # a leading space keeps a command out
        # A new server session: it knows the command from the history alone.
        os.kill(serve.request({"status": True})["pid"], signal.SIGTERM)
        _wait_until(lambda: serve.request({"status": True}) is None, "the first server to stop")
        second = start_server(model="shell")
        try:
            tmux.keys("-l", "echo zy")
            tmux.wait_for(lambda s: last_line(s).startswith("$ echo zygo"), "the learned command suggested", timeout=30)
        finally:
            stop(second)
    finally:
        tmux.close()
        status = serve.request({"status": True})
        if status is not None:
            os.kill(status["pid"], signal.SIGTERM)



def test_with_the_server_down_the_strategy_suggests_and_prints_nothing(tmp_path, charcomplete_home):
    import socket

    serve.private_runtime_dir()
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(serve.socket_path()))  # a dead server's socket file: connecting to it fails
    stale.close()
    init = " ".join(CLI) + " init zsh --serve-arg=--no-learner"
    script = (f'eval "$({init})"; _charcomplete_precmd() {{ }}; '  # and no server is started
              '_zsh_autosuggest_strategy_charcomplete "git comm"; _charcomplete_preexec "git commit"; '
              'print -r -- "[$suggestion]"')
    result = subprocess.run(["zsh", "-f", "-c", script], capture_output=True, text=True, env=cli_env(), timeout=60)
    assert (result.returncode, result.stdout, result.stderr) == (0, "[]\n", "")
    assert serve.request({"status": True}) is None


def test_end_accepts_in_a_bare_zsh(tmp_path, charcomplete_home):
    # Issue 26: in `zsh -f` (no distribution zshrc binding the keys) End inserted "~" although
    # README says End accepts; the snippet binds End where nothing else does.
    config, weights = chain_weights(CHAIN)
    save_weights("shell", config, weights)
    setup = tmp_path / "setup.zsh"
    setup.write_text(
        "PROMPT='$ '\n"
        f"source {PLUGIN}\n"
        "ZSH_AUTOSUGGEST_STRATEGY=(charcomplete)\n"
        f"eval \"$({' '.join(CLI)} init zsh --serve-arg=--no-learner)\"\n"
    )
    tmux = Tmux(tmp_path)
    tmux.env.update(TERM="xterm-256color")
    tmux.start("zsh -f")
    try:
        tmux.wait_for(lambda s: s.strip(), "the bare prompt")
        tmux.keys("-l", f"source {setup}")
        tmux.keys("Enter")
        tmux.wait_for(lambda s: last_line(s).rstrip() == "$", "the prompt the setup sets")
        _wait_until(lambda: serve.request({"status": True}), "the server the snippet starts")
        tmux.keys("-l", "echo the qu")
        tmux.wait_for(lambda s: last_line(s).startswith("$ echo the quick"), "the suggestion", timeout=30)
        tmux.keys("End")
        tmux.keys("Enter")
        tmux.wait_for(lambda s: "\nthe quick" in s, "the accepted command's output")
        assert "~" not in tmux.screen()
    finally:
        tmux.close()
        status = serve.request({"status": True})
        if status is not None:
            os.kill(status["pid"], signal.SIGTERM)
