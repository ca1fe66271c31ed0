"""The one exclusion matcher: every reader of the user's files (`train`, `eval`, the
editor's learner, the editor, the language server, the memory) asks it about a path, and
the shell server about a command line.

Patterns are gitignore patterns (pathspec's implementation of git's rules), matched
against a file's whole absolute path, at any depth: `private/` keeps out every folder
named private and everything in it, `notes/private` that folder wherever it is, `*.secret`
and `**/secret*` any file so named; a leading `/` anchors a pattern at the root of the file
system. A path is excluded when the path as given or the file it resolves to matches, so a
link is as excluded as its target and a target as excluded as a link's name (issue 25:
every surface used to match differently)."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import pathspec


def _floating(pattern: str) -> str:
    """A gitignore pattern that matches at any depth of an absolute path (git would anchor a
    pattern with an inner slash at the repository's root; here there is no such root)."""
    negated = pattern.startswith("!")
    body = pattern[1:] if negated else pattern
    if not body.startswith("/") and not body.startswith("**/"):
        body = "**/" + body
    return ("!" if negated else "") + body


@dataclass(frozen=True)
class Exclusions:
    patterns: tuple[str, ...] = ()
    _spec: pathspec.PathSpec = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        spec = pathspec.GitIgnoreSpec.from_lines(_floating(p) for p in self.patterns)
        object.__setattr__(self, "_spec", spec)

    @classmethod
    def of(cls, patterns: Sequence[str]) -> Exclusions:
        return cls(tuple(p for p in patterns if p and p.strip()))

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def matches(self, absolute: str, is_dir: bool = False) -> bool:
        """Whether this absolute path, taken as it is (no link resolved), is excluded. `is_dir`:
        it names a folder, which patterns ending in a slash (`private/`) match."""
        if not self.patterns:
            return False
        relative = absolute.lstrip("/").replace(os.sep, "/")
        return self._spec.match_file(relative + "/" if is_dir else relative)

    def path(self, path: str | os.PathLike | None) -> bool:
        """True when a file at `path` must never be read, suggested in, or learned from: the path
        as given (made absolute) or the file it resolves to matches."""
        if not self.patterns or not path:
            return False
        absolute = os.path.abspath(os.fspath(path))
        resolved = os.path.realpath(absolute)
        is_dir = os.path.isdir(resolved)
        return self.matches(absolute, is_dir) or self.matches(resolved, is_dir)

    def line(self, text: str) -> bool:
        """True when a command line matches a pattern (shell history): the whole line, as a glob."""
        return any(fnmatch.fnmatchcase(text, pattern) for pattern in self.patterns)
