"""Bytes and characters: word and stop bytes, control characters, UTF-8 boundaries, the keys a
character costs to type, and the next word of a suggestion (what Ctrl+Right takes). A suggestion
never ends inside a character."""

from __future__ import annotations

import functools
import re
import unicodedata

from charcomplete.core.config import DOC_START

_NEWLINES = frozenset(b"\r\n")
# Ctrl+Right accepts a suggestion's next word, with the space before it (or a run of
# punctuation, or of spaces): the editor's rule, which evaluate's simulated typist follows.
_NEXT_WORD = re.compile(r"\s*[\w'-]+|\s*[^\w\s]+|\s+")


def is_word_byte(byte: int) -> bool:
    """Letters, digits, '_' and every non-ASCII byte (so words in any script are words).
    Byte by byte a multi-byte character's class is not known yet: `is_word_char` says it."""
    return byte >= 0x80 or byte == 0x5F or 0x30 <= byte <= 0x39 or 0x41 <= byte <= 0x5A or 0x61 <= byte <= 0x7A


@functools.lru_cache(maxsize=4096)
def is_word_char(char: bytes) -> bool:
    """Whether one whole character (its UTF-8 bytes) belongs to a word: ASCII letters, digits and
    '_', and any other character but punctuation and spaces (Unicode categories P* and Z*), so
    that the CJK comma and full stop (，。：、；！？), the ideographic space and curly quotes end a
    word as ',' and ' ' do. Chinese and Japanese put no spaces between words: a run of them up to
    such a mark is one "word" for the decoder's word rules."""
    if len(char) == 1:
        return is_word_byte(char[0])  # a lone byte past ASCII is no valid character: a word byte, as before
    try:
        category = unicodedata.category(char.decode("utf-8"))
    except (UnicodeDecodeError, TypeError):
        return True  # not one valid character: as before, a non-ASCII byte is a word byte
    return category[0] not in "PZ"


# Typing a CJK character costs more than one key: an input method (IME) spells it first. Shuangpin
# (double pinyin, built into the Windows, macOS, iOS and Android pinyin input methods) types every
# syllable, so every Chinese character, with exactly two keys, an initial and a final (e.g. 双
# shuang = "ud" in Microsoft Shuangpin); full pinyin spends more (about 2.9 keys per character,
# candidate choice included, in a count a Shuangpin guide cites:
# zhuanlan.zhihu.com/p/34438126), Wubi up to four. Japanese kana in romaji are
# mostly two letters (ka, ki, ...), a Hangul syllable two or three jamo. IME_KEYS = 2 is the fewest
# a phonetic input method spends: a suggestion of CJK characters is valued at what it saves the
# fastest typist, never more (with full pinyin it saves more). Punctuation, spaces, letters and
# digits cost one key, as they do in English.
IME_KEYS = 2.0
# Code point blocks typed through an input method (Unicode blocks): Hiragana, Katakana and its
# phonetic extension, CJK Unified Ideographs Extension A and the main block, Hangul syllables,
# CJK Compatibility Ideographs, and the supplementary ideographic planes (Extension B on).
_IME_BLOCKS = ((0x3040, 0x30FF), (0x31F0, 0x31FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xAC00, 0xD7AF),
               (0xF900, 0xFAFF), (0x20000, 0x3FFFF))


def is_ime_char(char: str) -> bool:
    """A character typed through an input method: a CJK ideograph, kana or a Hangul syllable."""
    code = ord(char)
    return code >= 0x3040 and any(low <= code <= high for low, high in _IME_BLOCKS)


def typing_keys(text: str, ime_keys: float = IME_KEYS) -> float:
    """Keys it takes to type `text` without a suggestion: one per character, `ime_keys` for
    each one an input method spells (`is_ime_char`). What a suggestion saves is counted in these."""
    if text.isascii():
        return float(len(text))
    return sum(ime_keys if is_ime_char(char) else 1.0 for char in text)


def is_stop_byte(byte: int) -> bool:
    """Bytes a suggestion never contains: line ends, the document marker, other controls."""
    return byte in _NEWLINES or byte == DOC_START or (byte < 0x20 and byte != 0x09) or byte == 0x7F


# Control characters: C0 but tab (line ends and the document marker included), DEL, and C1
# (U+0080-U+009F: CSI, OSC, NEL...), which is two UTF-8 bytes, C2 80-9F. is_stop_byte keeps C0
# and DEL out of the search; no single byte says "stop" for C1, so a suggestion is cut before it.
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]|\xc2[\x80-\x9f]")
_CONTROL_BUT_LF = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]")


def printable_length(data: bytes, line_ends: bool = False) -> int:
    """Length of the prefix of `data` (whole UTF-8 characters) before its first control
    character (`line_ends`: other than LF). A shell writes a suggestion raw to the terminal,
    where any of them is an escape: no surface ever shows one, and only a document's shows a
    line end (Policy.line_ends)."""
    found = (_CONTROL_BUT_LF if line_ends else _CONTROL).search(data)
    return len(data) if found is None else found.start()


def stops_suggestion(byte: int, line_ends: bool) -> bool:
    """Whether a suggestion stops before `byte`: a stop byte, except LF where `line_ends` lets
    a suggestion go on into the next line."""
    return is_stop_byte(byte) and not (line_ends and byte == 0x0A)


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


def last_char_length(data: bytes) -> int:
    """How many bytes the last character of `data` has (1 for a lone or stray byte)."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte < 0x80:
            return 1 if back == 1 else back - 1
        if byte >= 0xC0:
            return back
    return 1


def next_word(suggestion: str) -> str:
    """What Ctrl+Right accepts of `suggestion`: its next word with the space before it."""
    match = _NEXT_WORD.match(suggestion)
    return match.group(0) if match else suggestion
