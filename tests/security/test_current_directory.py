"""Issue 25, item 1: a `charcomplete/` folder in the current directory never runs. The shell
snippets, the server started in the background and the editor's learner all start the
installed package, whatever the directory the user (or their editor) is in holds."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from charcomplete.learn.learner import Learner, LearnerSettings
from charcomplete.shell import server as serve
from tests.helpers import CLI, cli_env

PLANTED = 'open({marker!r}, "a").write("ran")\nraise SystemExit(3)\n'


@pytest.fixture
def hostile_directory(tmp_path) -> tuple[Path, Path]:
    """A directory whose `charcomplete/` package writes a marker file when it is imported."""
    folder, marker = tmp_path / "project", tmp_path / "PWNED"
    (folder / "charcomplete").mkdir(parents=True)
    for name in ("__init__.py", "__main__.py", "learner_child.py"):
        (folder / "charcomplete" / name).write_text(PLANTED.format(marker=str(marker)), encoding="utf-8")
    return folder, marker


def _stop_any_server() -> None:
    status = serve.request({"status": True})
    if status is not None:
        os.kill(status["pid"], signal.SIGTERM)


def test_the_bash_snippet_and_the_server_it_starts_run_the_installed_package(hostile_directory, sentence_model):
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    folder, marker = hostile_directory
    init = subprocess.run([*CLI, "init", "bash"], capture_output=True, text=True, env=cli_env(), timeout=60,
                          check=True).stdout
    # What Ctrl-Space runs, from inside the hostile directory: no server yet, so it starts one.
    script = (f'eval "$(cat)" 2>/dev/null; READLINE_LINE="the qu"; READLINE_POINT=6; cd {str(folder)!r}; '
              '_charcomplete_insert; printf "%s" "$READLINE_LINE"')
    try:
        result = subprocess.run(["bash", "-c", script], input=init, capture_output=True, text=True,
                                env=cli_env(), timeout=90)
        assert result.returncode == 0, result.stderr
        deadline = time.monotonic() + 30
        while serve.request({"status": True}) is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert serve.request({"status": True}) is not None, "the installed server did not start"
    finally:
        _stop_any_server()
    assert not marker.exists(), "code from the current directory ran"


def test_the_editors_learner_runs_the_installed_package(hostile_directory, sentence_model, monkeypatch):
    folder, marker = hostile_directory
    monkeypatch.chdir(folder)
    learner = Learner(sentence_model, LearnerSettings(publish_every_s=1e9, batch=4, seq_len=16)).start()
    learner.send_text("the quick brown fox\n" * 20)
    try:
        deadline = time.monotonic() + 60
        while not learner.ready and learner.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert learner.ready, learner.exit_description()
    finally:
        if learner.is_alive():
            learner.process.kill()
    assert not marker.exists(), "code from the current directory ran"
