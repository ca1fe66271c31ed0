"""The text before the cursor as the Completer takes it per keystroke: its end (`tail`)
and where that starts in the document (`offset`), never the whole text.

Building the whole text before the cursor costs 2.5 ms at 1 MB and 23 ms at 8 MB on the
event loop (benchmarks/keystroke_context.py); a tail of the last lines costs microseconds.
`Completer.complete_at(tail, offset)` asks two things of a tail (decoder.Completer): it
holds at least the Completer's `window` (or the whole text), and it starts no later than
any change to the document since the Completer last read. `CursorContext` keeps what that
takes: where the document changed, by version, and where rows start.

The tail is handed as UTF-8 bytes with its offset in bytes, as the Completer reads it. A
str tail would do too, but its offset in characters must be turned into bytes by the
Completer, from the text it was handed before; when a tail reaches back further than
that (the first keystroke, a jump up, an edit far above) it would start counting afresh,
and its reads would no longer line up with those of the whole text (where a window of
text starts, which checkpoint is near enough): the suggestions would differ a little.

Works on a Textual `Document` (rows of text, `newline`, `get_text_range`); imports nothing
of Textual's, so a benchmark can drive it on a bare Document."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

Location = tuple[int, int]  # (row, column), as Textual's
DOCUMENT_START: Location = (0, 0)


ENCODING = ("utf-8", "replace")  # as the Completer encodes a str (a lone surrogate is one "?")


def utf8_length(text: str) -> int:
    return len(text.encode(*ENCODING))


@dataclass(frozen=True)
class Context:
    """The text before `cursor` as of document `version`: `tail` (UTF-8), which starts
    `offset` bytes into the document (what `Completer.complete_at(tail, offset)` takes)."""

    tail: bytes
    offset: int
    cursor: Location
    version: int

    @property
    def length(self) -> int:
        """How many bytes lie before the cursor."""
        return self.offset + len(self.tail)


class ChangeLog:
    """Where the document changed, by version: the earliest location any change since a
    given version touched (the text before it is as it was then).

    Kept as a list of (version, location) with both ascending: a change drops the entries
    it undercuts, since from any version before theirs it is the earlier one. Typing
    forward still adds one entry per keystroke, so the oldest are dropped past MAX_ENTRIES;
    a question about a version before those gets the document start (a longer tail: safe)."""

    MAX_ENTRIES = 1024

    def __init__(self) -> None:
        self.version = 0
        self._entries: list[tuple[int, Location]] = []
        self._floor = 0  # versions before this one have lost their entries

    def record(self, top: Location) -> None:
        """A change that touched nothing before `top`."""
        self.version += 1
        entries = self._entries
        while entries and entries[-1][1] >= top:
            entries.pop()
        entries.append((self.version, top))
        if len(entries) > self.MAX_ENTRIES:
            self._floor = entries.pop(0)[0]

    def earliest_since(self, version: int | None) -> Location | None:
        """The earliest location changed after `version`; None when nothing changed since
        (or `version` is None: a reader that has read nothing needs no change covered)."""
        if version is None:
            return None
        if version < self._floor:
            return DOCUMENT_START
        index = bisect_right(self._entries, version, key=lambda entry: entry[0])
        return self._entries[index][1] if index < len(self._entries) else None


class RowStarts:
    """Where rows start, in UTF-8 bytes from the document start: summed once per BLOCK rows
    and kept until a change above them (summing afresh costs milliseconds per keystroke:
    even the character count alone takes 7 ms at 8 MB)."""

    BLOCK = 256

    def __init__(self) -> None:
        self._starts = [0]  # the offset of row k * BLOCK, for the blocks still known

    def changed(self, top: Location) -> None:
        """A change at `top` moves the starts of the rows after its row, not those up to it."""
        del self._starts[top[0] // self.BLOCK + 1 :]

    def offset(self, document, location: Location) -> int:
        """The offset of `location` (row, column) in `document`'s text, in bytes."""
        row, column = location
        lines, block = document.lines, self.BLOCK
        while len(self._starts) <= row // block:
            first = (len(self._starts) - 1) * block
            self._starts.append(self._starts[-1] + _rows_length(document, lines[first : first + block]))
        first = row // block * block
        return self._starts[row // block] + _rows_length(document, lines[first:row]) + utf8_length(lines[row][:column])


class CursorContext:
    """The Context for the Completer at each keystroke. Tell it every change (`changed`),
    then ask (`at`) with the version the Completer last read."""

    def __init__(self) -> None:
        self.changes = ChangeLog()
        self.rows = RowStarts()

    @property
    def version(self) -> int:
        return self.changes.version

    def changed(self, top: Location = DOCUMENT_START) -> None:
        """The document changed, nothing before `top` (the document start: anything may have)."""
        self.changes.record(top)
        self.rows.changed(top)

    def at(self, document, cursor: Location, window: int, since: int | None) -> Context:
        """The text before `cursor`: at least `window` bytes of it (whole rows when they are
        short), and from the earliest change after version `since` on."""
        start = _window_start(document, cursor, window)
        changed = self.changes.earliest_since(since)
        if changed is not None and changed < start:
            start = changed
        tail = document.get_text_range(start, cursor).encode(*ENCODING)
        return Context(tail, self.rows.offset(document, start), cursor, self.version)

    def unchanged_before(self, location: Location, since: int) -> bool:
        """Nothing before `location` changed after version `since`."""
        changed = self.changes.earliest_since(since)
        return changed is None or changed >= location


def _rows_length(document, rows: list[str]) -> int:
    """The UTF-8 length of `rows`, each with its line end (one encode: a call per row costs more)."""
    if not rows:
        return 0
    newline = document.newline
    return utf8_length(newline.join(rows)) + len(newline)


def _window_start(document, cursor: Location, window: int) -> Location:
    """Where the last `window` characters before `cursor` start (as many bytes at least): at a
    row start, unless that row alone holds more than needed (a long line is cut, not read
    whole every keystroke)."""
    row, column = cursor
    newline = len(document.newline)
    held = column  # characters from the start of `row` to the cursor
    while row > 0 and held < window:
        row -= 1
        held += len(document[row]) + newline
    if held <= 2 * window:
        return row, 0
    return row, min(held - window, len(document[row]))
