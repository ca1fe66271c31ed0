"""Crash recovery for the editor: the unsaved buffer is copied, every few seconds, to
a journal file under `locations().journals`.

One journal per editing session, named by a hash of the document's absolute path (a
scratch document has its own fixed key) and the session (process id + a random tag), so
two editors on one document, or two scratch sessions, never overwrite or remove each
other's journal. Written atomically with mode 0600 in a 0700 folder: a journal holds the
user's unsaved words and must be as private as the document. Saving or quitting cleanly
removes it; a journal left behind by an editor that is no longer running means it died
with unsaved changes, and opening the document again offers them back, with the cursor
and selection where they were.

Whether a session still runs is asked of a lock, not only of its process id: the session
holds an flock on KEY.SESSION.lock while it lives, and the kernel lets go of it the moment
the process dies. A killed editor whose parent has not yet reaped it (a zombie) still has
a process id, and issue 26 found its journal not offered on a restart a second after the
kill; the lock is free by then."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from charcomplete.core.paths import locations, private_dir
from charcomplete.storage import jsonsafe
from charcomplete.storage.atomic import atomic_write_bytes

SCRATCH_KEY = "scratch"  # the journal of a document that has no file yet
MAX_JOURNAL_BYTES = 64 * 1024 * 1024  # a larger file is not ours; never read it into memory


@dataclass
class JournalEntry:
    text: str
    saved_at: float  # time.time() when it was written
    document: str | None  # absolute path of the document, None for a scratch document
    path: Path | None = None  # the journal file it was read from
    # Where the selection was: ((row, column) of its anchor, (row, column) of the cursor);
    # None in journals written before issue 26.
    selection: tuple[tuple[int, int], tuple[int, int]] | None = None


Location = tuple[int, int]


def journal_key(document: Path | None) -> str:
    if document is None:
        return SCRATCH_KEY
    absolute = os.path.abspath(document)
    return hashlib.sha256(absolute.encode("utf-8", "surrogateescape")).hexdigest()[:32]


class Journal:
    """The journal of one editing session of one document."""

    def __init__(self, document: Path | None, session: str | None = None):
        self.document = None if document is None else Path(os.path.abspath(document))
        self.key = journal_key(self.document)
        self.session = session or f"{os.getpid()}-{secrets.token_hex(3)}"
        self.path = locations().journals / f"{self.key}.{self.session}.json"
        self._lock_fd: int | None = None

    def write(self, text: str, selection: tuple[Location, Location] | None = None) -> None:
        record = {
            "document": None if self.document is None else str(self.document),
            "saved_at": time.time(),
            "text": text,
        }
        if selection is not None:
            record["selection"] = [list(selection[0]), list(selection[1])]
        private_dir(self.path.parent)
        self._hold_lock()
        atomic_write_bytes(self.path, json.dumps(record, ensure_ascii=False).encode("utf-8"), mode=0o600)

    def _hold_lock(self) -> None:
        """Hold this session's lock while the process lives (only a session named after this
        process: a test may write another session's journal)."""
        if self._lock_fd is not None or _session_pid(self.path) != os.getpid():
            return
        try:
            fd = os.open(_lock_path(self.path), os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return  # without a lock the process id still tells, as before
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return
        self._lock_fd = fd

    def read(self, path: Path | None = None) -> JournalEntry | None:
        """This session's journaled text (or the journal at `path`), None when there is none
        or it is not a journal of this document."""
        path = path or self.path
        try:
            record = jsonsafe.read_file(path, MAX_JOURNAL_BYTES)
        except FileNotFoundError:
            return None
        except (OSError, jsonsafe.JSONRefused):
            return None  # a damaged journal cannot be offered; the document itself is untouched
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            return None
        document = None if self.document is None else str(self.document)
        if record.get("document") != document:
            return None  # a hash collision or a foreign file: not this document's journal
        saved_at = record.get("saved_at")
        saved_at = float(saved_at) if isinstance(saved_at, (int, float)) and not isinstance(saved_at, bool) else 0.0
        return JournalEntry(record["text"], saved_at, document, path, _selection(record.get("selection")))

    def remove(self, path: Path | None = None) -> None:
        target = path or self.path
        for file in (target, _lock_path(target)):
            try:
                file.unlink()
            except FileNotFoundError:
                pass
        if target == self.path and self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def left_behind(self) -> list[Path]:
        """Journals of this document from other sessions whose editor is no longer running."""
        folder = locations().journals
        found = [*folder.glob(f"{self.key}.*.json"), folder / f"{self.key}.json"]  # (the second: before sessions)
        return [path for path in found if path != self.path and path.is_file() and not _running(path)]

    def recoverable(self, current_text: str) -> JournalEntry | None:
        """The newest journal worth offering: left behind by an editor that died, newer than
        the file on disk and different from it. Journals holding just the file's text are removed."""
        offers = []
        for path in self.left_behind():
            entry = self.read(path)
            if entry is None:
                continue
            if entry.text == current_text:
                self.remove(path)  # nothing was lost
                continue
            if self.document is not None:
                try:
                    if self.document.stat().st_mtime > entry.saved_at:
                        continue  # the file was saved (by us or another program) after the journal
                except OSError:
                    pass  # the file is gone: the journal is all that is left of it
            offers.append(entry)
        return max(offers, key=lambda entry: entry.saved_at, default=None)


def _selection(value) -> tuple[Location, Location] | None:
    """A journal's "selection" field when it is two [row, column] pairs of whole numbers."""
    if not isinstance(value, list) or len(value) != 2:
        return None
    pairs = []
    for pair in value:
        if not (isinstance(pair, list) and len(pair) == 2
                and all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n < 2**31 for n in pair)):
            return None
        pairs.append((pair[0], pair[1]))
    return pairs[0], pairs[1]


def _lock_path(journal: Path) -> Path:
    return journal.with_suffix(".lock")


def _session_pid(path: Path) -> int | None:
    """The process id in a journal's name (KEY.PID-TAG.json), None when it has none."""
    session = path.name.split(".")[1] if path.name.count(".") == 2 else ""
    pid_text = session.split("-")[0]
    return int(pid_text) if pid_text.isdigit() else None


def _running(path: Path) -> bool:
    """Whether the editor session that writes `path` (KEY.PID-TAG.json) is still running:
    its lock is held or, for a journal without a lock, its process exists.

    A session of this very process is not (a test, or an app run twice in one process)."""
    pid = _session_pid(path)
    if pid is None or pid == os.getpid():
        return False
    try:
        fd = os.open(_lock_path(path), os.O_RDONLY)
    except OSError:
        fd = None  # no lock: a journal of an older version, or one no lock could be made for
    if fd is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return False  # nobody holds it: the session is gone, whatever its process id shows
        except OSError:
            return True
        finally:
            os.close(fd)
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:
        return True  # it exists, as another user's process (a reused process id)
    return True


class Redactions:
    """Lines written while learning was paused: kept out of what the learner is sent and
    what is journaled, for the rest of the session.

    Work is by whole lines, conservatively: a line changed during the pause is private
    as a whole, and so is any later line that still contains it (text appended to it)."""

    MIN_FRAGMENT = 6  # shorter private lines are matched whole only: "ok" must not hide every "ok"

    def __init__(self) -> None:
        self.lines: set[str] = set()

    def __bool__(self) -> bool:
        return bool(self.lines)

    def add_changes(self, before: str, after: str) -> None:
        """Record the lines of `after` that were added or changed since `before`."""
        import difflib

        old, new = before.splitlines(), after.splitlines()
        matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
        for tag, _, _, start, end in matcher.get_opcodes():
            if tag in ("replace", "insert"):
                self.lines.update(line.strip() for line in new[start:end] if line.strip())

    def apply(self, text: str) -> str:
        if not self.lines:
            return text
        fragments = [line for line in self.lines if len(line) >= self.MIN_FRAGMENT]
        kept = [
            line for line in text.split("\n")
            if line.strip() not in self.lines and not any(fragment in line for fragment in fragments)
        ]
        return "\n".join(kept)
