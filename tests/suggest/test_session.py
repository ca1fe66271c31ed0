"""The suggestion session every surface uses (issue 24) carries the one adaptation path (issue 23):
typed through a session, a text gets the per-byte probabilities `eval --adapt` reports for it."""

from __future__ import annotations

import time

import numpy as np
import pytest

from charcomplete.core.config import LN2
from charcomplete.evaluate.evaluation import evaluate
from charcomplete.learn.online import online_weights
from charcomplete.model.engine import Engine
from charcomplete.suggest.session import Session, SessionOptions, load_memory
from tests.helpers import remembering_tiny_model

TEXT = "a line the model has never seen; another line it keeps; " * 5


@pytest.fixture
def tiny_model() -> str:
    return remembering_tiny_model()


def typed_through_a_session(name: str, text: str, online=None, before_close=None) -> list[float]:
    """A keystroke at a time, as a surface types: the Completer reads each new byte (learning from
    it: the cache counts it, the online weights take a step at each chunk's end) and the next
    keystroke's state carries over the newest weights. The online weights run in their
    deterministic mode, so the figures do not depend on a thread's timing."""
    engine = Engine.load(name)
    remembered, warning = load_memory(engine)
    assert warning is None and remembered is not None
    online = online(engine) if online is not None else online_weights(name, background=False)
    session = Session(engine, "", SessionOptions(online=True), remembered, online)
    data = text.encode()
    bits = []
    for i, byte in enumerate(data):
        state = session.completer.state_for(data[:i])
        bits.append(-float(state.log_probs()[byte]) / LN2)
    if before_close is not None:
        before_close(session)
    session.close()
    return bits


def test_a_session_gets_the_per_byte_probabilities_eval_adapt_reports(tiny_model):
    result = evaluate(tiny_model, [TEXT], adapt=True, ksr_bytes=0, byte_bits=True)
    assert result["mode"] == "dynamic+cache" and result["adapter_steps"] >= 5
    typed = typed_through_a_session(tiny_model, TEXT)
    assert len(typed) == len(result["byte_bits"])
    np.testing.assert_allclose(typed, result["byte_bits"], rtol=0, atol=1e-9)


def test_the_editors_online_weights_stepped_in_its_learner_process_give_the_same_probabilities(tiny_model):
    # The editor never imports torch: its online steps run in its learner process (online_remote).
    from charcomplete.learn.learner import Learner, LearnerSettings
    from charcomplete.learn.online import ONLINE_CHUNK, OnlineWeights
    from charcomplete.learn.online_remote import RemoteAdapter, weights_path

    result = evaluate(tiny_model, [TEXT], adapt=True, ksr_bytes=0, byte_bits=True)
    learner = Learner(tiny_model, LearnerSettings()).start()
    try:
        adapters = []

        def remote(engine):
            adapters.append(RemoteAdapter(learner, engine))
            return OnlineWeights(adapters[-1], ONLINE_CHUNK, background=False)

        modes = []

        def file_mode(session):
            modes.append(weights_path(learner.pid, adapters[-1].session).stat().st_mode & 0o777)

        typed = typed_through_a_session(tiny_model, TEXT, online=remote, before_close=file_mode)
        path = weights_path(learner.pid, adapters[-1].session)
    finally:
        learner.hand_over()
        learner.process.wait(30)
    np.testing.assert_allclose(typed, result["byte_bits"], rtol=0, atol=1e-6)
    assert modes == [0o600]  # private while the session lasted
    assert not path.exists()  # what was learned online ends with its session


def test_without_online_weights_the_session_is_eval_without_dynamic_steps(tiny_model):
    engine = Engine.load(tiny_model)
    remembered, _ = load_memory(engine)
    session = Session(engine, "", SessionOptions(), remembered)
    data = TEXT.encode()
    typed = [-float(session.completer.state_for(data[:i]).log_probs()[b]) / LN2 for i, b in enumerate(data)]
    fixed = evaluate(tiny_model, [TEXT], adapt=True, dynamic=False, ksr_bytes=0, byte_bits=True)
    np.testing.assert_allclose(typed, fixed["byte_bits"], rtol=0, atol=1e-9)
    online = evaluate(tiny_model, [TEXT], adapt=True, ksr_bytes=0, byte_bits=True)
    assert np.abs(np.asarray(online["byte_bits"]) - typed).max() > 1e-3  # the online weights change the figures


def test_forget_drops_what_the_weights_learned_online(tiny_model):
    engine = Engine.load(tiny_model)
    session = Session(engine, "", SessionOptions(online=True), None, online_weights(tiny_model, background=False))
    start = session.completer.state_for(b"").probs().copy()
    session.read(TEXT.encode())
    moved = session.completer.state_for(TEXT.encode()).engine
    assert moved is not session.cache or session.online.adapter.steps > 0
    session.forget(engine)
    np.testing.assert_allclose(session.completer.state_for(b"").probs(), start, atol=1e-6)
    assert session.online.adapter.steps == 0
    session.close()


def test_one_learner_steps_each_documents_online_weights_apart(tiny_model):
    # The language server's documents share one learner: typed in turn, each document's online
    # weights learn from its own text only, as `eval --adapt` on that text alone.
    from charcomplete.learn.learner import Learner, LearnerSettings
    from charcomplete.learn.online import ONLINE_CHUNK, OnlineWeights
    from charcomplete.learn.online_remote import RemoteAdapter, weights_path

    texts = [TEXT, "quite another document, of numbers: 12 34 56 78 90 12 34 56 78 90 " * 3]
    expected = [evaluate(tiny_model, [text], adapt=True, ksr_bytes=0, byte_bits=True)["byte_bits"]
                for text in texts]
    learner = Learner(tiny_model, LearnerSettings()).start()
    try:
        engine = Engine.load(tiny_model)
        remembered, _ = load_memory(engine)
        adapters = [RemoteAdapter(learner, engine) for _ in texts]
        sessions = [Session(engine, "", SessionOptions(online=True), remembered,
                            OnlineWeights(adapter, ONLINE_CHUNK, background=False)) for adapter in adapters]
        data = [text.encode() for text in texts]
        typed = [[], []]
        for i in range(max(map(len, data))):
            for k in (0, 1):
                if i < len(data[k]):
                    state = sessions[k].completer.state_for(data[k][:i])
                    typed[k].append(-float(state.log_probs()[data[k][i]]) / LN2)
        paths = [weights_path(learner.pid, adapter.session) for adapter in adapters]
        assert all(path.exists() for path in paths)
        sessions[0].close()  # a document closes: its weights go, the other's stay
        deadline = time.monotonic() + 30
        while paths[0].exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not paths[0].exists() and paths[1].exists()
        sessions[1].close()
    finally:
        learner.hand_over()
        learner.process.wait(30)
    for got, want in zip(typed, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
