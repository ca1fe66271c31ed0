"""The notes benchmark split, shared by the default model's build and the benchmarks.

Corpus: ../shared/corpora/til-notes (1,871 Markdown notes, MIT). Documents (the .md files)
in sorted path order; the last 10% are held out and never trained on, by any model,
the shipped default model included."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTES = ROOT.parent / "shared" / "corpora" / "til-notes"
HELD_OUT_FRACTION = 0.10


def notes_documents(notes: Path = NOTES) -> list[Path]:
    return sorted(p for p in notes.rglob("*.md") if p.is_file())


def notes_split(notes: Path = NOTES) -> tuple[list[Path], list[Path]]:
    """(training files, held-out files)."""
    documents = notes_documents(notes)
    cut = len(documents) - int(round(len(documents) * HELD_OUT_FRACTION))
    return documents[:cut], documents[cut:]


def link_tree(files: list[Path], base: Path, target: Path) -> Path:
    """Mirror `files` under `target` as symlinks, keeping their paths relative to `base`."""
    for path in files:
        link = target / path.relative_to(base)
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(path.resolve())
    return target
