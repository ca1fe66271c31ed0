"""The decoding policy: every setting of what a suggestion may be, and the defaults chosen by
measurement (benchmarks/suggestion_policy.py; BENCHMARKS.md has the figures)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from charcomplete.suggest.characters import IME_KEYS

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
CUT_BY_SAVINGS = True  # show the prefix worth most: P(it is typed) * (its keys - 1)
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
# CJK text (issue 26, item 6): a suggestion's worth counts the keys it saves, a CJK character
# costing IME_KEYS (characters.py says why 2, a documented figure, not a tuned one), and a word
# is judged by whole characters, so that ，。 end one. Dev slice: zh-rust-book ch17-00..02 (13,910
# characters, 18,880 keys through an input method), benchmarks/suggestion_policy.py --text,
# savings and net of 0.25 key per wrong suggestion, both in IME keys, and the wrong share:
#                                   built-in alone   built-in+cache   zh alone        zh+cache
#   before (1 key a character)     6.5/2.6% 83.5%   22.2/18.3% 72.6% 15.0/12.2% 68.2% 24.8/21.6% 64.8%
#   + word_chars                   6.5/2.6% 83.5%   22.2/18.4% 72.4% 15.0/12.2% 68.2% 24.8/21.6% 64.8%
#   + ime_keys 2 (the default)     7.6/3.2% 80.7%   26.8/21.5% 68.1% 18.2/15.0% 60.7% 31.5/27.1% 57.8%
#   + char_prob                    the default's figures to 0.1 (min_total bounds the search first)
# (zh: the built-in model after 4 minutes of `train` on ch00-ch16.) At a whole Esc per wrong
# suggestion the built-in model with the cache loses 1.2 points (6.8% -> 5.6%): it shows 47% more.
# English notes (the dev slice above): the same figures before and after.
# Issue 23: a suggestion may go on past a line end (LF) into the next line, in a document's
# surfaces (the editor, the language server and `eval`'s typist, which measures them): the
# Enter of a line the model is sure ends, a blank line between paragraphs, the indentation
# and the first word of the next line of code. The new user's model on the dev slices (15 kB
# of each held-out set after the first 100 kB), Tab savings, one line -> past line ends:
#   notes 38.1 -> 39.4%, rust-book 40.9 -> 41.7%, cheat sheets 36.2 -> 37.8%
# (1.0, 0.7 and 1.4 points of that without the blank ones: a line end with only spaces, which
# the ghost text's visible line-end mark shows). Off by default: a shell runs a line end, and
# `complete`, `complete --lines` and the shell server write one line a suggestion.
LINE_ENDS = False
IN_DOCUMENTS = {"line_ends": True}  # the policy fields a document's surfaces set


def at_cursor(at_line_end: bool) -> dict:
    """The policy fields for a suggestion at a cursor: one runs on past a line end only from
    the end of a line, never from the middle of one (it would split the line)."""
    return {} if at_line_end else {"line_ends": False}


def blank_shows(text: str, blank_ok: bool, line_ends: bool) -> bool:
    """Whether a suggestion of spaces and line ends only is shown: with blank_ok, or where
    line ends are allowed and it has one (which the ghost text draws: it looks like something)."""
    return blank_ok or (line_ends and "\n" in text)


WORD_CHARS = True  # punctuation and spaces past ASCII (，。“”) end a word; False: every non-ASCII byte is a word byte
CHAR_PROB = False  # min_prob judged per character, min_prob ** (the keys it costs); False: per byte
# The Completer's (every interactive surface's) time budget (Policy.budget_ms), from the moment
# a keystroke's call starts to its suggestion, reading the new bytes included: past SOFT_SHARE
# of it no further word, at it nothing more. An order-8 typing cache suggests 40-character runs
# and a model's memory doubles the look-ups per step; without a budget the editor's keystroke
# p99 was 25 ms on a 200 kB document. Issue 23 asks p99 <= 3 ms of the pipe's worst case (every
# suggestion running to its cap), so the budget is the whole of it, not a soft 3 ms and a hard 6
# (BENCHMARKS.md, "Editor", has what it costs in keystroke savings).
INTERACTIVE_BUDGET_MS = 2.5
SOFT_SHARE = 0.5


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
    # probability times (its keys - 1: its characters, a CJK one counting `ime_keys`), a Tab
    # being a key too. A last word, or the space or full stop after it, that the model is unsure
    # of is then left to the next suggestion (which starts with it) rather than costing the
    # whole one when it is wrong.
    cut_by_savings: bool = CUT_BY_SAVINGS
    min_value: float = MIN_VALUE  # show nothing that saves fewer keys than this on average
    # Keys, not characters, are what a suggestion saves: a CJK character typed through an input
    # method costs this many (1: every character one key, as before). The savings rule, the
    # minimum length and the ranking of alternatives all count them.
    ime_keys: float = IME_KEYS
    word_chars: bool = WORD_CHARS  # a word ends at punctuation or a space in any script (，。 too)
    char_prob: bool = CHAR_PROB  # min_prob per character (min_prob ** its keys) rather than per byte
    # A line end (LF) may be part of a suggestion, and a suggestion of line ends and spaces
    # is shown (its line ends are visible). False: a suggestion ends before the line does.
    line_ends: bool = LINE_ENDS
    # Milliseconds of search (None: no limit). Past SOFT_SHARE of it a suggestion that has its
    # first `words` words stops there, as if confidence ran out; at it, every path stops where
    # it is (a first word cut short is still the likeliest start). An interactive caller (the editor,
    # a language server, a shell) keeps its keystroke-to-suggestion time however long a
    # confident run of the typing cache is. Benchmarks leave it off: their figures must not
    # depend on load.
    budget_ms: float | None = None

    def replace(self, **changes) -> Policy:
        """This policy with some fields changed; an unknown name is a TypeError."""
        return dataclasses.replace(self, **changes)


DEFAULT_POLICY = Policy()
_SPACES = frozenset(b" \t")
