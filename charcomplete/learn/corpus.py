"""Find the text to learn from: walk files and folders the way a careful tool does,
read only what is plainly text, and turn it into one byte stream for training.

The walk never hangs and never crashes on odd entries: FIFOs, devices and sockets are
recognised by `stat` before anything is opened, symlink loops are detected by the
(device, inode) of every folder visited, and unreadable entries are counted rather than
fatal. Every skipped entry is counted under a reason so the user can be told why a
folder yielded less text than expected.

Links: a symbolic link met in the walk is followed only when what it points at lies inside
the folder being walked (its real path), and that target must pass the same hidden and
exclusion checks as the link's own path. A link out of the folder is skipped and counted
("link out of the folder"); a path named directly by the user is always read.

Nothing found in the folders is ever run: .gitignore rules are read by a matcher here, not
by asking git (see IgnoreRules).
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from charcomplete.core.config import DOC_START
from charcomplete.core.errors import CorpusError
from charcomplete.core.exclusions import Exclusions

DEFAULT_MAX_FILE_BYTES = 8 * 1024 * 1024
SNIFF_BYTES = 8192  # how much of a file is checked for NUL before the rest is read (git's own heuristic)
READ_CHUNK = 1024 * 1024

# Byte-order marks. UTF-32 ones are checked first: FF FE 00 00 also starts with the UTF-16 LE mark.
_UTF8_BOM = b"\xef\xbb\xbf"
_UTF32_BOMS = (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")

FileKey = tuple[int, int]  # (st_dev, st_ino): the identity of a file or folder, whatever path reached it


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


# ---------------------------------------------------------------------------------------------
# Scanning


@dataclass
class _Candidate:
    """A regular file found by the walk, not yet read."""

    path: Path  # absolute path as reached (links inside the walked tree are kept, not resolved)
    relpath: str  # relative to the root it was found under
    real_dir: str  # real path of its folder: ignore rules are matched on real paths
    key: FileKey
    size: int
    explicit: bool  # named directly by the user: read even if hidden or git-ignored
    real_path: str = ""  # what a link points at (resolved); for a plain file, real_dir joined with its name


class _Walker:
    """Collects candidate files from the given roots and counts everything it skips."""

    def __init__(self, exclude: Sequence[str]) -> None:
        self.exclusions = Exclusions.of(exclude)
        self.skipped: Counter[str] = Counter()
        self.candidates: list[_Candidate] = []
        self._visited_dirs: set[FileKey] = set()  # shared by all roots, so overlapping roots aren't read twice
        self._root_real = ""  # real path of the folder being walked: links may not lead out of it

    def add_root(self, given: Path) -> Path:
        """Walk or record one path the user gave; return its resolved form."""
        try:
            st = os.stat(given)
        except FileNotFoundError:
            if os.path.islink(given):
                raise CorpusError(f"{given} is a link to something that does not exist") from None
            raise CorpusError(f"{given} does not exist") from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise CorpusError(f"{given} is a symlink loop") from None
            # It exists but can't be looked at (e.g. a folder above it is not searchable).
            self.skipped["unreadable"] += 1
            return given.absolute()
        root = given.resolve()
        if self.exclusions.path(given):  # a folder named on the command line is matched by its own name too
            self.skipped["excluded"] += 1
            return root
        if stat.S_ISDIR(st.st_mode):
            self._root_real = str(root)
            self._walk(root, _key(st))
        elif stat.S_ISREG(st.st_mode):
            self.candidates.append(_Candidate(root, root.name, str(root.parent), _key(st), st.st_size, True, str(root)))
        else:
            self.skipped["not a regular file"] += 1
        return root

    def _walk(self, root: Path, root_key: FileKey) -> None:
        # An explicit stack instead of recursion: a deep tree must not hit Python's recursion limit.
        # Each entry: (folder path, its path relative to root, its key, keys of the folders above it).
        stack: list[tuple[Path, str, FileKey, tuple[FileKey, ...]]] = [(root, "", root_key, ())]
        while stack:
            folder, rel, key, ancestors = stack.pop()
            if key in self._visited_dirs:
                # Reached again through a link: back into one of its own ancestors is a loop,
                # anywhere else it is the same files a second time.
                self.skipped["symlink loop" if key in ancestors else "duplicate"] += 1
                continue
            self._visited_dirs.add(key)
            subfolders = self._scan_folder(folder, rel)
            if subfolders is None:
                continue
            inner = (*ancestors, key)
            # Reversed so that folders are popped, and so walked, in name order.
            for sub_path, sub_rel, sub_key in reversed(subfolders):
                stack.append((sub_path, sub_rel, sub_key, inner))

    def _scan_folder(self, folder: Path, rel: str) -> list[tuple[Path, str, FileKey]] | None:
        """Record the files of one folder; return its subfolders, or None if it can't be listed."""
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda entry: entry.name)
            real_dir = os.path.realpath(folder)
        except OSError:
            self.skipped["unreadable"] += 1
            return None
        subfolders = []
        for entry in entries:
            entry_rel = f"{rel}/{entry.name}" if rel else entry.name
            st = self._stat_entry(entry, entry_rel)
            if st is None:
                continue
            path = folder / entry.name
            real_path = os.path.join(real_dir, entry.name)
            if _is_link(entry):
                real_path = os.path.realpath(path)
                refusal = self._link_refusal(real_path)
                if refusal is not None:
                    self.skipped[refusal] += 1
                    continue
            if stat.S_ISDIR(st.st_mode):
                subfolders.append((path, entry_rel, _key(st)))
            elif stat.S_ISREG(st.st_mode):
                self.candidates.append(
                    _Candidate(path, entry_rel, real_dir, _key(st), st.st_size, False, real_path)
                )
            else:
                self.skipped["not a regular file"] += 1  # FIFO, socket, device: never opened
        return subfolders

    def _stat_entry(self, entry: os.DirEntry, entry_rel: str) -> os.stat_result | None:
        """Stat an entry, following links; count it and return None if it is to be skipped."""
        if entry.name.startswith("."):
            self.skipped["hidden"] += 1  # a hidden folder counts once: it is never entered
            return None
        if self.exclusions.matches(entry.path, _is_dir(entry)):
            self.skipped["excluded"] += 1
            return None
        try:
            return entry.stat(follow_symlinks=True)
        except OSError as exc:
            self.skipped[_stat_failure_reason(entry, exc)] += 1
            return None

    def _link_refusal(self, real_path: str) -> str | None:
        """Why a link found in the walk is not followed, or None to follow it.

        A link is followed only to a place inside the folder being trained, and that place is
        judged like the path itself: `current -> private` is as excluded as `private`, and a
        link to a hidden file as hidden. A link out of the folder (`etc -> /etc`) is never followed."""
        root = self._root_real
        if real_path != root and not real_path.startswith(root.rstrip(os.sep) + os.sep):
            return "link out of the folder"
        real_rel = os.path.relpath(real_path, root).replace(os.sep, "/")
        if real_rel == ".":
            return None  # a link to the folder itself: the walk counts it as a loop
        if any(part.startswith(".") for part in real_rel.split("/")):
            return "hidden"
        if self.exclusions.matches(real_path, os.path.isdir(real_path)):
            return "excluded"
        return None


def _is_dir(entry: os.DirEntry) -> bool:
    """Whether the entry is a folder (a link to one included): from the listing, mostly no syscall."""
    try:
        return entry.is_dir()
    except OSError:
        return False


def _is_link(entry: os.DirEntry) -> bool:
    try:
        return entry.is_symlink()
    except OSError:
        return False


def _key(st: os.stat_result) -> FileKey:
    return (st.st_dev, st.st_ino)


def _stat_failure_reason(entry: os.DirEntry, exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symlink loop"  # links that point at each other
    try:
        is_link = entry.is_symlink()
    except OSError:
        is_link = False
    if is_link and exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return "dangling link"
    return "unreadable"  # permission denied, or it vanished while we looked


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
        raw = _read_up_to(fd, MAX_RULES_BYTES + 1)
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


def _drop_ignored(candidates: list[_Candidate], skipped: Counter[str]) -> list[_Candidate]:
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


# ---------------------------------------------------------------------------------------------
# Reading


def _read_candidate(cand: _Candidate, max_file_bytes: int) -> bytes | str:
    """The file's text as UTF-8-ish bytes, or the reason it is skipped."""
    if cand.size > max_file_bytes:
        return "too large"
    try:
        # O_NONBLOCK: if the file was swapped for a FIFO since it was stat'ed, open must not wait
        # for a writer. It changes nothing for regular files.
        fd = os.open(cand.path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError:
        return "unreadable"
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return "not a regular file"
        if st.st_size > max_file_bytes:
            return "too large"
        head = _read_up_to(fd, SNIFF_BYTES)
        if b"\0" in head and not head.startswith(_UTF16_BOMS + _UTF32_BOMS):
            return "binary"  # decided without reading the rest
        # One byte past the limit tells "exactly at the limit" from "grew past it since stat".
        raw = head + _read_up_to(fd, max_file_bytes + 1 - len(head))
    except OSError:
        return "unreadable"
    finally:
        os.close(fd)
    if len(raw) > max_file_bytes:
        return "too large"
    text = _to_utf8(raw)
    if text is None:
        return "binary"
    if not text:
        return "empty"
    return text


def _read_up_to(fd: int, limit: int) -> bytes:
    """Read until `limit` bytes or end of file (a single read may return less than asked)."""
    chunks = []
    remaining = limit
    while remaining > 0:
        chunk = os.read(fd, min(remaining, READ_CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _to_utf8(raw: bytes) -> bytes | None:
    """Normalise a file's bytes: UTF-16/32 with a BOM become UTF-8, a UTF-8 BOM is dropped,
    anything else is kept as it is (the model reads bytes, so invalid UTF-8 is fine).
    Returns None for binary data: any NUL would collide with the DOC_START separator."""
    codec = None
    if raw.startswith(_UTF32_BOMS):
        codec = "utf-32"
    elif raw.startswith(_UTF16_BOMS):
        codec = "utf-16"
    elif raw.startswith(_UTF8_BOM):
        raw = raw[len(_UTF8_BOM) :]
    if codec is not None:
        try:
            raw = raw.decode(codec).encode("utf-8")  # the codec consumes the BOM
        except UnicodeDecodeError:
            return None  # starts like UTF-16 but isn't: treat as binary
    if b"\0" in raw:
        return None
    return raw


def scan(
    paths: Sequence[Path | str],
    *,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    exclude: Sequence[str] = (),
) -> Corpus:
    """Find the text files under `paths` (files and folders) and read them.

    Raises CorpusError only for a path that does not exist; everything else that can't be
    used is counted in `Corpus.skipped`. The corpus may be empty: see `require_text`."""
    if isinstance(paths, (str, Path)):
        paths = [paths]  # a lone string would otherwise be walked one character at a time
    if not paths:
        raise CorpusError("give at least one file or folder to learn from")
    if max_file_bytes < 1:
        raise CorpusError(f"the largest file size to read must be at least 1 byte, not {max_file_bytes!r}")

    walker = _Walker(exclude)
    roots = [walker.add_root(Path(path).expanduser()) for path in paths]
    skipped = walker.skipped
    candidates = _drop_ignored(walker.candidates, skipped)

    documents = []
    seen: set[FileKey] = set()
    # In path order, so which of two links to one file is kept doesn't depend on the walk.
    for cand in sorted(candidates, key=lambda c: c.path):
        if cand.key in seen:
            skipped["duplicate"] += 1
            continue
        seen.add(cand.key)
        result = _read_candidate(cand, max_file_bytes)
        if isinstance(result, str):
            skipped[result] += 1
        else:
            documents.append(Document(cand.path, result, cand.relpath))
    return Corpus(documents, skipped, roots)


def require_text(corpus: Corpus) -> None:
    """Raise CorpusError, saying why, if the scan found nothing to learn from."""
    if not corpus.documents:
        where = ", ".join(str(root) for root in corpus.roots) or "the given paths"
        raise CorpusError(f"found no text to learn from in {where} ({corpus.skip_summary()})")


# ---------------------------------------------------------------------------------------------
# Training data


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
