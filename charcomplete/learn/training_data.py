"""From documents to training data: the deterministic train/validation split, the byte
stream a model learns from, and the corpus fingerprint."""

from __future__ import annotations

import hashlib

import numpy as np

from charcomplete.core.config import DOC_START
from charcomplete.core.errors import CorpusError
from charcomplete.learn.texts import Document


def _bucket(doc: Document) -> int:
    return _path_bucket(doc.relpath)


def _path_bucket(relpath: str) -> int:
    """A stable number in [0, 1000) from a document's relative path (not its content, so
    editing a file doesn't move it between training and validation)."""
    digest = hashlib.sha256(relpath.encode("utf-8", "surrogateescape")).hexdigest()
    return int(digest[:8], 16) % 1000


def validates_on(relpath: str, val_fraction: float = 0.1) -> bool:
    """Whether `split` puts a document at `relpath` on the validation side (for corpora of
    many documents; `split` may move one document when a side would be empty)."""
    return _path_bucket(relpath) < val_fraction * 1000


def split(documents: list[Document], val_fraction: float = 0.1) -> tuple[list[Document], list[Document]]:
    """Split into (training, validation), by whole documents and the same way every time.

    Both sides are never empty: with one document, its last `val_fraction` of bytes
    becomes the validation document."""
    # CorpusError, not ValueError: the fraction comes straight from the command line.
    if not 0.0 < val_fraction < 1.0:
        raise CorpusError(f"the validation fraction must be between 0 and 1 (exclusive), not {val_fraction!r}")
    if not documents:
        raise CorpusError("there is no text to split into training and validation sets")
    if len(documents) == 1:
        return _split_one(documents[0], val_fraction)

    threshold = val_fraction * 1000
    train = [doc for doc in documents if _bucket(doc) >= threshold]
    val = [doc for doc in documents if _bucket(doc) < threshold]
    # Hashing can leave a side empty on small corpora; move one document, chosen by path order.
    if not val:
        moved = max(train, key=lambda doc: doc.path)
        train.remove(moved)
        val.append(moved)
    elif not train:
        moved = min(val, key=lambda doc: doc.path)
        val.remove(moved)
        train.append(moved)
    return train, val


def _split_one(doc: Document, val_fraction: float) -> tuple[list[Document], list[Document]]:
    if len(doc.data) < 2:
        raise CorpusError(f"{doc.path} is too short to split into training and validation text")
    cut = len(doc.data) - max(1, int(len(doc.data) * val_fraction))
    return [Document(doc.path, doc.data[:cut], doc.relpath)], [Document(doc.path, doc.data[cut:], doc.relpath)]


def encode(documents: list[Document]) -> np.ndarray:
    """One uint8 stream: for each document, the DOC_START byte, then its bytes."""
    out = np.empty(sum(len(doc.data) + 1 for doc in documents), dtype=np.uint8)
    pos = 0
    for doc in documents:
        out[pos] = DOC_START
        out[pos + 1 : pos + 1 + len(doc.data)] = np.frombuffer(doc.data, dtype=np.uint8)
        pos += 1 + len(doc.data)
    return out


def fingerprint(documents: list[Document]) -> str:
    """A short hex digest of the content alone (paths are left out, so moving a folder keeps
    caches valid). Sizes are hashed with the bytes so that ["ab", "c"] and ["a", "bc"] differ."""
    digest = hashlib.sha256()
    for doc in documents:
        digest.update(len(doc.data).to_bytes(8, "little"))
        digest.update(doc.data)
    return digest.hexdigest()[:16]


def mixed_order(documents: list[Document]) -> list[Document]:
    """The documents in a stable pseudo-random order (by their split hash, then path).

    Validation reads only the first part of the held-out text; in folder order that part
    would come from whichever folder sorts first (on a corpus of several sources, one of
    them). Mixed, it samples every folder."""
    return sorted(documents, key=lambda doc: (_bucket(doc), doc.relpath))
