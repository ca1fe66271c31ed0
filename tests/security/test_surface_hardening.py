"""Issue 25's attack run on the surfaces, the low and save-backup findings pinned: the save
backup nobody else can read or plant (2), no control character in a suggestion (6), LSP
requests after `shutdown` (7), logs without document text, capped and forgotten (8), a
bounded `serve` (10). Item 9 (meta.json's format_version) is a case of
tests/security/test_hostile_models.py."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from charcomplete.editor import read_document
from charcomplete.shell import server as serve
from charcomplete.storage.documents import backup_path, write_document
from tests.helpers import CLI, cli_env, start_server, stop
from tests.lsp.test_lsp import LSP, _answer_to, _frame, inline_params, open_doc, start_client

# --- item 7: requests after `shutdown` --------------------------------------------------------


async def test_requests_after_shutdown_are_answered_invalid_request(sentence_model):
    """The spec: after `shutdown`, a request other than `exit` gets InvalidRequest (-32600). The
    client used to wait forever; the test waits 20 s."""
    client, _ = await start_client()
    try:
        open_doc(client, "file:///notes/a.md", "the quick brown fox ju")
        await client.shutdown_async(None)
        for ask in (lambda: client.text_document_inline_completion_async(inline_params("file:///notes/a.md", 0, 22)),
                    lambda: client.workspace_execute_command_async(types.ExecuteCommandParams("charcomplete.status"))):
            with pytest.raises(JsonRpcException) as refused:
                await asyncio.wait_for(ask(), timeout=20)
            assert refused.value.code == -32600, refused.value
        client.exit(None)
        assert await asyncio.wait_for(client._server.wait(), timeout=30) == 0  # exit after shutdown: 0
    finally:
        if client._server.returncode is None:
            client._server.kill()  # never answered: stop() would wait for it
        await client.stop()


def test_a_malformed_request_after_shutdown_is_invalid_request_too(sentence_model):
    process = subprocess.Popen(LSP, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               env=cli_env())
    send = lambda message: (process.stdin.write(_frame(message)), process.stdin.flush())  # noqa: E731
    try:
        send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}})
        _answer_to(process, 1)
        send({"jsonrpc": "2.0", "id": 2, "method": "shutdown"})
        assert _answer_to(process, 2)["result"] is None
        send({"jsonrpc": "2.0", "id": 3, "method": "textDocument/inlineCompletion",
              "params": {"textDocument": {"uri": "file:///a.md"}, "position": {"line": 0, "character": "x"}}})
        assert _answer_to(process, 3)["error"]["code"] == -32600
        send({"jsonrpc": "2.0", "method": "exit"})
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# --- item 6: no control character in a suggestion ---------------------------------------------

CONTROLS = [chr(code) for code in [*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F, *range(0x80, 0xA0)]]


@pytest.mark.parametrize("control", ["\u009b", "\u009d", "\x1b", "\x7f", "\u0085"], ids=["CSI", "OSC", "ESC", "DEL",
                                                                                          "NEL"])
def test_serve_never_suggests_a_control_character(charcomplete_home, control):
    """The issue's run: after two `learn`s of a line holding a control character, `serve --ask`
    asked for that line's start must stop before it (bash writes a suggestion raw to the
    terminal: a C1 CSI or OSC there is a terminal escape)."""
    line = f"printf zq{control}2J{control}0;owned done"
    process = start_server(model="shell")
    try:
        for _ in range(2):
            assert serve.request({"learn": line}) == {"learned": True}
        for asked in ("printf z", "printf zq"):
            answer = serve.request({"text": asked})
            completion = answer.get("completion", "")
            assert not any(char in CONTROLS for char in completion), (asked, completion)
        # ...and the same through the pipe, each alternative included
        answer = serve.request({"text": "printf z", "alternatives": 4})
    finally:
        stop(process)
    shown = [answer.get("completion", ""), *(option["completion"] for option in answer.get("alternatives", []))]
    assert not any(char in CONTROLS for text in shown for char in text), shown


def test_the_cut_keeps_printable_latin1_and_tabs():
    from charcomplete.suggest.decoder import printable_length

    for text in ("© 2026\u00a0€\tx", "naïve ß", ""):
        assert printable_length(text.encode()) == len(text.encode())
    assert printable_length("ab\u009bc".encode()) == 2 and printable_length(b"ab\x1bc") == 2


# --- item 2: the save backup --------------------------------------------------------------------

OTHER_USER = "ccattacker25"


def beside(path: Path) -> Path:
    """Where the in-place save used to put its backup, in the document's own folder."""
    return path.with_name(f".{path.name}.charcomplete-backup")


def in_place_document(folder: Path, text: str) -> Path:
    """A 0600 document with a second hard link: a save keeps its inode and writes it in place."""
    path = folder / "doc.txt"
    path.write_text(text)
    path.chmod(0o600)
    os.link(path, folder / "other-name.txt")
    return path


def other_user() -> str:
    if os.geteuid() != 0:
        pytest.skip("needs root to create a second user (useradd) who plants files in a shared folder")
    if shutil.which("useradd") is None:
        pytest.skip("useradd is not installed: no second user to plant files")
    if subprocess.run(["id", "-u", OTHER_USER], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", OTHER_USER], check=True,
                       timeout=30)
    return OTHER_USER


@pytest.fixture
def shared_folder():
    """A folder everyone may write (not sticky), outside the test's own 0700 tmp_path."""
    folder = Path(tempfile.mkdtemp(prefix="cc-shared-"))
    folder.chmod(0o777)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


# The other user's side, in sh (the test's Python may live where that user cannot run it): create
# the backup's name 0666, keep it open, and after the owner's save read what is in it.
PLANTER = 'umask 0; exec 3<>"$1"; echo planted; read go; cat <&3; echo; echo end'


def test_another_user_cannot_read_a_private_document_through_the_backup(charcomplete_home, shared_folder):
    """The issue's run: another user pre-creates the backup's name (0666) in a shared folder and
    keeps it open; the owner saves a 0600 document in place; the planted file must not receive
    the old text (it did: the backup was opened with O_CREAT|O_TRUNC, never checked)."""
    user = other_user()
    path = in_place_document(shared_folder, "the private plan\n")
    planter = subprocess.Popen(["sh", "-c", PLANTER, "sh", str(beside(path))], user=user, cwd="/",
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert planter.stdout.readline().strip() == "planted"
        write_document(path, "the new plan\n")
        planter.stdin.write("go\n")
        planter.stdin.flush()
        seen = planter.communicate(timeout=20)[0]
    finally:
        planter.kill()
        planter.wait()
    assert "private plan" not in seen, seen
    assert path.read_text() == "the new plan\n" and (shared_folder / "other-name.txt").read_text() == "the new plan\n"
    assert not backup_path(path).exists()


def test_a_backup_another_user_plants_is_never_offered(charcomplete_home, shared_folder):
    """Beside the document or (were it reachable) in the state folder, a file of another user is not an
    interrupted save's backup: `edit` opens the document as it is."""
    user = other_user()
    path = in_place_document(shared_folder, "the real text\n")
    for planted in (beside(path), backup_path(path)):
        planted.parent.mkdir(parents=True, exist_ok=True)
        planted.write_text("the attacker's text\n")
        os.chown(planted, int(subprocess.run(["id", "-u", user], capture_output=True, text=True).stdout), -1)
        assert read_document(path) == "the real text\n"
        planted.unlink()


def test_a_planted_backup_beside_the_document_is_not_offered_as_its_previous_contents(tmp_path):
    path = in_place_document(tmp_path, "the real text\n")
    beside(path).write_text("the attacker's text, offered as the file's previous contents\n")
    assert read_document(path) == "the real text\n"  # it used to refuse to open, pointing at that file
    write_document(path, "saved\n")
    assert path.read_text() == "saved\n"
    assert beside(path).read_text().startswith("the attacker's text")  # left as it was: not ours


def test_a_fifo_where_the_backup_used_to_go_never_blocks_a_save(tmp_path):
    """A FIFO planted at the backup's old name froze Ctrl+S until someone read from it. The save
    runs in a child process so that a hang fails the test instead of freezing it."""
    path = in_place_document(tmp_path, "old text\n")
    os.mkfifo(beside(path), 0o666)
    code = ("import sys; from charcomplete.storage.documents import write_document; "
            "write_document(sys.argv[1], 'new\\n')")
    try:
        result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=20,
                                env=cli_env())
    except subprocess.TimeoutExpired:
        pytest.fail("the save blocked on the FIFO")
    assert result.returncode == 0, result.stderr
    assert path.read_text() == "new\n"


def test_the_backup_is_private_and_made_exclusively(tmp_path, monkeypatch):
    """While the document is written in place, its old text is in a 0600 file of ours in a 0700
    folder; one left there by an interrupted save is never overwritten: the save is refused."""
    import stat

    import charcomplete.storage.documents as documents

    path = in_place_document(tmp_path, "old text\n")
    seen = []
    real_overwrite = documents._overwrite

    def watch(target, data):
        backup = backup_path(target)
        seen.append((stat.S_IMODE(os.lstat(backup).st_mode), stat.S_IMODE(os.lstat(backup.parent).st_mode),
                     backup.read_bytes(), tmp_path in backup.parents))
        real_overwrite(target, data)

    monkeypatch.setattr(documents, "_overwrite", watch)
    write_document(path, "new\n")
    assert seen == [(0o600, 0o700, b"old text\n", False)]
    backup_path(path).write_text("an interrupted save's old text\n")
    with pytest.raises(FileExistsError, match="interrupted save"):
        write_document(path, "newer\n")
    assert path.read_text() == "new\n" and backup_path(path).read_text() == "an interrupted save's old text\n"


# --- item 10: a bounded `serve` -----------------------------------------------------------------

MAX_CONNECTIONS = 32  # serve's _Server.max_connections
IDLE_CONNECTION_S = 10.0  # serve's _Handler.timeout


def threads_of(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("Threads:"))


def connect() -> socket.socket:
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.connect(str(serve.socket_path()))  # blocking: a full listen backlog is waited out
    connection.settimeout(IDLE_CONNECTION_S + 10)
    return connection


@pytest.fixture
def chain_server():
    from tests.helpers import CHAIN, chain_weights, save_weights

    save_weights("chain", *chain_weights(CHAIN))
    process = start_server()
    yield process
    stop(process)


def test_serve_caps_its_connections(chain_server):
    """Idle connections past the cap are told the server is busy and closed; their threads are
    never made; once they go, the server answers again."""
    before = threads_of(chain_server.pid)
    idle = [connect() for _ in range(MAX_CONNECTIONS + 20)]
    try:
        time.sleep(1.0)
        assert threads_of(chain_server.pid) <= before + MAX_CONNECTIONS, "a thread per connection, uncapped"
        extra = connect()
        extra.sendall(b'{"status": true}\n')
        answer = extra.makefile("rb").readline()
        extra.close()
        assert b"busy" in answer and b"pid" not in answer, answer
    finally:
        for connection in idle:
            connection.close()
    time.sleep(0.5)
    assert serve.request({"text": "the qu"})["completion"] == "ick "
    assert serve._Server.max_connections == MAX_CONNECTIONS and serve._Handler.timeout == IDLE_CONNECTION_S


def test_serve_closes_an_idle_connection(chain_server):
    connection = connect()
    started = time.monotonic()
    try:
        assert connection.recv(1) == b""  # closed by the server: it used to wait forever
    except TimeoutError:
        pytest.fail(f"an idle connection was still open after {IDLE_CONNECTION_S + 10:.0f} s")
    finally:
        connection.close()
    assert time.monotonic() - started >= IDLE_CONNECTION_S - 1


# --- item 8: logs without text, capped, forgotten ---------------------------------------------

LOG_CAP = 256 * 1024  # core.logs.LOG_MAX_BYTES


def test_lsp_log_holds_no_document_text_and_stays_capped(sentence_model, charcomplete_home):
    """Malformed messages whose values are the user's text: pygls logged each (params, and an
    exception message quoting the value) into lsp.log, 3-8 kB a message, without end."""
    process = subprocess.Popen(LSP, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               env=cli_env())
    send = lambda message: process.stdin.write(_frame(message))  # noqa: E731
    try:
        send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}})
        process.stdin.flush()
        _answer_to(process, 1)
        send({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {
            "uri": "file:///a.md", "languageId": "markdown", "version": 1, "text": "my diary: zorbling"}}})
        for index in range(300):
            send({"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
                "textDocument": {"uri": "file:///a.md", "version": f"diary secret {index}"},
                "contentChanges": [{"text": "the diary text zorbling"}]}})
            send({"jsonrpc": "2.0", "id": 1000 + index, "method": "textDocument/inlineCompletion", "params": {
                "textDocument": {"uri": "file:///a.md"}, "position": {"line": 0, "character": "zorbling diary"}}})
        send({"jsonrpc": "2.0", "id": 2, "method": "shutdown"})
        process.stdin.flush()
        _answer_to(process, 2)
        send({"jsonrpc": "2.0", "method": "exit"})
        process.stdin.flush()
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    log = (charcomplete_home / "state" / "lsp.log").read_bytes()
    assert log, "the malformed messages were logged"
    assert b"zorbling" not in log and b"diary" not in log
    assert len(log) <= LOG_CAP, len(log)


CRASHER = """
import os, sys, threading
from charcomplete.core.logs import open_log, stderr_to_capped_log
os.dup2(open_log(sys.argv[1]), 2)
stderr_to_capped_log(2)
for index in range(20000):
    print(f"progress line {index:06d} of the run", file=sys.stderr)
def fail():
    int("zorbling diary text")
thread = threading.Thread(target=fail, name="worker")
thread.start()
thread.join()
raise ValueError("zorbling diary text")
"""


def test_a_process_logging_to_stderr_keeps_its_log_capped_and_tracebacks_without_text(tmp_path):
    """`serve --detach` and the learner write their log as stderr: it stays under the cap however
    long they run, and an uncaught exception leaves its frames but not its message."""
    log = tmp_path / "serve.log"
    result = subprocess.run([sys.executable, "-c", CRASHER, str(log)], env=cli_env(), timeout=60)
    assert result.returncode == 1
    text = log.read_text()
    assert len(text.encode()) <= LOG_CAP
    assert "progress line 019999" in text and "progress line 000000" not in text  # the last part is kept
    assert "earlier lines dropped" in text
    assert "zorbling" not in text and "diary" not in text
    assert "ValueError" in text and "in fail" in text  # where it failed is still there
    assert oct(log.stat().st_mode & 0o777) == "0o600"


def test_forget_all_removes_every_log(charcomplete_home):
    state = charcomplete_home / "state"
    state.mkdir(parents=True, exist_ok=True)
    logs = [state / name for name in ("lsp.log", "serve.log", "learner.log")]
    for log in logs:
        log.write_text("a line of the log\n")
    result = subprocess.run([*CLI, "forget", "--all", "--yes"], capture_output=True, text=True, env=cli_env(),
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert [log.name for log in logs if log.exists()] == []


def test_forget_all_removes_the_online_weights_a_killed_learner_left(charcomplete_home):
    # Issue 23: the editor's online weights are handed over in a file; a learner killed before it
    # could remove it leaves what it learned from the typing there, until `forget --all`.
    state = charcomplete_home / "state"
    state.mkdir(parents=True, exist_ok=True)
    left = state / "online-weights-4242.npz"
    left.write_bytes(b"weights learned from the typing")
    result = subprocess.run([*CLI, "forget", "--all", "--yes"], capture_output=True, text=True, env=cli_env(),
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert not left.exists()
    assert "online weights" in result.stdout
