"""The match model: the byte that followed the longest earlier match of the current context.

An n-gram of order 8 sees 7 bytes of context; a writer repeats far longer strings (a path,
a command line, a sentence pasted twice, a code block seen before). The match model (as in
lpaq and PPMd's long contexts) keeps a pointer into earlier text where the last MIN_MATCH
bytes occurred before, and predicts the byte that followed there; while its predictions come
true the match grows, and its confidence is learned per match length (`MatchStats`).

Two kinds of earlier text, looked up in this order:
- what was read (typed) so far: `History`, grown byte by byte as the text is observed, its
  index a dict from the last MIN_MATCH bytes to where they were last followed by a byte;
- the model's memory (memory.py): `TextIndex`, a static text with a hashed index (one
  int32 per slot, the latest position per hash, built in numpy once per memory), shared
  read-only between documents and threads.

A match is a (source, position, length) triple kept in each predictor state (`Match`),
advanced by every byte the state reads, looked-ahead bytes included (a fork carries its own).
numpy and the standard library only; a byte costs a few dict/slice operations."""

from __future__ import annotations

import numpy as np

MIN_MATCH = 6  # bytes of context that must agree before a match predicts anything
MAX_LENGTH = 48  # a match is not measured further back than this (the confidence saturates)
# Length buckets the confidence is learned for, per source: 0 no match, then lengths up to each bound.
LENGTH_BOUNDS = (0, 8, 12, 16, 24, 32, MAX_LENGTH)
# The mixer's weight sets (`mix_level`): no match; a match in the text read up to LONG bytes,
# longer; in the memory up to LONG, longer. Finer sets split what the mixer learns too thinly.
LONG = 16
LEVELS = 5
INDEX_BITS = 22  # a memory's hash table: 4M slots of int32 (16 MiB), a few collisions at 2 MiB


def length_level(length: int) -> int:
    """The bucket of a match `length` (0: no match)."""
    for level, bound in enumerate(LENGTH_BOUNDS):
        if length <= bound:
            return level
    return len(LENGTH_BOUNDS) - 1


def mix_level(match: Match) -> int:
    """The mixer's weight set for `match` (0: none; see LEVELS)."""
    if match.length == 0:
        return 0
    return 1 + 2 * match.source + (match.length > LONG)


_MULT = 0x9E3779B97F4A7C15
_MASK64 = (1 << 64) - 1


def _hash(key: int, bits: int) -> int:
    return ((key * _MULT) & _MASK64) >> (64 - bits)


class TextIndex:
    """A static text (a model's memory) and where each MIN_MATCH-byte string last occurs in it,
    followed by a byte: a hash table of positions (-1: empty), checked against the text."""

    def __init__(self, text: bytes, bits: int = INDEX_BITS, min_match: int = MIN_MATCH):
        self.text = bytes(text)
        self.bits = bits
        self.min_match = m = min_match
        self.table = np.full(1 << bits, -1, dtype=np.int32)
        n = len(self.text)
        if n > m:
            data = np.frombuffer(self.text, dtype=np.uint8).astype(np.uint64)
            keys = np.zeros(n - m, dtype=np.uint64)
            for j in range(m):  # big-endian, as int.from_bytes makes the key in `find`
                keys = (keys << np.uint64(8)) | data[j : n - m + j]
            with np.errstate(over="ignore"):
                slots = (keys * np.uint64(_MULT)) >> np.uint64(64 - bits)
            # Positions in increasing order: numpy's assignment keeps the last write to a slot,
            # so each slot holds the latest occurrence (the most recent text the user kept).
            self.table[slots.astype(np.int64)] = np.arange(m, n, dtype=np.int32)

    @property
    def nbytes(self) -> int:
        return len(self.text) + self.table.nbytes

    def find(self, context: bytes) -> int:
        """A position p with text[p - MIN_MATCH:p] == context's last MIN_MATCH bytes and a byte
        at p, or -1."""
        key = bytes(context[-self.min_match :])
        p = int(self.table[_hash(int.from_bytes(key, "big"), self.bits)])
        return p if p >= 0 and self.text[p - self.min_match : p] == key else -1


class History:
    """The text read so far (one document, or what `eval` read), indexed as it grows."""

    __slots__ = ("text", "where", "min_match")

    def __init__(self, min_match: int = MIN_MATCH):
        self.text = bytearray()
        self.where: dict[bytes, int] = {}
        self.min_match = min_match

    def append(self, byte: int) -> None:
        n, m = len(self.text), self.min_match
        if n >= m:
            self.where[bytes(self.text[n - m : n])] = n  # that string, followed by text[n]
        self.text.append(byte)

    def extend(self, data: bytes) -> None:
        for byte in data:
            self.append(byte)

    def find(self, context: bytes) -> int:
        return self.where.get(bytes(context[-self.min_match :]), -1)


class Match:
    """Where the current context matched earlier text: source (0 what was read, 1 the memory),
    the position of the predicted byte in it, and the match length (0: none)."""

    __slots__ = ("source", "position", "length")

    def __init__(self, source: int = 0, position: int = 0, length: int = 0):
        self.source, self.position, self.length = source, position, length

    def copy(self) -> Match:
        return Match(self.source, self.position, self.length)


class MatchModel:
    """Predicts the byte after the longest earlier match; learns its confidence per length."""

    def __init__(self, memory: TextIndex | None = None, min_match: int = MIN_MATCH):
        self.history = History(min_match)
        self.memory = memory
        self.min_match = min_match
        # Per source and length bucket: how often the predicted byte came, of how many predictions
        # (a prior of 3 in 4, which long matches in a writer's text beat). Apart: a match in the
        # memory is right less often than one in the text being written.
        self.hits = np.full((2, len(LENGTH_BOUNDS)), 3.0)
        self.tries = np.full((2, len(LENGTH_BOUNDS)), 4.0)

    def recalling(self, memory: TextIndex | None) -> MatchModel:
        """A twin that searches `memory` in place of this one's; what was read and the learned
        confidence are shared."""
        twin = MatchModel(memory, self.min_match)
        twin.history, twin.hits, twin.tries = self.history, self.hits, self.tries
        return twin

    def _text(self, source: int):
        return self.history.text if source == 0 else self.memory.text

    def predicted(self, match: Match) -> int:
        """The byte the match predicts, or -1."""
        if match.length == 0:
            return -1
        text = self._text(match.source)
        return text[match.position] if match.position < len(text) else -1

    def confidence(self, match: Match) -> tuple[int, float, int]:
        """(predicted byte or -1, its learned probability, the mixer's weight set: `mix_level`)."""
        byte = self.predicted(match)
        if byte < 0:
            return -1, 0.0, 0
        where = match.source, length_level(match.length)
        return byte, float(self.hits[where] / self.tries[where]), mix_level(match)

    def learn(self, match: Match, byte: int) -> None:
        """The byte that came after the context `match` described (before it reads it)."""
        predicted = self.predicted(match)
        if predicted >= 0:
            where = match.source, length_level(match.length)
            self.hits[where] += predicted == byte
            self.tries[where] += 1.0
            if self.tries[where] > 1000.0:  # adapt: the text's recent behaviour counts most
                self.hits[where] *= 0.5
                self.tries[where] *= 0.5

    def advance(self, match: Match, byte: int, context: bytes) -> None:
        """Move `match` past `byte`; `context` is the text read, ending with `byte`."""
        if match.length and self.predicted(match) == byte:
            match.position += 1
            match.length = min(match.length + 1, MAX_LENGTH)
            return
        self.find(match, context)

    def find(self, match: Match, context: bytes) -> None:
        """Look the context's end up afresh: what was read first, then the memory."""
        match.length = 0
        if len(context) < self.min_match:
            return
        for source, index in ((0, self.history), (1, self.memory)):
            if index is None or index.min_match != self.min_match:
                continue
            p = index.find(context)
            if p < 0:
                continue
            text = self._text(source)
            if source == 0 and p >= len(text):
                continue
            length = self.min_match  # measure it further back, up to MAX_LENGTH
            limit = min(MAX_LENGTH, p, len(context))
            while length < limit and text[p - length - 1] == context[-length - 1]:
                length += 1
            match.source, match.position, match.length = source, p, length
            return

    def observe(self, byte: int) -> None:
        """The text read goes on with `byte` (what the user wrote)."""
        self.history.append(byte)
