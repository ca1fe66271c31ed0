"""The search for a suggestion: the likeliest continuations of a state, cut where the policy says,
and of them the part that saves the most keys (`suggest`), or the K best distinct ones (`alternatives`)."""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from dataclasses import dataclass

import numpy as np

from charcomplete.core.predictor import PredictorState
from charcomplete.suggest.characters import (
    IME_KEYS,
    is_continuation,
    is_word_byte,
    is_word_char,
    last_char_length,
    printable_length,
    stops_suggestion,
    typing_keys,
    unfinished_tail,
    valid_utf8_length,
)
from charcomplete.suggest.declined import NOTHING_DECLINED, Declined
from charcomplete.suggest.policy import DEFAULT_POLICY, SOFT_SHARE, Policy, blank_shows


@dataclass
class Suggestion:
    text: str
    probability: float  # product of the chosen bytes' probabilities (1.0 for the empty text: it means nothing)
    ime_keys: float = IME_KEYS  # keys a CJK character costs to type (the policy's): what `saves` counts

    @property
    def keys(self) -> float:
        """Keys it takes to type the text unaided: a key per character, IME_KEYS per CJK one."""
        return typing_keys(self.text, self.ime_keys)

    @property
    def saves(self) -> float:
        """The keys it saves on average: P(it is what the user types) * (its keys - 1), a Tab
        being a key too (for text without CJK characters, its characters - 1). What the
        suggestion is chosen by, and what ranks alternatives."""
        return self.probability * max(0.0, self.keys - 1) if self.text else 0.0


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
    char_logp: float = 0.0  # logp of the bytes of a character begun and not finished (0 between characters)


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
    ime_keys: float
    word_chars: bool
    char_prob: bool
    line_ends: bool
    deadline: float  # time.perf_counter() past which paths that have their first words stop (inf: none)
    hard_deadline: float  # ...and past which every path stops
    declined: Declined  # what the user typed over: no suggestion holds all of one (declined.py)


def _log(p: float) -> float:
    return math.log(p) if p > 0 else -math.inf


def _limits(policy: Policy, width: int | None = None, declined: Declined = NOTHING_DECLINED) -> _Limits:
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
        policy.ime_keys,
        policy.word_chars,
        policy.char_prob,
        policy.line_ends,
        *_deadlines(policy.budget_ms),
        declined,
    )


def _deadlines(budget_ms: float | None) -> tuple[float, float]:
    if budget_ms is None:
        return math.inf, math.inf
    now, budget = time.perf_counter(), max(0.0, budget_ms) / 1e3
    return now + SOFT_SHARE * budget, now + budget


def _policy(policy: Policy | None, overrides: dict) -> Policy:
    base = policy or DEFAULT_POLICY
    if not overrides:
        return base
    try:
        return _replaced(base, tuple(overrides.items()))
    except TypeError:  # an unhashable value: the Policy itself will say whether it is a field
        return base.replace(**overrides)


@functools.lru_cache(maxsize=64)
def _replaced(policy: Policy, overrides: tuple) -> Policy:
    """`policy` with `overrides` ((field, value) pairs) changed: a surface asks with the same few at
    every keystroke, and building a Policy (5 us) was a tenth of a shell request's overhead."""
    return policy.replace(**dict(overrides))


def _children(path: _Path, limits: _Limits) -> list[tuple[int, float]]:
    """The next bytes worth following from `path`, best first; empty when it must stop."""
    logp = path.state.log_probs()  # (256,)
    if limits.width == 1:
        top = [int(np.argmax(logp))]
    else:
        order = np.argpartition(logp, -limits.width)[-limits.width :]
        top = order[np.argsort(logp[order])[::-1]].tolist()
    path.line_end = stops_suggestion(top[0], limits.line_ends)
    # Past its words, a suggestion goes on only while the model is sure of the word it adds.
    log_more = -math.inf if path.words < limits.words else limits.log_more
    children = []
    for byte in top:
        lp = float(logp[byte])
        total = path.logp + lp
        if not _likely_enough(path, byte, lp, limits) or total < limits.log_min_total \
                or stops_suggestion(byte, limits.line_ends):
            continue
        if total - path.boundary_logp < log_more:
            continue
        if not is_continuation(byte) and path.chars >= limits.max_chars:
            continue  # a new character would pass the cap
        children.append((byte, lp))
    return children


def _likely_enough(path: _Path, byte: int, lp: float, limits: _Limits) -> bool:
    """Whether `byte` passes min_prob: on its own (per byte), or with `char_prob` as part of its
    character, which must be min_prob ** (the keys it costs) likely: the same bar per key saved,
    so a CJK character worth IME_KEYS keys may be less likely than an ASCII one. A character not
    finished yet is held to the lowest bar any character has (its probability can only fall)."""
    if not limits.char_prob or byte < 0x80:
        return lp >= limits.log_min_prob
    char_lp = lp + (path.char_logp if is_continuation(byte) else 0.0)
    data = path.data[-3:] + bytes((byte,))
    if unfinished_tail(data):
        return char_lp >= limits.log_min_prob * max(1.0, limits.ime_keys)
    char = data[-last_char_length(data):].decode("utf-8", errors="replace")
    return char_lp >= limits.log_min_prob * typing_keys(char, limits.ime_keys)


def _grow(path: _Path, byte: int, lp: float, limits: _Limits, fork: bool) -> _Path:
    state = path.state.fork() if fork else path.state
    state.feed(bytes((byte,)))
    data = path.data + bytes((byte,))
    child = _Path(
        state,
        data,
        path.lps + (lp,),
        path.logp + lp,
        path.chars + (not is_continuation(byte)),
        path.words,
        path.in_word,
        path.fresh,
        False,
        path.word_start,
        path.boundary,
        path.boundary_logp,
    )
    start = len(path.data)  # where the character this byte ends began
    if limits.word_chars and byte >= 0x80:
        # A multi-byte character's class (a letter, or punctuation such as ，) is known at its
        # last byte; until then nothing changes, then it counts as one character from its start.
        if unfinished_tail(data):
            child.char_logp = path.char_logp + lp if is_continuation(byte) else lp
            return child
        length = last_char_length(data)
        word, start = is_word_char(data[-length:]), len(data) - length
    else:
        word = is_word_byte(byte)
        if byte >= 0x80 and unfinished_tail(data):
            child.char_logp = path.char_logp + lp if is_continuation(byte) else lp
    child.in_word = word
    child.fresh = word or path.fresh
    if word and not path.in_word:
        child.word_start = start
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


def _root(state: PredictorState, limits: _Limits) -> _Path:
    """The empty continuation, on a copy of `state` (which the search then moves)."""
    tail = state.tail
    if limits.word_chars and tail:
        in_word = is_word_char(tail[-last_char_length(tail):])
    else:
        in_word = bool(tail) and is_word_byte(tail[-1])
    return _Path(state.fork(), in_word=in_word)


def _search(start: _Path, limits: _Limits) -> list[_Path]:
    """Beam search (width 1 = greedy) from `start`; returns every path that stopped. Once
    the deadline has passed, a path that has its first `words` words stops where it is (what
    it shows does not wait on the further words); one still inside them goes on until the
    hard deadline, when every path stops where it is."""
    alive = [start]
    stopped: list[_Path] = []
    timed = limits.deadline < math.inf
    while alive:
        if timed and time.perf_counter() > limits.deadline:
            stopped += [path for path in alive if path.words >= limits.words]
            alive = [path for path in alive if path.words < limits.words]
            if not alive:
                break
        grown: list[_Path] = []
        for number, path in enumerate(alive):
            # Checked before each path grows, not once a level: a level of a wide beam costs
            # several steps, and the hard deadline is the whole of a keystroke's budget.
            if timed and time.perf_counter() > limits.hard_deadline:
                return stopped + alive[number:] + grown
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
    keep = printable_length(path.data[:keep], limits.line_ends)
    keep = valid_utf8_length(path.data[: limits.declined.allowed_length(path.data, keep)])
    return _most_saving(path, keep, limits) if limits.cut_by_savings else keep


def _most_saving(path: _Path, keep: int, limits: _Limits) -> int:
    """The length of the prefix of path.data[:keep] (whole characters) that saves the most keys
    on average: P(the user types it) * (its keys - 1); ties go to the longer. It ends anywhere in
    the first word (where confidence runs out, as before), but past that only at a word's end,
    before or after the space or punctuation that ends it: a further word is shown whole."""
    best, best_value, logp, keys, past_first_word = keep, -1.0, 0.0, 0.0, False
    data = path.data
    words = _word_classes(data, limits.word_chars)  # (end, is a word character), one per character
    start = 0
    for index, (end, word) in enumerate(words):
        if end > keep:
            break
        logp += sum(path.lps[start:end])
        keys += typing_keys(data[start:end].decode("utf-8", "replace"), limits.ime_keys)
        start = end
        after = words[index + 1][1] if index + 1 < len(words) else None
        word_end = word and (after is None or not after)
        after_word_end = index >= 1 and not word and words[index - 1][1]
        if past_first_word and not (word_end or after_word_end or end == keep):
            continue
        value = math.exp(logp) * (keys - 1)
        if value >= best_value:
            best, best_value = end, value
        past_first_word = past_first_word or word_end
    return best


def _word_classes(data: bytes, word_chars: bool) -> list[tuple[int, bool]]:
    """(where each character of `data` ends, whether it is a word character): whole characters
    judged by `is_word_char` (`word_chars`), or by their first byte as before; an unfinished last
    character is included, a lone byte is a character of its own."""
    out, start = [], 0
    while start < len(data):
        lead = data[start]
        need = 1 if lead < 0xC0 else 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
        end = start + 1
        while end < min(len(data), start + need) and is_continuation(data[end]):
            end += 1
        out.append((end, is_word_char(data[start:end]) if word_chars else is_word_byte(lead)))
        start = end
    return out


def _finish(path: _Path, limits: _Limits) -> Suggestion | None:
    """The path cut and decoded; None when what is left is not worth showing."""
    keep = _cut(path, limits)
    text = path.data[:keep].decode("utf-8")
    keys = typing_keys(text, limits.ime_keys)
    if keys < limits.min_chars or (text.isspace() and not blank_shows(text, limits.blank_ok, limits.line_ends)):
        return None  # too short to save a key, or only a space: it would look like nothing
    probability = math.exp(math.fsum(path.lps[:keep]))
    if probability * (keys - 1) < limits.min_value:
        return None  # it would save too little on average to be worth the reading
    return Suggestion(text, probability, limits.ime_keys)


def _best(paths: list[_Path], limits: _Limits) -> Suggestion | None:
    """Of the stopped paths, the one worth most: the keys it saves on average, P(the user
    types it) * (its keys - 1), the measure the cut used (issue 15's policies: * its keys)."""
    options = [option for option in (_finish(path, limits) for path in paths) if option is not None]
    tab = 1 if limits.cut_by_savings else 0
    return max(options, key=lambda s: s.probability * (s.keys - tab), default=None)


def suggest(state: PredictorState, policy: Policy | None = None, declined: Declined = NOTHING_DECLINED,
            **overrides) -> Suggestion:
    """The most likely continuation after `state` (the state itself is not changed).

    It ends after `words` new words (each with the space or punctuation that follows
    it), going on word by word while the model gives each further word at least `more`;
    before a line end (unless the policy's `line_ends`); after `max_chars` characters; or before the byte that would
    make a step less likely than `min_prob` or the whole less likely than `min_total`.
    `overrides` change single fields of `policy` (default: DEFAULT_POLICY). `declined`: what
    the user typed over here (declined.py); the suggestion holds none of it whole.
    An empty suggestion means nothing is worth showing: the model is not confident
    enough, or what it is confident of is shorter than `min_chars` or only spaces."""
    policy = _policy(policy, overrides)
    if _inside_character(state):
        return Suggestion("", 1.0)  # the text ends mid-character: nothing decodable to add
    limits = _limits(policy, declined=declined)
    return _best(_search(_root(state, limits), limits), limits) or Suggestion("", 1.0, policy.ime_keys)


def alternatives(
    state: PredictorState, k: int = 3, policy: Policy | None = None, min_first: float = 0.01,
    declined: Declined = NOTHING_DECLINED, **overrides
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
    main = suggest(state, policy, declined)
    if not main.text:
        return []
    wanted = k - 1
    if wanted < 1:
        return [main]
    limits = _limits(policy, width=1, declined=declined)
    logp = state.log_probs()  # (256,)
    root = _root(state, limits)
    main_first = main.text.encode("utf-8")[:1]  # the main suggestion stands for its first byte's branch
    most_keys = max(1.0, limits.max_chars * max(1.0, limits.ime_keys) - 1)  # the most any option can save
    others: list[Suggestion] = []
    for byte in np.argsort(logp)[::-1].tolist():
        lp = float(logp[byte])
        others.sort(key=_rank)
        # An option saves at most P(its first byte) * (its most keys - 1): once `wanted` options
        # save more than that, no later one can enter the top (so the answer does not depend on k).
        bound = math.exp(lp) * most_keys
        if lp < math.log(min_first) or bound < limits.min_value or (
                len(others) >= wanted and bound < others[wanted - 1].saves):
            break
        if (stops_suggestion(byte, limits.line_ends) or is_continuation(byte) or limits.max_chars < 1
                or bytes((byte,)) == main_first):
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
