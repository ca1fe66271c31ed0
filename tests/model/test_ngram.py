"""The byte n-gram: its formula on a hand-checkable case, adaptation, the engine interface
the decoders use, and the cache mixed with a neural engine."""

from __future__ import annotations

import math

import numpy as np
import pytest

from charcomplete.core.config import DOC_START, ModelConfig
from charcomplete.core.predictor import LearningPredictor, Predictor, PredictorState
from charcomplete.model.cache import CacheEngine, Mixer, typing_cache
from charcomplete.model.engine import Engine
from charcomplete.model.ngram import NGram, NGramEngine
from charcomplete.suggest.decoder import Completer, suggest
from tests.helpers import random_weights


def test_interpolated_absolute_discounting_by_hand():
    model = NGram(order=2).fit(b"abac")
    # Unigrams a:2 b:1 c:1 -> D0 = n1 / (n1 + 2 n2) = 2 / (2 + 2) = 0.5;
    # bigrams ab, ba, ac once each: no n2 to estimate from -> D1 = 0.75 (the default).
    assert model.discounts == [0.5, 0.75]
    p0 = {ch: (max(n - 0.5, 0) + 0.5 * 3 / 256) / 4 for ch, n in {"a": 2, "b": 1, "c": 1, "z": 0}.items()}
    probs = model.probs(b"a")  # after "a": b once, c once
    assert probs[ord("b")] == pytest.approx((1 - 0.75 + 0.75 * 2 * p0["b"]) / 2)
    assert probs[ord("z")] == pytest.approx(0.75 * 2 * p0["z"] / 2)
    assert model.probs(b"z")[ord("a")] == pytest.approx(p0["a"])  # unseen context: the lower order alone
    assert model.probs(b"")[ord("a")] == pytest.approx(p0["a"])
    for context in (b"", b"a", b"b", b"q"):
        assert model.probs(context).sum() == pytest.approx(1.0)


def test_added_counts_equal_fitted_counts():
    text = b"\x00the cat sat on the mat; the cat ate the rat.\x00then the bat"
    fitted = NGram().fit(text)
    counted = NGram(discounts=fitted.discounts)
    counted.observe(b"", DOC_START)  # fit counts a stream's first byte with no context...
    counted.update(text[1:])  # ...and update() goes on after DOC_START, as a fresh stream does
    for context in (b"the ", b"at", b"e c", b"zzzz", b"\x00th"):
        np.testing.assert_allclose(counted.probs(context), fitted.probs(context), rtol=1e-12)
    mixed = NGram().fit(text[:20])  # part fitted, the rest added: the same model again
    mixed.set_discounts(fitted.discounts)
    mixed.update(text[20:])
    for context in (b"the ", b"at", b"e c", b"zzzz"):
        np.testing.assert_allclose(mixed.probs(context), fitted.probs(context), rtol=1e-12)
        assert mixed.probs(context).sum() == pytest.approx(1.0)


def test_adaptive_counting_lowers_the_bits_of_repeated_text():
    training = b"\x00" + b"some ordinary words of a note about shells and editors. " * 5
    novel = b"zygomorphic quokkas juxtapose " * 8
    static = NGram().fit(training)
    adaptive = NGram(adaptive=True).fit(training)
    assert adaptive.bits(novel) < 0.5 * static.bits(novel)
    assert adaptive.observed_bytes == len(novel)


def test_the_decoders_run_on_an_ngram():
    model = NGram().fit(b"\x00" + b"the quick brown fox jumps over the lazy dog. " * 20)
    engine = NGramEngine(model)
    state = engine.prime(b"the quick br")
    assert suggest(state, more=1.0).text == "own "
    assert suggest(state).text.startswith("own fox jumps ")  # sure of the next words: it runs on
    assert Completer(engine, more=1.0).complete("over the la").text == "zy "
    assert engine.start().tail == bytes([DOC_START])


@pytest.mark.parametrize("kind", ["linear", "geometric"])
def test_mixer_moves_weight_to_the_component_that_predicts_better(kind):
    mixer = Mixer(2, bins=2, lr=0.1, kind=kind)
    good, bad = np.full(256, 0.5 / 255), np.full(256, 1 / 256)
    good[7] = 0.5
    probs = np.vstack([bad, good])
    before = mixer.mix(probs, 0)[7]
    for _ in range(200):
        mixer.learn(probs, 7, 0)
    assert mixer.mix(probs, 0)[7] > max(before, 0.45)
    assert mixer.mix(probs, 1)[7] == pytest.approx(before)  # another bin is another set of weights
    assert mixer.mix(probs, 0).sum() == pytest.approx(1.0)


def test_cache_engine_learns_the_users_strings():
    config = ModelConfig(cell="gru", embed=8, hidden=16)
    base = Engine("tiny", config, random_weights(config, scale=0.1, radius=0.9))
    engine = CacheEngine(base, [NGram(adaptive=True)], lr=0.05)
    text = b"charcomplete learns how you write; " * 12
    state = engine.start()
    first = last = None
    for i, byte in enumerate(text):
        p = state.probs()
        assert p.sum() == pytest.approx(1.0)
        bits = -math.log2(p[byte])
        first = bits if i == 40 else first
        last = bits
        engine.observe(state, byte)
        state.feed(bytes((byte,)))
    assert last < 1.0 < first
    # Looking ahead (suggestions) never counts anything.
    observed = engine.caches[0].observed_bytes
    assert suggest(state).text
    assert engine.caches[0].observed_bytes == observed


def test_every_predictor_keeps_the_written_contract():
    config = ModelConfig(cell="gru", embed=8, hidden=16)
    neural = Engine("tiny", config, random_weights(config, scale=0.1))
    counting = NGramEngine(NGram(adaptive=True).fit(b"the quick brown fox " * 20))
    mixed = typing_cache(neural, "the quick brown fox")
    for engine in (neural, counting, mixed):
        assert isinstance(engine, Predictor), engine
        assert isinstance(engine.start(), PredictorState), engine
        assert engine.describe() and engine.parameters >= 0
    assert mixed.parameters == neural.parameters == config.parameter_count()
    assert isinstance(mixed, LearningPredictor) and isinstance(counting, LearningPredictor)
    assert not isinstance(neural, LearningPredictor)  # the neural engine learns only through a learner


def test_a_cache_state_carries_itself_to_new_weights():
    config = ModelConfig(cell="gru", embed=8, hidden=16)
    old = Engine("old", config, random_weights(config, seed=1, scale=0.3))
    new = Engine("new", config, random_weights(config, seed=2, scale=0.3))
    engine = typing_cache(old, "Zorblax Zorblax ")
    state = engine.prime(b"said Zorb")
    twin = engine.rebased(new)
    carried = state.carried_to(twin)
    assert carried.engine is twin and carried.inner.engine is new and carried.tail == state.tail
    assert np.array_equal(carried.inner.h[0], state.inner.h[0])  # the same text read, new weights from here
    assert state.engine is engine and state.inner.engine is old  # the original is untouched
    assert not np.allclose(carried.probs(), state.probs())
    assert twin.mixer is engine.mixer and twin.caches[0] is engine.caches[0]  # what the cache learned carries over


def test_the_longest_contexts_are_found_whatever_their_bytes():
    # Order 8: 7 bytes of context and the byte after them fill 64 bits; a context starting
    # with a byte >= 0x80 (any accented letter) must be found like any other.
    text = "héllo wörld, naïve café, héllo wörld! ".encode() * 8
    model = NGram(order=8).fit(text)
    for end in range(len(text) - 40, len(text)):
        assert model.lookup(text[end - 7 : end])[1] == 7, text[end - 7 : end]


def test_the_typing_cache_counts_the_opened_text_as_typing_would():
    config = ModelConfig(cell="gru", embed=8, hidden=16)
    neural = Engine("tiny", config, random_weights(config, scale=0.1))
    opened = "# Zorblax notes\n\nZorblax runs `zorb --fast` on the café's build. Zorblax again.\n"
    cache = typing_cache(neural, opened).caches[0]
    slow = NGram(cache.order, adaptive=True)
    slow.update(opened.encode())  # byte by byte, after the document start
    assert cache._added == slow._added and cache.observed_bytes == slow.observed_bytes
    # And a stream that goes on: counted at once or byte by byte, the same again.
    more = b"Zorblax says hi, Zorblax. " * 3
    context = (opened.encode() + more)[-cache.context_bytes :]
    before = cache.lookup(context)[0]  # kept as arrays until the counts change
    cache.update_all(more[:20])
    cache.update(more[20:40])
    cache.update_all(more[40:])
    slow.update(more)
    assert cache._added == slow._added and cache._history == slow._history
    after = cache.lookup(context)[0]
    np.testing.assert_array_equal(after, slow.lookup(context)[0])
    assert not np.array_equal(after, before)


def test_a_context_shorter_than_the_order_is_used_whole():
    """At a document's start the context is shorter than the n-gram's; all of it counts (it was
    cut to its last byte when one byte shorter: a slice from -1)."""
    text = b"\x00the cat sat on the mat; the cat ate the rat.\x00then the bat"
    engine = NGramEngine(NGram(5).fit(text))
    state = engine.start()
    state.feed(b"th")  # the context is DOC_START + "th": 3 bytes, the order wants 4
    np.testing.assert_array_equal(state.probs(), engine.model.probs(b"\x00th"))
    assert not np.array_equal(state.probs(), engine.model.probs(b"h"))
    cached = CacheEngine(engine, [NGram(5).fit(text)])
    cache_state = cached.start()
    cache_state.feed(b"th")
    np.testing.assert_array_equal(cached.components(cache_state)[0][1], cached.caches[0].probs(b"\x00th"))
