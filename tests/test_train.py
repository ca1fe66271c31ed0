"""Real torch training on small generated text: the model learns, resumes, and keeps its best."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from charcomplete import corpus, store
from charcomplete.config import ModelConfig
from charcomplete.model import CharModel, weights_from_numpy
from charcomplete.plan import Budget, TrainPlan
from charcomplete.train import (
    ChunkStream,
    Trainer,
    _busy_cores,
    free_cores,
    lr_at,
    train_model,
)
from tests.helpers import make_notes, unigram_bpc

TINY = ModelConfig(cell="gru", embed=16, hidden=64, layers=1)


@pytest.fixture
def notes_data(tmp_path):
    scanned = corpus.scan([make_notes(tmp_path / "notes")])
    train_docs, val_docs = corpus.split(scanned.documents)
    return corpus.encode(train_docs), corpus.encode(val_docs)


def plan_for(data, config=TINY, **kw) -> TrainPlan:
    train_data, val_data = data
    options = dict(budget=Budget(steps=150), batch_size=16, seq_len=64, lr=5e-3, device="cpu", eval_every_s=0.5)
    options.update(kw)
    return TrainPlan(name="t", config=config, train_data=train_data, val_data=val_data, **options)


@pytest.mark.parametrize("cell", ["gru", "lstm", "rnn"])
def test_each_cell_learns_well_below_unigram_entropy(notes_data, cell):
    result = train_model(plan_for(notes_data, ModelConfig(cell=cell, embed=16, hidden=64)))
    entropy = unigram_bpc(notes_data[1])
    assert result.best_val_bpc < entropy - 1.0, (result.best_val_bpc, entropy)
    loaded = store.load_model("t")
    assert loaded.config.cell == cell
    assert loaded.meta["best_val_bpc"] == pytest.approx(result.best_val_bpc)
    assert len(loaded.meta["history"]) >= 2


def test_saved_model_reproduces_its_validation_figure(notes_data):
    result = train_model(plan_for(notes_data, budget=Budget(steps=40)))
    loaded = store.load_model("t")
    trainer = Trainer(loaded.config, loaded.weights)
    assert trainer.evaluate(notes_data[1]) == pytest.approx(result.best_val_bpc, abs=1e-5)


def test_resume_continues_step_count_and_optimizer(notes_data):
    first = train_model(plan_for(notes_data, budget=Budget(steps=30), eval_every_s=1e9))
    assert first.total_steps == 30
    loaded = store.load_model("t")
    optim = store.load_optimizer_state(loaded)
    assert optim and any(k.endswith(".exp_avg") for k in optim)
    plan = plan_for(notes_data, budget=Budget(steps=20), eval_every_s=1e9, weights=loaded.weights,
                    optimizer_state=optim, meta=loaded.meta)
    second = train_model(plan)
    meta = store.load_model("t").meta
    assert second.total_steps == 50 and meta["steps"] == 50
    assert second.best_val_bpc <= first.best_val_bpc
    assert meta["trained_chars"] > loaded.meta["trained_chars"]


def test_interrupt_keeps_the_best_model(notes_data):
    calls = {"n": 0}

    def interrupt_later(progress):
        calls["n"] += 1
        if calls["n"] == 60:
            raise KeyboardInterrupt

    result = train_model(plan_for(notes_data, budget=Budget(steps=10_000)), interrupt_later)
    assert result.interrupted and result.steps_run == 60
    assert store.load_model("t").meta["best_val_bpc"] == pytest.approx(result.best_val_bpc)


def test_never_saves_worse_than_the_starting_point(notes_data):
    train_model(plan_for(notes_data, budget=Budget(steps=80)))
    good = store.load_model("t")
    # A learning rate far too high makes training worse; the saved model must not be.
    plan = plan_for(notes_data, budget=Budget(steps=15), lr=3.0, weights=good.weights, meta=good.meta)
    result = train_model(plan)
    assert result.best_val_bpc <= good.meta["best_val_bpc"] + 1e-9


def test_optimizer_state_round_trip():
    trainer = Trainer(TINY)
    x = torch.randint(0, 256, (4, 16))
    trainer.step(x, x, None)
    flat = trainer.optimizer_state()
    other = Trainer(TINY, trainer.weights())
    other.load_optimizer_state(flat)
    for a, b in zip(trainer.optimizer.state.values(), other.optimizer.state.values(), strict=True):
        assert torch.equal(a["exp_avg_sq"], b["exp_avg_sq"])


def test_chunk_stream_carries_contiguous_text():
    data = np.arange(1000, dtype=np.int64).astype(np.uint8)
    stream = ChunkStream(data, batch=4, seq_len=10, device=torch.device("cpu"))
    x1, y1, _ = stream.next()
    x2, _, _ = stream.next()
    assert torch.equal(y1[:, :-1], x1[:, 1:])  # targets are the inputs shifted by one
    assert torch.equal((x1[:, -1] + 1) % 256, x2[:, 0] % 256)  # lanes continue across chunks
    tiny = ChunkStream(np.frombuffer(b"abcdef", np.uint8), batch=64, seq_len=128, device=torch.device("cpu"))
    assert tiny.batch >= 1 and tiny.seq_len >= 2


def test_weights_round_trip_into_torch_model():
    model = CharModel(TINY)
    trainer = Trainer(TINY)
    weights_from_numpy(model, trainer.weights())
    for key, value in model.state_dict().items():
        assert torch.equal(value, trainer.model.state_dict()[key])


def test_learning_rate_schedule_warms_up_holds_and_decays():
    assert lr_at(0.0, 0, 1.0) < lr_at(0.0, 49, 1.0) == pytest.approx(1.0)
    assert lr_at(0.02, 3, 1.0) == pytest.approx(1.0)  # a short run warms up over 2% of its budget
    assert lr_at(0.5, 1000, 1.0) == lr_at(0.8, 1000, 1.0) == pytest.approx(1.0)  # stable
    assert lr_at(0.9, 1000, 1.0) == pytest.approx(0.55)  # halfway through the decay
    assert lr_at(1.0, 1000, 1.0) == pytest.approx(0.1)


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="samples Linux's /proc/stat")
def test_busy_cores_sees_a_spinning_process_now():
    """The thread choice must see work running now: a spinning process counts as about one core."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)  # let it start spinning
        busy = _busy_cores(0.5)
    finally:
        spinner.kill()
        spinner.wait()
    assert busy is not None
    assert 0.6 <= busy <= (os.cpu_count() or 1)
    assert 1 <= free_cores(0.1) <= (os.cpu_count() or 1)
