"""Open documents as the language server keeps them: a list of lines, edited in place.

pygls' own workspace re-splits the whole text into lines twice for every edit, which is
fine for a source file and seconds per keystroke for a 100 MB log. Here an edit touches
only the lines it spans (one, when typing), and the text before the cursor is read from
the lines near it, so a keystroke costs the same in any document.

Positions arrive in the negotiated encoding's units (UTF-16 code units by default,
UTF-8 bytes or code points when the client offers them) and are clamped to the
document: a position past the end of a line or of the document means its end."""

from __future__ import annotations

from dataclasses import dataclass, field

UTF8, UTF16, UTF32 = "utf-8", "utf-16", "utf-32"


@dataclass(frozen=True)
class Position:
    line: int
    column: int  # in characters (code points), already converted from the client's units


def _split_lines(text: str) -> list[str]:
    """Lines with their endings kept; always at least one (the last may be empty)."""
    lines = text.splitlines(keepends=True)
    # str.splitlines also splits at \x0b, \x1c, U+2028...: LSP counts only \n, \r\n and \r.
    if any(not line.endswith(("\n", "\r")) for line in lines[:-1]):
        lines = _split_lsp(text)
    if not lines or lines[-1].endswith(("\n", "\r")):
        lines.append("")
    return lines


def _split_lsp(text: str) -> list[str]:
    lines, start, i, n = [], 0, 0, len(text)
    while i < n:
        char = text[i]
        if char == "\r" and i + 1 < n and text[i + 1] == "\n":
            i += 1
        if char in "\r\n":
            lines.append(text[start : i + 1])
            start = i + 1
        i += 1
    lines.append(text[start:])
    return lines


def _body_length(line: str) -> int:
    """Characters of `line` before its line ending."""
    if line.endswith("\r\n"):
        return len(line) - 2
    return len(line) - 1 if line.endswith(("\n", "\r")) else len(line)


def column_to_index(line: str, column: int, encoding: str) -> int:
    """The character index in `line` of a column in `encoding` units, clamped to the line's body."""
    body = _body_length(line)
    column = max(0, column)
    if encoding == UTF32 or line.isascii():
        return min(column, body)
    units = 0
    for index in range(body):
        if units >= column:
            return index
        code = ord(line[index])
        if encoding == UTF16:
            units += 2 if code > 0xFFFF else 1
        else:
            units += 1 if code < 0x80 else 2 if code < 0x800 else 3 if code < 0x10000 or 0xD800 <= code < 0xE000 else 4
    return body


@dataclass
class Document:
    """One open document: its lines, the version the client gave it, and where it lives."""

    uri: str
    version: int
    lines: list[str] = field(default_factory=lambda: [""])
    encoding: str = UTF16
    characters: int = 0  # the whole text's length, kept up to date by edits

    @classmethod
    def open(cls, uri: str, version: int, text: str, encoding: str = UTF16) -> Document:
        return cls(uri, version, _split_lines(text), encoding, len(text))

    def text(self) -> str:
        """The whole text (for a save or an open; never per keystroke)."""
        return "".join(self.lines)

    def position(self, line: int, column: int) -> Position:
        """A client position in characters, clamped to the document."""
        if line < 0:
            return Position(0, 0)
        if line >= len(self.lines):
            last = len(self.lines) - 1
            return Position(last, _body_length(self.lines[last]))
        return Position(line, column_to_index(self.lines[line], column, self.encoding))

    def replace(self, start: Position, end: Position, text: str) -> Position:
        """Replace the text between two positions; returns where the inserted text ends."""
        if (end.line, end.column) < (start.line, start.column):
            start, end = end, start
        before = self.lines[start.line][: start.column]
        after = self.lines[end.line][end.column :]
        removed = sum(len(line) for line in self.lines[start.line : end.line + 1])
        new_lines = _split_lines(before + text + after)
        if end.line < len(self.lines) - 1:
            new_lines.pop()  # `after` ends with its line break: the empty line split after it is not there
        self.lines[start.line : end.line + 1] = new_lines
        self.characters += sum(len(line) for line in new_lines) - removed
        if not self.lines:
            self.lines.append("")
        # Where the inserted text ends: after `before + text`, counted from the start line.
        inserted = _split_lines(before + text)
        return Position(start.line + len(inserted) - 1, len(inserted[-1]))

    def replace_all(self, text: str) -> Position:
        self.lines = _split_lines(text)
        self.characters = len(text)
        return Position(len(self.lines) - 1, len(self.lines[-1]))

    def end(self) -> Position:
        return Position(len(self.lines) - 1, _body_length(self.lines[-1]))

    def text_between(self, start: Position, end: Position) -> str:
        """The text from `start` to `end` (start <= end), read from those lines only."""
        if start.line == end.line:
            return self.lines[start.line][start.column : end.column]
        parts = [self.lines[start.line][start.column :], *self.lines[start.line + 1 : end.line]]
        parts.append(self.lines[end.line][: end.column])
        return "".join(parts)

    def back(self, position: Position, characters: int) -> Position:
        """The position about `characters` before `position` (the document start at most)."""
        line, column = position.line, position.column
        left = characters
        while left > column and line > 0:
            left -= column
            line -= 1
            column = len(self.lines[line])
        return Position(line, max(0, column - left))

    def line_text_before(self, position: Position) -> str:
        return self.lines[position.line][: position.column]

    def at_line_end(self, position: Position) -> bool:
        """Whether nothing but the line ending follows `position` on its line."""
        return position.column >= _body_length(self.lines[position.line])
