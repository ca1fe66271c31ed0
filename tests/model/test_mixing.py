"""The typing cache's mixing (model/cache.py): fine weight sets chosen by what the caches know,
coarse ones by the kinds of the last two bytes and the match length, and a final mixer of the
two mixtures; what they learned carries over to new weights and to a new memory."""

from __future__ import annotations

import numpy as np
import pytest

from charcomplete.model.cache import FINAL_START, typing_cache
from charcomplete.model.ngram import NGram, NGramEngine

TEXT = b"cargo build --release && ./target/release/charcomplete\n"


def uniform() -> NGramEngine:
    return NGramEngine(NGram(1).fit(bytes(range(256))))  # knows nothing: what matters is the cache


def test_the_final_mixture_is_a_distribution_between_the_fine_and_the_coarse_ones():
    engine = typing_cache(uniform(), "typed before: " + TEXT.decode())
    state = engine.start()
    for byte in TEXT * 3:
        mixed, _, bin_ = state.cached_mixtures()
        assert mixed.sum() == pytest.approx(1.0)
        probs, fine_bin = state.cached_components()
        fine, coarse = engine.mixer.mix(probs, fine_bin), engine.coarse.mix(probs, bin_)
        np.testing.assert_allclose(mixed, engine.final.weights(0) @ np.stack([fine, coarse]))
        engine.observe(state, byte)
        state.feed(bytes((byte,)))
    first = np.exp(FINAL_START) / np.exp(FINAL_START).sum()
    assert not np.allclose(engine.final.weights(0), first)  # the final mixer learned from the typing


def test_looking_ahead_teaches_neither_set():
    engine = typing_cache(uniform(), TEXT.decode())
    state = engine.start()
    engine.read(state, TEXT[:20])
    learned = engine.coarse.params.copy(), engine.final.params.copy(), engine.mixer.params.copy()
    ahead = state.fork()
    for byte in TEXT[20:40]:  # a suggestion's search
        ahead.probs()
        ahead.feed(bytes((byte,)))
    now = engine.coarse.params, engine.final.params, engine.mixer.params
    assert all(np.array_equal(a, b) for a, b in zip(learned, now, strict=True))


def test_what_the_coarse_sets_learned_carries_over_to_new_weights_and_a_new_memory():
    engine = typing_cache(uniform(), "")
    engine.read(engine.start(), TEXT * 3)
    rebased = engine.rebased(uniform())
    assert rebased.coarse is engine.coarse and rebased.final is engine.final
    remembering = engine.remembering(NGram(8).fit(TEXT))
    assert remembering.final is engine.final
    k = engine.coarse.params.shape[1]
    mine = engine.coarse.params.reshape(-1, 1, engine.match_levels, k)  # no memory: one memory level
    theirs = remembering.coarse.params.reshape(-1, remembering.levels, remembering.match_levels, k + 1)
    assert remembering.levels > 1  # the coarse sets are chosen by how much the memory knows too
    for level in range(remembering.levels):  # each memory level starts from what was learned
        np.testing.assert_array_equal(theirs[:, level, :, :2], mine[:, 0, :, :2])
        np.testing.assert_array_equal(theirs[:, level, :, -1], mine[:, 0, :, -1])  # the match model's


def test_without_coarse_sets_the_mixture_is_the_fine_sets_alone():
    engine = typing_cache(uniform(), "typed before: " + TEXT.decode(), coarse_lr=0)
    assert engine.coarse is None and engine.final is None
    state = engine.start()
    for byte in TEXT:
        probs, bin_ = state.cached_components()
        assert np.array_equal(state.probs(), engine.mixer.mix(probs, bin_))
        engine.observe(state, byte)
        state.feed(bytes((byte,)))
