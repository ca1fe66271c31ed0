"""Decoding: turn next-byte odds into what the user sees.

- `suggest`: the most likely continuation, cut at a natural boundary (the end of the
  word together with the space or punctuation after it; never past the end of the
  line) or where the model stops being confident, and never inside a UTF-8 character.
- `alternatives`: the K best distinct continuations.
- `sample`: free text generation.
- `Completer`: keeps the state of the text typed so far, so a keystroke feeds one byte
  instead of re-reading the text.

The default settings (a beam of 2, the confidence thresholds, one word) were chosen
with the keystroke-savings check in benchmarks/inference.py; BENCHMARKS.md has the
figures.
"""

from __future__ import annotations

import codecs
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from charcomplete.config import DOC_START
from charcomplete.engine import PRIME_WINDOW, Engine, State

# Defaults chosen by the keystroke-savings check (BENCHMARKS.md, "Inference (issue 3)"):
# beam 2 saved a little more than greedy at the same precision; a total of 0.2 rather
# than 0.1 saved more *and* showed fewer wrong suggestions; a second word cost savings.
MAX_CHARS = 40  # longest suggestion, in characters
MIN_PROB = 0.25  # stop before a byte the model gives less than this
MIN_TOTAL = 0.2  # stop before the whole suggestion becomes less likely than this
WORDS = 1  # words a suggestion may finish before it stops
BEAM = 2  # 1 = greedy; a wider beam looks for a likelier whole word
WHOLE_WORDS = False  # when confidence runs out inside a new word, drop that partial word

_NEWLINES = frozenset(b"\r\n")
_SPACES = frozenset(b" \t")


# ------------------------------------------------------------ bytes and characters


def is_word_byte(byte: int) -> bool:
    """Letters, digits, '_' and every non-ASCII byte (so words in any script are words)."""
    return byte >= 0x80 or byte == 0x5F or 0x30 <= byte <= 0x39 or 0x41 <= byte <= 0x5A or 0x61 <= byte <= 0x7A


def is_stop_byte(byte: int) -> bool:
    """Bytes a suggestion never contains: line ends, the document marker, other controls."""
    return byte in _NEWLINES or byte == DOC_START or (byte < 0x20 and byte != 0x09) or byte == 0x7F


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


# ------------------------------------------------------------ search


@dataclass
class Suggestion:
    text: str
    probability: float  # product of the chosen bytes' probabilities


@dataclass
class _Path:
    """A continuation being grown: its bytes, each byte's log-probability, and its state."""

    state: State
    data: bytes = b""
    lps: tuple[float, ...] = ()
    logp: float = 0.0
    chars: int = 0
    words: int = 0  # words finished so far (a word byte followed by a space or punctuation)
    in_word: bool = False  # the byte before the next one is a word byte
    done: bool = False  # reached its boundary: it stops here whatever comes next
    word_start: int = -1  # where the word being grown began inside `data` (-1: none, or in the text)

    def score(self) -> float:
        """Expected characters saved by showing it: P(the user types it) * its length."""
        return math.exp(self.logp) * self.chars


@dataclass(frozen=True)
class _Limits:
    max_chars: int
    log_min_prob: float
    log_min_total: float
    words: int
    width: int


def _limits(max_chars: int, min_prob: float, min_total: float, words: int, beam: int) -> _Limits:
    def log(p: float) -> float:
        return math.log(p) if p > 0 else -math.inf

    return _Limits(max(0, int(max_chars)), log(min_prob), log(min_total), max(1, int(words)), max(1, int(beam)))


def _children(path: _Path, limits: _Limits) -> list[tuple[int, float]]:
    """The next bytes worth following from `path`, best first; empty when it must stop."""
    logp = path.state.log_probs()  # (256,)
    if limits.width == 1:
        top = [int(np.argmax(logp))]
    else:
        order = np.argpartition(logp, -limits.width)[-limits.width :]
        top = order[np.argsort(logp[order])[::-1]].tolist()
    children = []
    for byte in top:
        lp = float(logp[byte])
        if lp < limits.log_min_prob or path.logp + lp < limits.log_min_total or is_stop_byte(byte):
            continue
        if not is_continuation(byte) and path.chars >= limits.max_chars:
            continue  # a new character would pass the cap
        children.append((byte, lp))
    return children


def _grow(path: _Path, byte: int, lp: float, limits: _Limits, fork: bool) -> _Path:
    state = path.state.fork() if fork else path.state
    state.feed(bytes((byte,)))
    word = is_word_byte(byte)
    child = _Path(
        state,
        path.data + bytes((byte,)),
        path.lps + (lp,),
        path.logp + lp,
        path.chars + (not is_continuation(byte)),
        path.words,
        word,
        False,
        path.word_start,
    )
    if word and not path.in_word:
        child.word_start = len(path.data)
    elif not word and path.in_word:
        # The word ends at the first space or punctuation after it; that byte is kept,
        # since it is what the user types next.
        child.words += 1
        child.word_start = -1
        child.done = child.words >= limits.words
    return child


def _root(state: State) -> _Path:
    """The empty continuation, on a copy of `state` (which the search then moves)."""
    tail = state.tail
    return _Path(state.fork(), in_word=bool(tail) and is_word_byte(tail[-1]))


def _search(start: _Path, limits: _Limits) -> list[_Path]:
    """Beam search (width 1 = greedy) from `start`; returns every path that stopped."""
    alive = [start]
    stopped: list[_Path] = []
    while alive:
        grown: list[_Path] = []
        for path in alive:
            children = _children(path, limits)
            if not children:
                stopped.append(path)
            for index, (byte, lp) in enumerate(children):
                # The last child takes over its parent's state instead of copying it.
                child = _grow(path, byte, lp, limits, fork=index < len(children) - 1)
                (stopped if child.done else grown).append(child)
        grown.sort(key=lambda p: p.logp, reverse=True)
        alive = grown[: limits.width]
    return stopped


def _finish(path: _Path, whole_words: bool) -> Suggestion:
    """Cut `path` to whole characters (and whole words when asked) and decode it."""
    keep = len(path.data)
    if whole_words and not path.done and path.word_start >= 0:
        keep = path.word_start  # confidence ran out inside a new word: drop that partial word
    keep = valid_utf8_length(path.data[:keep])
    probability = math.exp(math.fsum(path.lps[:keep]))
    return Suggestion(path.data[:keep].decode("utf-8"), probability)


def suggest(
    engine: Engine,
    state: State,
    max_chars: int = MAX_CHARS,
    min_prob: float = MIN_PROB,
    min_total: float = MIN_TOTAL,
    words: int = WORDS,
    beam: int = BEAM,
    whole_words: bool = WHOLE_WORDS,
) -> Suggestion:
    """The most likely continuation after `state` (the state itself is not changed).

    It ends after `words` words (each with the space or punctuation that follows it),
    before a line end, after `max_chars` characters, or before the byte that would
    make a step less likely than `min_prob` or the whole less likely than `min_total`.
    An empty suggestion means the model is not confident enough to offer anything."""
    _check_engine(engine, state)
    if _inside_character(state):
        return Suggestion("", 1.0)  # the text ends mid-character: nothing decodable to add
    limits = _limits(max_chars, min_prob, min_total, words, beam)
    best = max(_search(_root(state), limits), key=_Path.score)
    return _finish(best, whole_words)


def alternatives(
    engine: Engine,
    state: State,
    k: int = 3,
    max_chars: int = MAX_CHARS,
    min_prob: float = MIN_PROB,
    min_total: float = MIN_TOTAL,
    words: int = WORDS,
    whole_words: bool = WHOLE_WORDS,
    min_first: float = 0.01,
) -> list[Suggestion]:
    """Up to `k` distinct continuations, most likely first.

    Each starts with a different one of the likeliest next bytes (ignoring those below
    `min_first`) and goes on greedily under the usual limits, the total measured from
    that first byte on."""
    _check_engine(engine, state)
    if k < 1 or _inside_character(state):
        return []
    limits = _limits(max_chars, min_prob, min_total, words, 1)
    logp = state.log_probs()  # (256,)
    firsts = np.argsort(logp)[::-1][: 4 * k + 4].tolist()
    root = _root(state)
    found: dict[str, Suggestion] = {}
    for byte in firsts:
        lp = float(logp[byte])
        if len(found) >= k or lp < math.log(min_first):
            break
        if is_stop_byte(byte) or is_continuation(byte) or limits.max_chars < 1:
            continue
        path = _grow(root, byte, lp, limits, fork=True)
        if not path.done:
            # The first byte was chosen, not predicted: later thresholds count from it.
            branch = _Limits(limits.max_chars, limits.log_min_prob, limits.log_min_total + lp, limits.words, 1)
            path = max(_search(path, branch), key=_Path.score)
        option = _finish(path, whole_words)
        if option.text and option.text not in found:
            found[option.text] = option
    return sorted(found.values(), key=lambda s: s.probability, reverse=True)


def _check_engine(engine: Engine, state: State) -> None:
    if state.engine is not engine:
        raise ValueError("the state belongs to another engine (new weights came in: rebuild the state)")


def _inside_character(state: State) -> bool:
    """True when the bytes read so far end inside a multi-byte UTF-8 character."""
    return unfinished_tail(state.tail) > 0


# ------------------------------------------------------------ sampling


def sample(
    engine: Engine,
    state: State,
    n_chars: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    rng: np.random.Generator | None = None,
) -> str:
    """Generate up to `n_chars` characters after `state` (left unchanged).

    Stops early at a document start (the model ending the text). `temperature` 0 is
    greedy; `top_k` keeps only the k likeliest bytes at each step."""
    return "".join(iter_sample(engine, state, n_chars, temperature, top_k, rng))


def iter_sample(
    engine: Engine,
    state: State,
    n_chars: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    rng: np.random.Generator | None = None,
) -> Iterator[str]:
    """`sample`, yielding the text as it is generated (a piece per finished character)."""
    _check_engine(engine, state)
    if temperature < 0:
        raise ValueError("temperature must be 0 or more")
    rng = rng if rng is not None else np.random.default_rng()
    state = state.fork()
    # Broken byte sequences show as U+FFFD; a character still unfinished at the end is dropped.
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    recent = b""  # the last bytes generated: is a character unfinished?
    chars = 0
    while True:
        byte = _draw(state.logits(), temperature, top_k, rng)
        continues = is_continuation(byte) and unfinished_tail(recent) > 0
        if byte == DOC_START or (chars >= n_chars and not continues):
            return
        chars += not continues
        recent = (recent + bytes((byte,)))[-4:]
        state.feed(bytes((byte,)))
        piece = decoder.decode(bytes((byte,)))
        if piece:
            yield piece


def _draw(logits: np.ndarray, temperature: float, top_k: int | None, rng: np.random.Generator) -> int:
    if temperature == 0:
        return int(np.argmax(logits))
    scaled = logits.astype(np.float64) / temperature  # (256,)
    if top_k is not None and 0 < top_k < scaled.size:
        cutoff = np.partition(scaled, -top_k)[-top_k]
        scaled[scaled < cutoff] = -np.inf
    odds = np.exp(scaled - scaled.max())
    cumulative = np.cumsum(odds)
    return int(min(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"), scaled.size - 1))


# ------------------------------------------------------------ the editor's completer


class Completer:
    """Suggestions for a text that changes one keystroke at a time.

    It keeps the state after the text it saw last. When the new text extends it, only
    the new bytes are read; after a deletion or a jump it resumes from the nearest
    checkpoint (a state saved every `checkpoint_every` bytes) before the change;
    failing that it re-reads the last `window` bytes. One thread at a time may use it.

    learn: the engine learns from what is typed (a `CacheEngine`: its caches count the
    bytes and its mixer learns how far to trust them). Only text that extends the text
    read last is learned; text re-read after a jump or an edit is read, not counted again."""

    def __init__(self, engine: Engine, window: int = PRIME_WINDOW, checkpoint_every: int = 16, learn: bool = False,
                 **options):
        self.window = max(1, int(window))
        self.checkpoint_every = max(1, int(checkpoint_every))
        if learn and not hasattr(engine, "read"):
            raise ValueError(f"engine {engine.name!r} cannot learn from typing; wrap it in a CacheEngine")
        self.learn = learn
        self.options = options  # defaults for suggest(), e.g. max_chars
        self.set_engine(engine)

    def set_engine(self, engine: Engine) -> None:
        """Use new weights from the next call on (every cached state is dropped)."""
        self.engine = engine
        self._state: State | None = None
        self._tail = b""  # the last `window` bytes of the text the state has read
        self._length = 0  # the length of that whole text
        self._checkpoints: list[tuple[int, State]] = []  # (position, state there), ascending

    def state_for(self, text: str | bytes) -> State:
        """The state after `text` (the Completer's own: fork it before changing it)."""
        data = text.encode("utf-8", errors="replace") if isinstance(text, str) else bytes(text)
        start, state = self._resume_point(data)
        typed = state is not None and state is self._state  # the text grew after what was read last
        if state is None:
            start, state = self._fresh(data)
        self._feed(state, data, start, learn=self.learn and typed)
        self._state = state
        self._length = len(data)
        self._tail = data[-self.window :]
        return state

    def complete(self, text_before_cursor: str | bytes, **options) -> Suggestion:
        state = self.state_for(text_before_cursor)
        return suggest(self.engine, state, **{**self.options, **options})

    def alternatives(self, text_before_cursor: str | bytes, k: int = 3, **options) -> list[Suggestion]:
        state = self.state_for(text_before_cursor)
        options = {key: value for key, value in {**self.options, **options}.items() if key != "beam"}
        return alternatives(self.engine, state, k, **options)

    # ------------------------------------------------------------ internals

    def _resume_point(self, data: bytes) -> tuple[int, State | None]:
        """(position, state) to continue from, or (0, None) when the text must be re-read."""
        if self._state is None:
            return 0, None
        base = self._length - len(self._tail)  # where the remembered tail starts in the text
        if len(data) < base:
            return 0, None
        same = _common_prefix(data[base : self._length], self._tail)
        if same == len(self._tail) and len(data) - self._length <= self.window:
            return self._length, self._state  # the text grew: read just the new bytes
        common = base + same
        self._checkpoints = [(pos, st) for pos, st in self._checkpoints if pos <= common]
        if self._checkpoints and len(data) - self._checkpoints[-1][0] <= self.window:
            position, saved = self._checkpoints[-1]
            return position, saved.fork()
        return 0, None

    def _fresh(self, data: bytes) -> tuple[int, State]:
        """Start over as Engine.prime does: at the document start, or window bytes back."""
        if len(data) <= self.window:
            origin, state = 0, self.engine.start()
        else:
            origin, state = len(data) - self.window, self.engine.zero_state()
        self._checkpoints = [(origin, state.fork())]
        return origin, state

    def _feed(self, state: State, data: bytes, position: int, learn: bool = False) -> None:
        """Read data[position:] into `state` (learning from it when `learn`), saving a checkpoint
        at each multiple of checkpoint_every."""
        every = self.checkpoint_every
        end = len(data)
        while position < end:
            stop = min(end, (position // every + 1) * every)
            if learn:
                self.engine.read(state, data[position:stop])
            else:
                state.feed(data[position:stop])
            position = stop
            if position % every == 0:
                self._checkpoints.append((position, state.fork()))
        # Checkpoints further back than a window are never used again.
        oldest = end - self.window
        if self._checkpoints and self._checkpoints[0][0] < oldest:
            self._checkpoints = [(pos, st) for pos, st in self._checkpoints if pos >= oldest]


def _common_prefix(a: bytes, b: bytes) -> int:
    """Length of the common prefix of a and b, by bisection over C-speed slice compares."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        mid = (low + high + 1) // 2
        if a[:mid] == b[:mid]:
            low = mid
        else:
            high = mid - 1
    return low
