"""Secondary symbol estimation (model/sse.py): the tables learn how sure a prediction should
be, the refined distribution stays a distribution, and the typing cache without it is unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from charcomplete.model.cache import typing_cache
from charcomplete.model.ngram import NGram, NGramEngine
from charcomplete.model.sse import SSE, SSESettings

TEXT = b"cargo build --release && ./target/release/charcomplete\n"


def uniform() -> NGramEngine:
    return NGramEngine(NGram(1).fit(bytes(range(256))))  # knows nothing: what matters is the cache


def spread(top: dict[int, float]) -> np.ndarray:
    """A distribution with `top`'s probabilities, the rest shared evenly among the other bytes."""
    p = np.full(256, (1.0 - sum(top.values())) / (256 - len(top)))
    for byte, probability in top.items():
        p[byte] = probability
    return p


def test_an_under_confident_prediction_is_sharpened_and_stays_a_distribution():
    sse = SSE(SSESettings(contexts=("order1",)), bins=1)
    p = spread({7: 0.5, 9: 0.2})
    contexts = sse.context_values(0, b"x")
    for _ in range(200):  # byte 7 always comes where the input gave it half
        sse.learn(sse.questions(p, contexts), 7)
    refined = sse.refine(p, sse.questions(p, contexts))
    assert refined.sum() == pytest.approx(1.0)
    assert refined[7] > 0.8  # the tables say ~1, the input 0.5: weight 0.75 gives ~0.87
    assert refined[9] / refined[100] == pytest.approx(p[9] / p[100])  # the others keep their shares
    other = sse.refine(p, sse.questions(p, sse.context_values(0, b"y")))
    assert np.allclose(other, p)  # another context has learned nothing yet: the identity


def test_the_second_candidate_learns_given_the_first_did_not_come():
    sse = SSE(SSESettings(candidates=2, contexts=("bin",)), bins=1)
    p = spread({7: 0.5, 9: 0.3})
    for _ in range(200):
        sse.learn(sse.questions(p, [0]), 9)
    refined = sse.refine(p, sse.questions(p, [0]))
    assert refined.sum() == pytest.approx(1.0)
    assert refined[7] < p[7] and refined[9] > 0.5 > p[9]


def test_an_unknown_context_is_an_error():
    with pytest.raises(ValueError, match="order3"):
        SSE(SSESettings(contexts=("order3",)), bins=1)


def test_the_typing_cache_with_sse_sharpens_a_repeat_and_learns_only_from_observed_bytes():
    engine, plain = typing_cache(uniform(), sse=SSESettings()), typing_cache(uniform())
    state, plain_state = engine.start(), plain.start()
    for byte in TEXT * 6:
        p = state.probs()
        assert p.sum() == pytest.approx(1.0)
        engine.observe(state, byte)
        state.feed(bytes((byte,)))
        plain.observe(plain_state, byte)
        plain_state.feed(bytes((byte,)))
    state.feed(TEXT[:10])
    plain_state.feed(TEXT[:10])
    probs, bin_ = state.cached_components()
    mixed, refined = state.cached_mixtures().mixed, state.probs()
    assert refined.sum() == pytest.approx(1.0)
    assert refined[TEXT[10]] > mixed[TEXT[10]] and refined[TEXT[10]] > plain_state.probs()[TEXT[10]]
    tables = [[list(row) for row in table] for table in engine.sse.tables]
    ahead = state.fork()
    for byte in TEXT[10:30]:  # looking ahead (a suggestion) teaches the tables nothing
        ahead.probs()
        ahead.feed(bytes((byte,)))
    assert [[list(row) for row in table] for table in engine.sse.tables] == tables


def test_without_sse_the_typing_cache_gives_the_mixture_unchanged():
    engine = typing_cache(uniform(), "typed before: " + TEXT.decode())
    assert engine.sse is None
    state = engine.start()
    for byte in TEXT * 2:
        assert np.array_equal(state.probs(), state.cached_mixtures().mixed)
        engine.observe(state, byte)
        state.feed(bytes((byte,)))


def test_a_remembering_twin_keeps_what_sse_learned():
    engine = typing_cache(uniform(), TEXT.decode(), sse=SSESettings())
    assert engine.remembering(NGram(8).fit(TEXT)).sse is engine.sse


def test_a_prediction_sure_to_the_last_bit_leaves_the_other_bytes_something():
    sse = SSE(SSESettings(), bins=1)
    p = np.zeros(256)
    p[7] = 1.0
    refined = sse.refine(p, sse.questions(p, sse.context_values(0, b"x")))
    assert refined.sum() == pytest.approx(1.0) and refined.min() > 0.0


def test_one_miss_early_in_a_document_does_not_overturn_a_sure_guess():
    sse = SSE(SSESettings(contexts=("order1",)), bins=1)
    p = spread({7: 0.9})
    contexts = sse.context_values(0, b"x")
    sse.learn(sse.questions(p, contexts), 8)
    assert sse.refine(p, sse.questions(p, contexts))[7] > 0.85  # the prior's 16 outcomes outweigh one
    fresh = SSE(SSESettings(contexts=("order1",), prior=0.0), bins=1)
    fresh.learn(fresh.questions(p, contexts), 8)
    assert fresh.refine(p, fresh.questions(p, contexts))[7] < 0.7  # without it, one miss: 0.9 -> 0.67
