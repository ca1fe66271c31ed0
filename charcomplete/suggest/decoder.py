"""Decoding: turn next-byte odds into what the user sees. This module is its index: the
pieces live in policy.py, characters.py, search.py, sampling.py and completer.py, and
callers import them from here.

- `suggest`: the most likely continuation, cut at a natural boundary (the end of the
  word together with the space or punctuation after it, and further whole words the
  model is sure of; past the end of the line only where the policy's `line_ends` lets it,
  as a document's surfaces do) or where the model stops being
  confident, and never inside a UTF-8 character; of that, the part that saves the most
  keys on average. What saves too little (one key: one character, a long shot) or is only
  spaces is not shown at all. Keys, not characters: a CJK character costs an input method
  IME_KEYS keys, so one sure Chinese character is worth a Tab; and a word ends at
  punctuation in any script (，。 as , and .).
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

from charcomplete.suggest.characters import (  # noqa: F401
    IME_KEYS,
    is_continuation,
    is_ime_char,
    is_stop_byte,
    is_word_byte,
    is_word_char,
    next_word,
    printable_length,
    typing_keys,
    unfinished_tail,
    valid_utf8_length,
)
from charcomplete.suggest.completer import (  # noqa: F401
    Completer,
)
from charcomplete.suggest.policy import (  # noqa: F401
    BEAM,
    CHAR_PROB,
    CUT_BY_SAVINGS,
    DEFAULT_POLICY,
    FINISH_WORDS,
    INTERACTIVE_BUDGET_MS,
    MAX_CHARS,
    MIN_CHARS,
    MIN_PROB,
    MIN_TOTAL,
    MIN_VALUE,
    MORE,
    WHOLE_WORDS,
    WORD_CHARS,
    WORDS,
    Policy,
)
from charcomplete.suggest.sampling import (  # noqa: F401
    iter_sample,
    sample,
    utf8_next_bytes,
)
from charcomplete.suggest.search import (  # noqa: F401
    Suggestion,
    alternatives,
    suggest,
)
