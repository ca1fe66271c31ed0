"""Data-parallel training: two real processes under torchrun, gloo on CPU."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np

from charcomplete.learn import corpus
from charcomplete.learn.training import Trainer
from charcomplete.storage import store
from tests.helpers import cli_env, ctrl_c_default, make_notes, unigram_bpc

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
            "-m", "charcomplete"]
SHAPE = ["--hidden", "48", "--embed", "16", "--batch-size", "8", "--seq-len", "48", "--lr", "5e-3"]


def test_two_processes_train_one_model_that_learns(tmp_path):
    notes = make_notes(tmp_path / "notes", count=16)
    result = subprocess.run([*TORCHRUN, "train", str(notes), "--model", "ddp", "--steps", "120", "--eval-every", "2",
                             *SHAPE], capture_output=True, text=True, env=cli_env(OMP_NUM_THREADS="1"), timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "in 2 processes" in result.stderr
    assert result.stdout.count("best validation") == 1  # rank 0 alone reports
    loaded = store.load_model("ddp")
    val = corpus.encode(corpus.split(corpus.scan([notes]).documents)[1])
    bpc = Trainer(loaded.config, loaded.weights).evaluate(val)
    assert bpc < unigram_bpc(val) - 1.0, bpc
    # The saved figure is the one measured across both ranks' shards of the held-out text.
    assert abs(loaded.meta["best_val_bpc"] - bpc) < 0.3
    assert loaded.meta["steps"] <= 120 and loaded.meta["trained_chars"] > 0
    assert np.isfinite(loaded.weights["head.weight"]).all()


def test_ctrl_c_stops_all_ranks_and_keeps_the_model(tmp_path, charcomplete_home):
    notes = make_notes(tmp_path / "notes", count=16)
    process = subprocess.Popen([*TORCHRUN, "train", str(notes), "--model", "ddpc", "--minutes", "5", "--eval-every",
                                "0.5", *SHAPE], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=cli_env(OMP_NUM_THREADS="1"), start_new_session=True,
                               preexec_fn=ctrl_c_default)
    deadline = time.monotonic() + 120
    seen = ""
    while time.monotonic() < deadline and "step" not in seen:
        seen += process.stderr.readline()
    assert "step" in seen, seen
    # A terminal's Ctrl-C reaches the whole foreground process group: torchrun and both ranks.
    import os

    os.killpg(process.pid, signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert "stopped by Ctrl-C" in out, err[-3000:]
    meta = json.loads((charcomplete_home / "data" / "models" / "ddpc" / "meta.json").read_text())
    assert meta["best_val_bpc"] < 8.0
    store.load_model("ddpc")  # loads cleanly


def test_load_weights_reaches_a_ddp_wrapped_model():
    # One real gloo group of one process; world=2 in the Distributed record makes the
    # Trainer wrap its module in DDP, as each torchrun rank does.
    import pytest
    import torch
    import torch.distributed as torch_dist

    from charcomplete.core.config import ModelConfig
    from charcomplete.learn.distributed import Distributed
    from charcomplete.model.network import weights_from_numpy

    config = ModelConfig(cell="gru", embed=8, hidden=16, layers=1)
    torch_dist.init_process_group("gloo", store=torch_dist.HashStore(), rank=0, world_size=1)
    try:
        trainer = Trainer(config, dist=Distributed(rank=0, world=2, device=torch.device("cpu")))
        fresh = Trainer(config).weights()
        with pytest.raises(RuntimeError):  # what loading through the wrapper did: DDP's names start with "module."
            weights_from_numpy(trainer.model, fresh)
        trainer.load_weights(fresh)
        assert all(np.array_equal(trainer.weights()[key], fresh[key]) for key in fresh)
    finally:
        torch_dist.destroy_process_group()
