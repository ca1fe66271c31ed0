"""`charcomplete serve` over its real Unix socket, and the `init` snippets."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import time

import pytest

from charcomplete.model.engine import Engine
from charcomplete.shell import server as serve
from charcomplete.storage import store
from tests.helpers import CHAIN, CLI, LINE_CHAIN, chain_weights, cli_env, save_weights, start_server, stop


@pytest.fixture
def chain_model() -> str:
    config, weights = chain_weights(CHAIN)
    return save_weights("chain", config, weights)


@pytest.fixture
def server(chain_model):
    process = start_server()
    yield process
    stop(process)


def test_answers_the_lines_protocol_over_a_private_socket(server):
    path = serve.socket_path()
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert stat.S_IMODE(os.lstat(path).st_mode) == 0o600 and stat.S_ISSOCK(os.lstat(path).st_mode)
    answer = serve.request({"text": "the qu", "id": 7})
    assert answer["id"] == 7 and answer["completion"] == "ick "
    assert "error" in serve.request({"text": 3})
    # Several requests on one connection, and a malformed line in between.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.connect(str(path))
        connection.sendall(b'{"text": "qu"}\nnot json\n{"text": "the qu"}\n')
        reader = connection.makefile("rb")
        lines = [reader.readline() for _ in range(3)]
    assert [b"completion" in lines[0], b"error" in lines[1], b"ick " in lines[2]] == [True, True, True]


def test_a_shells_suggestion_never_runs_past_the_line():
    # A line end typed into a shell runs the command: the server's suggestions end with the line.
    save_weights("lines", *chain_weights(LINE_CHAIN))
    process = start_server(model="lines")
    try:
        assert serve.request({"text": "o"})["completion"] == "k;"
        assert serve.request({"text": "ok;"})["completion"] == ""
    finally:
        stop(process)


def test_a_second_start_finds_the_first(server):
    second = subprocess.run([*CLI, "serve", "--model", "chain", "--no-learner"], capture_output=True, env=cli_env(),
                            timeout=60)
    assert second.returncode == 0 and b"already running" in second.stderr
    assert serve.request({"status": True})["pid"] == server.pid  # the first one still serves


def test_a_stale_socket_file_is_replaced(chain_model):
    path = serve.socket_path()
    serve.private_runtime_dir()
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))  # a server that died without cleaning up leaves this behind
    dead.close()
    assert serve.request({"status": True}) is None
    process = start_server()
    try:
        assert serve.request({"text": "the qu"})["completion"] == "ick "
    finally:
        stop(process)
    assert not path.exists()  # removed at exit


def test_exits_when_idle_and_removes_its_socket(chain_model):
    process = start_server("--idle-exit", "1")
    assert process.wait(timeout=30) == 0
    assert not serve.socket_path().exists()


def test_another_users_folder_is_never_used(chain_model, tmp_path):
    if os.getuid() != 0:
        pytest.skip("needs root to make a folder that belongs to another user")
    folder = serve.runtime_dir()
    folder.mkdir(parents=True, mode=0o700)
    os.chown(folder, 12345, 12345)
    result = subprocess.run([*CLI, "serve", "--model", "chain", "--no-learner"], capture_output=True, env=cli_env(),
                            timeout=60)
    assert result.returncode == 1 and b"not a folder of yours" in result.stderr
    assert b"Traceback" not in result.stderr
    assert serve.request({"status": True}) is None  # the client will not talk into it either
    assert os.listdir(folder) == []


def test_learned_commands_are_suggested_by_the_next_server(chain_model):
    store.update_settings(exclude=["*token*"])
    process = start_server()
    try:
        assert serve.request({"learn": "echo zygo-marker"}) == {"learned": True}
        assert serve.request({"learn": " echo zygo-secret"})["learned"] is False  # leading space: private
        assert serve.request({"learn": "export token=zygo-1"})["reason"] == "excluded"
    finally:
        stop(process)
    history = (store.locations().cache / serve.HISTORY_NAME).read_text()
    assert history == "echo zygo-marker\n"
    assert stat.S_IMODE(os.stat(store.locations().cache / serve.HISTORY_NAME).st_mode) == 0o600
    process = start_server()
    try:
        assert serve.request({"text": "echo zy"})["completion"].startswith("go")  # the model alone: any byte
    finally:
        stop(process)


def test_a_suggestion_typed_over_after_a_pause_is_declined(chain_model):
    # zsh asks at every key; a suggestion the user had time to read (READ_S) and typed over
    # rather than took is declined: the next answer never holds all of its rest (suggest/declined.py).
    from charcomplete.suggest.completer import READ_S

    process = start_server()
    try:
        assert serve.request({"learn": "echo zygo-marker"}) == {"learned": True}
        offer = serve.request({"text": "echo z"})["completion"]
        assert offer.startswith("yg") and len(offer) > 2, offer
        assert serve.request({"text": "echo zy"})["completion"].startswith(offer[1:])  # typed on at once: kept
        serve.request({"text": "echo z"})  # a backspace
        time.sleep(READ_S + 0.1)
        after = serve.request({"text": "echo zy"})["completion"]
        assert not after.startswith(offer[1:]), after
    finally:
        stop(process)


def test_what_is_typed_at_the_prompt_is_not_learned_until_it_runs(chain_model):
    # A command being typed (here a private one, with a leading space) is asked about at every
    # key; only a command that ran and passed the checks (`learn`) may be learned. Asking must
    # not teach the server the command, through its cache or its online weights.
    process = start_server()
    try:
        typed = " echo qwvx-private-words"
        for cut in range(2, len(typed) + 1):
            serve.request({"text": typed[:cut]})
        completion = serve.request({"text": "echo qw"})["completion"]
    finally:
        stop(process)
    assert not completion.startswith("vx"), completion


def test_the_shell_model_is_made_from_the_builtin_one(charcomplete_home):
    process = start_server(model="shell")
    try:
        assert serve.request({"status": True})["model"].startswith("shell")
    finally:
        stop(process)
    meta, _, builtin = store.load_meta("shell")
    assert not builtin and meta["parent"] == "default (built-in)"
    assert Engine.load("shell").config == Engine.load("default").config


def test_a_missing_model_is_one_sentence(charcomplete_home):
    result = subprocess.run([*CLI, "serve", "--model", "nope"], capture_output=True, env=cli_env(), timeout=60)
    assert result.returncode == 1 and result.stderr.decode().count("\n") == 1


def test_ask_starts_a_server_when_none_runs(chain_model):
    # `init bash|fish` bind a key to `serve --ask`: the first press starts the (detached) server.
    result = subprocess.run([*CLI, "serve", "--ask", "the qu"], capture_output=True, env=cli_env(), timeout=60)
    try:
        assert result.returncode == 0
        status = serve.request({"status": True})
        assert status is not None and status["model"].startswith("shell")
    finally:
        status = serve.request({"status": True})
        if status is not None:
            os.kill(status["pid"], signal.SIGTERM)


@pytest.mark.parametrize("shell", ["zsh", "bash", "fish"])
def test_init_prints_a_snippet_that_parses(shell):
    result = subprocess.run([*CLI, "init", shell], capture_output=True, text=True, env=cli_env(), timeout=60)
    assert result.returncode == 0
    assert str(serve.socket_path()) in result.stdout or shell != "zsh"
    if shell == "zsh":
        assert "_zsh_autosuggest_strategy_charcomplete" in result.stdout
    program = shutil.which(shell)
    if program is None:
        pytest.skip(f"{shell} is not installed")
    check = [program, "-n"] if shell != "fish" else [program, "--no-execute"]
    parsed = subprocess.run(check, input=result.stdout, capture_output=True, text=True, timeout=30)
    assert parsed.returncode == 0, parsed.stderr


def test_init_refuses_an_unknown_shell():
    result = subprocess.run([*CLI, "init", "tcsh"], capture_output=True, text=True, env=cli_env(), timeout=60)
    assert result.returncode == 1 and "zsh, bash, fish" in result.stderr


def test_the_bash_key_binding_inserts_the_suggestion_at_the_cursor(server):
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    init = " ".join(CLI) + " init bash"
    script = (f'eval "$({init})" 2>/dev/null; READLINE_LINE="echo the qu tail"; READLINE_POINT=11; '
              '_charcomplete_insert; printf "%s|%s" "$READLINE_LINE" "$READLINE_POINT"')
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=cli_env(), timeout=60)
    assert result.stdout == "echo the quick  tail|15", result


def test_a_server_stopped_with_online_steps_queued_exits_cleanly(charcomplete_home):
    # A burst of commands queues the online weights' steps (the built-in model's size: tens of ms
    # each); a SIGTERM then ended the process with SIGABRT ("terminate called without an active
    # exception": a torch step still running on its daemon thread as the interpreter tore down).
    process = start_server(model="shell")
    try:
        for number in range(40):
            # (a long timeout: on a loaded machine a learn behind queued steps took over the 2 s default)
            answer = serve.request({"learn": f"git commit -m 'change number {number} of the series'"}, timeout=30)
            assert answer is not None and answer["learned"]
    finally:
        stderr = stop(process)
    assert process.returncode == 0, stderr[-300:]


_SERVE_ONLINE = textwrap.dedent("""
    import json, sys, time
    from charcomplete.shell.server import ServeSettings, Suggestions

    suggestions = Suggestions(ServeSettings(model="chain"))  # the learner on, as `serve` runs by default
    for number in range(6):
        suggestions.answer(json.dumps({"learn": f"git commit -m 'change {number} of a series'"}).encode())
    online = suggestions.session.online
    answered = lambda: online.adapter._answer is not None and online.adapter._answer.seq >= 4
    deadline = time.monotonic() + 90
    while not answered() and time.monotonic() < deadline:
        time.sleep(0.05)
    print("torch" in sys.modules, type(online.adapter).__name__, answered(), sep="|")
    suggestions.close()
""")


def test_with_a_learner_the_servers_online_steps_run_in_the_learner_and_torch_stays_out(chain_model):
    # Torch stepping in the server's own process held the interpreter's lock between a step's
    # operations, and the shell's calls waited on it (zsh p99 up to 13 ms): with a learner, the
    # steps run in its process, as the editor's do (tests/suggest/test_session.py: the same figures).
    result = subprocess.run([sys.executable, "-c", _SERVE_ONLINE], capture_output=True, text=True,
                            env=cli_env(), timeout=150)
    assert result.returncode == 0, result.stderr[-3000:]
    torch_loaded, adapter, answered = result.stdout.strip().splitlines()[-1].split("|")
    assert (torch_loaded, adapter, answered) == ("False", "RemoteAdapter", "True")
