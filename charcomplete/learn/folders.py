"""The walk over the folders the user names: which files are candidates to read, and why
every other entry was skipped.

It never hangs and never crashes on odd entries: FIFOs, devices and sockets are recognised
by `stat` before anything is opened, symlink loops are detected by the (device, inode) of
every folder visited, and unreadable entries are counted rather than fatal.

Links: a symbolic link met in the walk is followed only when what it points at lies inside
the folder being walked (its real path), and that target must pass the same hidden and
exclusion checks as the link's own path. A link out of the folder is skipped and counted
("link out of the folder"); a path named directly by the user is always read, unless the
exclusion patterns keep it out (core.exclusions, the one matcher)."""

from __future__ import annotations

import errno
import os
import stat
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from charcomplete.core.errors import CorpusError
from charcomplete.core.exclusions import Exclusions

READ_CHUNK = 1024 * 1024
FileKey = tuple[int, int]  # (st_dev, st_ino): the identity of a file or folder, whatever path reached it



@dataclass
class Candidate:
    """A regular file found by the walk, not yet read."""

    path: Path  # absolute path as reached (links inside the walked tree are kept, not resolved)
    relpath: str  # relative to the root it was found under
    real_dir: str  # real path of its folder: ignore rules are matched on real paths
    key: FileKey
    size: int
    explicit: bool  # named directly by the user: read even if hidden or git-ignored
    real_path: str = ""  # what a link points at (resolved); for a plain file, real_dir joined with its name


class Walker:
    """Collects candidate files from the given roots and counts everything it skips."""

    def __init__(self, exclude: Sequence[str]) -> None:
        self.exclusions = Exclusions.of(exclude)
        self.skipped: Counter[str] = Counter()
        self.candidates: list[Candidate] = []
        self._visited_dirs: set[FileKey] = set()  # shared by all roots, so overlapping roots aren't read twice
        self._root_real = ""  # real path of the folder being walked: links may not lead out of it

    def add_root(self, given: Path) -> Path:
        """Walk or record one path the user gave; return its resolved form."""
        try:
            st = os.stat(given)
        except FileNotFoundError:
            if os.path.islink(given):
                raise CorpusError(f"{given} is a link to something that does not exist") from None
            raise CorpusError(f"{given} does not exist") from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise CorpusError(f"{given} is a symlink loop") from None
            # It exists but can't be looked at (e.g. a folder above it is not searchable).
            self.skipped["unreadable"] += 1
            return given.absolute()
        root = given.resolve()
        if self.exclusions.path(given):  # a folder named on the command line is matched by its own name too
            self.skipped["excluded"] += 1
            return root
        if stat.S_ISDIR(st.st_mode):
            self._root_real = str(root)
            self._walk(root, _key(st))
        elif stat.S_ISREG(st.st_mode):
            self.candidates.append(Candidate(root, root.name, str(root.parent), _key(st), st.st_size, True, str(root)))
        else:
            self.skipped["not a regular file"] += 1
        return root

    def _walk(self, root: Path, root_key: FileKey) -> None:
        # An explicit stack instead of recursion: a deep tree must not hit Python's recursion limit.
        # Each entry: (folder path, its path relative to root, its key, keys of the folders above it).
        stack: list[tuple[Path, str, FileKey, tuple[FileKey, ...]]] = [(root, "", root_key, ())]
        while stack:
            folder, rel, key, ancestors = stack.pop()
            if key in self._visited_dirs:
                # Reached again through a link: back into one of its own ancestors is a loop,
                # anywhere else it is the same files a second time.
                self.skipped["symlink loop" if key in ancestors else "duplicate"] += 1
                continue
            self._visited_dirs.add(key)
            subfolders = self._scan_folder(folder, rel)
            if subfolders is None:
                continue
            inner = (*ancestors, key)
            # Reversed so that folders are popped, and so walked, in name order.
            for sub_path, sub_rel, sub_key in reversed(subfolders):
                stack.append((sub_path, sub_rel, sub_key, inner))

    def _scan_folder(self, folder: Path, rel: str) -> list[tuple[Path, str, FileKey]] | None:
        """Record the files of one folder; return its subfolders, or None if it can't be listed."""
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda entry: entry.name)
            real_dir = os.path.realpath(folder)
        except OSError:
            self.skipped["unreadable"] += 1
            return None
        subfolders = []
        for entry in entries:
            entry_rel = f"{rel}/{entry.name}" if rel else entry.name
            st = self._stat_entry(entry, entry_rel)
            if st is None:
                continue
            path = folder / entry.name
            real_path = os.path.join(real_dir, entry.name)
            if _is_link(entry):
                real_path = os.path.realpath(path)
                refusal = self._link_refusal(real_path)
                if refusal is not None:
                    self.skipped[refusal] += 1
                    continue
            if stat.S_ISDIR(st.st_mode):
                subfolders.append((path, entry_rel, _key(st)))
            elif stat.S_ISREG(st.st_mode):
                self.candidates.append(
                    Candidate(path, entry_rel, real_dir, _key(st), st.st_size, False, real_path)
                )
            else:
                self.skipped["not a regular file"] += 1  # FIFO, socket, device: never opened
        return subfolders

    def _stat_entry(self, entry: os.DirEntry, entry_rel: str) -> os.stat_result | None:
        """Stat an entry, following links; count it and return None if it is to be skipped."""
        if entry.name.startswith("."):
            self.skipped["hidden"] += 1  # a hidden folder counts once: it is never entered
            return None
        if self.exclusions.matches(entry.path, _is_dir(entry)):
            self.skipped["excluded"] += 1
            return None
        try:
            return entry.stat(follow_symlinks=True)
        except OSError as exc:
            self.skipped[_stat_failure_reason(entry, exc)] += 1
            return None

    def _link_refusal(self, real_path: str) -> str | None:
        """Why a link found in the walk is not followed, or None to follow it.

        A link is followed only to a place inside the folder being trained, and that place is
        judged like the path itself: `current -> private` is as excluded as `private`, and a
        link to a hidden file as hidden. A link out of the folder (`etc -> /etc`) is never followed."""
        root = self._root_real
        if real_path != root and not real_path.startswith(root.rstrip(os.sep) + os.sep):
            return "link out of the folder"
        real_rel = os.path.relpath(real_path, root).replace(os.sep, "/")
        if real_rel == ".":
            return None  # a link to the folder itself: the walk counts it as a loop
        if any(part.startswith(".") for part in real_rel.split("/")):
            return "hidden"
        if self.exclusions.matches(real_path, os.path.isdir(real_path)):
            return "excluded"
        return None


def _is_dir(entry: os.DirEntry) -> bool:
    """Whether the entry is a folder (a link to one included): from the listing, mostly no syscall."""
    try:
        return entry.is_dir()
    except OSError:
        return False


def _is_link(entry: os.DirEntry) -> bool:
    try:
        return entry.is_symlink()
    except OSError:
        return False


def _key(st: os.stat_result) -> FileKey:
    return (st.st_dev, st.st_ino)


def _stat_failure_reason(entry: os.DirEntry, exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symlink loop"  # links that point at each other
    try:
        is_link = entry.is_symlink()
    except OSError:
        is_link = False
    if is_link and exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return "dangling link"
    return "unreadable"  # permission denied, or it vanished while we looked


def read_up_to(fd: int, limit: int) -> bytes:
    """Read until `limit` bytes or end of file (a single read may return less than asked)."""
    chunks = []
    remaining = limit
    while remaining > 0:
        chunk = os.read(fd, min(remaining, READ_CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
