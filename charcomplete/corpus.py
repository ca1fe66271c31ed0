"""Find the text to learn from: walk files and folders the way a careful tool does,
read only what is plainly text, and turn it into one byte stream for training.

The walk never hangs and never crashes on odd entries: FIFOs, devices and sockets are
recognised by `stat` before anything is opened, symlink loops are detected by the
(device, inode) of every folder visited, and unreadable entries are counted rather than
fatal. Every skipped entry is counted under a reason so the user can be told why a
folder yielded less text than expected.
"""

from __future__ import annotations

import errno
import fnmatch
import hashlib
import logging
import os
import stat
import subprocess
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from charcomplete.config import DOC_START
from charcomplete.errors import CorpusError

log = logging.getLogger(__name__)

DEFAULT_MAX_FILE_BYTES = 8 * 1024 * 1024
SNIFF_BYTES = 8192  # how much of a file is checked for NUL before the rest is read (git's own heuristic)
READ_CHUNK = 1024 * 1024
GIT_TIMEOUT_S = 30.0

# Byte-order marks. UTF-32 ones are checked first: FF FE 00 00 also starts with the UTF-16 LE mark.
_UTF8_BOM = b"\xef\xbb\xbf"
_UTF32_BOMS = (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")

# Variables that would point git at some other repository than the one the files live in
# (they are set, for instance, when charcomplete runs from inside a git hook).
_GIT_REDIRECTING_ENV = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
    "GIT_PREFIX",
)

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
    real_dir: str  # real path of its folder: git refuses paths that go through a symlink
    key: FileKey
    size: int
    explicit: bool  # named directly by the user: read even if hidden or git-ignored


class _Walker:
    """Collects candidate files from the given roots and counts everything it skips."""

    def __init__(self, exclude: Sequence[str]) -> None:
        # A trailing slash ("build/") is how people write folder patterns; fnmatch wants the bare name.
        self.exclude = [pattern.rstrip("/") or pattern for pattern in exclude]
        self.skipped: Counter[str] = Counter()
        self.candidates: list[_Candidate] = []
        self._visited_dirs: set[FileKey] = set()  # shared by all roots, so overlapping roots aren't read twice

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
        if stat.S_ISDIR(st.st_mode):
            self._walk(root, _key(st))
        elif stat.S_ISREG(st.st_mode):
            if self._excluded(root.name, root.name):
                self.skipped["excluded"] += 1
            else:
                self.candidates.append(_Candidate(root, root.name, str(root.parent), _key(st), st.st_size, True))
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
            if stat.S_ISDIR(st.st_mode):
                subfolders.append((path, entry_rel, _key(st)))
            elif stat.S_ISREG(st.st_mode):
                self.candidates.append(_Candidate(path, entry_rel, real_dir, _key(st), st.st_size, False))
            else:
                self.skipped["not a regular file"] += 1  # FIFO, socket, device: never opened
        return subfolders

    def _stat_entry(self, entry: os.DirEntry, entry_rel: str) -> os.stat_result | None:
        """Stat an entry, following links; count it and return None if it is to be skipped."""
        if entry.name.startswith("."):
            self.skipped["hidden"] += 1  # a hidden folder counts once: it is never entered
            return None
        if self._excluded(entry_rel, entry.name):
            self.skipped["excluded"] += 1
            return None
        try:
            return entry.stat(follow_symlinks=True)
        except OSError as exc:
            self.skipped[_stat_failure_reason(entry, exc)] += 1
            return None

    def _excluded(self, rel: str, name: str) -> bool:
        return any(fnmatch.fnmatch(rel, pattern) or fnmatch.fnmatch(name, pattern) for pattern in self.exclude)


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
# .gitignore


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


def _drop_gitignored(candidates: list[_Candidate], skipped: Counter[str]) -> list[_Candidate]:
    """Remove walked files that git would ignore: one `git check-ignore` per repository."""
    finder = _RepoFinder()
    by_repo: dict[str, list[tuple[bytes, _Candidate]]] = defaultdict(list)
    for cand in candidates:
        if cand.explicit:
            continue  # a file named directly is wanted, ignored or not
        repo = finder.find(cand.real_dir)
        if repo is not None:
            # Relative to the repo through the file's real folder: git refuses "beyond a symbolic link".
            rel = os.path.relpath(os.path.join(cand.real_dir, cand.path.name), repo)
            by_repo[repo].append((os.fsencode(rel), cand))

    ignored_ids: set[int] = set()
    for repo, items in by_repo.items():
        ignored = _git_check_ignore(repo, [rel for rel, _ in items])
        ignored_ids.update(id(cand) for rel, cand in items if rel in ignored)
    if ignored_ids:  # no zero entry: skip_summary and equality checks should not see it
        skipped["gitignored"] += len(ignored_ids)
    return [cand for cand in candidates if id(cand) not in ignored_ids]


def _git_check_ignore(repo: str, rels: list[bytes]) -> set[bytes]:
    """The subset of `rels` that git ignores in `repo`; empty if git is missing or fails."""
    env = {name: value for name, value in os.environ.items() if name not in _GIT_REDIRECTING_ENV}
    env["GIT_OPTIONAL_LOCKS"] = "0"  # a read-only question must not take the index lock
    try:
        proc = subprocess.run(
            ["git", "-C", repo, "check-ignore", "--stdin", "-z"],
            input=b"".join(rel + b"\0" for rel in rels),
            capture_output=True,
            timeout=GIT_TIMEOUT_S,
            env=env,
            check=False,
        )
    except FileNotFoundError:
        log.debug("git is not installed; not applying .gitignore rules in %s", repo)
        return set()
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("could not read .gitignore rules in %s (%s); ignored files are included", repo, exc)
        return set()
    # Exit status 0: some paths are ignored, 1: none are; anything else is a failure.
    if proc.returncode not in (0, 1):
        message = proc.stderr.decode(errors="replace").strip().splitlines()
        detail = message[0] if message else f"exit status {proc.returncode}"
        log.warning("could not read .gitignore rules in %s (git: %s); ignored files are included", repo, detail)
        return set()
    return {path for path in proc.stdout.split(b"\0") if path}


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
    candidates = _drop_gitignored(walker.candidates, skipped)

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
    """A stable number in [0, 1000) from the document's relative path (not its content, so
    editing a file doesn't move it between training and validation)."""
    digest = hashlib.sha256(doc.relpath.encode("utf-8", "surrogateescape")).hexdigest()
    return int(digest[:8], 16) % 1000


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
