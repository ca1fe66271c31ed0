"""Opening a file in the editor: which files it refuses (a folder, a binary or non-UTF-8
file, one too big to edit, one whose line breaks a save would change, one whose save was
interrupted) and why, in one sentence; and the disk stamp that tells a save whether another
program changed the file since it was read.

No Textual here but the text area's own document model, asked last whether it keeps a text as it is."""

from __future__ import annotations

from pathlib import Path

from charcomplete.core.errors import CharcompleteError
from charcomplete.learn.corpus import SNIFF_BYTES
from charcomplete.storage.documents import interrupted_save_backup

# A bigger file is not notes. At the old 32 MiB limit a file took 22 s to open and 2.5 s per
# keystroke (issue 14). Measured under load with the Pilot: 4 MiB opens in about 5 s and a
# keystroke costs about 30 ms of CPU; 16 MiB took 21 s and over a second per keystroke.
MAX_DOCUMENT_BYTES = 4 * 1024 * 1024

# Characters that str.splitlines, and so the text area, treats as line breaks but writes back
# as the document's newline: a file holding one would be changed by a save without edits.
_FOREIGN_BREAKS = {
    "\f": "a form feed", "\v": "a vertical tab", "\x1c": "a file separator (U+001C)",
    "\x1d": "a group separator (U+001D)", "\x1e": "a record separator (U+001E)",
    "\x85": "a next-line character (U+0085)", "\u2028": "a line separator (U+2028)",
    "\u2029": "a paragraph separator (U+2029)",
}


def unrepresentable(text: str) -> str | None:
    """What in `text` the text area cannot keep as it is (it would be changed on saving),
    in words; None when a save without edits writes back every byte."""
    for char, words in _FOREIGN_BREAKS.items():
        if char in text:
            return words
    crlf = text.count("\r\n")
    styles = [name for name, count in (("CRLF", crlf), ("LF", text.count("\n") - crlf),
                                       ("CR", text.count("\r") - crlf)) if count]
    if len(styles) > 1:
        return f"mixed line endings ({' and '.join(styles)})"
    from textual.widgets.text_area import Document  # the text area's own model: the final word

    if Document(text).text != text:
        return "characters"
    return None


def read_document(path: Path) -> str:
    """The text of `path` for editing ("" when it does not exist yet); CharcompleteError if it can't be edited."""
    path = Path(path)
    if path.is_dir():
        raise CharcompleteError(f"{path} is a folder; give the file to edit")
    if not path.exists():
        if path.is_symlink():
            raise CharcompleteError(f"{path} is a link to something that does not exist")
        if not path.parent.is_dir():
            raise CharcompleteError(f"cannot create {path}: the folder {path.parent} does not exist")
        return ""
    if not path.is_file():
        raise CharcompleteError(f"{path} is not a regular file")
    backup = interrupted_save_backup(path)
    if backup is not None:
        raise CharcompleteError(
            f"a save of {path} was interrupted and its previous contents are in {backup}; "
            "compare the two, keep what you need and remove the backup, then open it again"
        )
    try:
        if path.stat().st_size > MAX_DOCUMENT_BYTES:
            limit = MAX_DOCUMENT_BYTES // 2**20
            raise CharcompleteError(f"{path} is larger than {limit} MiB; it is too big to edit here")
        raw = path.read_bytes()
    except PermissionError:
        raise CharcompleteError(f"{path} cannot be read (permission denied)") from None
    except OSError as error:
        raise CharcompleteError(f"{path} cannot be read ({error.strerror or error})") from None
    if b"\0" in raw[:SNIFF_BYTES]:
        raise CharcompleteError(f"{path} looks like a binary file; charcomplete edits text")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CharcompleteError(f"{path} is not UTF-8 text; charcomplete edits UTF-8 files only") from None
    problem = unrepresentable(text)
    if problem is not None:
        raise CharcompleteError(
            f"{path} contains {problem} that the editor would change on saving, so it is not opened and stays as it is"
        )
    return text


def disk_stamp(path: Path | None) -> tuple[int, int, int] | None:
    """What identifies a file's content version cheaply: (inode, size, mtime in ns); None when absent.
    An editor that saves by renaming changes the inode, one that writes in place the mtime."""
    if path is None:
        return None
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_ino, info.st_size, info.st_mtime_ns
