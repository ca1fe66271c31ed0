"""Exclude globs for readers that see one path at a time (the language server) or one
command line at a time (the shell server), matched the way `train` matches them.

`train` walks folders and matches each file's and folder's path relative to the root
it was given, or its name (corpus._Walker). A language server sees absolute paths, so a
pattern is tried against the name, every folder name, and every trailing run of path
parts ("private/*" excludes .../private/plan.md; "*.secret" any file so named)."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath


@dataclass(frozen=True)
class Exclusions:
    patterns: tuple[str, ...] = ()

    @classmethod
    def of(cls, patterns: Sequence[str]) -> Exclusions:
        return cls(tuple(p.rstrip("/") or p for p in patterns if p))

    def path(self, path: str | None) -> bool:
        """True when a file at `path` must never be read, suggested in, or learned from."""
        if not self.patterns or not path:
            return False
        parts = [part for part in PurePosixPath(path).parts if part != "/"]
        candidates = {path, *("/".join(parts[i:]) for i in range(len(parts))), *parts}
        return any(fnmatch.fnmatchcase(text, pattern) for text in candidates for pattern in self.patterns)

    def line(self, text: str) -> bool:
        """True when a command line matches a pattern (shell history)."""
        return any(fnmatch.fnmatchcase(text, pattern) for pattern in self.patterns)
