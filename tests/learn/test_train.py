"""Real torch training on small generated text: the model learns, resumes, and keeps its best."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from charcomplete.core.config import ModelConfig
from charcomplete.learn import corpus
from charcomplete.learn.hardware import _busy_cores
from charcomplete.learn.plan import Budget, TrainPlan
from charcomplete.learn.training import (
    ChunkStream,
    Trainer,
    free_cores,
    lr_at,
    train_model,
)
from charcomplete.model.network import CharModel, weights_from_numpy
from charcomplete.storage import store
from tests.helpers import assert_one_clear_error, make_notes, run, unigram_bpc

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


def test_a_run_past_its_best_saves_where_resume_goes_on_and_keeps_the_best(notes_data):
    """A run whose validation stops improving still checkpoints where it is, so a run killed
    then loses at most one checkpoint interval; the best weights stay the model."""
    train_model(plan_for(notes_data, budget=Budget(steps=80)))
    good = store.load_model("t")
    plan = plan_for(notes_data, budget=Budget(steps=15), lr=3.0, weights=good.weights, meta=good.meta,
                    optimizer_state=store.load_optimizer_state(good), checkpoint_every_s=0.0)
    train_model(plan)
    model = store.load_model("t")
    assert model.meta.steps == 80 and model.meta.lr == 3.0
    assert all(np.array_equal(model.weights[k], good.weights[k]) for k in good.weights)  # the best is kept
    point = store.load_resume_point(model)
    assert point is not None and point.step == 95
    assert point.chars == model.meta.trained_chars + 15 * 16 * 64
    assert not all(np.array_equal(point.weights[k], good.weights[k]) for k in good.weights)
    files = {p.name for p in model.folder.iterdir() if p.suffix == ".safetensors"}
    assert files == {model.meta.weights, model.meta.optimizer, model.meta.resume["weights"],
                     model.meta.resume["optimizer"]}

    # Going on from that point, the kept best is what a new best must beat; a new best drops the point.
    resumed = plan_for(notes_data, budget=Budget(steps=40), lr=5e-3, weights=point.weights,
                       optimizer_state=point.optimizer, meta=model.meta.record(steps=95, trained_chars=point.chars),
                       kept=store.TrainingState(model.weights, {}, 80, model.meta.trained_chars))
    result = train_model(resumed)
    after = store.load_model("t")
    assert result.best_val_bpc <= model.meta.best_val_bpc + 1e-9
    if after.meta.steps == 80:  # not beaten: the best is still the first run's weights
        assert all(np.array_equal(after.weights[k], good.weights[k]) for k in good.weights)
    else:
        assert after.meta.steps > 95


def test_resume_goes_on_from_the_latest_state_at_the_rate_it_was_trained_at(notes_data, tmp_path):
    train_model(plan_for(notes_data, budget=Budget(steps=80)))
    good = store.load_model("t")
    train_model(plan_for(notes_data, budget=Budget(steps=15), lr=3.0, weights=good.weights, meta=good.meta,
                         optimizer_state=store.load_optimizer_state(good), checkpoint_every_s=0.0))
    notes = make_notes(tmp_path / "more", count=6)
    result = run("train", str(notes), "--model", "t", "--resume", "--steps", "2", "--batch-size", "4",
                 "--seq-len", "16")
    assert result.returncode == 0, result.stderr
    assert "resuming at step 95 (its best so far, from step 80, stays the model until beaten)" in result.stderr
    assert store.load_model("t").meta.lr == 3.0  # --resume kept the peak rate: one schedule across sittings


def test_a_damaged_resume_point_is_one_sentence(notes_data, tmp_path):
    train_model(plan_for(notes_data, budget=Budget(steps=40)))
    good = store.load_model("t")
    train_model(plan_for(notes_data, budget=Budget(steps=10), lr=3.0, weights=good.weights, meta=good.meta,
                         checkpoint_every_s=0.0))
    model = store.load_model("t")
    notes = make_notes(tmp_path / "more", count=4)
    latest = model.folder / model.meta.resume["weights"]
    latest.write_bytes(latest.read_bytes()[:-8] + b"\0" * 8)
    assert_one_clear_error(run("train", str(notes), "--model", "t", "--resume", "--steps", "1"), "checksum")
    meta_file = model.folder / "meta.json"
    record = json.loads(meta_file.read_text())
    record["resume"]["step"] = "95"
    meta_file.write_text(json.dumps(record))
    assert_one_clear_error(run("train", str(notes), "--model", "t", "--resume", "--steps", "1"), "'resume' field")


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
