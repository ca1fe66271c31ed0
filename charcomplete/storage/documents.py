"""Saving the user's documents without changing what they did not ask to change.

Two ways to write, chosen per save the way Vim's `backupcopy=auto` chooses:

- **Rename** (the usual case): temp file beside the document, fsync, `os.replace`. A crash
  leaves the old file or the new one, never a mix.
- **In place**, when a rename would change the file's identity: another owner or group than
  a new file of ours would get, more than one hard link (the other names would keep the old
  text), extended attributes (ACLs, SELinux labels, user tags) a new file would lack, or a
  folder where no new file can be made (the file itself may still be writable). The old
  contents are first copied to a backup in charcomplete's private state folder
  (`state/backups/`, 0700) and fsync-ed; then the document is overwritten and truncated,
  fsync-ed, and the backup removed. A crash during the write leaves that backup holding every
  byte of the old file.

The backup is never made beside the document: that folder may be writable by others (a
shared project folder), who could plant a file there to read the old text through, a FIFO
that freezes the save, or a "backup" the next open would offer as the file's previous
contents. In the private folder it is created exclusively (O_EXCL|O_NOFOLLOW, 0600), and only
a regular file of ours there is ever offered as an interrupted save's backup.

A read-only file (no write permission bit for its owner, or for us) is never overwritten
unless the caller says the user confirmed: `ReadOnlyDocumentError` otherwise.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import time
from pathlib import Path

from charcomplete.storage.atomic import TEMP_MARK, atomic_write, fsync_dir

STALE_TEMP_S = 60.0  # a temp file this old belongs to no save in progress: a crash left it
BACKUP_MARK = ".charcomplete-backup"  # "DIGEST-NAME.charcomplete-backup": the old contents during an in-place save
BACKUPS_FOLDER = "backups"  # under the private state folder


class ReadOnlyDocumentError(PermissionError):
    """The document is read-only; saving it needs the user's confirmation."""

    def __init__(self, path: Path):
        super().__init__(errno.EACCES, f"{path.name} is read-only", str(path))


def write_document(path: Path, text: str, overwrite_read_only: bool = False) -> Path:
    """Write `text` (as UTF-8) to `path` and return the file written.

    Through a symlink, the link stays and its target gets the new text. The file keeps its
    mode, owner, group, hard links and extended attributes (see the module notes)."""
    target = Path(os.path.realpath(path))
    data = text.encode("utf-8")
    try:
        info = os.stat(target)
    except FileNotFoundError:
        info = None
    if info is not None and stat.S_ISREG(info.st_mode):
        if is_read_only(info) and not overwrite_read_only:
            raise ReadOnlyDocumentError(target)
        if rename_would_change_identity(target, info):
            write_in_place(target, data)
            return target
    atomic_write(target, lambda handle: handle.write(data), mode=None)
    remove_own_stale_temps(target)
    return target


def is_read_only(info: os.stat_result) -> bool:
    """No write bit for the class we belong to (owner, group, others). Root can write anyway,
    but a 0444 file says "do not change me" to root too."""
    if info.st_uid == os.geteuid():
        return not info.st_mode & stat.S_IWUSR
    if info.st_gid == os.getegid() or info.st_gid in os.getgroups():
        return not info.st_mode & stat.S_IWGRP
    if os.geteuid() == 0:
        return not info.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    return not info.st_mode & stat.S_IWOTH


def rename_would_change_identity(target: Path, info: os.stat_result) -> bool:
    """Whether a new file renamed over `target` would differ from it in owner, group, links or attributes."""
    if info.st_nlink > 1 or info.st_uid != os.geteuid():
        return True
    if not os.access(target.parent, os.W_OK | os.X_OK):
        return True  # no new file can be made beside it, but the file itself may be writable
    try:
        folder = os.stat(target.parent)
    except OSError:
        return True
    new_gid = folder.st_gid if folder.st_mode & stat.S_ISGID else os.getegid()
    if info.st_gid != new_gid:
        return True
    try:
        return bool(os.listxattr(target))
    except OSError:
        return False  # no extended attributes on this filesystem: nothing to lose
    except AttributeError:  # pragma: no cover - not Linux
        return False


def backup_path(target: Path) -> Path:
    """Where an in-place save of `target` keeps its old contents: in the private state folder,
    named by a digest of the document's path."""
    from charcomplete.core.paths import locations

    digest = hashlib.sha256(os.fsencode(target)).hexdigest()[:16]
    return locations().state / BACKUPS_FOLDER / f"{digest}-{target.name}{BACKUP_MARK}"


def interrupted_save_backup(path: Path) -> Path | None:
    """The backup an in-place save of `path` left when it was killed, if there is one: it
    holds the file's previous contents, and the file itself may be half written. Only a
    regular file of ours, with no other name, in our private folder counts (a file beside
    the document is never looked at: anyone who can write that folder could have put it there)."""
    backup = backup_path(Path(os.path.realpath(path)))
    try:
        folder = os.lstat(backup.parent)
        info = os.lstat(backup)
    except OSError:
        return None
    ours = folder.st_uid == info.st_uid == os.geteuid() and stat.S_ISDIR(folder.st_mode) and not folder.st_mode & 0o022
    if ours and stat.S_ISREG(info.st_mode) and info.st_nlink == 1:
        return backup
    return None


def write_in_place(target: Path, data: bytes) -> None:
    """Overwrite `target`'s contents keeping its inode; a copy of the old contents survives a crash."""
    with open(target, "rb") as source:
        old = source.read()
    backup = _write_backup(target, old)
    try:
        _overwrite(target, data)
    except BaseException:
        # Put the old contents back (same inode); if even that fails, the backup stays.
        try:
            _overwrite(target, old)
        except OSError:
            raise
        else:
            backup.unlink(missing_ok=True)
        raise
    backup.unlink(missing_ok=True)


def _overwrite(target: Path, data: bytes) -> None:
    """Replace the contents of the file at `target`, keeping the file itself (no truncation
    before the new bytes are down: what is not yet overwritten stays the old text)."""
    fd = os.open(target, os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0))
    try:
        _write_all(fd, data)
        os.ftruncate(fd, len(data))
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _write_backup(target: Path, old: bytes) -> Path:
    """The old contents, durable, in a new file (O_EXCL: never one that was there before) that
    only we can read, in our private state folder."""
    backup = backup_path(target)
    _private_backups_folder(backup.parent)
    try:
        fd = os.open(backup, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except FileExistsError:
        raise FileExistsError(
            errno.EEXIST, f"the backup of an interrupted save is still in {backup}; compare it with the file, "
            "keep what you need and remove it, then save again", str(backup)) from None
    try:
        _write_all(fd, old)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(backup)
        raise
    os.close(fd)
    fsync_dir(backup.parent)
    return backup


def _private_backups_folder(folder: Path) -> None:
    """`folder` exists, is ours, and only we can enter it; PermissionError otherwise."""
    from charcomplete.core.paths import private_dir

    private_dir(folder)
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        raise PermissionError(errno.EPERM, f"{folder} is not a folder of yours; no backup is made there", str(folder))
    if info.st_mode & 0o077:
        os.chmod(folder, 0o700)


def remove_own_stale_temps(target: Path, older_than_s: float = STALE_TEMP_S) -> int:
    """Delete this document's own crash leftovers (never anything else in the user's folder)."""
    prefix = f".{target.name}{TEMP_MARK}"
    removed = 0
    now = time.time()
    try:
        entries = list(target.parent.iterdir())
    except OSError:
        return 0
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        try:
            if now - entry.lstat().st_mtime >= older_than_s:
                entry.unlink()
                removed += 1
        except OSError:
            pass  # another save may own it, or it is already gone
    return removed
