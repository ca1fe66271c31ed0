"""The match model (model/match.py) and its place in the typing cache: the byte after the
longest earlier match, in the text read and in the memory, its confidence learned by length."""

from __future__ import annotations

import numpy as np

from charcomplete.model.cache import typing_cache
from charcomplete.model.match import MIN_MATCH, Match, MatchModel, TextIndex
from charcomplete.model.ngram import NGram, NGramEngine

# Every 7-byte context of the second half also occurs in the first half followed by another
# byte: only a context longer than an order-8 n-gram's tells which continuation comes.
PATH = b"cd ~/projects/charcomplete/benchmarks/long_context.py"


def read(model: MatchModel, match: Match, text: bytes, context: bytes = b"") -> bytes:
    for byte in text:
        model.learn(match, byte)
        model.observe(byte)
        context += bytes((byte,))
        model.advance(match, byte, context)
    return context


def test_it_predicts_what_followed_the_earlier_occurrence_and_the_match_grows():
    model, match = MatchModel(), Match()
    context = read(model, match, b"first: " + PATH + b"\nsecond: cd ~/proj")
    assert match.length >= MIN_MATCH and model.predicted(match) == ord("e")
    before = match.length
    context = read(model, match, b"ects/charcomplete/", context)
    assert match.length == before + len(b"ects/charcomplete/") and model.predicted(match) == ord("b")
    byte, sure, level = model.confidence(match)
    assert byte == ord("b") and level > 1 and 0.5 < sure < 1.0


def test_a_look_ahead_moves_only_its_own_match_and_learns_nothing():
    model, match = MatchModel(), Match()
    context = read(model, match, PATH + b" " + PATH[:12])
    text, hits = bytes(model.history.text), model.hits.copy()
    ahead = match.copy()
    for byte in PATH[12:20]:
        context += bytes((byte,))
        model.advance(ahead, byte, context)
    assert ahead.length == match.length + 8 and ahead.position == match.position + 8
    assert bytes(model.history.text) == text and np.array_equal(model.hits, hits)


def test_the_memory_is_searched_when_the_text_read_has_no_match():
    memory = TextIndex(b"\x02unrelated\x02" + PATH + b"\x02more")
    model, match = MatchModel(memory), Match()
    read(model, match, b"run: cd ~/projects/char")
    assert match.source == 1 and model.predicted(match) == ord("c")
    assert TextIndex(b"").find(b"anything") == -1


def test_the_typing_cache_predicts_a_long_repeat_better_with_the_match_model():
    # A text whose 7-byte contexts are ambiguous: each line repeats, and lines share long prefixes.
    lines = [b"pip install --upgrade charcomplete==0.%d.%d\n" % (i % 3, i % 5) for i in range(30)]
    text = b"".join(lines) * 2
    uniform = NGramEngine(NGram(1).fit(bytes(range(256))))  # knows nothing: what matters is the cache
    bits = {}
    for match in (False, True):
        engine = typing_cache(uniform, match=match)
        state, total = engine.start(), 0.0
        for i, byte in enumerate(text):
            if i >= len(text) // 2:
                total -= np.log2(state.probs()[byte])
            engine.observe(state, byte)
            state.feed(bytes((byte,)))
        bits[match] = total
    assert bits[True] < 0.8 * bits[False]


def test_remembering_swaps_the_memory_the_match_model_searches_and_keeps_what_was_read():
    uniform = NGramEngine(NGram(1).fit(bytes(range(256))))
    engine = typing_cache(uniform, "typed earlier: " + PATH.decode())
    memory_text = b"\x02" + b"git commit -m 'remembered line'"
    twin = engine.remembering(NGram(8).fit(memory_text), TextIndex(memory_text))
    assert twin.match.history is engine.match.history and twin.match.memory is not None
    state = twin.prime("then: git commit -m 'rem")
    assert state.match.source == 1 and twin.match.predicted(state.match) == ord("e")
    carried = engine.prime("x " + PATH.decode()[:20]).carried_to(twin)
    assert carried.match.source == 0 and carried.match.length >= MIN_MATCH
