"""What a model remembers of the text it was trained on: the user's own strings.

A recurrent network learns a writer's style, but not every name, path, command and link in
their notes; an n-gram of the notes does. `charcomplete train` keeps the text it learned
from (the user's documents, at most MEMORY_BYTES, the latest kept) beside the weights, and
the surfaces that suggest while the user types in a document (the editor, `eval --adapt`,
the language server) mix an order-MEMORY_ORDER n-gram of its last NGRAM_BYTES (`ngram`)
and a match model searching all of it (`recall`, match.py) into their typing cache
(`cache.typing_cache`). On the notes benchmark's dev slice, with the memory of the notes'
training 90%, it took `eval --adapt` from 1.666 to 1.593 bits per character (BENCHMARKS.md,
"Adaptation"). The shell server has its own memory, the shell's history.

    models/<name>/memory.bin    the text, documents separated by DOC_START, zlib-compressed

The file is data only: read with a size bound, decompressed with a bound, never executed.
It holds what `train` read, exclusions applied, and nothing else; `train --no-memory`
keeps none, and `forget` deletes it with the model. numpy and the standard library only.
"""

from __future__ import annotations

import hashlib
import threading
import zlib
from collections.abc import Iterable
from pathlib import Path

from charcomplete.core.config import DOC_START
from charcomplete.core.errors import ModelError
from charcomplete.model.match import TextIndex
from charcomplete.model.ngram import NGram
from charcomplete.storage.atomic import atomic_write_bytes

MEMORY_FILE = "memory.bin"
# Sized by measurement (issue 23.3, benchmarks/memory_size.py and long_context.py): the order-8
# n-gram costs about 18 MB of arrays per MB of text (37 MB at 2 MiB, 116 MB at 16 MiB), a second
# to build per MB and a peak of 60 MB of process memory per MB while it builds; the editor
# (target: under 250 MB) holds it for the whole session, so it reads only the last NGRAM_BYTES.
# The match model's index costs 1 MB per MB of text plus a 16 MiB table and 0.1 s per MB to
# build, so it searches everything kept. On the notes dev slice, the n-gram of the last 1 MiB of
# the author's other notes with the index over all 1.66 MB: 1.5829 bpc, against 1.5911 with
# both over 1 MiB (and 1.5639 with the n-gram over all: the author's own older text is worth
# most); 14 MB of other sources' text before the notes bought 0.0016 more. A notes folder of
# 10-50 MB keeps its latest 16 MiB: 5-6 MB on disk compressed, 1.5 s to index.
MEMORY_BYTES = 16 * 1024 * 1024
NGRAM_BYTES = 2 * 1024 * 1024
MEMORY_ORDER = 8  # 7 bytes of context: a name or a path is found again after a few letters
_MAX_STORED = MEMORY_BYTES + 64 * 1024  # zlib never grows text by more than a few bytes per 16 kB
_SEPARATOR = bytes([DOC_START])


def gather(documents: Iterable[bytes], earlier: bytes = b"") -> bytes:
    """The text to remember: `earlier` (what the model remembered before) and then
    `documents`, each document once (a later copy replaces an earlier one), keeping the last
    MEMORY_BYTES: the documents a run read last are the ones kept when there is too much."""
    kept: dict[bytes, None] = {}
    for document in [*earlier.split(_SEPARATOR), *documents]:
        document = bytes(document).replace(_SEPARATOR, b"")
        if document:
            kept.pop(document, None)
            kept[document] = None
    text = _SEPARATOR.join(kept)
    if len(text) <= MEMORY_BYTES:
        return text
    start = text.find(_SEPARATOR, len(text) - MEMORY_BYTES)
    return text[start + 1 :] if start >= 0 else text[-MEMORY_BYTES:]


def write(folder: Path, text: bytes) -> None:
    """Store `text` as the memory of the model in `folder` (atomically); the caller holds the
    model's lock. Empty text removes the memory."""
    path = folder / MEMORY_FILE
    if not text:
        path.unlink(missing_ok=True)
        return
    atomic_write_bytes(path, zlib.compress(text[-MEMORY_BYTES:], 6))


def read(folder: Path) -> bytes:
    """The memory of the model in `folder` (b"" when it has none). A damaged file is one
    sentence (ModelError): the model's weights are still good, so callers go on without it."""
    path = folder / MEMORY_FILE
    try:
        if path.is_symlink():
            raise ModelError(f"{path} is a link; a model's memory must be its own file")
        if not path.is_file():
            return b""
        with open(path, "rb") as handle:
            stored = handle.read(_MAX_STORED + 1)
    except OSError as error:
        raise ModelError(f"cannot read the model's memory {path}: {error.strerror or error}") from None
    if len(stored) > _MAX_STORED:
        raise ModelError(f"the model's memory {path} is larger than any `train` writes; it was not read")
    inflater = zlib.decompressobj()
    try:
        text = inflater.decompress(stored, MEMORY_BYTES + 1)
    except zlib.error:
        raise ModelError(f"the model's memory {path} is damaged; train the model again to rebuild it") from None
    if len(text) > MEMORY_BYTES or not inflater.eof:
        raise ModelError(f"the model's memory {path} is larger than any `train` writes; it was not read")
    return text


def read_sound(folder: Path) -> bytes:
    """`read`, with a damaged memory taken as none: what a new model adds to or copies."""
    try:
        return read(folder)
    except ModelError:
        return b""


def copy(source: Path, target: Path) -> None:
    """Give a model made from another (in `target`) the other's memory; the caller holds the
    target's lock. A damaged memory is not copied."""
    text = read_sound(source)
    if text:
        write(target, text)


_built: dict[str, NGram] = {}  # fingerprint of a memory's text -> its n-gram (read-only once built)
_indexed: dict[str, TextIndex] = {}  # fingerprint of a memory's text -> its match index (read-only)
_recalled: dict[tuple, str] = {}  # as `_read`, for the match index
_read: dict[tuple, str] = {}  # (file, its size, mtime and inode) -> that fingerprint, for files read already
_building = threading.Lock()


def _file_stamp(folder: Path) -> tuple | None:
    """What says the memory file is unchanged (path, size, mtime, inode), so an unchanged one is
    not read again; None when it cannot be looked at."""
    path = folder / MEMORY_FILE
    try:
        info = path.lstat()
    except OSError:
        return None
    return str(path), info.st_size, info.st_mtime_ns, info.st_ino


def ngram(folder: Path) -> NGram | None:
    """The order-MEMORY_ORDER n-gram of the memory of the model in `folder`, or None when it
    has none. Built once per process and text, then shared: it is static (a document's typing
    is counted by the document's own cache), so every typing cache can look it up from any
    thread, and it keeps its look-ups, which a suggestion repeats at every keystroke (counting
    each document's typing into it too was 0.009 bpc better on the notes dev slice, but the
    editor's keystroke p99 with a memory went from 10 to 15-20 ms). The same file unchanged is
    not read again: a language server opens many documents. Raises ModelError for a damaged
    memory."""
    stamp = _file_stamp(folder)
    with _building:
        known = _built.get(_read.get(stamp, ""))
    if known is not None:
        return known
    text = read(folder)
    if not text:
        return None
    key = hashlib.sha256(text).hexdigest()
    model = _built_for(key, text[-NGRAM_BYTES:])
    if stamp is not None:
        with _building:
            _read.clear()
            _read[stamp] = key
    return model


def ngram_of(text: bytes) -> NGram:
    """The memory n-gram of `text` (its last NGRAM_BYTES; built once per process for the same text)."""
    return _built_for(hashlib.sha256(text).hexdigest(), text[-NGRAM_BYTES:])


def _built_for(key: str, text: bytes) -> NGram:
    with _building:
        model = _built.get(key)
        if model is None:
            model = NGram(MEMORY_ORDER).fit(text)
            _built.clear()  # one model's memory at a time: a process suggests from one model
            _built[key] = model
    return model


def recall(folder: Path) -> TextIndex | None:
    """The memory of the model in `folder` (all of it) indexed for the match model (match.py),
    or None when it has none: built once per process and text, shared like `ngram`'s n-gram;
    the same file unchanged is not read again. Raises ModelError for a damaged memory."""
    stamp = _file_stamp(folder)
    with _building:
        known = _indexed.get(_recalled.get(stamp, ""))
    if known is not None:
        return known
    text = read(folder)
    if not text:
        return None
    index = recall_of(text)
    if stamp is not None:
        with _building:
            _recalled.clear()
            _recalled[stamp] = hashlib.sha256(text).hexdigest()
    return index


def recall_of(text: bytes) -> TextIndex:
    """The match index of `text` (built once per process for the same text)."""
    key = hashlib.sha256(text).hexdigest()
    with _building:
        index = _indexed.get(key)
        if index is None:
            index = TextIndex(text)
            _indexed.clear()  # one model's memory at a time
            _indexed[key] = index
    return index
