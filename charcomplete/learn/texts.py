"""What the walk found: the documents to learn from (a file's path and text) and the corpus
they make, with what was skipped and why. Shared by reading (corpus.py) and the training
data made from it (training_data.py)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Document:
    path: Path  # absolute path of the file
    data: bytes  # raw file bytes (text), never containing NUL
    # Path relative to the folder it was found under (posix style; the file name for a file
    # given directly). It is what `split` hashes, so moving the whole folder keeps the split.
    relpath: str = ""

    def __post_init__(self) -> None:
        if not self.relpath:
            self.relpath = self.path.name


@dataclass
class Corpus:
    documents: list[Document]
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> how many entries
    roots: list[Path] = field(default_factory=list)  # the resolved paths given

    @property
    def total_bytes(self) -> int:
        return sum(len(doc.data) for doc in self.documents)

    def skip_summary(self) -> str:
        """E.g. "skipped 3 files: 2 binary, 1 hidden", most common reason first."""
        counts = sorted(
            ((n, reason) for reason, n in self.skipped.items() if n > 0), key=lambda item: (-item[0], item[1])
        )
        total = sum(n for n, _ in counts)
        if total == 0:
            return "skipped none"
        parts = ", ".join(f"{n} {reason}" for n, reason in counts)
        return f"skipped {total} file{'' if total == 1 else 's'}: {parts}"
