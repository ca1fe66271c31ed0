"""Saving the user's documents: atomically, keeping the file's mode, through symlinks."""

from __future__ import annotations

import os
import time
from pathlib import Path

from charcomplete.atomic import TEMP_MARK, atomic_write

STALE_TEMP_S = 60.0  # a temp file this old belongs to no save in progress: a crash left it


def write_document(path: Path, text: str) -> Path:
    """Write `text` to `path` atomically and return the file written.

    Through a symlink, the link stays and its target gets the new text. A crash at any
    moment leaves the old file or the new one, never a mix; what a crash left behind (a
    hidden `.NAME.tmp-XXXX` beside the file) is removed by a later save."""
    target = Path(os.path.realpath(path))
    atomic_write(target, lambda handle: handle.write(text.encode("utf-8")), mode=None)
    remove_own_stale_temps(target)
    return target


def remove_own_stale_temps(target: Path, older_than_s: float = STALE_TEMP_S) -> int:
    """Delete this document's own crash leftovers (never anything else in the user's folder)."""
    prefix = f".{target.name}{TEMP_MARK}"
    removed = 0
    now = time.time()
    try:
        entries = list(target.parent.iterdir())
    except OSError:
        return 0
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        try:
            if now - entry.lstat().st_mtime >= older_than_s:
                entry.unlink()
                removed += 1
        except OSError:
            pass  # another save may own it, or it is already gone
    return removed
