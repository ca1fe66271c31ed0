"""Issue 14, items 4 and 5: a save writes back every byte the user did not edit, and keeps
the file's identity (owner, group, hard links, extended attributes); a file the text area
cannot represent is refused at open; a read-only file is overwritten only when confirmed.
Driven through the real editor (Textual's Pilot) and real files."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap

import pytest

from charcomplete.core.errors import CharcompleteError
from charcomplete.editor import EditorApp, read_document
from charcomplete.editor.widgets import ReadOnlyScreen
from charcomplete.model.engine import Engine
from charcomplete.storage.documents import ReadOnlyDocumentError, backup_path, write_document
from tests.helpers import CLI, cli_env

SIZE = (100, 30)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load("default")  # the packaged model: suggestions play no part here


def make_app(engine, path) -> EditorApp:
    return EditorApp(path, engine, learn=False, cache=False)


# --- item 4: every byte outside the edits comes back --------------------------------------------

KEPT_AS_IS = {
    "crlf": b"first line\r\nsecond line\r\n",
    "cr only": b"old mac\rline endings\r",
    "no final newline": b"no newline at the end",
    "bom, tabs, trailing spaces": b"\xef\xbb\xbf\tindented  \nnext\t\n",
    "blank lines": b"\n\n\na\n\n",
    "unicode": "caf\u00e9 \u2014 \u65e5\u672c \U0001f600\n".encode(),
}


@pytest.mark.parametrize("kind", sorted(KEPT_AS_IS))
async def test_saving_without_edits_writes_back_every_byte(engine, tmp_path, kind):
    path = tmp_path / "doc.txt"
    path.write_bytes(KEPT_AS_IS[kind])
    app = make_app(engine, path)
    async with app.run_test(size=SIZE) as pilot:
        app.action_save()
        await pilot.pause()
    assert path.read_bytes() == KEPT_AS_IS[kind]


async def test_an_edit_changes_only_what_was_typed(engine, tmp_path):
    path = tmp_path / "doc.txt"
    original = b"one\r\ntwo\r\nthree"
    path.write_bytes(original)
    app = make_app(engine, path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("down", "down", "end", "!", "enter", "x", "ctrl+s")
        await pilot.pause()
    assert path.read_bytes() == b"one\r\ntwo\r\nthree!\r\nx"  # the new line break in the file's own style


REFUSED = {
    "form feed": (b"page one\n\x0cpage two\n", "a form feed"),
    "vertical tab": (b"a\x0bb\n", "a vertical tab"),
    "line separator": ("a\u2028b\n".encode(), "a line separator (U+2028)"),
    "next line": ("a\u0085b\n".encode(), "a next-line character (U+0085)"),
    "paragraph separator": ("a\u2029b\n".encode(), "a paragraph separator (U+2029)"),
    "lone cr": (b"a\nb\rc\n", "mixed line endings (LF and CR)"),
    "mixed lf crlf": (b"a\r\nb\nc\r\n", "mixed line endings (CRLF and LF)"),
}


@pytest.mark.parametrize("kind", sorted(REFUSED))
def test_a_file_the_editor_would_change_is_refused_in_one_sentence(tmp_path, kind):
    data, words = REFUSED[kind]
    path = tmp_path / "doc.txt"
    path.write_bytes(data)
    with pytest.raises(CharcompleteError) as refused:
        read_document(path)
    assert words in str(refused.value)
    assert "\n" not in str(refused.value)
    assert path.read_bytes() == data


def test_edit_refuses_such_a_file_from_the_command_line(tmp_path):
    path = tmp_path / "doc.txt"
    path.write_bytes(b"a\r\nb\n")
    result = subprocess.run([*CLI, "edit", str(path)], capture_output=True, text=True, env=cli_env(), timeout=60)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "mixed line endings" in result.stderr
    assert "Traceback" not in result.stderr
    assert path.read_bytes() == b"a\r\nb\n"


# --- item 5: the file keeps its identity ---------------------------------------------------------


def test_a_hard_link_is_not_split(tmp_path):
    path = tmp_path / "doc.txt"
    path.write_text("old\n")
    other = tmp_path / "other-name.txt"
    os.link(path, other)
    inode = path.stat().st_ino
    write_document(path, "new\n")
    assert other.read_text() == "new\n"
    assert path.stat().st_ino == inode
    assert not backup_path(path).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["doc.txt", "other-name.txt"]


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_owner_and_group_are_kept(tmp_path):
    path = tmp_path / "doc.txt"
    path.write_text("old\n")
    os.chown(path, 12345, 23456)
    path.chmod(0o664)
    write_document(path, "new\n")
    info = path.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (12345, 23456, 0o664)
    assert path.read_text() == "new\n"


def test_extended_attributes_are_kept(tmp_path):
    path = tmp_path / "doc.txt"
    path.write_text("old\n")
    try:
        os.setxattr(path, "user.charcomplete-test", b"tag")
    except OSError:
        pytest.skip("this filesystem has no user extended attributes")
    write_document(path, "new\n")
    assert os.getxattr(path, "user.charcomplete-test") == b"tag"
    assert path.read_text() == "new\n"


def test_a_plain_file_is_still_saved_by_rename(tmp_path):
    path = tmp_path / "doc.txt"
    path.write_text("old\n")
    inode = path.stat().st_ino
    write_document(path, "new\n")
    assert path.stat().st_ino != inode  # the crash-safe rename: a reader sees old or new, whole


def test_a_failed_in_place_write_puts_the_old_text_back(tmp_path, monkeypatch):
    import charcomplete.storage.documents as documents

    path = tmp_path / "doc.txt"
    path.write_text("old text\n")
    os.link(path, tmp_path / "link.txt")
    real_write_all = documents._write_all
    calls = []

    def failing(fd, data):
        calls.append(data)
        if len(calls) == 2:  # the document's own write (the first is the backup)
            real_write_all(fd, data[:3])
            raise OSError(28, "No space left on device")
        real_write_all(fd, data)

    monkeypatch.setattr(documents, "_write_all", failing)
    with pytest.raises(OSError):
        write_document(path, "new text that is longer\n")
    assert path.read_text() == "old text\n"
    assert not backup_path(path).exists()


def test_the_backup_holds_the_old_text_while_writing_in_place(tmp_path, monkeypatch):
    import charcomplete.storage.documents as documents

    path = tmp_path / "doc.txt"
    path.write_text("old text\n")
    os.link(path, tmp_path / "link.txt")
    seen = []
    real_overwrite = documents._overwrite

    def watch(target, data):
        seen.append(backup_path(target).read_bytes())
        real_overwrite(target, data)

    monkeypatch.setattr(documents, "_overwrite", watch)
    write_document(path, "new\n")
    assert seen == [b"old text\n"]
    assert (tmp_path / "link.txt").read_text() == "new\n"  # the other name sees the new text
    assert not backup_path(path).exists()


def test_a_read_only_file_is_not_overwritten_without_confirmation(tmp_path):
    path = tmp_path / "doc.txt"
    path.write_text("old\n")
    path.chmod(0o444)
    with pytest.raises(ReadOnlyDocumentError):
        write_document(path, "new\n")
    assert path.read_text() == "old\n"
    write_document(path, "new\n", overwrite_read_only=True)
    assert path.read_text() == "new\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o444


async def test_the_editor_asks_before_overwriting_a_read_only_file(engine, tmp_path):
    path = tmp_path / "doc.txt"
    path.write_text("old\n")
    path.chmod(0o444)
    app = make_app(engine, path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("end", "x", "ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, ReadOnlyScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert path.read_text() == "old\n"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, ReadOnlyScreen)
        await pilot.press("o")
        await pilot.pause()
        assert path.read_text() == "oldx\n"
        assert app.saved_text == "oldx\n"


def test_an_interrupted_in_place_save_is_reported_at_open(tmp_path):
    """SIGKILL half-way through an in-place write (a hard-linked file): the backup holds the
    old text, and the next open says where it is instead of editing a half-written file."""
    path = tmp_path / "doc.txt"
    path.write_text("the old text\n")
    os.link(path, tmp_path / "link.txt")
    child = textwrap.dedent("""
        import os, sys, time
        import charcomplete.storage.documents as documents

        def half_then_hang(target, data):
            fd = os.open(target, os.O_WRONLY)
            os.write(fd, data[:5])
            os.fsync(fd)
            os.close(fd)
            print("half", flush=True)
            time.sleep(120)

        documents._overwrite = half_then_hang
        documents.write_document(sys.argv[1], "a new text, longer than the old\\n")
    """)
    process = subprocess.Popen([sys.executable, "-c", child, str(path)], stdout=subprocess.PIPE, text=True,
                               env=cli_env())
    assert process.stdout.readline().strip() == "half"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    backup = backup_path(path)
    assert backup.read_text() == "the old text\n"
    assert path.read_text() != "the old text\n"  # half written: what the backup is for
    with pytest.raises(CharcompleteError, match="was interrupted") as refused:
        read_document(path)
    assert str(backup) in str(refused.value)


def test_a_file_over_the_open_limit_is_refused_in_one_sentence(tmp_path):
    from charcomplete.editor.reading import MAX_DOCUMENT_BYTES

    path = tmp_path / "huge.md"
    with open(path, "wb") as handle:
        handle.truncate(MAX_DOCUMENT_BYTES + 1)
    with pytest.raises(CharcompleteError, match="larger than 4 MiB"):
        read_document(path)
