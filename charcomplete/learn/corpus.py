"""Find the text to learn from: walk files and folders the way a careful tool does,
read only what is plainly text, and turn it into one byte stream for training.

The walk never hangs and never crashes on odd entries: FIFOs, devices and sockets are
recognised by `stat` before anything is opened, symlink loops are detected by the
(device, inode) of every folder visited, and unreadable entries are counted rather than
fatal. Every skipped entry is counted under a reason so the user can be told why a
folder yielded less text than expected.

The walk is learn/folders.py, the ignore rules learn/ignore_rules.py (.gitignore read as
files: git, which runs what a repository configures, is never run), the split and the byte
stream learn/training_data.py; this module reads the files and is the one entry point.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path

from charcomplete.core.errors import CorpusError
from charcomplete.learn.folders import Candidate, FileKey, Walker, read_up_to
from charcomplete.learn.ignore_rules import IgnoreRules, drop_ignored
from charcomplete.learn.texts import Corpus, Document

DEFAULT_MAX_FILE_BYTES = 8 * 1024 * 1024
SNIFF_BYTES = 8192  # how much of a file is checked for NUL before the rest is read (git's own heuristic)

# Byte-order marks. UTF-32 ones are checked first: FF FE 00 00 also starts with the UTF-16 LE mark.
_UTF8_BOM = b"\xef\xbb\xbf"
_UTF32_BOMS = (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")



# ---------------------------------------------------------------------------------------------
# Reading



def _read_candidate(cand: Candidate, max_file_bytes: int) -> bytes | str:
    """The file's text as UTF-8-ish bytes, or the reason it is skipped."""
    if cand.size > max_file_bytes:
        return "too large"
    try:
        # O_NONBLOCK: if the file was swapped for a FIFO since it was stat'ed, open must not wait
        # for a writer. It changes nothing for regular files.
        fd = os.open(cand.path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError:
        return "unreadable"
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return "not a regular file"
        if st.st_size > max_file_bytes:
            return "too large"
        head = read_up_to(fd, SNIFF_BYTES)
        if b"\0" in head and not head.startswith(_UTF16_BOMS + _UTF32_BOMS):
            return "binary"  # decided without reading the rest
        # One byte past the limit tells "exactly at the limit" from "grew past it since stat".
        raw = head + read_up_to(fd, max_file_bytes + 1 - len(head))
    except OSError:
        return "unreadable"
    finally:
        os.close(fd)
    if len(raw) > max_file_bytes:
        return "too large"
    text = _to_utf8(raw)
    if text is None:
        return "binary"
    if not text:
        return "empty"
    return text


def _to_utf8(raw: bytes) -> bytes | None:
    """Normalise a file's bytes: UTF-16/32 with a BOM become UTF-8, a UTF-8 BOM is dropped,
    anything else is kept as it is (the model reads bytes, so invalid UTF-8 is fine).
    Returns None for binary data: any NUL would collide with the DOC_START separator."""
    codec = None
    if raw.startswith(_UTF32_BOMS):
        codec = "utf-32"
    elif raw.startswith(_UTF16_BOMS):
        codec = "utf-16"
    elif raw.startswith(_UTF8_BOM):
        raw = raw[len(_UTF8_BOM) :]
    if codec is not None:
        try:
            raw = raw.decode(codec).encode("utf-8")  # the codec consumes the BOM
        except UnicodeDecodeError:
            return None  # starts like UTF-16 but isn't: treat as binary
    if b"\0" in raw:
        return None
    return raw


def scan(
    paths: Sequence[Path | str],
    *,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    exclude: Sequence[str] = (),
) -> Corpus:
    """Find the text files under `paths` (files and folders) and read them.

    Raises CorpusError only for a path that does not exist; everything else that can't be
    used is counted in `Corpus.skipped`. The corpus may be empty: see `require_text`."""
    if isinstance(paths, (str, Path)):
        paths = [paths]  # a lone string would otherwise be walked one character at a time
    if not paths:
        raise CorpusError("give at least one file or folder to learn from")
    if max_file_bytes < 1:
        raise CorpusError(f"the largest file size to read must be at least 1 byte, not {max_file_bytes!r}")

    walker = Walker(exclude)
    roots = [walker.add_root(Path(path).expanduser()) for path in paths]
    skipped = walker.skipped
    candidates = drop_ignored(walker.candidates, skipped)

    documents = []
    seen: set[FileKey] = set()
    # In path order, so which of two links to one file is kept doesn't depend on the walk.
    for cand in sorted(candidates, key=lambda c: c.path):
        if cand.key in seen:
            skipped["duplicate"] += 1
            continue
        seen.add(cand.key)
        result = _read_candidate(cand, max_file_bytes)
        if isinstance(result, str):
            skipped[result] += 1
        else:
            documents.append(Document(cand.path, result, cand.relpath))
    return Corpus(documents, skipped, roots)


def require_text(corpus: Corpus) -> None:
    """Raise CorpusError, saying why, if the scan found nothing to learn from."""
    if not corpus.documents:
        where = ", ".join(str(root) for root in corpus.roots) or "the given paths"
        raise CorpusError(f"found no text to learn from in {where} ({corpus.skip_summary()})")



# The training-data half, for the callers that take everything from here.
from charcomplete.learn.training_data import (  # noqa: E402
    encode,
    fingerprint,
    mixed_order,
    split,
    validates_on,
)

__all__ = ["Corpus", "Document", "IgnoreRules", "DEFAULT_MAX_FILE_BYTES", "SNIFF_BYTES", "scan", "require_text",
           "encode", "fingerprint", "mixed_order", "split", "validates_on"]
