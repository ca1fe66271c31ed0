"""The logs of the resident processes (state/lsp.log, state/serve.log, state/learner.log):
capped, and without the user's text.

- Capped: past LOG_MAX_BYTES a log keeps its last half (from a line start) under a line
  saying so; a client that sends malformed messages all day cannot fill the disk.
- No text: what a library logs (pygls logs a message it could not read, with its params) is
  written as its template, each value replaced by its type and size; an exception as its
  traceback's frames and its type, never its message (`ValueError: invalid literal for int()
  with base 10: '<the document's text>'`). charcomplete's own log lines name files, counts
  and settings, never text, and are written as they are.

`forget --all` removes the logs (charcomplete.cli.forget)."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import traceback

LOG_MAX_BYTES = 256 * 1024
DROPPED = b"(earlier lines dropped: this log keeps its last part only)\n"
_OWN_LOGGERS = ("charcomplete",)  # loggers whose messages are written whole


def cap_log(fd: int, max_bytes: int = LOG_MAX_BYTES) -> None:
    """Keep the file open at `fd` (O_APPEND) under `max_bytes`: past it, only its last half stays."""
    try:
        size = os.fstat(fd).st_size
        if size <= max_bytes:
            return
        keep = max_bytes // 2
        tail = os.pread(fd, keep, size - keep)
        tail = tail[tail.find(b"\n") + 1:]  # from a line start ("" when no line ends there)
        os.ftruncate(fd, 0)
        os.write(fd, DROPPED + tail)  # O_APPEND: at the new end, the start
    except OSError:
        pass  # a log that cannot be cut is not worth failing the process for


def open_log(path, max_bytes: int = LOG_MAX_BYTES) -> int:
    """An O_APPEND descriptor on the log at `path` (created 0600, never through a link), capped now."""
    # Read and write: capping reads the tail back.
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0), 0o600)
    cap_log(fd, max_bytes)
    return fd


class CappedLog:
    """A text stream (for sys.stderr) writing to a log descriptor, capping it after each write."""

    def __init__(self, fd: int, max_bytes: int = LOG_MAX_BYTES):
        self.fd = fd
        self.max_bytes = max_bytes
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        data = text.encode("utf-8", "replace")
        with self._lock:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(self.fd, view):]
            except OSError:
                return len(text)
            cap_log(self.fd, self.max_bytes)
        return len(text)

    def flush(self) -> None:
        pass

    def fileno(self) -> int:
        return self.fd

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:
        return "utf-8"


def without_text(error: BaseException | None) -> str:
    """A traceback's frames (file, line, function, source line) and the exception's type: never
    its message, which may quote the value it failed on."""
    if error is None:
        return ""
    lines = ["Traceback (most recent call last):\n", *traceback.format_tb(error.__traceback__)]
    lines.append(f"{type(error).__module__}.{type(error).__qualname__} (its message is left out of this log)\n")
    return "".join(lines)


class _Hidden:
    """A logged value, shown as its type and size only."""

    def __init__(self, value: object):
        size = len(value) if isinstance(value, (str, bytes, list, tuple, dict)) else None
        self.shown = f"<{type(value).__name__}{f', {size} long' if size is not None else ''}>"

    def __str__(self) -> str:
        return self.shown

    __repr__ = __str__


class NoTextFormatter(logging.Formatter):
    """charcomplete's own lines whole; another library's line as its template, each value hidden."""

    def __init__(self):
        super().__init__("%(asctime)s %(name)s %(levelname)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        own = record.name.startswith(_OWN_LOGGERS)
        message = record.getMessage() if own else _template(record)
        line = f"{self.formatTime(record)} {record.name} {record.levelname} {message}"
        if record.exc_info and record.exc_info[1] is not None:
            line += "\n" + without_text(record.exc_info[1]).rstrip("\n")
        return line


def _template(record: logging.LogRecord) -> str:
    if not isinstance(record.msg, str):
        return str(_Hidden(record.msg))
    if not record.args:
        return record.msg
    args = record.args if isinstance(record.args, tuple) else (record.args,)
    safe = tuple(arg if isinstance(arg, (int, float)) and not isinstance(arg, bool) else _Hidden(arg) for arg in args)
    try:
        return record.msg % safe
    except (TypeError, ValueError, KeyError):
        return f"{record.msg} [values left out]"


class CappedFileHandler(logging.Handler):
    """A logging handler writing NoTextFormatter lines to a capped log."""

    def __init__(self, path, max_bytes: int = LOG_MAX_BYTES):
        super().__init__()
        self.stream = CappedLog(open_log(path, max_bytes), max_bytes)
        self.setFormatter(NoTextFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.stream.write(self.format(record) + "\n")
        except Exception:  # noqa: BLE001 - logging must never take the process down
            self.handleError(record)

    def close(self) -> None:
        try:
            os.close(self.stream.fd)
        except OSError:
            pass
        super().close()


def stderr_to_capped_log(fd: int = 2, max_bytes: int = LOG_MAX_BYTES) -> None:
    """Make stderr (descriptor `fd`, a log file already) capped, and uncaught exceptions, in any
    thread, written without their messages."""
    sys.stderr = CappedLog(fd, max_bytes)

    def report(kind: str, error: BaseException | None) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        sys.stderr.write(f"{stamp} [{os.getpid()}] {kind}:\n{without_text(error)}")

    sys.excepthook = lambda kind, error, tb: report("uncaught exception", error)
    threading.excepthook = lambda hook: report(
        f"uncaught exception in thread {hook.thread.name if hook.thread else '?'}", hook.exc_value)
