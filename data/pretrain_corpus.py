"""The built-in model's training text and the held-out sets it is judged on.

Shared by the model build (data/build_default_model.py) and the generalisation benchmark
(benchmarks/generalise.py), so that no model is ever scored on text it was trained on.

Training text:
  1. the pretraining corpus (../shared/corpora/pretrain: 16 permissively licensed sources,
     one folder each) minus the HELD_OUT_SOURCES, which are never trained on;
  2. the notes benchmark's training 90% (til-notes), never its held-out 10%;
  3. Python's documentation topics, bundled with CPython as `pydoc_data.topics`.

Held-out sets, "a stranger's text": each HELD_OUT_SOURCES folder whole, and the notes
benchmark's held-out notes."""

from __future__ import annotations

import shutil
from pathlib import Path

from notes_benchmark import NOTES, ROOT, notes_split

PRETRAIN = ROOT.parent / "shared" / "corpora" / "pretrain"
# Whole sources never trained on: a model that only gets better on documents of the sources
# it trained on has not shown that it generalises. One book of prose with code (Rust), one
# collection of terse shell commands (cheat/cheatsheets), as unlike each other as the corpus allows.
HELD_OUT_SOURCES = ("rust-book", "cheatsheets")


def pretrain_sources() -> list[Path]:
    return sorted(p for p in PRETRAIN.iterdir() if p.is_dir())


def training_sources() -> list[Path]:
    return [p for p in pretrain_sources() if p.name not in HELD_OUT_SOURCES]


def source_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def held_out_sets() -> dict[str, list[Path]]:
    """Name -> files, in a fixed order (the benchmark reads the first N bytes of their concatenation)."""
    sets = {name: source_files(PRETRAIN / name) for name in HELD_OUT_SOURCES}
    sets["notes"] = notes_split()[1]
    return sets


def check_present() -> None:
    missing = [str(p) for p in (PRETRAIN, NOTES) if not p.is_dir()]
    if missing:
        raise SystemExit(f"the corpora are absent ({', '.join(missing)}); they live in ../shared/corpora "
                         "beside the checkout")


# The notes are 1.7 MB of a 32 MB corpus: at that weight the model learns general technical
# English but little of how one person writes notes, which is what a user's own text looks
# like. Repeated, they are about a sixth of the training text (BENCHMARKS.md, "Quality").
NOTES_REPEATS = 3


def repeat_notes(target: Path, repeats: int) -> tuple[int, int]:
    """Copy the training-side notes under `target/notes` to `notes-again-K/` (K = 1..repeats),
    keeping only copies whose new path also falls on the training side of `train`'s split:
    repeated text must never be validated on (it would measure memory, not learning).
    Returns (files written, bytes)."""
    from charcomplete.learn.corpus import validates_on
    from charcomplete.learn.plan import VAL_FRACTION  # the split `train` makes of this text

    files = written = 0
    for path in sorted((target / "notes").rglob("*.md")):
        rel = path.relative_to(target).as_posix()
        if validates_on(rel, VAL_FRACTION):
            continue
        for k in range(1, repeats + 1):
            copy_rel = f"notes-again-{k}/" + path.relative_to(target / "notes").as_posix()
            if validates_on(copy_rel, VAL_FRACTION):
                continue
            out = target / copy_rel
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, out)
            files, written = files + 1, written + out.stat().st_size
    return files, written


def write_python_docs(target: Path) -> int:
    import pydoc_data.topics

    target.mkdir(parents=True, exist_ok=True)
    for name, text in sorted(pydoc_data.topics.topics.items()):
        (target / f"{name}.txt").write_text(text, encoding="utf-8")
    return len(pydoc_data.topics.topics)


def copy_files(files: list[Path], base: Path, target: Path) -> int:
    """Copy (not link: the corpus walker does not follow links out of the trained tree) keeping
    paths relative to `base`; returns the bytes copied."""
    total = 0
    for path in files:
        out = target / path.relative_to(base)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, out)
        total += out.stat().st_size
    return total


def assemble(target: Path) -> str:
    """Write the training text under `target` (pretrain/<source>, notes, python-docs); returns a summary."""
    check_present()
    if target.exists():
        shutil.rmtree(target)
    parts = []
    for source in training_sources():
        size = copy_files(source_files(source), source, target / "pretrain" / source.name)
        parts.append(f"{source.name} {size / 1e6:.1f} MB")
    train_notes, held_notes = notes_split()
    size = copy_files(train_notes, NOTES, target / "notes")
    parts.append(f"til-notes training part {size / 1e6:.1f} MB ({len(train_notes)} notes; {len(held_notes)} held out)")
    copies, size = repeat_notes(target, NOTES_REPEATS)
    parts.append(f"its training-side notes again {NOTES_REPEATS} times ({copies} files, {size / 1e6:.1f} MB)")
    topics = write_python_docs(target / "python-docs")
    parts.append(f"{topics} Python doc topics")
    return "; ".join(parts)
