"""What the learner process learns from: the document being edited (split into lines it trains
on and lines it holds out) and the text it keeps from the folders the model was trained on.

Of the document, only complete lines are learned, and one line in `heldout_every` (chosen by a
hash of its text, so the choice stays put as the user edits elsewhere) is held out: never
trained on, it is the user's held-out text. The folders are read only through `corpus.scan`
with the settings file's "exclude" globs and the model's stored `exclude` list, so that a file
kept out of `train` is kept out here too."""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass

import numpy as np

from charcomplete.core.errors import CharcompleteError, CorpusError
from charcomplete.learn import corpus
from charcomplete.learn.learner import LearnerSettings
from charcomplete.learn.learner_log import log
from charcomplete.storage import store

PIECE_BYTES = 256  # a line longer than this is learned (and held out) in pieces of this size
MAX_CHECK_BYTES = 65_536  # general held-out text read from heldout.txt, and from the sources' validation documents



@dataclass(frozen=True)
class DocumentSplit:
    """The document as training data and as held-out text (uint8 arrays, each opened by DOC_START)."""

    train: np.ndarray
    heldout: np.ndarray  # the latest held-out text, at most `recent_bytes`


def split_document(text: str, settings: LearnerSettings) -> DocumentSplit:
    """Complete lines (and complete `PIECE_BYTES` pieces of a long line) are learned or held
    out, by a hash of their bytes; the line being typed waits until it is complete, so that
    no text is trained on now and held out later."""
    raw = text.encode("utf-8", "surrogatepass")
    train, heldout = bytearray(b"\0"), bytearray()
    for line in raw.splitlines(keepends=True):
        complete = line.endswith((b"\n", b"\r"))
        for start in range(0, len(line), PIECE_BYTES):
            piece = line[start:start + PIECE_BYTES]
            if len(piece) < PIECE_BYTES and not complete:
                break  # the part still being written
            if zlib.crc32(piece) % settings.heldout_every == 0:
                heldout += piece
            else:
                train += piece
    recent = b"\0" + bytes(heldout[-settings.recent_bytes:])
    return DocumentSplit(np.frombuffer(bytes(train), dtype=np.uint8), np.frombuffer(recent, dtype=np.uint8))


@dataclass(frozen=True)
class Background:
    """What is kept from the folders the model was trained on."""

    train: np.ndarray | None  # their training documents, capped at `background_bytes`
    check: np.ndarray | None  # their validation documents (never trained on), capped at MAX_CHECK_BYTES


def file_limit(paths: list[str], budget: int, largest: int) -> int:
    """The largest file size limit (at most `largest`) under which the files below `paths`
    add up to at most `budget` bytes; 0 when even the smallest file does not fit.

    A stat-only walk, never opening a file: it sees every file `corpus.scan` could read
    (it skips the same hidden entries, follows the same links, and ignores exclusions and
    .gitignore, which only remove files), so a scan with this limit reads at most `budget`.
    Like the scan, it follows a link only to a place inside the folder it was given: a link
    out of it (`notes/etc -> /etc`, `notes/all -> /`) would list a system tree and let files
    the scan never reads crowd the user's own out of the budget."""
    sizes: list[int] = []
    seen: set[tuple[int, int]] = set()
    stack = [(path, os.path.realpath(path)) for path in paths]
    while stack:
        folder, root = stack.pop()
        try:
            info = os.stat(folder)
        except OSError:
            continue
        if (info.st_dev, info.st_ino) in seen:
            continue
        seen.add((info.st_dev, info.st_ino))
        if not os.path.isdir(folder):
            if info.st_size <= largest:
                sizes.append(info.st_size)
            continue
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue  # scan never enters hidden entries below a root
            try:
                if entry.is_symlink() and not _inside(os.path.realpath(entry.path), root):
                    continue  # scan counts it as "link out of the folder" and never opens it
                if entry.is_dir(follow_symlinks=True):
                    stack.append((entry.path, root))
                elif entry.is_file(follow_symlinks=True):
                    file_info = entry.stat(follow_symlinks=True)
                    key = (file_info.st_dev, file_info.st_ino)
                    if file_info.st_size <= largest and key not in seen:
                        seen.add(key)
                        sizes.append(file_info.st_size)
            except OSError:
                continue
    total = 0
    for size in sorted(sizes):
        total += size
        if total > budget:
            return size - 1  # files of this size (and larger) do not all fit: the limit stops below them
    return largest


def _inside(real_path: str, root: str) -> bool:
    return real_path == root or real_path.startswith(root.rstrip(os.sep) + os.sep)


def read_background(sources: list, model_exclude: list, settings: LearnerSettings, rng) -> tuple[Background, object]:
    """Read the sources through `corpus.scan`, honouring every exclusion; (kept text, what was read).

    Memory: the scan reads at most `background_scan_bytes` (the file size limit is chosen
    by `file_limit` so that it cannot read more: with more text than that in the sources,
    the largest files are left out); the cap then keeps at most `background_bytes` of it
    for training and MAX_CHECK_BYTES for the check."""
    empty = Background(None, None)
    paths = [p for p in sources if isinstance(p, str) and os.path.exists(p)]
    if not paths:
        log("no source folders to learn from: learning from the document alone")
        return empty, None
    try:
        exclude = [*store.exclude_patterns(), *model_exclude]
    except CharcompleteError as error:
        log(f"sources not read: {error}")  # fail closed: an unreadable exclude list reads nothing
        return empty, None
    limit = file_limit(paths, settings.background_scan_bytes, settings.background_file_bytes)
    if limit < 1:
        log(f"sources not read: even their smallest file would exceed {settings.background_scan_bytes} bytes")
        return empty, None
    try:
        scanned = corpus.scan(paths, max_file_bytes=limit, exclude=exclude)
    except CorpusError as error:
        log(f"sources not read: {error}")
        return empty, None
    log(f"read {len(scanned.documents)} source files ({scanned.total_bytes} bytes, files up to {limit} bytes) "
        f"from {', '.join(paths)}; "
        f"{scanned.skip_summary()} (excluding {exclude or 'nothing'})")
    if not scanned.documents:
        return empty, scanned
    train_docs, check_docs = corpus.split(scanned.documents)
    rng.shuffle(train_docs)  # a cap must not always keep the same alphabetical first files
    chosen, total = [], 0
    for document in train_docs:
        if total + len(document.data) <= settings.background_bytes:
            chosen.append(document)
            total += len(document.data)
    train = corpus.encode(chosen) if total >= 3 else None
    check = corpus.encode(check_docs)[:MAX_CHECK_BYTES]
    log(f"kept {total} bytes of them for training and {len(check)} held out")
    return Background(train, check if len(check) >= 3 else None), scanned

