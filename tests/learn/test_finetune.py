"""`charcomplete train` fine-tunes the model in use unless asked for a new one (issue 11):
real subprocesses, real training on small generated notes."""

from __future__ import annotations

import json

import numpy as np

from charcomplete.storage import store
from tests.helpers import FAST, assert_one_clear_error, make_notes, run

SMALL = ["--batch-size", "8", "--seq-len", "32"]


def meta_of(name: str) -> dict:
    return json.loads(run("models", "info", name, "--json").stdout)


def first_line(result) -> str:
    return result.stderr.splitlines()[0]


def test_train_without_options_fine_tunes_the_built_in_model(tmp_path):
    notes = make_notes(tmp_path / "notes", count=6)
    result = run("train", str(notes), "--steps", "1", *SMALL, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "fine-tuning from 'default' (the model in use)" in first_line(result)
    mine = store.load_model("mine")
    builtin = store.load_model("default")
    assert mine.meta["parent"] == "default"
    # The first model of the user's replaces the built-in one in use, and the summary says how to go back.
    assert "the editor and pipes now use 'mine'" in result.stdout
    assert "`charcomplete models use default` goes back" in result.stdout
    assert store.current_model_name() == "mine"
    assert mine.config == builtin.config
    # One small step moves the weights a little: they start from the built-in model's, not random ones.
    drift = np.abs(mine.weights["head.weight"] - builtin.weights["head.weight"]).mean()
    assert 0 < drift < 0.01 * np.abs(builtin.weights["head.weight"]).mean() + 1e-3


def test_train_fine_tunes_whichever_model_is_in_use(tmp_path):
    notes = make_notes(tmp_path / "notes", count=6)
    assert run("train", str(notes), "--model", "base", "--scratch", "--steps", "3", *FAST).returncode == 0
    assert run("models", "use", "base").returncode == 0
    tuned = run("train", str(notes), "--model", "tuned", "--steps", "2", *SMALL)
    assert tuned.returncode == 0, tuned.stderr
    assert "fine-tuning from 'base' (the model in use)" in first_line(tuned)
    assert meta_of("tuned")["parent"] == "base"
    assert meta_of("tuned")["config"]["hidden"] == 32

    # Training the model in use under its own name goes on from it, its record kept.
    again = run("train", str(notes), "--model", "base", "--steps", "2", *SMALL)
    assert again.returncode == 0, again.stderr
    assert "fine-tuning 'base' (the model in use) further" in first_line(again)
    assert meta_of("base")["steps"] == 5


def test_scratch_and_shape_options_start_a_new_model(tmp_path):
    notes = make_notes(tmp_path / "notes", count=6)
    scratch = run("train", str(notes), "--model", "fresh", "--scratch", "--steps", "2", *FAST)
    assert scratch.returncode == 0, scratch.stderr
    assert "from scratch (random weights: --scratch)" in first_line(scratch)
    assert "parent" not in meta_of("fresh")

    shaped = run("train", str(notes), "--model", "shaped", "--hidden", "24", "--steps", "2", *SMALL)
    assert shaped.returncode == 0, shaped.stderr
    assert "from scratch (random weights: --hidden asks for a new shape)" in first_line(shaped)
    assert meta_of("shaped")["config"]["hidden"] == 24

    clash = run("train", str(notes), "--model", "x", "--from", "fresh", "--hidden", "64", "--steps", "1")
    assert_one_clear_error(clash, "cannot change its shape")
    assert_one_clear_error(run("train", str(notes), "--from", "fresh", "--scratch"), "not both")


def test_first_line_names_the_precision_and_why(tmp_path):
    notes = make_notes(tmp_path / "notes", count=6)
    auto = run("train", str(notes), "--model", "a", "--scratch", "--steps", "1", *FAST)
    assert auto.returncode == 0, auto.stderr
    line = first_line(auto)
    assert ("bf16: this CPU computes bf16 natively" in line) or ("fp32: this CPU has no native bf16" in line), line
    asked = run("train", str(notes), "--model", "b", "--scratch", "--steps", "1", "--precision", "fp32", *FAST)
    assert "fp32: as asked" in first_line(asked)
    assert_one_clear_error(run("train", str(notes), "--precision", "fp8"), "unknown --precision")


def test_until_step_spans_sittings(tmp_path):
    notes = make_notes(tmp_path / "notes", count=6)
    first = run("train", str(notes), "--model", "long", "--scratch", "--until-step", "4", "--eval-every", "0.01", *FAST)
    assert first.returncode == 0, first.stderr
    assert "trained 4 steps" in first.stdout and meta_of("long")["steps"] == 4  # from ~8 bpc, every step improves
    # The next sitting goes on to the same total, not 6 more steps.
    second = run("train", str(notes), "--model", "long", "--resume", "--until-step", "6", "--eval-every", "0.01",
                 *FAST[4:])
    assert second.returncode == 0, second.stderr
    assert "trained 2 steps" in second.stdout


def test_a_fine_tune_that_never_beats_its_start_says_so_and_keeps_the_start(tmp_path):
    notes = make_notes(tmp_path / "notes", count=6)
    assert run("train", str(notes), "--model", "base", "--scratch", "--steps", "40", *FAST).returncode == 0
    assert run("models", "use", "base").returncode == 0
    # Two steps at an absurd rate: every update makes the model worse on the held-out text.
    wrecked = run("train", str(notes), "--model", "wrecked", "--steps", "2", "--lr", "0.5", *SMALL)
    assert wrecked.returncode == 0, wrecked.stderr
    assert ("none of the 2 updates beat the weights it started from on the held-out text, "
            "so 'wrecked' keeps those weights unchanged") in wrecked.stdout
    kept, base = store.load_model("wrecked"), store.load_model("base")
    assert all(np.array_equal(kept.weights[key], base.weights[key]) for key in base.weights)
    # A fine-tune that helps says nothing of the kind.
    helped = run("train", str(notes), "--model", "helped", "--steps", "20", *SMALL)
    assert helped.returncode == 0 and "none of the" not in helped.stdout, helped.stdout
