"""Ignore rules (.gitignore and git's other exclude files), read without running git."""

from __future__ import annotations

import os
import stat
from collections import Counter

from charcomplete.learn.folders import Candidate, read_up_to

# ---------------------------------------------------------------------------------------------
# .gitignore, read without running git
#
# git honours a repository's own `.git/config`, and that config can name commands
# (core.fsmonitor, hooks, filters): asking git about a folder someone else wrote runs what
# they wrote. So git is never run. The rules are read the way ripgrep reads them: the global
# excludes file, `.git/info/exclude`, then every `.gitignore` from the work tree's root down
# to the file's folder, later and deeper rules winning, a file inside an ignored folder
# ignored whatever its own rules say. Anything that cannot be checked (a rules file that
# cannot be read, a `.git` that points nowhere) fails closed: the files it governs are
# skipped and counted as "ignore rules unreadable", never trained on.

MAX_RULES_BYTES = 1024 * 1024  # a .gitignore larger than this is not one; its files are skipped
UNREADABLE_RULES = "ignore rules unreadable"


class _Unreadable:
    """Marks a rules source that exists but cannot be read: what it governs is skipped."""


_UNREADABLE = _Unreadable()


def _read_rules(path: str) -> object:
    """A rules file as a GitIgnoreSpec; None when it does not exist; _UNREADABLE otherwise."""
    import pathspec

    try:
        # O_NONBLOCK: a FIFO named .gitignore must not block the walk (it is refused below).
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError:
        return _UNREADABLE
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_RULES_BYTES:
            return _UNREADABLE
        raw = read_up_to(fd, MAX_RULES_BYTES + 1)
    except OSError:
        return _UNREADABLE
    finally:
        os.close(fd)
    if len(raw) > MAX_RULES_BYTES:
        return _UNREADABLE
    lines = raw.decode("utf-8", "surrogateescape").splitlines()
    try:
        return pathspec.GitIgnoreSpec.from_lines(lines)
    except Exception:  # noqa: BLE001 - pathspec raises several types for a pattern it cannot compile
        return _UNREADABLE


def _global_excludes_file() -> str | None:
    """Where git's global excludes file is: core.excludesFile of the user's own git config,
    else $XDG_CONFIG_HOME/git/ignore (the user's files, not the corpus's)."""
    config_home = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    if os.environ.get("GIT_CONFIG_GLOBAL"):
        configs = [os.environ["GIT_CONFIG_GLOBAL"]]
    else:
        configs = [os.path.join(config_home, "git", "config"), os.path.expanduser("~/.gitconfig")]
    found = None
    for config in configs:  # the later file wins, as in git
        value = _core_excludes_file(config)
        if value is not None:
            found = value
    if found is not None:
        return os.path.expanduser(found) if found else None
    return os.path.join(config_home, "git", "ignore")


def _core_excludes_file(config: str) -> str | None:
    """core.excludesFile from one git config file (a plain reading: [core] then key = value)."""
    try:
        with open(config, "rb") as handle:
            text = handle.read(MAX_RULES_BYTES).decode("utf-8", "surrogateescape")
    except OSError:
        return None
    section = ""
    value = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line.strip("[]").strip().split()[0].lower() if line.strip("[]").strip() else ""
            continue
        if section != "core" or "=" not in line:
            continue
        key, _, rest = line.partition("=")
        if key.strip().lower() == "excludesfile":
            rest = rest.split(" #")[0].split(" ;")[0].strip()
            value = rest[1:-1] if len(rest) >= 2 and rest[0] == rest[-1] == '"' else rest
    return value


def _info_exclude_of(repo: str) -> str | None:
    """The path of `.git/info/exclude` for the work tree at `repo`; None when it cannot be found
    (a `.git` file that points nowhere): the repository's rules cannot be checked."""
    dot_git = os.path.join(repo, ".git")
    try:
        st = os.stat(dot_git)
    except OSError:
        return None
    if stat.S_ISDIR(st.st_mode):
        return os.path.join(dot_git, "info", "exclude")
    # A worktree or submodule: `.git` is a file saying "gitdir: PATH"; a worktree's rules live
    # in the common folder its `commondir` names.
    try:
        with open(dot_git, "rb") as handle:
            first = handle.read(4096).decode("utf-8", "surrogateescape").splitlines()[:1]
    except OSError:
        return None
    if not first or not first[0].startswith("gitdir:"):
        return None
    git_dir = os.path.join(repo, first[0][len("gitdir:"):].strip())
    if not os.path.isdir(git_dir):
        return None
    try:
        with open(os.path.join(git_dir, "commondir"), "rb") as handle:
            common = handle.read(4096).decode("utf-8", "surrogateescape").strip()
        git_dir = os.path.join(git_dir, common)
    except FileNotFoundError:
        pass
    except OSError:
        return None
    return os.path.join(git_dir, "info", "exclude")


class _RepoFinder:
    """Maps a folder to the root of the git work tree it is in (nearest ancestor holding `.git`)."""

    def __init__(self) -> None:
        self._cache: dict[str, str | None] = {}

    def find(self, real_dir: str) -> str | None:
        seen = []
        current = real_dir
        while current not in self._cache:
            seen.append(current)
            # `.git` may be a folder, or a file in worktrees and submodules: any entry will do.
            if os.path.lexists(os.path.join(current, ".git")):
                self._cache[current] = current
                break
            parent = os.path.dirname(current)
            if parent == current:  # reached the filesystem root
                self._cache[current] = None
                break
            current = parent
        found = self._cache[current]
        for folder in seen:
            self._cache[folder] = found
        return found


class IgnoreRules:
    """Answers "would git ignore this file?" for files in any work tree, without running git."""

    def __init__(self) -> None:
        self._finder = _RepoFinder()
        self._global: object | None = None
        self._global_read = False
        self._repo_rules: dict[str, object] = {}  # repo -> its info/exclude rules
        self._folder_rules: dict[str, object] = {}  # folder -> its .gitignore rules
        self._verdicts: dict[str, str | None] = {}  # real folder -> reason its files are skipped, or None

    def reason_to_skip(self, real_path: str) -> str | None:
        """None when the file at `real_path` (a resolved path) may be read; otherwise why not:
        "gitignored" or "ignore rules unreadable"."""
        folder, name = os.path.split(real_path)
        repo = self._finder.find(folder)
        if repo is None:
            return None  # not in a work tree: no gitignore rules apply
        folder_verdict = self._folder_verdict(repo, folder)
        if folder_verdict is not None:
            return folder_verdict
        rel = os.path.relpath(real_path, repo).replace(os.sep, "/")
        return self._decide(repo, rel, is_dir=False)

    def _folder_verdict(self, repo: str, folder: str) -> str | None:
        """Whether `folder` or a folder above it (up to `repo`) is ignored or cannot be checked."""
        chain = []  # the folders from `folder` up to the first one already decided (no recursion: deep trees)
        current = folder
        while current not in self._verdicts and current != repo:
            chain.append(current)
            current = os.path.dirname(current)
        verdict = self._verdicts.get(current)  # the repository's root itself is never ignored
        for inner in reversed(chain):
            if verdict is None:
                verdict = self._decide(repo, os.path.relpath(inner, repo).replace(os.sep, "/"), is_dir=True)
            self._verdicts[inner] = verdict
        return verdict

    def _sources(self, repo: str, rel: str) -> list[tuple[str, object]]:
        """The rules that apply to `rel` (relative to repo), weakest first, each with the folder
        (relative to repo) its patterns are relative to."""
        sources: list[tuple[str, object]] = [("", self._global_rules()), ("", self._info_exclude(repo))]
        parts = rel.split("/")[:-1]  # the folders above the path: their .gitignore files apply
        base = ""
        sources.append(("", self._gitignore(repo)))
        for part in parts:
            base = f"{base}/{part}" if base else part
            sources.append((base, self._gitignore(os.path.join(repo, base))))
        return sources

    def _decide(self, repo: str, rel: str, is_dir: bool) -> str | None:
        ignored = False
        for base, rules in self._sources(repo, rel):
            if rules is None:
                continue
            if rules is _UNREADABLE:
                return UNREADABLE_RULES
            sub = rel[len(base) + 1:] if base else rel
            result = rules.check_file(sub + "/" if is_dir else sub)  # type: ignore[attr-defined]
            if result.include is not None:
                ignored = result.include  # the last rule that matches decides (negation: "!pattern")
        return "gitignored" if ignored else None

    def _global_rules(self) -> object:
        if not self._global_read:
            path = _global_excludes_file()
            self._global = _read_rules(path) if path else None
            self._global_read = True
        return self._global

    def _info_exclude(self, repo: str) -> object:
        if repo not in self._repo_rules:
            path = _info_exclude_of(repo)
            self._repo_rules[repo] = _UNREADABLE if path is None else _read_rules(path)
        return self._repo_rules[repo]

    def _gitignore(self, folder: str) -> object:
        if folder not in self._folder_rules:
            self._folder_rules[folder] = _read_rules(os.path.join(folder, ".gitignore"))
        return self._folder_rules[folder]


def drop_ignored(candidates: list[Candidate], skipped: Counter[str]) -> list[Candidate]:
    """Remove walked files that git would ignore (or whose rules cannot be read), counting each."""
    rules = IgnoreRules()
    kept = []
    for cand in candidates:
        if cand.explicit:
            kept.append(cand)  # a file named directly is wanted, ignored or not
            continue
        # The link as git sees it (its own path) and, for a link, what it points at: either ignored is enough.
        reason = rules.reason_to_skip(os.path.join(cand.real_dir, cand.path.name))
        if reason is None and cand.real_path != os.path.join(cand.real_dir, cand.path.name):
            reason = rules.reason_to_skip(cand.real_path)
        if reason is None:
            kept.append(cand)
        else:
            skipped[reason] += 1
    return kept
