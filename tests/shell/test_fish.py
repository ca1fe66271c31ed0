"""The fish snippet in a real fish inside tmux: Ctrl-Space inserts the suggestion at the cursor."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.helpers import CHAIN, CLI, Tmux, chain_weights, cli_env, last_line, save_weights, start_server, stop


@pytest.mark.skipif(shutil.which("fish") is None or shutil.which("tmux") is None, reason="needs fish and tmux")
def test_fish_ctrl_space_inserts_the_suggestion(tmp_path, charcomplete_home):
    config, weights = chain_weights(CHAIN)
    save_weights("chain", config, weights)
    folder = tmp_path / "config" / "fish"
    folder.mkdir(parents=True)
    init = subprocess.run([*CLI, "init", "fish"], capture_output=True, text=True, env=cli_env(), timeout=60, check=True)
    (folder / "config.fish").write_text(init.stdout)
    server = start_server(model="chain")
    tmux = Tmux(tmp_path)
    tmux.env.update(XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_DATA_HOME=str(tmp_path / "data"), TERM="xterm")
    try:
        setup = "source $XDG_CONFIG_HOME/fish/config.fish; function fish_prompt; echo '> '; end"
        tmux.start(f"fish --no-config -C \"{setup}\"")
        tmux.wait_for(lambda s: last_line(s).startswith(">"), "the fish prompt")
        tmux.keys("-l", "echo the qu")
        tmux.keys("C-Space")
        tmux.wait_for(lambda s: last_line(s).startswith("> echo the quick"), "the inserted suggestion", timeout=30)
        assert int(tmux.run("display", "-p", "#{cursor_x}")) >= len("> echo the quick ")  # inserted, not ghost text
    finally:
        tmux.close()
        stop(server)
