"""Online weights (learn/online.py `OnlineWeights`): dynamic evaluation driven by typed text,
in a worker thread or at each chunk's boundary, swapped into the typing cache between
keystrokes; `eval --adapt` runs the same path, so a session typing the same text gets the
same per-byte probabilities."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

from charcomplete.core.config import LN2
from charcomplete.evaluate.evaluation import AdaptSettings, evaluate
from charcomplete.learn.adapt import OnlineAdapter
from charcomplete.learn.online import OnlineWeights
from charcomplete.model import memory
from charcomplete.model.cache import typing_cache
from charcomplete.model.engine import Engine
from charcomplete.storage import store
from tests.helpers import remembering_tiny_model

TEXT = ["a line the model has never seen; another line; " * 6, "then a second document, a line; " * 5]
SETTINGS = AdaptSettings(lr=3e-3, chunk=16)  # the shared step (rms), large enough to show on a tiny model


@pytest.fixture
def tiny_model() -> str:
    return remembering_tiny_model()


def session_bits(name: str, documents: list[str], background: bool) -> list[float]:
    """What a suggestion session does: the typing cache over online weights, each typed byte
    observed and read, the newest weights swapped in between keystrokes (a background worker
    waited for after each byte, so nothing depends on the thread's timing)."""
    loaded = store.load_model(name)
    adapter = OnlineAdapter(loaded.config, loaded.weights, lr=SETTINGS.lr, optimizer=SETTINGS.optimizer,
                            decay=SETTINGS.decay, chunk=SETTINGS.chunk)
    online = OnlineWeights(adapter, SETTINGS.chunk, background=background, name=loaded.name)
    engine = typing_cache(Engine.from_model(loaded), "", remembered=memory.ngram(loaded.folder),
                          recalled=memory.recall(loaded.folder), online=online)
    bits = []
    for document in documents:
        engine.new_document()
        online.wait()
        engine = engine.current()
        state = engine.start()
        for byte in document.encode():
            bits.append(-float(state.log_probs()[byte]) / LN2)
            engine.observe(state, byte)
            state.feed(bytes((byte,)))
            online.wait()
            newest = engine.current()
            if newest is not engine:
                engine, state = newest, state.carried_to(newest)
    online.close()
    return bits


@pytest.mark.parametrize("background", [False, True])
def test_a_session_typing_the_text_gets_the_per_byte_probabilities_eval_reports(tiny_model, background):
    result = evaluate(tiny_model, TEXT, adapt=True, settings=SETTINGS, ksr_bytes=0, byte_bits=True)
    assert result["mode"] == "dynamic+cache" and result["adapter_steps"] > 10
    typed = session_bits(tiny_model, TEXT, background)
    assert len(typed) == len(result["byte_bits"])
    np.testing.assert_allclose(typed, result["byte_bits"], rtol=0, atol=1e-9)
    # and the weights did move: without them the same cache gives other figures
    fixed = evaluate(tiny_model, TEXT, adapt=True, dynamic=False, settings=SETTINGS, ksr_bytes=0, byte_bits=True)
    assert np.abs(np.asarray(fixed["byte_bits"]) - typed).max() > 0.01


def test_background_updates_never_block_and_forget_restores_the_starting_weights(tiny_model):
    loaded = store.load_model(tiny_model)
    adapter = OnlineAdapter(loaded.config, loaded.weights, lr=SETTINGS.lr, optimizer=SETTINGS.optimizer, chunk=8)
    online = OnlineWeights(adapter, chunk=8, background=True)
    assert online.latest() is None  # nothing learned yet
    online.feed(b"seven b")  # less than a chunk: no update
    online.wait()
    assert online.latest() is None and adapter.steps == 0
    online.feed(b"ytes and more bytes than two chunks")
    online.wait()
    adapted = online.latest()
    assert adapter.steps == 5 and adapted is not None
    assert online.latest() is None  # handed out once
    start = Engine.from_model(loaded).start().probs()
    assert np.abs(adapted.start().probs() - start).max() > 1e-4
    forgotten = online.forget()
    np.testing.assert_allclose(forgotten.start().probs(), start, atol=1e-6)
    online.close()


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="no idle scheduling class on this platform")
def test_the_online_steps_run_in_the_idle_scheduling_class_and_the_keystroke_thread_does_not(tiny_model):
    # A torch step on a normal-priority thread took the core the keystroke path wanted (the
    # language server's p99 7.8 -> 6.0 ms in the idle class): the worker runs only on spare CPU.
    loaded = store.load_model(tiny_model)

    class RecordingAdapter(OnlineAdapter):
        policies: list[int] = []

        def update(self, chunk: bytes) -> float:
            self.policies.append(os.sched_getscheduler(threading.get_native_id()))
            return super().update(chunk)

    adapter = RecordingAdapter(loaded.config, loaded.weights, lr=SETTINGS.lr, optimizer=SETTINGS.optimizer, chunk=8)
    online = OnlineWeights(adapter, chunk=8, background=True)
    online.feed(b"sixteen bytes of")
    online.wait()
    online.close()
    assert adapter.policies == [os.SCHED_IDLE, os.SCHED_IDLE]
    assert os.sched_getscheduler(threading.get_native_id()) == os.SCHED_OTHER  # the caller's thread is untouched


def test_the_rms_step_learns_the_text_and_every_process_computes_the_same_step(tiny_model):
    # Krause et al.'s step divides by each parameter's RMS gradient over the built-in model's
    # general text: computed the same way in every process, so eval and a session agree.
    loaded = store.load_model(tiny_model)
    text = b"a phrase the tiny model never read, said again and again; " * 4
    chunks = [text[i : i + 16] for i in range(0, len(text), 16)]
    first, second = (OnlineAdapter(loaded.config, loaded.weights, lr=SETTINGS.lr, optimizer="rms", decay=0.01,
                                   chunk=16) for _ in range(2))
    assert first.rms is None  # measured at the first update, off the keystroke path
    read_first = [first.update(chunk) for chunk in chunks]
    read_second = [second.update(chunk) for chunk in chunks]
    assert all(float(rms.min()) >= 0 for rms in first.rms) and all(float(pull.max()) <= 1 / 0.01 for pull in first.pull)
    assert read_first == read_second
    for name, value in first.weights().items():
        np.testing.assert_array_equal(value, second.weights()[name])
    first.start_document()
    read_again = [first.update(chunk) for chunk in chunks]
    assert np.mean(read_again) < np.mean(read_first) - 0.5  # bits per byte: it learned the phrase


def test_the_shipped_statistics_are_the_built_in_models_measured_on_its_heldout_text():
    # Shipped so that no surface spends seconds measuring them (adapt.STATISTICS_FILE): they must
    # be what the built-in weights measure now (floored, as measuring does), and what a step uses.
    from charcomplete.learn import adapt

    loaded = store.load_model("default")
    adapter = OnlineAdapter(loaded.config, loaded.weights, lr=3e-4, optimizer="rms", decay=0.01,
                            chunk=adapt.STATISTICS_CHUNK)
    shipped = adapt._shipped_rms(adapter.model)
    assert shipped is not None
    measured = adapt._gradient_rms(adapter.model, adapt._general_text(), adapt.STATISTICS_CHUNK)
    for ours, theirs in zip(shipped, measured, strict=True):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=2e-3)
        assert float(ours.min()) > 0  # no step divided by (almost) nothing
    adapter.update(b"the first chunk of what was typed, thirty-two bytes")
    assert adapter.steps == 1
    for used, ours in zip(adapter.rms, shipped, strict=True):
        np.testing.assert_array_equal(used.numpy(), ours.numpy())


def test_a_model_of_other_shapes_measures_its_own_statistics(tiny_model):
    from charcomplete.learn import adapt

    loaded = store.load_model(tiny_model)
    adapter = OnlineAdapter(loaded.config, loaded.weights, lr=3e-4, optimizer="rms", decay=0.01, chunk=32)
    assert adapt._shipped_rms(adapter.model) is None  # not the built-in model's shapes
    adapter.update(b"thirty-two bytes of typed text..")
    assert [tuple(r.shape) for r in adapter.rms] == [tuple(p.shape) for p in adapter.model.parameters()]


@pytest.mark.parametrize(("optimizer", "kind"), [("sgd", "SGD"), ("adam", "Adam"), ("rms", None)])
def test_each_optimizer_steps_as_named(tiny_model, optimizer, kind):
    loaded = store.load_model(tiny_model)
    adapter = OnlineAdapter(loaded.config, loaded.weights, lr=1e-3, optimizer=optimizer, chunk=16)
    assert (type(adapter.optimizer).__name__ if adapter.optimizer is not None else None) == kind
    before = adapter.weights()
    adapter.update(b"sixteen bytes!!!")
    assert any(not np.array_equal(before[name], value) for name, value in adapter.weights().items())


def test_the_learner_keeps_at_most_max_sessions_online_weights_and_restarts_one_let_go(tiny_model, monkeypatch):
    import base64

    from charcomplete.learn import learner_online
    from charcomplete.learn.learner import OnlineChunk, OnlineEnd, OnlineStart
    from charcomplete.learn.online_remote import weights_path

    monkeypatch.setattr(learner_online, "MAX_SESSIONS", 2)
    loaded = store.load_model(tiny_model)
    sent = []
    server = learner_online.OnlineServer(loaded.config, lambda: loaded.weights, sent.append, threads=1)
    chunk = base64.b64encode(b"a line the model has never seen;").decode()

    def step(session: int, seq: int) -> float:
        server.handle(OnlineChunk(session, seq, chunk))
        assert (sent[-1].session, sent[-1].seq) == (session, seq)
        return sent[-1].bits

    for session in (1, 2, 3):
        server.handle(OnlineStart(session))
    first = step(1, 1)
    assert step(1, 2) != pytest.approx(first)  # it goes on from where the first chunk left it
    step(2, 1)
    assert weights_path(server.pid, 1).exists()
    step(3, 1)  # a third at once: session 1, used longest ago, is let go with its file
    assert list(server.adapters) == [2, 3] and not weights_path(server.pid, 1).exists()
    assert step(1, 3) == pytest.approx(first)  # typed in again, it starts afresh: a new document, new weights
    server.handle(OnlineEnd(2))
    assert not weights_path(server.pid, 2).exists()
    assert np.isnan(step(2, 2))  # an ended session gets an answer at once, with no weights
    server.close()
    assert not any(weights_path(server.pid, s).exists() for s in (1, 2, 3))
