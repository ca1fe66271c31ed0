"""`charcomplete serve`: a resident suggestion server for shells, on a Unix socket.

Shells ask for a suggestion on every keystroke; a process per keystroke costs 0.14-0.35 s
(python, numpy, the model), a connection to a resident server a fraction of a
millisecond. The server speaks the `complete --lines` protocol (a JSON request per
line, a JSON answer per line) and two requests of its own:

    {"learn": "git rebase -i HEAD~3"}   a command the user ran: counted and kept in the history
    {"status": true}                     what it serves, for `charcomplete serve --status`

Where: a folder only the user can enter (0700) in the user's runtime directory
($XDG_RUNTIME_DIR/charcomplete, else /tmp/charcomplete-UID; under CHARCOMPLETE_HOME when
that is set), holding the socket (0600) and a lock. The lock makes it one server per
user: a second `serve` finds it held and leaves. A folder or socket that belongs to
another user is never read, written or removed. A socket file left by a dead server is
replaced. The server exits after `idle_exit_s` without requests.

What it learns: the commands the shell snippet reports (never those starting with a
space, matching the settings' "exclude" globs, or those the shell's own ignore pattern
filtered) go into a history file (private, bounded) and into the cache that is mixed
with the model's prediction, so a command run once is suggested the next time; the
background learner (charcomplete.learn.learner) fine-tunes the `shell` model on that history.
The `shell` model is made from the built-in one the first time, so that shell commands
never bend the model the editor uses for prose."""

from __future__ import annotations

import json
import os
import socket
import socketserver
import stat
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from charcomplete.core.errors import CharcompleteError
from charcomplete.core.paths import HOME_ENV, locations, private_dir
from charcomplete.storage import jsonsafe

SOCKET_NAME = "serve.sock"
LOCK_NAME = "serve.lock"
LOG_NAME = "serve.log"
HISTORY_NAME = "shell-history"  # under the cache folder, so `charcomplete forget --all` removes it
SHELL_MODEL = "shell"
IDLE_EXIT_S = 30 * 60.0
MAX_LINE_BYTES = 1024 * 1024  # a request or command line; longer ones are refused
HISTORY_KEEP_BYTES = 256 * 1024  # the history file is cut back to its last 256 KiB...
HISTORY_MAX_BYTES = 1024 * 1024  # ...when it grows past 1 MiB
# Of the history read at start, this much goes through the mixer byte by byte (it learns how
# far to trust the history, about 0.15 ms a byte with the default model); the rest is counted only.
HISTORY_MIXER_BYTES = 4096
POLL_S = 0.25


# ---------------------------------------------------------------- where


def runtime_dir() -> Path:
    home = os.environ.get(HOME_ENV)
    if home:
        return Path(home).expanduser().absolute() / "run"
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.path.isdir(xdg):
        try:
            if os.stat(xdg).st_uid == os.getuid():
                return Path(xdg) / "charcomplete"
        except OSError:
            pass
    return Path(tempfile.gettempdir()) / f"charcomplete-{os.getuid()}"


def private_runtime_dir() -> Path:
    """The runtime folder, created 0700; refused when someone else owns it."""
    folder = runtime_dir()
    private_dir(folder)
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise CharcompleteError(f"{folder} is not a folder of yours; charcomplete will not use it")
    if info.st_mode & 0o077:
        os.chmod(folder, 0o700)
    return folder


def socket_path() -> Path:
    return runtime_dir() / SOCKET_NAME


# ---------------------------------------------------------------- the client side


def request(message: dict, timeout: float = 2.0, path: Path | None = None) -> dict | None:
    """Send one request to the running server; its answer, or None when no server answers."""
    path = path or socket_path()
    try:
        info = os.lstat(path.parent)
        if info.st_uid != os.getuid() or not stat.S_ISDIR(info.st_mode):
            return None  # someone else's folder: never talk to what is in it
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(timeout)
            connection.connect(str(path))
            connection.sendall(json.dumps(message).encode() + b"\n")
            reader = connection.makefile("rb")
            line = reader.readline(MAX_LINE_BYTES)
    except OSError:
        return None
    try:
        return jsonsafe.loads(line) if line else None
    except jsonsafe.JSONRefused:
        return None


def start_in_background(argv: list[str] | None = None) -> None:
    """Start a detached server (returns at once; a second one would leave by itself)."""
    import subprocess

    from charcomplete.core.selfrun import CHILD_CWD, python_module_command

    command = [*python_module_command(), "serve", *(argv or [])]
    subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True, close_fds=True, cwd=CHILD_CWD)


def ask(text: str, start: bool = True, wait_s: float = 5.0) -> str | None:
    """The completion of `text` from the server, starting one when none runs (`init bash|fish`)."""
    answer = request({"text": text})
    if answer is None and start:
        start_in_background()
        deadline = time.monotonic() + wait_s
        while answer is None and time.monotonic() < deadline:
            time.sleep(0.1)
            answer = request({"text": text})
    if not answer or "completion" not in answer:
        return None
    return answer["completion"]


# ---------------------------------------------------------------- the server


@dataclass
class ServeSettings:
    model: str = SHELL_MODEL
    learn: bool = True  # keep the history of commands and count it
    learner: bool = True  # and fine-tune the model on it in the background
    idle_exit_s: float = IDLE_EXIT_S


class AlreadyRunning(CharcompleteError):
    """Another server holds the lock."""


class Suggestions:
    """The shell's suggestion session (`suggest.session`) and its history, used under one lock
    (requests come from several connections; the model serves one at a time)."""

    def __init__(self, settings: ServeSettings):
        from charcomplete.core.exclusions import Exclusions
        from charcomplete.storage import store
        from charcomplete.suggest.session import Session, SessionOptions

        self.settings = settings
        self.exclusions = Exclusions.of(store.exclude_patterns())
        if settings.model == SHELL_MODEL:
            _make_shell_model()
        self.history_path = private_dir(locations().cache) / HISTORY_NAME
        history = _read_history(self.history_path) if settings.learn else []
        # Older history is counted as one stream, each command after a document start as a
        # request sees it; the latest commands go through the mixer, which learns from them.
        older, newer = _split_recent(history, HISTORY_MIXER_BYTES)
        # What is asked about (a command still being typed, perhaps private or never run) is not
        # learned: only a command that ran and passed `learn`'s checks is, by the cache and the
        # online weights alike (`Session.learn_line`).
        # With a learner, the online steps run in its process, as the editor's do: torch in this
        # one held the interpreter's lock between a step's operations, and the shell's calls waited
        # on it (zsh p99 7.2-13.2 ms against the pre-wave 5.8-6.7); without one, here.
        remote = settings.learn and settings.learner
        options = SessionOptions(learn=False, online=settings.learn and not remote)
        self.session = Session.open(settings.model, "".join(f"\0{line}\n" for line in older), options)
        self.lock = threading.Lock()
        self.requests = 0
        self.learned = 0
        self.learner = None
        if remote:
            self._start_learner()
        for line in newer:
            self.session.learn_line(line)

    @property
    def engine(self):
        return self.session.engine

    def answer(self, raw: bytes | None) -> dict:
        from charcomplete.suggest import protocol

        with self.lock:
            self.requests += 1
            if self.session.forgotten():
                self._forget()  # `forget --all` ran: nothing learned before it may answer
            try:
                request = protocol.parse(raw, server_requests=True)
            except protocol.BadRequest as error:
                return protocol.error_answer(error)
            if request.kind == "learn":
                return protocol.with_id(request, self.learn(request.text))
            if request.kind == "status":
                return protocol.with_id(request, self.status())
            return protocol.answer_complete(self.session, request)

    def learn(self, line) -> dict:
        if not isinstance(line, str):
            return {"error": 'a learn request is {"learn": "the command line"}'}
        line = line.rstrip("\n")
        if not self.settings.learn:
            return {"learned": False, "reason": "learning is off"}
        if not line.strip() or line.startswith(" ") or "\0" in line:
            return {"learned": False, "reason": "empty, or starts with a space"}
        if self.exclusions.line(line):
            return {"learned": False, "reason": "excluded"}
        self.session.learn_line(line)
        self.learned += 1
        _append_history(self.history_path, line)
        if self.learner is not None:
            self.learner.send_text("".join(f"{entry}\n" for entry in _read_history(self.history_path)))
        return {"learned": True}

    def status(self) -> dict:
        return {"pid": os.getpid(), "model": self.engine.name, "requests": self.requests, "learned": self.learned,
                "learner": None if self.learner is None else ("ready" if self.learner.ready else "starting")}

    def _forget(self) -> None:
        """Drop the history's counts and the memory, and serve the model in use now (the shell
        model may be gone); a learner still running heard of the forget itself and stops."""
        from charcomplete.suggest.session import load_engine

        name = self.settings.model
        if name == SHELL_MODEL:
            _make_shell_model()
        try:
            engine = load_engine(name)
        except CharcompleteError:
            engine = self.session.engine  # (the weights only: what was learned from the user goes below)
        self.session.forget(engine)
        if self.learner is not None:
            from charcomplete.suggest.session import load_online

            # The learner heard of the forget and stops: the online steps go on here from now.
            self.session.go_online(load_online)
        self.learned = 0

    # ------------------------------------------------------------ the learner

    def _start_learner(self) -> None:
        from charcomplete.learn.learner import Learner
        from charcomplete.learn.online_remote import remote_online
        from charcomplete.suggest.session import load_online

        try:
            self.learner = Learner(self.engine.name, on_message=self._on_learner_message).start()
        except (OSError, ValueError):
            self.learner = None
        learner = self.learner
        self.session.go_online(load_online if learner is None else lambda engine: remote_online(learner, engine))

    def _on_learner_message(self, message) -> None:
        """From the learner's reader thread: new weights are loaded there, then swapped in under the lock."""
        from charcomplete.learn.learner import Published, Rebased
        from charcomplete.suggest.session import load_engine

        if not isinstance(message, (Published, Rebased)):
            return
        try:
            engine = load_engine(message.name)
        except CharcompleteError:
            return
        with self.lock:
            self.session.swap(engine)

    def close(self) -> None:
        if self.learner is not None:
            self.learner.hand_over()  # it publishes what it learned in the background, then exits
        self.session.close()  # its online steps stop before the interpreter ends


class _Handler(socketserver.StreamRequestHandler):
    # A shell's connection carries one request and closes; one that says nothing for this long
    # is closed (readline raises TimeoutError, an OSError), so idle connections never pile up.
    timeout = 10.0

    def handle(self) -> None:
        server: _Server = self.server  # type: ignore[assignment]
        if not server.same_user(self.connection):
            return
        with server.counting:
            server.active += 1
        try:
            while True:
                line = self.rfile.readline(MAX_LINE_BYTES + 1)
                if not line:
                    return
                server.last_activity = time.monotonic()
                if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
                    self._write({"error": f"the request is longer than {MAX_LINE_BYTES} bytes"})
                    return
                self._write(server.suggestions.answer(line.rstrip(b"\r\n")))
        except OSError:
            return  # the shell went away mid-request (the next key killed it): nothing to answer
        finally:
            with server.counting:
                server.active -= 1
            server.last_activity = time.monotonic()

    def _write(self, answer: dict) -> None:
        # Raw UTF-8 (not \\u escapes): a shell decodes the answer with nothing but \\" and \\\\ to undo.
        self.wfile.write(json.dumps(answer, ensure_ascii=False).encode("utf-8", "replace") + b"\n")
        self.wfile.flush()


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    allow_reuse_address = False
    # A thread per connection, at most this many at once (8,000 idle connections made 8,004
    # threads, 264 MB); one more is told so and closed at once. Shells need one or two.
    max_connections = 32

    def __init__(self, path: Path, suggestions: Suggestions):
        self.suggestions = suggestions
        self.slots = threading.BoundedSemaphore(self.max_connections)
        self.active = 0  # connections being served (the idle exit waits for none)
        self.counting = threading.Lock()
        self.last_activity = time.monotonic()
        old_umask = os.umask(0o177)  # the socket is created 0600, never briefly wider
        try:
            super().__init__(str(path), _Handler)
        finally:
            os.umask(old_umask)
        os.chmod(path, 0o600)
        self.inode = os.stat(path).st_ino

    def process_request(self, request, client_address) -> None:
        if not self.slots.acquire(blocking=False):
            try:
                request.setblocking(False)  # never wait on a client from the accepting thread
                request.send(b'{"error": "the server is busy: too many connections"}\n')
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request, client_address) -> None:
        """socketserver prints the traceback, message and all; the message may quote the request."""
        import sys

        from charcomplete.core.logs import without_text

        sys.stderr.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} a request failed:\n{without_text(sys.exc_info()[1])}")

    def same_user(self, connection: socket.socket) -> bool:
        """The folder already keeps others out; the peer's credentials say so once more."""
        if not hasattr(socket, "SO_PEERCRED"):
            return True
        import struct

        credentials = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _, uid, _ = struct.unpack("3i", credentials)
        return uid == os.getuid()


def _take_lock(folder: Path):
    """One server per user: the lock (flock, gone with the process) or AlreadyRunning."""
    from charcomplete.core.errors import LockBusyError
    from charcomplete.storage.atomic import FileLock

    try:
        return FileLock(folder / LOCK_NAME, "the shell server's lock").acquire()
    except LockBusyError:
        raise AlreadyRunning(f"a server is already running for this user ({folder / SOCKET_NAME})") from None


def _clear_stale(path: Path) -> None:
    """Remove what a dead server left at `path` (we hold the lock, so no live server owns it)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if info.st_uid != os.getuid():
        raise CharcompleteError(f"{path} belongs to another user; charcomplete will not touch it")
    if stat.S_ISDIR(info.st_mode):
        raise CharcompleteError(f"{path} is a folder; remove it so that the server can listen there")
    os.unlink(path)


def serve(settings: ServeSettings, ready=None) -> None:
    """Run until idle for settings.idle_exit_s (or SIGTERM). `ready()` is called once listening."""
    import signal

    folder = private_runtime_dir()
    lock = _take_lock(folder)
    path = folder / SOCKET_NAME
    suggestions = None
    server = None
    try:
        suggestions = Suggestions(settings)
        _clear_stale(path)
        server = _Server(path, suggestions)
        signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
        watchdog = threading.Thread(target=_watch, args=(server, settings.idle_exit_s), daemon=True)
        watchdog.start()
        if ready is not None:
            ready()
        server.serve_forever(poll_interval=POLL_S)
    finally:
        if server is not None:
            server.server_close()
            try:
                if os.stat(path).st_ino == server.inode:
                    os.unlink(path)
            except OSError:
                pass
        if suggestions is not None:
            suggestions.close()
        lock.release()


def _watch(server: _Server, idle_exit_s: float) -> None:
    while True:
        time.sleep(POLL_S)
        if server.active == 0 and time.monotonic() - server.last_activity > idle_exit_s:
            server.shutdown()
            return


# ---------------------------------------------------------------- history


def _read_history(path: Path) -> list[str]:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - HISTORY_KEEP_BYTES))
            data = handle.read()
    except FileNotFoundError:
        return []
    lines = data.decode("utf-8", "replace").split("\n")
    if size > HISTORY_KEEP_BYTES:
        lines = lines[1:]  # cut mid-line
    return [line for line in lines if line]


def _split_recent(lines: list[str], recent_bytes: int) -> tuple[list[str], list[str]]:
    total, cut = 0, len(lines)
    while cut > 0 and total + len(lines[cut - 1]) + 1 <= recent_bytes:
        cut -= 1
        total += len(lines[cut]) + 1
    return lines[:cut], lines[cut:]


def _append_history(path: Path, line: str) -> None:
    private_dir(path.parent)  # `forget --all` removes the cache folder under a running server
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        os.write(fd, line.encode("utf-8", "replace") + b"\n")
        size = os.fstat(fd).st_size
    finally:
        os.close(fd)
    if size > HISTORY_MAX_BYTES:
        from charcomplete.storage.atomic import atomic_write_bytes

        kept = "".join(f"{entry}\n" for entry in _read_history(path))
        atomic_write_bytes(path, kept.encode("utf-8"))


def _make_shell_model() -> None:
    """The `shell` model starts as a copy of the built-in one (first use only)."""
    from charcomplete.storage import store
    from charcomplete.storage.meta import ModelMeta

    if store.model_exists(SHELL_MODEL):
        return
    with store.lock_model(SHELL_MODEL, timeout=10.0):
        if store.model_exists(SHELL_MODEL):
            return
        builtin = store.load_from_folder(store.builtin_folder(), store.DEFAULT_MODEL, builtin=True)
        store.save_model(SHELL_MODEL, builtin.config, builtin.weights, ModelMeta(parent="default (built-in)"))
