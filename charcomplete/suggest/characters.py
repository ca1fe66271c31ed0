"""Bytes and characters: word and stop bytes, control characters, UTF-8 boundaries, and the
next word of a suggestion (what Ctrl+Right takes). A suggestion never ends inside a character."""

from __future__ import annotations

import re

from charcomplete.core.config import DOC_START
from charcomplete.suggest.policy import _NEWLINES, _NEXT_WORD


def is_word_byte(byte: int) -> bool:
    """Letters, digits, '_' and every non-ASCII byte (so words in any script are words)."""
    return byte >= 0x80 or byte == 0x5F or 0x30 <= byte <= 0x39 or 0x41 <= byte <= 0x5A or 0x61 <= byte <= 0x7A


def is_stop_byte(byte: int) -> bool:
    """Bytes a suggestion never contains: line ends, the document marker, other controls."""
    return byte in _NEWLINES or byte == DOC_START or (byte < 0x20 and byte != 0x09) or byte == 0x7F


# Control characters: C0 but tab (line ends and the document marker included), DEL, and C1
# (U+0080-U+009F: CSI, OSC, NEL...), which is two UTF-8 bytes, C2 80-9F. is_stop_byte keeps C0
# and DEL out of the search; no single byte says "stop" for C1, so a suggestion is cut before it.
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]|\xc2[\x80-\x9f]")


def printable_length(data: bytes) -> int:
    """Length of the prefix of `data` (whole UTF-8 characters) before its first control
    character. A shell writes a suggestion raw to the terminal, where any of them is an
    escape: no surface ever shows one."""
    found = _CONTROL.search(data)
    return len(data) if found is None else found.start()


def is_continuation(byte: int) -> bool:
    return byte & 0xC0 == 0x80


def valid_utf8_length(data: bytes) -> int:
    """Length of the longest prefix of `data` that is whole, valid UTF-8 characters."""
    try:
        data.decode("utf-8")
        return len(data)
    except UnicodeDecodeError as error:
        return error.start


def unfinished_tail(data: bytes) -> int:
    """How many bytes at the end of `data` start a UTF-8 character they do not finish."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte < 0x80:
            return 0
        if byte >= 0xC0:  # a lead byte: is its whole sequence there?
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return back if back < need else 0
    return 0


def next_word(suggestion: str) -> str:
    """What Ctrl+Right accepts of `suggestion`: its next word with the space before it."""
    match = _NEXT_WORD.match(suggestion)
    return match.group(0) if match else suggestion
