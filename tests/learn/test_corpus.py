"""Tests for charcomplete.learn.corpus: the careful walk, text normalisation, split and encoding."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest

from charcomplete.core.config import DOC_START
from charcomplete.core.errors import CorpusError
from charcomplete.learn.corpus import Corpus, Document, encode, fingerprint, require_text, scan, split


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    return path


def texts(corpus: Corpus) -> dict[str, bytes]:
    return {doc.relpath: doc.data for doc in corpus.documents}


def scan_with_timeout(*args, **kwargs) -> Corpus:
    """Run scan in a thread: a scan that opens a FIFO would block forever, and the test must fail instead."""
    result: dict[str, object] = {}

    def target() -> None:
        try:
            result["corpus"] = scan(*args, **kwargs)
        except BaseException as exc:  # surfaced below, in the test's thread
            result["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive(), "scan blocked"
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    return result["corpus"]  # type: ignore[return-value]


# --- the walk ---------------------------------------------------------------------------------


def test_reads_text_files_in_path_order(tmp_path: Path) -> None:
    write(tmp_path / "b.txt", "bee\n")
    write(tmp_path / "a" / "z.py", "print(1)\n")
    write(tmp_path / "a.txt", "ay\n")
    corpus = scan([tmp_path])
    assert [doc.relpath for doc in corpus.documents] == ["a/z.py", "a.txt", "b.txt"]  # Path order compares parts
    assert all(doc.path.is_absolute() for doc in corpus.documents)
    assert texts(corpus)["a/z.py"] == b"print(1)\n"
    assert corpus.roots == [tmp_path.resolve()]
    assert corpus.total_bytes == len("bee\n") + len("print(1)\n") + len("ay\n")
    assert corpus.skip_summary() == "skipped none"


def test_hidden_files_and_folders_are_skipped(tmp_path: Path) -> None:
    write(tmp_path / "seen.txt", "hi")
    write(tmp_path / ".secret", "no")
    write(tmp_path / ".cache" / "a.txt", "no")
    write(tmp_path / ".cache" / "b.txt", "no")
    corpus = scan([tmp_path])
    assert list(texts(corpus)) == ["seen.txt"]
    assert corpus.skipped["hidden"] == 2  # the hidden folder counts once, its files not at all


def test_hidden_file_given_directly_is_read(tmp_path: Path) -> None:
    hidden = write(tmp_path / ".bashrc", "alias ll='ls -l'\n")
    corpus = scan([hidden])
    assert [doc.data for doc in corpus.documents] == [b"alias ll='ls -l'\n"]


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="does not exist"):
        scan([tmp_path / "nope"])


def test_binary_files_are_skipped(tmp_path: Path) -> None:
    write(tmp_path / "image.bin", b"\x89PNG\r\n\x00\x00data")
    write(tmp_path / "late.bin", b"a" * 20_000 + b"\x00")  # NUL past the first 8 KB still can't be a document
    write(tmp_path / "ok.txt", "fine")
    corpus = scan([tmp_path])
    assert list(texts(corpus)) == ["ok.txt"]
    assert corpus.skipped["binary"] == 2


def test_too_large_files_are_skipped(tmp_path: Path) -> None:
    write(tmp_path / "big.txt", "x" * 11)
    write(tmp_path / "fits.txt", "y" * 10)
    corpus = scan([tmp_path], max_file_bytes=10)
    assert list(texts(corpus)) == ["fits.txt"]
    assert corpus.skipped["too large"] == 1


def test_empty_files_are_skipped(tmp_path: Path) -> None:
    write(tmp_path / "empty.txt", b"")
    write(tmp_path / "bom-only.txt", b"\xef\xbb\xbf")
    corpus = scan([tmp_path])
    assert corpus.documents == []
    assert corpus.skipped["empty"] == 2


def test_exclude_globs_match_relative_path_and_name(tmp_path: Path) -> None:
    write(tmp_path / "keep.py", "k")
    write(tmp_path / "notes.md", "n")
    write(tmp_path / "docs" / "guide.txt", "g")
    write(tmp_path / "node_modules" / "a" / "b.js", "j")
    corpus = scan([tmp_path], exclude=["*.md", "docs/*", "node_modules"])
    assert list(texts(corpus)) == ["keep.py"]
    assert corpus.skipped["excluded"] == 3  # an excluded folder counts once


# --- links, loops and special files --------------------------------------------------------------


def test_symlink_loops_are_detected(tmp_path: Path) -> None:
    write(tmp_path / "a" / "f.txt", "f")
    os.symlink("..", tmp_path / "a" / "up")  # a folder link back to an ancestor
    os.symlink("ping", tmp_path / "pong")  # two links pointing at each other
    os.symlink("pong", tmp_path / "ping")
    corpus = scan_with_timeout([tmp_path])
    assert list(texts(corpus)) == ["a/f.txt"]
    assert corpus.skipped["symlink loop"] == 3


def test_dangling_links_are_counted(tmp_path: Path) -> None:
    write(tmp_path / "real.txt", "r")
    os.symlink(tmp_path / "gone", tmp_path / "broken")
    corpus = scan([tmp_path])
    assert list(texts(corpus)) == ["real.txt"]
    assert corpus.skipped["dangling link"] == 1


def test_links_are_followed_but_each_file_read_once(tmp_path: Path) -> None:
    root = tmp_path / "root"
    other = root / "elsewhere"
    write(other / "shared.txt", "shared")
    write(other / "solo.txt", "solo")
    os.symlink(other, root / "linked")  # folder link inside the walked folder: followed
    os.symlink(other / "shared.txt", root / "alias.txt")  # file link to a file also reached through the folder link
    corpus = scan([root])
    assert sorted(texts(corpus).values()) == [b"shared", b"solo"]
    assert corpus.skipped["duplicate"] == 2  # alias.txt, and the folder reached again as linked/


def test_links_out_of_the_walked_folder_are_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    write(outside / "system.conf", "root:x:0:0")
    root = tmp_path / "notes"
    write(root / "mine.txt", "mine")
    os.symlink(outside, root / "etc")  # notes/etc -> a folder elsewhere
    os.symlink(outside / "system.conf", root / "conf.txt")
    corpus = scan([root])
    assert list(texts(corpus)) == ["mine.txt"]
    assert corpus.skipped["link out of the folder"] == 2
    # Named directly, the outside folder is read: the user asked for it.
    assert list(texts(scan([root / "etc"]))) == ["system.conf"]


def test_same_folder_given_twice_is_read_once(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", "a")
    corpus = scan([tmp_path, tmp_path])
    assert len(corpus.documents) == 1
    assert corpus.skipped["duplicate"] == 1


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_is_not_opened(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", "a")
    os.mkfifo(tmp_path / "pipe")
    corpus = scan_with_timeout([tmp_path])
    assert list(texts(corpus)) == ["a.txt"]
    assert corpus.skipped["not a regular file"] == 1
    # Named directly it is still never opened.
    assert scan_with_timeout([tmp_path / "pipe"]).skipped["not a regular file"] == 1


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_link_to_device_is_not_read(tmp_path: Path) -> None:
    os.symlink("/dev/zero", tmp_path / "zero")
    corpus = scan_with_timeout([tmp_path])
    assert corpus.documents == []
    assert corpus.skipped["link out of the folder"] == 1
    # Named directly, it is looked at, and never opened.
    assert scan_with_timeout([tmp_path / "zero"]).skipped["not a regular file"] == 1


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads mode-000 files")
def test_unreadable_file_and_folder_are_counted(tmp_path: Path) -> None:
    write(tmp_path / "ok.txt", "ok")
    locked_file = write(tmp_path / "locked.txt", "secret")
    locked_dir = tmp_path / "locked"
    write(locked_dir / "inner.txt", "secret")
    locked_file.chmod(0)
    locked_dir.chmod(0)
    try:
        corpus = scan([tmp_path])
    finally:
        locked_dir.chmod(0o755)
        locked_file.chmod(0o644)
    assert list(texts(corpus)) == ["ok.txt"]
    assert corpus.skipped["unreadable"] == 2


@pytest.mark.skipif(not os.path.exists("/proc/self/mem"), reason="needs Linux /proc")
def test_read_error_is_counted_not_raised(tmp_path: Path) -> None:
    # /proc/self/mem is a regular file whose read at offset 0 fails (EIO; or open fails with
    # EACCES under some sandboxes): a real I/O error that also happens when running as root.
    # Named directly, since a link to it out of the folder would not be followed.
    write(tmp_path / "ok.txt", "ok")
    corpus = scan([tmp_path / "ok.txt", "/proc/self/mem"])
    assert [doc.relpath for doc in corpus.documents] == ["ok.txt"]
    assert corpus.skipped["unreadable"] == 1


# --- .gitignore -----------------------------------------------------------------------------------


@pytest.fixture
def isolated_git(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the user's own git configuration (global excludes, safe.directory) out of the tests."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("isolated_git")
def test_gitignored_files_are_skipped(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True, timeout=30)
    write(repo / ".gitignore", "*.log\nbuild/\n")
    write(repo / "main.py", "code")
    write(repo / "debug.log", "noise")
    write(repo / "build" / "deep" / "out.txt", "generated")
    write(repo / "src" / "lib.py", "more code")
    corpus = scan([repo / "src", repo])  # walking a subfolder still finds the repository above it
    assert sorted(texts(corpus)) == ["lib.py", "main.py"]  # lib.py is first reached as "lib.py" under src/
    assert corpus.skipped["gitignored"] == 2
    assert corpus.skipped["duplicate"] == 1
    # A file named directly is read even if ignored.
    assert [doc.data for doc in scan([repo / "debug.log"]).documents] == [b"noise"]


@pytest.mark.usefixtures("isolated_git")
def test_ignore_rules_are_applied_without_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True, timeout=30)
    write(repo / ".gitignore", "*.log\n")
    write(repo / "debug.log", "noise")
    write(repo / "kept.txt", "kept")
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))  # no git to ask: the rules are read, not run
    corpus = scan([repo])
    assert list(texts(corpus)) == ["kept.txt"]
    assert corpus.skipped["gitignored"] == 1


# --- text normalisation ---------------------------------------------------------------------------


def test_utf16_with_bom_becomes_utf8(tmp_path: Path) -> None:
    write(tmp_path / "le.txt", "héllo wörld\n".encode("utf-16"))  # Python writes a BOM
    write(tmp_path / "be.txt", b"\xfe\xff" + "naïve\n".encode("utf-16-be"))
    corpus = scan([tmp_path])
    assert texts(corpus) == {"be.txt": "naïve\n".encode(), "le.txt": "héllo wörld\n".encode()}
    assert corpus.skipped == {}


def test_utf8_bom_is_stripped(tmp_path: Path) -> None:
    write(tmp_path / "bom.txt", b"\xef\xbb\xbfhello")
    assert texts(scan([tmp_path])) == {"bom.txt": b"hello"}


def test_invalid_utf8_is_kept_as_bytes(tmp_path: Path) -> None:
    write(tmp_path / "latin1.txt", b"caf\xe9 cr\xe8me\n")
    assert texts(scan([tmp_path])) == {"latin1.txt": b"caf\xe9 cr\xe8me\n"}


# --- reporting ------------------------------------------------------------------------------------


def test_skip_summary_and_require_text(tmp_path: Path) -> None:
    write(tmp_path / "a.bin", b"\x00\x01")
    write(tmp_path / "b.bin", b"\x00\x02")
    write(tmp_path / ".hidden", "x")
    corpus = scan([tmp_path])
    assert corpus.skip_summary() == "skipped 3 files: 2 binary, 1 hidden"
    with pytest.raises(CorpusError, match=r"found no text to learn from in .* \(skipped 3 files: 2 binary, 1 hidden\)"):
        require_text(corpus)
    write(tmp_path / "c.txt", "text")
    require_text(scan([tmp_path]))  # no error once there is text


# --- split, encode, fingerprint ---------------------------------------------------------------------


def make_docs(count: int) -> list[Document]:
    return [
        Document(Path(f"/corpus/file{i:03}.txt"), f"content {i}\n".encode(), f"file{i:03}.txt") for i in range(count)
    ]


def test_split_is_deterministic_and_by_document() -> None:
    docs = make_docs(200)
    train, val = split(docs, 0.1)
    assert split(list(reversed(docs)), 0.1) == (list(reversed(train)), list(reversed(val)))
    assert sorted(d.relpath for d in train + val) == [d.relpath for d in docs]  # whole documents, none lost
    assert 5 <= len(val) <= 40  # roughly 10%
    # A document's side depends on its own name, not on what else is in the corpus.
    sub_train, sub_val = split(docs[:100], 0.1)
    assert {d.relpath for d in sub_val} == {d.relpath for d in val} & {d.relpath for d in docs[:100]}


def test_split_keeps_both_sides_non_empty() -> None:
    docs = make_docs(2)
    train, val = split(docs, 0.001)
    assert len(train) == 1 and len(val) == 1
    train, val = split(docs, 0.999)
    assert len(train) == 1 and len(val) == 1


def test_split_of_one_document_splits_its_bytes() -> None:
    doc = Document(Path("/corpus/only.txt"), bytes(range(1, 101)))
    train, val = split([doc], 0.1)
    assert [d.data for d in train] == [bytes(range(1, 91))]
    assert [d.data for d in val] == [bytes(range(91, 101))]
    assert train[0].path == val[0].path == doc.path
    tiny_train, tiny_val = split([Document(Path("/t"), b"ab")], 0.1)
    assert (tiny_train[0].data, tiny_val[0].data) == (b"a", b"b")  # at least one validation byte


def test_split_needs_documents() -> None:
    with pytest.raises(CorpusError):
        split([], 0.1)
    with pytest.raises(CorpusError):
        split([Document(Path("/t"), b"a")], 0.1)
    with pytest.raises(CorpusError, match="validation fraction"):
        split(make_docs(3), 1.0)


def test_encode_layout() -> None:
    docs = [Document(Path("/a"), b"ab"), Document(Path("/b"), b"c")]
    stream = encode(docs)
    assert stream.dtype == np.uint8
    assert stream.tolist() == [DOC_START, ord("a"), ord("b"), DOC_START, ord("c")]
    assert encode([]).shape == (0,)


def test_fingerprint_is_stable_and_content_only() -> None:
    docs = [Document(Path("/a"), b"ab"), Document(Path("/b"), b"c")]
    value = fingerprint(docs)
    # Pinned: changing the format silently would invalidate every cached corpus.
    assert value == "43ee655579de01ca"
    assert fingerprint([Document(Path("/x"), b"ab"), Document(Path("/y"), b"c")]) == value  # paths don't matter
    assert fingerprint([Document(Path("/a"), b"a"), Document(Path("/b"), b"bc")]) != value  # boundaries do
    assert fingerprint([Document(Path("/a"), b"ab"), Document(Path("/b"), b"d")]) != value
