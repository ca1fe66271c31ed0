"""Crash-safe file writes and per-file writer locks.

A write goes to a temporary file in the same folder, is flushed to disk, then renamed
over the target: a reader (or a crash at any moment) sees the old file or the new one,
never half of either."""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from charcomplete.core.errors import CharcompleteError, LockBusyError

TEMP_MARK = ".tmp-"  # temporary files are named ".<target>.tmp-XXXX"


def fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable (no-op where directories can't be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on directories; the rename itself is still atomic
    finally:
        os.close(fd)


def atomic_write(path: Path, write: Callable[[BinaryIO], None], mode: int | None = 0o600) -> None:
    """Write `path` atomically by calling `write(file)`.

    `mode` sets the new file's permissions; None keeps those of the file being replaced
    (documents), or the umask default for a new file."""
    path = Path(path)
    folder = path.parent
    if mode is None:
        try:
            mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}{TEMP_MARK}", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp_name, mode)
        os.replace(temp_name, path)
    except BaseException:
        try:
            os.unlink(temp_name)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(folder)


def atomic_write_bytes(path: Path, data: bytes, mode: int | None = 0o600) -> None:
    atomic_write(path, lambda handle: handle.write(data), mode)


def remove_stale_temps(folder: Path, older_than_s: float = 60.0) -> int:
    """Delete temporary files a crashed writer left behind; return how many.

    `older_than_s` spares a writer still at work in a folder nobody locks (its temp file
    is younger than that). A caller holding the folder's writer lock knows every temp file
    there belongs to a dead writer and passes 0."""
    removed = 0
    now = time.time()
    try:
        entries = list(folder.iterdir())
    except OSError:
        return 0
    for entry in entries:
        if entry.name.startswith(".") and TEMP_MARK in entry.name:
            try:
                if now - entry.stat().st_mtime >= older_than_s:
                    entry.unlink()
                    removed += 1
            except OSError:
                pass
    return removed


class FileLock:
    """An exclusive advisory lock (flock) on `path`, released when the holder exits or dies.

    flock locks vanish with the process, so a killed writer never leaves a stale lock.
    The lock file is opened without following a link and never written or truncated: a
    `.lock` planted as a link to another file can neither redirect nor damage it."""

    def __init__(self, path: Path, what: str = "this model"):
        self.path = Path(path)
        self.what = what
        self._fd: int | None = None

    def acquire(self, timeout: float = 0.0) -> FileLock:
        deadline = time.monotonic() + timeout
        fd = self._open()
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if self._still_there(fd):
                    break
                # Its holder removed the lock file (store.unlock_model) before letting go:
                # this lock guards nothing any more; take the one at the path now.
                os.close(fd)
                fd = self._open()
                continue
            except OSError as error:
                if error.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                    os.close(fd)
                    raise
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise LockBusyError(
                        f"another charcomplete process is writing {self.what}; wait for it to finish or stop it"
                    ) from None
                time.sleep(0.05)
        self._fd = fd
        return self

    def _open(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        flags = os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0)
        try:
            fd = os.open(self.path, flags, 0o600)
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise CharcompleteError(
                    f"the lock file {self.path} is a symbolic link; charcomplete never follows it, remove it"
                ) from None
            raise
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise CharcompleteError(f"the lock file {self.path} is not a regular file; remove it")
        return fd

    def _still_there(self, fd: int) -> bool:
        try:
            return os.stat(self.path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            return False

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> FileLock:
        return self if self._fd is not None else self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
