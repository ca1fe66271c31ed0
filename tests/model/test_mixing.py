"""The typing cache's mixing (model/cache.py): fine weight sets chosen by what the caches know,
coarse ones by the kinds of the last two bytes and the match length, a geometric mixture, and a
final mixer of the three; what they learned carries over to new weights and to a new memory."""

from __future__ import annotations

import numpy as np
import pytest

from charcomplete.model.cache import FINAL_START, GEOMETRIC_START, Mixer, typing_cache
from charcomplete.model.ngram import NGram, NGramEngine

TEXT = b"cargo build --release && ./target/release/charcomplete\n"


def uniform() -> NGramEngine:
    return NGramEngine(NGram(1).fit(bytes(range(256))))  # knows nothing: what matters is the cache


def test_the_final_mixture_is_a_distribution_between_the_fine_the_coarse_and_the_geometric_ones():
    engine = typing_cache(uniform(), "typed before: " + TEXT.decode())
    state = engine.start()
    started = engine.geometric.params.copy()
    for byte in TEXT * 3:
        mixtures = state.cached_mixtures()
        assert mixtures.mixed.sum() == pytest.approx(1.0)
        probs, fine_bin = state.cached_components()
        fine, coarse = engine.mixer.mix(probs, fine_bin), engine.coarse.mix(probs, mixtures.coarse_bin)
        geometric = engine.geometric.mix(probs, fine_bin)
        assert geometric.sum() == pytest.approx(1.0)
        np.testing.assert_allclose(mixtures.mixed, engine.final.weights(0) @ np.stack([fine, coarse, geometric]))
        engine.observe(state, byte)
        state.feed(bytes((byte,)))
    first = np.exp(FINAL_START + (GEOMETRIC_START,))
    assert not np.allclose(engine.final.weights(0), first / first.sum())  # the final mixer learned from the typing
    assert not np.allclose(engine.geometric.params, started)  # ...and the geometric exponents


def test_a_geometric_mixture_is_surer_than_its_components_where_they_agree():
    probs = np.full((2, 256), 0.5 / 255)
    probs[:, ord("x")] = 0.5  # two components, each giving x one half
    geometric = Mixer(2, 1, kind="geometric", start=np.ones((1, 2)))
    assert geometric.mix(probs, 0)[ord("x")] > 0.99
    assert Mixer(2, 1).mix(probs, 0)[ord("x")] == pytest.approx(0.5)  # a linear mixture of them: a half


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
    assert rebased.geometric is engine.geometric
    remembering = engine.remembering(NGram(8).fit(TEXT))
    assert remembering.final is engine.final
    k = engine.coarse.params.shape[1]
    mine = engine.coarse.params.reshape(-1, 1, engine.match_levels, k)  # no memory: one memory level
    theirs = remembering.coarse.params.reshape(-1, remembering.levels, remembering.match_levels, k + 1)
    assert remembering.levels > 1  # the coarse sets are chosen by how much the memory knows too
    for level in range(remembering.levels):  # each memory level starts from what was learned
        np.testing.assert_array_equal(theirs[:, level, :, :2], mine[:, 0, :, :2])
        np.testing.assert_array_equal(theirs[:, level, :, -1], mine[:, 0, :, -1])  # the match model's
    k = engine.geometric.params.shape[1]  # the geometric exponents carry over the same way
    mine = engine.geometric.params.reshape(-1, 1, engine.match_levels, k)
    theirs = remembering.geometric.params.reshape(-1, remembering.levels, remembering.match_levels, k + 1)
    for level in range(remembering.levels):
        np.testing.assert_array_equal(theirs[:, level, :, :2], mine[:, 0, :, :2])
        np.testing.assert_array_equal(theirs[:, level, :, -1], mine[:, 0, :, -1])


def test_without_coarse_sets_the_mixture_is_the_fine_sets_alone():
    engine = typing_cache(uniform(), "typed before: " + TEXT.decode(), coarse_lr=0)
    assert engine.coarse is None and engine.final is None and engine.geometric is None
    state = engine.start()
    for byte in TEXT:
        probs, bin_ = state.cached_components()
        assert np.array_equal(state.probs(), engine.mixer.mix(probs, bin_))
        engine.observe(state, byte)
        state.feed(bytes((byte,)))
