"""Decoding: turn next-byte odds into what the user sees.

- `suggest`: the most likely continuation, cut at a natural boundary (the end of the
  word together with the space or punctuation after it, and further whole words the
  model is sure of; never past the end of the line) or where the model stops being
  confident, and never inside a UTF-8 character; of that, the part that saves the most
  keys on average. What saves too little (one character, a long shot) or is only spaces
  is not shown at all.
- `alternatives`: the K best distinct continuations, the suggestion first, each worth
  showing on its own, ranked by the keys they save on average.
- `sample`: free text generation.
- `Completer`: keeps the state of the text typed so far, so a keystroke feeds one byte
  instead of re-reading the text.

`Policy` holds every decoding setting; the editor, `complete` and the simulated typist
of `evaluate` share DEFAULT_POLICY, chosen by keystroke savings and by accepted
characters per suggestion shown (benchmarks/suggestion_policy.py; BENCHMARKS.md has the
figures)."""

from __future__ import annotations

import codecs
import dataclasses
import math
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from charcomplete.core.config import DOC_START
from charcomplete.core.predictor import PRIME_WINDOW, TAIL_BYTES, LearningPredictor, Predictor, PredictorState

# The policy: what is worth showing, chosen with benchmarks/suggestion_policy.py on a dev
# slice of the held-out notes (BENCHMARKS.md, "Suggestions"). Issue 15 cut a continuation at
# its last whole word with the space or punctuation after it; a simulated typist with Tab
# alone then lost most of what it could have had where the word was right and the byte after
# it was not (a line wrapped there, a full stop instead of a space). Issue 11 shows the prefix
# that saves the most keys on average (CUT_BY_SAVINGS), searches further (MIN_PROB 0.25 ->
# 0.15, MIN_TOTAL 0.2 -> 0.1) and hides what saves under MIN_VALUE keys on average: the
# most keystroke savings whose suggestions still give the reader more than one accepted
# character per suggestion shown on the dev slice (31.7% -> 34.4% savings, 1.14 -> 1.07
# characters per suggestion shown; MIN_VALUE 0.3 gave 33.5% at 1.18, 0.1 35.1% at 0.96).
MAX_CHARS = 40  # longest suggestion, in characters
MIN_PROB = 0.15  # stop before a byte the model gives less than this
MIN_TOTAL = 0.1  # stop before the whole suggestion becomes less likely than this
WORDS = 1  # new words a suggestion finishes before it needs MORE to go on
MORE = 0.5  # go on into a further whole word when the model gives it at least this (1: never)
MIN_CHARS = 2  # show nothing shorter: accepting one character costs the key it saves
BEAM = 2  # 1 = greedy; a wider beam looks for a likelier whole word
WHOLE_WORDS = False  # when confidence runs out inside the first new word, drop that partial word
FINISH_WORDS = False  # when it runs out inside the word being typed, show nothing
CUT_BY_SAVINGS = True  # show the prefix worth most: P(it is typed) * (its characters - 1)
# Issue 26: a wrong ghost text costs the person reading it too. Savings net of that cost on the
# same dev slice (benchmarks/suggestion_policy.py --grid --offset 100000 --bytes 8000):
#   MIN_VALUE        0.2    0.3    0.4    0.5    0.75
#   gross savings   36.1%  35.2%  34.1%  32.8%  28.8%
#   wrong share     69.9%  67.7%  64.8%  62.4%  55.6%
#   net, 0.25 key   28.1%  28.3%  28.4%  28.0%  25.9%   (a glance per wrong suggestion)
#   net, 0.5 key    20.0%  21.4%  22.7%  23.2%  23.0%
#   net, 1 key      3.9%   7.7%   11.3%  13.6%  17.2%   (an Esc per wrong suggestion)
# At a glance's cost 0.2 is within 0.3 points of the best, and a higher bar hides what was typed
# once (the shell server's history: `echo zy` after `echo zygo-marker` showed nothing at 0.5), so
# 0.2 stays until the cost of a wrong suggestion is settled (BENCHMARKS.md, "Suggestions").
MIN_VALUE = 0.2  # show nothing that saves fewer keys than this on average
# The Completer's (every interactive surface's) search budget (Policy.budget_ms): past 3 ms no
# further word, past 6 ms nothing more. An order-8 typing cache suggests 40-character runs and a
# model's memory doubles the look-ups per step; without it the editor's keystroke p99 was 25 ms
# on a 200 kB document, with it 7-15 ms (BENCHMARKS.md, "Editor").
INTERACTIVE_BUDGET_MS = 3.0


@dataclass(frozen=True)
class Policy:
    """What the decoder shows: where a suggestion stops, and when it is not worth showing.

    The editor's Completer, `complete` and evaluate's simulated typist all decode with
    one of these (the defaults unless told otherwise)."""

    max_chars: int = MAX_CHARS  # longest suggestion, in characters
    min_prob: float = MIN_PROB  # stop before a byte the model gives less than this
    min_total: float = MIN_TOTAL  # stop before the whole becomes less likely than this
    words: int = WORDS  # new words finished (each with the space or punctuation after it) before...
    more: float = MORE  # ...going on needs each further word to be this likely; whole words only (1: never)
    min_chars: int = MIN_CHARS  # show nothing shorter than this
    blank_ok: bool = False  # may show a suggestion of spaces only (which looks like nothing at all)
    beam: int = BEAM  # search width (1: greedy)
    whole_words: bool = WHOLE_WORDS  # drop a partial new word rather than show it
    finish_words: bool = FINISH_WORDS  # ...and a word being typed that the model cannot finish
    finish_typed_word: bool = False  # the space ending the word being typed counts as a word (issue 3's rule)
    # Show the prefix of the continuation found that saves the most keys on average: its
    # probability times (its characters - 1), a Tab being a key too. A last word, or the
    # space or full stop after it, that the model is unsure of is then left to the next
    # suggestion (which starts with it) rather than costing the whole one when it is wrong.
    cut_by_savings: bool = CUT_BY_SAVINGS
    min_value: float = MIN_VALUE  # show nothing that saves fewer keys than this on average
    # Milliseconds of search (None: no limit). Past it a suggestion that has its first `words`
    # words stops there, as if confidence ran out; past twice it, every path stops where it is
    # (a first word cut short is still the likeliest start). An interactive caller (the editor,
    # a language server, a shell) keeps its keystroke-to-suggestion time however long a
    # confident run of the typing cache is. Benchmarks leave it off: their figures must not
    # depend on load.
    budget_ms: float | None = None

    def replace(self, **changes) -> Policy:
        """This policy with some fields changed; an unknown name is a TypeError."""
        return dataclasses.replace(self, **changes)


DEFAULT_POLICY = Policy()
_NEWLINES = frozenset(b"\r\n")
# Ctrl+Right accepts a suggestion's next word, with the space before it (or a run of
# punctuation, or of spaces): the editor's rule, which evaluate's simulated typist follows.
_NEXT_WORD = re.compile(r"\s*[\w'-]+|\s*[^\w\s]+|\s+")
_SPACES = frozenset(b" \t")


# ------------------------------------------------------------ bytes and characters


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


# ------------------------------------------------------------ search


@dataclass
class Suggestion:
    text: str
    probability: float  # product of the chosen bytes' probabilities (1.0 for the empty text: it means nothing)

    @property
    def saves(self) -> float:
        """The keys it saves on average: P(it is what the user types) * (its characters - 1),
        a Tab being a key too. What the suggestion is chosen by, and what ranks alternatives."""
        return self.probability * max(0, len(self.text) - 1) if self.text else 0.0


@dataclass
class _Path:
    """A continuation being grown: its bytes, each byte's log-probability, and its state."""

    state: PredictorState
    data: bytes = b""
    lps: tuple[float, ...] = ()
    logp: float = 0.0
    chars: int = 0
    words: int = 0  # words finished so far (a word byte followed by a space or punctuation)
    in_word: bool = False  # the byte before the next one is a word byte
    fresh: bool = False  # the word being grown holds a byte of the suggestion (not only typed ones)
    done: bool = False  # reached its boundary: it stops here whatever comes next
    word_start: int = -1  # where the word being grown began inside `data` (-1: none, or in the text)
    boundary: int = 0  # len(data) at the last word finished (where a cut may fall)
    boundary_logp: float = 0.0  # logp there
    line_end: bool = False  # it stopped because the line (or the text) most likely ends here


@dataclass(frozen=True)
class _Limits:
    max_chars: int
    log_min_prob: float
    log_min_total: float
    log_more: float  # +inf: never past `words`
    words: int
    width: int
    min_chars: int
    blank_ok: bool
    whole_words: bool
    finish_words: bool
    finish_typed_word: bool
    cut_by_savings: bool
    min_value: float
    deadline: float  # time.perf_counter() past which paths that have their first words stop (inf: none)
    hard_deadline: float  # ...and past which every path stops


def _log(p: float) -> float:
    return math.log(p) if p > 0 else -math.inf


def _limits(policy: Policy, width: int | None = None) -> _Limits:
    max_chars = max(0, int(policy.max_chars))
    return _Limits(
        max_chars,
        _log(policy.min_prob),
        _log(policy.min_total),
        math.inf if policy.more >= 1.0 else _log(policy.more),
        max(1, int(policy.words)),
        max(1, int(policy.beam if width is None else width)),
        min(max(0, int(policy.min_chars)), max_chars),  # a cap shorter than the minimum lowers it
        policy.blank_ok,
        policy.whole_words,
        policy.finish_words,
        policy.finish_typed_word,
        policy.cut_by_savings,
        policy.min_value,
        *_deadlines(policy.budget_ms),
    )


def _deadlines(budget_ms: float | None) -> tuple[float, float]:
    if budget_ms is None:
        return math.inf, math.inf
    now, budget = time.perf_counter(), max(0.0, budget_ms) / 1e3
    return now + budget, now + 2 * budget


def _policy(policy: Policy | None, overrides: dict) -> Policy:
    return (policy or DEFAULT_POLICY).replace(**overrides) if overrides else (policy or DEFAULT_POLICY)


def _children(path: _Path, limits: _Limits) -> list[tuple[int, float]]:
    """The next bytes worth following from `path`, best first; empty when it must stop."""
    logp = path.state.log_probs()  # (256,)
    if limits.width == 1:
        top = [int(np.argmax(logp))]
    else:
        order = np.argpartition(logp, -limits.width)[-limits.width :]
        top = order[np.argsort(logp[order])[::-1]].tolist()
    path.line_end = is_stop_byte(top[0])
    # Past its words, a suggestion goes on only while the model is sure of the word it adds.
    log_more = -math.inf if path.words < limits.words else limits.log_more
    children = []
    for byte in top:
        lp = float(logp[byte])
        total = path.logp + lp
        if lp < limits.log_min_prob or total < limits.log_min_total or is_stop_byte(byte):
            continue
        if total - path.boundary_logp < log_more:
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
        word or path.fresh,
        False,
        path.word_start,
        path.boundary,
        path.boundary_logp,
    )
    if word and not path.in_word:
        child.word_start = len(path.data)
    elif not word and path.in_word:
        # The word ends at the first space or punctuation after it; that byte is kept,
        # since it is what the user types next. Ending the word being typed with a lone
        # space finishes nothing the suggestion added (unless the issue 3 rule is asked for).
        child.word_start = -1
        child.fresh = False
        if path.fresh or limits.finish_typed_word:
            child.words += 1
            child.boundary = len(child.data)
            child.boundary_logp = child.logp
            child.done = child.words >= limits.words and limits.log_more == math.inf
    return child


def _root(state: PredictorState) -> _Path:
    """The empty continuation, on a copy of `state` (which the search then moves)."""
    tail = state.tail
    return _Path(state.fork(), in_word=bool(tail) and is_word_byte(tail[-1]))


def _search(start: _Path, limits: _Limits) -> list[_Path]:
    """Beam search (width 1 = greedy) from `start`; returns every path that stopped. Once
    the deadline has passed, a path that has its first `words` words stops where it is (what
    it shows does not wait on the further words); one still inside them goes on until the
    hard deadline."""
    alive = [start]
    stopped: list[_Path] = []
    while alive:
        if limits.deadline < math.inf and (now := time.perf_counter()) > limits.deadline:
            if now > limits.hard_deadline:
                return stopped + alive
            stopped += [path for path in alive if path.words >= limits.words]
            alive = [path for path in alive if path.words < limits.words]
            if not alive:
                break
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


def _cut(path: _Path, limits: _Limits) -> int:
    """How many of the path's bytes to show: whole characters, and only whole extra words."""
    keep = len(path.data)
    ends_a_word = path.line_end and path.in_word  # a word the line (most likely) ends with is whole
    if path.words >= limits.words and not ends_a_word:
        keep = path.boundary  # confidence ran out past the words asked for: back to the last word's end
    elif limits.whole_words and not path.done and path.word_start >= 0 and not ends_a_word:
        keep = path.word_start  # confidence ran out inside a new word: drop that partial word
    elif limits.finish_words and path.in_word and not ends_a_word:
        keep = max(0, path.word_start)  # ...or inside the word being typed: drop all of it
    keep = valid_utf8_length(path.data[:keep])
    keep = printable_length(path.data[:keep])
    return _most_saving(path, keep) if limits.cut_by_savings else keep


def _most_saving(path: _Path, keep: int) -> int:
    """The length of the prefix of path.data[:keep] that saves the most keys on average:
    P(the user types it) * (its characters - 1); ties go to the longer. It ends anywhere in
    the first word (where confidence runs out, as before), but past that only at a word's end,
    before or after the space or punctuation that ends it: a further word is shown whole."""
    best, best_value, logp, chars, past_first_word = keep, -1.0, 0.0, 0, False
    data = path.data
    for end in range(1, keep + 1):
        byte = data[end - 1]
        logp += path.lps[end - 1]
        chars += not is_continuation(byte)
        after = data[end] if end < len(data) else None
        if after is not None and is_continuation(after):
            continue  # inside a character
        word_end = is_word_byte(byte) and (after is None or not is_word_byte(after))
        after_word_end = end >= 2 and not is_word_byte(byte) and is_word_byte(data[end - 2])
        if past_first_word and not (word_end or after_word_end or end == keep):
            continue
        value = math.exp(logp) * (chars - 1)
        if value >= best_value:
            best, best_value = end, value
        past_first_word = past_first_word or word_end
    return best


def _finish(path: _Path, limits: _Limits) -> Suggestion | None:
    """The path cut and decoded; None when what is left is not worth showing."""
    keep = _cut(path, limits)
    text = path.data[:keep].decode("utf-8")
    if len(text) < limits.min_chars or (not limits.blank_ok and text.isspace()):
        return None  # too short to save a key, or only a space: it would look like nothing
    probability = math.exp(math.fsum(path.lps[:keep]))
    if probability * (len(text) - 1) < limits.min_value:
        return None  # it would save too little on average to be worth the reading
    return Suggestion(text, probability)


def _best(paths: list[_Path], limits: _Limits) -> Suggestion | None:
    """Of the stopped paths, the one worth most: the keys it saves on average, P(the user
    types it) * (its length - 1), the measure the cut used (issue 15's policies: * its length)."""
    options = [option for option in (_finish(path, limits) for path in paths) if option is not None]
    tab = 1 if limits.cut_by_savings else 0
    return max(options, key=lambda s: s.probability * (len(s.text) - tab), default=None)


def suggest(state: PredictorState, policy: Policy | None = None, **overrides) -> Suggestion:
    """The most likely continuation after `state` (the state itself is not changed).

    It ends after `words` new words (each with the space or punctuation that follows
    it), going on word by word while the model gives each further word at least `more`;
    before a line end; after `max_chars` characters; or before the byte that would
    make a step less likely than `min_prob` or the whole less likely than `min_total`.
    `overrides` change single fields of `policy` (default: DEFAULT_POLICY).
    An empty suggestion means nothing is worth showing: the model is not confident
    enough, or what it is confident of is shorter than `min_chars` or only spaces."""
    policy = _policy(policy, overrides)
    if _inside_character(state):
        return Suggestion("", 1.0)  # the text ends mid-character: nothing decodable to add
    limits = _limits(policy)
    return _best(_search(_root(state), limits), limits) or Suggestion("", 1.0)


def alternatives(
    state: PredictorState, k: int = 3, policy: Policy | None = None, min_first: float = 0.01, **overrides
) -> list[Suggestion]:
    """Up to `k` distinct continuations: `suggest`'s first, then others ranked by the keys
    they save on average (`Suggestion.saves`); none when `suggest` has nothing to show.

    One rule for every list (issue 26): an option is listed only if it would be shown on its
    own (the policy's minimum length and MIN_VALUE), so `-k 1` is plain `complete`. The
    others each start with a different one of the likeliest next bytes (none below
    `min_first`) and go on greedily under the same policy, thresholds counted from that
    first byte on; one worth more than the suggestion is not listed (the suggestion stays
    first, and the list stays ordered by what it saves). The list for a smaller k is a prefix
    of the one for a larger k."""
    policy = _policy(policy, overrides)
    if k < 1 or _inside_character(state):
        return []
    main = suggest(state, policy)
    if not main.text:
        return []
    wanted = k - 1
    if wanted < 1:
        return [main]
    limits = _limits(policy, width=1)
    logp = state.log_probs()  # (256,)
    root = _root(state)
    main_first = main.text.encode("utf-8")[:1]  # the main suggestion stands for its first byte's branch
    most_chars = max(1, limits.max_chars - 1)
    others: list[Suggestion] = []
    for byte in np.argsort(logp)[::-1].tolist():
        lp = float(logp[byte])
        others.sort(key=_rank)
        # An option saves at most P(its first byte) * (max_chars - 1): once `wanted` options save
        # more than that, no later one can enter the top (so the answer does not depend on k).
        bound = math.exp(lp) * most_chars
        if lp < math.log(min_first) or bound < limits.min_value or (
                len(others) >= wanted and bound < others[wanted - 1].saves):
            break
        if is_stop_byte(byte) or is_continuation(byte) or limits.max_chars < 1 or bytes((byte,)) == main_first:
            continue
        path = _grow(root, byte, lp, limits, fork=True)
        if not path.done:
            # The first byte was chosen, not predicted: later thresholds count from it.
            branch = dataclasses.replace(limits, log_min_total=limits.log_min_total + lp)
            path = max(_search(path, branch), key=lambda p: math.exp(p.logp) * p.chars)
        option = _finish(path, limits)
        if option is not None and option.text != main.text and option.saves <= main.saves:
            others.append(option)
    others.sort(key=_rank)
    return [main] + others[:wanted]


def _rank(option: Suggestion) -> tuple[float, str]:
    return -option.saves, option.text


def _inside_character(state: PredictorState) -> bool:
    """True when the bytes read so far end inside a multi-byte UTF-8 character."""
    return unfinished_tail(state.tail) > 0


# ------------------------------------------------------------ sampling


def sample(
    state: PredictorState,
    n_chars: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    rng: np.random.Generator | None = None,
) -> str:
    """Generate up to `n_chars` characters after `state` (left unchanged).

    Stops early at a document start (the model ending the text). `temperature` 0 is
    greedy; `top_k` keeps only the k likeliest bytes at each step."""
    return "".join(iter_sample(state, n_chars, temperature, top_k, rng))


def iter_sample(
    state: PredictorState,
    n_chars: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    rng: np.random.Generator | None = None,
) -> Iterator[str]:
    """`sample`, yielding the text as it is generated (a piece per finished character)."""
    if temperature < 0:
        raise ValueError("temperature must be 0 or more")
    rng = rng if rng is not None else np.random.default_rng()
    state = state.fork()
    # Only bytes that keep the text valid UTF-8 are drawn (a continuation byte where one is
    # due, a character's first byte elsewhere), so a sample never shows U+FFFD. Bytes that
    # finish a character the prompt left unfinished are read but not shown.
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    recent = state.tail[-TAIL_BYTES:]  # the last bytes read: is a character unfinished?
    hidden = unfinished_tail(recent)  # the prompt's unfinished character: its bytes are not ours to show
    chars = 0
    while True:
        allowed = utf8_next_bytes(recent)
        byte = _draw(np.where(allowed, state.log_probs(), -np.inf), temperature, top_k, rng)
        continues = unfinished_tail(recent) > 0
        if byte == DOC_START and not continues or (chars >= n_chars and not continues):
            return
        chars += not continues
        recent = (recent + bytes((byte,)))[-TAIL_BYTES:]
        state.feed(bytes((byte,)))
        if hidden:
            hidden = unfinished_tail(recent)
            continue
        piece = decoder.decode(bytes((byte,)))
        if piece:
            yield piece


# The bytes that may follow each kind of UTF-8 lead byte as its second byte (RFC 3629: no
# overlong forms, no surrogates, nothing past U+10FFFF); later continuation bytes are 80-BF.
_ASCII_OR_LEAD = np.zeros(256, dtype=bool)
_ASCII_OR_LEAD[0x00:0x80] = True
_ASCII_OR_LEAD[0xC2:0xF5] = True
_CONTINUATION = np.zeros(256, dtype=bool)
_CONTINUATION[0x80:0xC0] = True
_SECOND = {0xE0: (0xA0, 0xC0), 0xED: (0x80, 0xA0), 0xF0: (0x90, 0xC0), 0xF4: (0x80, 0x90)}


def utf8_next_bytes(data: bytes) -> np.ndarray:
    """(256,) bool: the bytes that may come next after `data` with the text still valid
    UTF-8 (a character left unfinished must be finished; none may start broken)."""
    back = unfinished_tail(data)
    if back == 0:
        return _ASCII_OR_LEAD
    if back == 1 and data[-1] in _SECOND:
        low, high = _SECOND[data[-1]]
        allowed = np.zeros(256, dtype=bool)
        allowed[low:high] = True
        return allowed
    return _CONTINUATION


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

    Two ways to hand it the text before the cursor:
    - `complete(text)` / `state_for(text)`: all of it (the pipe's requests, tests);
    - `complete_at(tail, offset)` / `state_at(tail, offset)`: only its end, `tail`, which
      starts `offset` characters into the document (bytes, when `tail` is bytes). A
      keystroke then costs what changed, not the length of the document: the editor and a
      language server hand it the last few lines. The tail holds at least the last `window`
      characters (or the whole text) and starts no later than any edit since the previous
      call: the text before `offset` is taken as unchanged. Then it suggests exactly what
      the whole text would.

    learn: the engine learns from what is typed (a `predictor.LearningPredictor` such as
    `cache.CacheEngine`: its caches count the bytes and its mixer learns how far to trust
    them). Only text that extends the text read last is learned; text re-read after a jump
    or an edit is read, not counted again."""

    def __init__(self, engine: Predictor, window: int = PRIME_WINDOW, checkpoint_every: int = 16,
                 learn: bool = False, **options):
        self.window = max(1, int(window))
        self.checkpoint_every = max(1, int(checkpoint_every))
        # Policy fields for suggest(), e.g. max_chars; an interactive caller's time budget unless told otherwise
        self.options = {"budget_ms": INTERACTIVE_BUDGET_MS, **options}
        self.set_engine(engine)
        self.learn = learn

    @property
    def learn(self) -> bool:
        return self._learn

    @learn.setter
    def learn(self, learn: bool) -> None:
        if learn and not isinstance(self.engine, LearningPredictor):
            raise ValueError(f"engine {self.engine.name!r} cannot learn from typing; wrap it in a CacheEngine")
        self._learn = learn

    def set_engine(self, engine: Predictor) -> None:
        """Use new weights from the next call on (every cached state is dropped)."""
        self.engine = engine
        self._state: PredictorState | None = None
        self._tail = b""  # the last `window` bytes of the text the state has read
        self._length = 0  # where that text ends, in bytes from the document's start
        self._checkpoints: list[tuple[int, PredictorState]] = []  # (position, state there), ascending
        # The last str given: (its offset in characters, the str, its offset in bytes), to
        # turn the next call's character offset into bytes without the text before it.
        self._anchor: tuple[int, str, int] | None = None

    def state_for(self, text: str | bytes) -> PredictorState:
        """The state after `text`, the whole text before the cursor (the Completer's own:
        fork it before changing it)."""
        return self.state_at(text, 0)

    def state_at(self, tail: str | bytes, offset: int) -> PredictorState:
        """The state after the text before the cursor, given as its end: `tail`, which starts
        `offset` characters into the document (bytes when `tail` is bytes)."""
        if isinstance(tail, str):
            data = tail.encode("utf-8", errors="replace")
            base = self._byte_offset(offset)
            self._remember(tail, offset, base)
        else:
            data, base = bytes(tail), offset
            self._anchor = None
        return self._read(data, base)

    def complete(self, text_before_cursor: str | bytes, **options) -> Suggestion:
        return self.complete_at(text_before_cursor, 0, **options)

    def complete_at(self, tail: str | bytes, offset: int, **options) -> Suggestion:
        """`suggest` after the text before the cursor, given as `state_at` takes it."""
        return suggest(self.state_at(tail, offset), **{**self.options, **options})

    def alternatives(self, text_before_cursor: str | bytes, k: int = 3, **options) -> list[Suggestion]:
        return self.alternatives_at(text_before_cursor, 0, k, **options)

    def alternatives_at(self, tail: str | bytes, offset: int, k: int = 3, **options) -> list[Suggestion]:
        """`alternatives` after the text before the cursor, given as `state_at` takes it."""
        return alternatives(self.state_at(tail, offset), k, **{**self.options, **options})

    # ------------------------------------------------------------ internals

    def _byte_offset(self, offset: int) -> int:
        """Where the text `offset` characters in starts in bytes, from the text given before
        (what lies before `offset` is the caller's word that nothing changed there); when
        that text does not reach it, everything read is forgotten."""
        if offset == 0:
            return 0
        if self._placeable(offset):
            chars, text, base = self._anchor
            return base + len(text[: offset - chars].encode("utf-8", errors="replace"))
        self._state = None
        self._checkpoints = []
        return max(1, offset)  # any position past the start will do: nothing read is reused

    def _placeable(self, offset: int) -> bool:
        """The text given before reaches `offset` (characters)."""
        return self._anchor is not None and self._anchor[0] <= offset <= self._anchor[0] + len(self._anchor[1])

    def _remember(self, tail: str, offset: int, base: int) -> None:
        """Keep the text given so far, up to a few windows of it: a later tail may start
        before this one (after a backspace, say) and still be placed."""
        if offset == 0 or not self._placeable(offset):
            self._anchor = (offset, tail, base)
            return
        chars, text, start = self._anchor
        text = text[: offset - chars] + tail
        keep = max(len(tail), 2 * self.window)
        if len(text) > 2 * keep:  # trim now and then, not per call: the trimmed part is encoded to count its bytes
            cut = len(text) - keep
            chars, start, text = chars + cut, start + len(text[:cut].encode("utf-8", errors="replace")), text[cut:]
        self._anchor = (chars, text, start)

    def _read(self, data: bytes, base: int) -> PredictorState:
        """The state after `data`, the text from byte `base` of the document to the cursor."""
        start, state = self._resume_point(data, base)
        typed = state is not None and state is self._state  # the text grew after what was read last
        if state is None:
            start, state = self._fresh(data, base)
        self._feed(state, data, base, start, learn=self.learn and typed)
        self._state = state
        self._length = base + len(data)
        self._tail = data[-self.window :]
        return state

    def _resume_point(self, data: bytes, base: int) -> tuple[int, PredictorState | None]:
        """(position, state) to continue from, or (0, None) when the text must be re-read."""
        end = base + len(data)
        tail_start = self._length - len(self._tail)  # where the remembered tail starts in the text
        if self._state is None or end < tail_start or base > self._length:
            return 0, None
        # Compare where both are known; text before `base` is the caller's word that nothing changed.
        low = max(base, tail_start)
        same = _common_prefix(data[low - base : self._length - base], self._tail[low - tail_start :])
        common = low + same
        if common == self._length and end - self._length <= self.window:
            return self._length, self._state  # the text grew: read just the new bytes
        self._checkpoints = [(pos, st) for pos, st in self._checkpoints if pos <= common]
        if self._checkpoints and base <= self._checkpoints[-1][0] and end - self._checkpoints[-1][0] <= self.window:
            position, saved = self._checkpoints[-1]
            return position, saved.fork()
        return 0, None

    def _fresh(self, data: bytes, base: int) -> tuple[int, PredictorState]:
        """Start over as Predictor.prime does: at the document start, or window bytes back."""
        if base == 0 and len(data) <= self.window:
            origin, state = 0, self.engine.start()
        else:
            origin, state = base + max(0, len(data) - self.window), self.engine.zero_state()
        self._checkpoints = [(origin, state.fork())]
        return origin, state

    def _feed(self, state: PredictorState, data: bytes, base: int, position: int, learn: bool = False) -> None:
        """Read the text from `position` to its end into `state` (learning from it when `learn`),
        saving a checkpoint at each multiple of checkpoint_every; `data` starts at `base`."""
        every = self.checkpoint_every
        end = base + len(data)
        while position < end:
            stop = min(end, (position // every + 1) * every)
            if learn:
                self.engine.read(state, data[position - base : stop - base])
            else:
                state.feed(data[position - base : stop - base])
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
