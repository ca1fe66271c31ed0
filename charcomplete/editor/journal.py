"""Crash recovery for the editor: the unsaved buffer is copied, every few seconds, to
a journal file under `locations().journals`.

One journal per editing session, named by a hash of the document's absolute path (a
scratch document has its own fixed key) and the session (process id + a random tag), so
two editors on one document, or two scratch sessions, never overwrite or remove each
other's journal. Written atomically with mode 0600 in a 0700 folder: a journal holds the
user's unsaved words and must be as private as the document. Saving or quitting cleanly
removes it; a journal left behind by an editor that is no longer running means it died
with unsaved changes, and opening the document again offers them back."""

from __future__ import annotations

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

    def write(self, text: str) -> None:
        record = {
            "document": None if self.document is None else str(self.document),
            "saved_at": time.time(),
            "text": text,
        }
        private_dir(self.path.parent)
        atomic_write_bytes(self.path, json.dumps(record, ensure_ascii=False).encode("utf-8"), mode=0o600)

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
        return JournalEntry(record["text"], saved_at, document, path)

    def remove(self, path: Path | None = None) -> None:
        try:
            (path or self.path).unlink()
        except FileNotFoundError:
            pass

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


def _running(path: Path) -> bool:
    """Whether the editor session that writes `path` (KEY.PID-TAG.json) is still running.

    A session of this very process is not (a test, or an app run twice in one process)."""
    session = path.name.split(".")[1] if path.name.count(".") == 2 else ""
    pid_text = session.split("-")[0]
    if not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False
    try:
        os.kill(int(pid_text), 0)  # signal 0: only asks whether the process exists
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
