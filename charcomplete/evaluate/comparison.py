"""RNN vs LSTM vs GRU, trained side by side on the same text (what `charcomplete compare` runs).

Each cell gets the same parameter budget (hidden sizes chosen so the parameter counts
match the GRU's within a few per cent) and the same training time, on the same
training documents; each is then evaluated on the same held-out documents, next to an
adaptive byte 5-gram as the baseline, and probed for how far back it looks (probes.py:
bpc with the state reset every K bytes, and the probability of long-range closers by
distance). The models live in the model store as compare-rnn,
compare-lstm and compare-gru while it runs and are removed at the end unless kept."""

from __future__ import annotations

import time

from charcomplete.core.config import LIMITS, ModelConfig
from charcomplete.learn import plan as plans
from charcomplete.storage.meta import ModelMeta

PREFIX = "compare"
ORDER = ("rnn", "lstm", "gru")  # as the seed article names them
DEFAULT_MINUTES = 2.0
DEFAULT_HIDDEN = 256  # the GRU's; the RNN and LSTM get the hidden size that matches its parameter count
MAX_COMPARE_HIDDEN = 2048  # the matching RNN is about 1.7 times wider, and must stay within LIMITS["hidden"]
CURVE_POINTS = 12  # validation checks per training run: the points of the learning curve
CURVE_VAL_BYTES = 32_768  # held-out bytes each check reads: the checks' time counts against the training budget
# Below this, a warning. The notes benchmark's 4- and 8-minute runs ranked the cells alike
# (BENCHMARKS.md, "RNN vs LSTM vs GRU"); shorter runs were not measured, and in a minute
# every cell is still learning letter statistics. The default is the least that passes.
MIN_MEANINGFUL_MINUTES = DEFAULT_MINUTES
EVAL_BYTES = 100_000  # held-out bytes each model is evaluated on
KSR_BYTES = 10_000  # of those, the ones a simulated typist types (a search per position: the slow part)


def matched_configs(hidden: int, embed: int = ModelConfig.embed, reference: str = "gru") -> dict[str, ModelConfig]:
    """One config per cell, each with about as many parameters as `reference` at `hidden`."""
    target = ModelConfig(cell=reference, hidden=hidden, embed=embed).parameter_count()
    configs = {}
    for cell in ORDER:
        # An RNN needs about 1.7 times the GRU's hidden size, an LSTM a little less; never past the limit.
        sizes = range(1, min(4 * hidden + 64, LIMITS["hidden"] + 1))
        best = min(sizes, key=lambda h: abs(ModelConfig(cell=cell, hidden=h, embed=embed).parameter_count() - target))
        configs[cell] = ModelConfig(cell=cell, hidden=best, embed=embed)
    return configs


def run_compare(
    train_docs: list,
    val_docs: list,
    minutes: float | None = DEFAULT_MINUTES,
    steps: int | None = None,
    hidden: int = DEFAULT_HIDDEN,
    batch_size: int = plans.BATCH_SIZE,
    seq_len: int = plans.SEQ_LEN,
    lr: float = plans.LR,
    max_bytes: int | None = EVAL_BYTES,
    ksr_bytes: int = KSR_BYTES,
    seed: int = 0,
    eval_docs: list | None = None,
    say=lambda message: None,
    keep: bool = False,
    cells: tuple[str, ...] = ORDER,
    done=lambda row: None,
) -> dict:
    """Train the cells and evaluate them, with both probes (probes.py); every figure in a JSON-ready dict.

    `val_docs` give the learning curves (and pick each run's best weights); the models
    are evaluated on `eval_docs`, by default the same documents. keep: leave the
    models in the store afterwards (otherwise they are removed, even when a run fails).
    cells: which of ORDER to run (a benchmark runs one per process, side by side);
    done: called with each cell's row as soon as it is measured (to save it)."""
    from charcomplete.evaluate.evaluation import evaluate
    from charcomplete.model.ngram import NGram

    if not minutes and not steps:
        raise ValueError("give a time (minutes) or a number of steps")
    eval_docs = val_docs if eval_docs is None else eval_docs
    train_data, val_data = _stream(train_docs), _stream(val_docs)
    configs = matched_configs(hidden)
    settings = {"minutes": minutes, "steps": steps, "hidden": hidden, "batch_size": batch_size,
                "seq_len": seq_len, "lr": lr, "max_bytes": max_bytes, "ksr_bytes": ksr_bytes, "seed": seed,
                "train_bytes": int(len(train_data)), "val_bytes": int(len(val_data)), "kept": keep}
    rows = []
    for cell in cells:
        rows.append(run_cell(cell, configs[cell], train_data, val_data, eval_docs, settings, say))
        done(rows[-1])
    say("evaluating the n-gram baseline")
    baseline = evaluate(NGram(adaptive=True).fit(train_data), eval_docs, adapt=True, max_bytes=max_bytes,
                        ksr_bytes=ksr_bytes)
    return {"settings": settings, "cells": rows, "baseline": baseline,
            "curves": {row["cell"]: row["curve"] for row in rows}}


def run_cell(cell: str, config: ModelConfig, train_data, val_data, eval_docs: list, settings: dict,
             say=lambda message: None) -> dict:
    """Train one cell (as compare-<cell> in the store), evaluate it and probe it: its row of figures."""
    from charcomplete.evaluate.evaluation import evaluate
    from charcomplete.evaluate.probes import probe
    from charcomplete.learn import training as training  # torch
    from charcomplete.model.engine import Engine
    from charcomplete.storage import store

    minutes, steps = settings["minutes"], settings["steps"]
    budget_s = minutes * 60 if minutes else None
    name = f"{PREFIX}-{cell}"
    if store.model_exists(name):
        store.remove_model(name)  # the previous compare's
    try:
        say(f"training {name} ({config.describe()}, {config.parameter_count():,} parameters)")
        plan = plans.TrainPlan(
            name=name, config=config, train_data=train_data, val_data=val_data[:CURVE_VAL_BYTES],
            meta=ModelMeta(extra={"compare": True}),
            budget=plans.Budget(minutes=minutes, steps=steps), batch_size=settings["batch_size"],
            seq_len=settings["seq_len"], lr=settings["lr"], device="cpu",
            eval_every_s=budget_s / CURVE_POINTS if budget_s else 0.5, checkpoint_every_s=1e9, seed=settings["seed"],
        )
        # CPU seconds beside wall seconds: on a shared machine the wall time of the evaluation
        # and the probes says more about the neighbours than about their cost.
        cpu = {"train": time.process_time()}
        lock = store.lock_model(name)
        try:
            result = training.train_model(plan)
        finally:
            store.unlock_model(lock, name)
        cpu["train"] = time.process_time() - cpu["train"]
        curve = [[point["chars"], point["val_bpc"]] for point in result.history
                 if isinstance(point.get("val_bpc"), (int, float))]
        say(f"evaluating {name}")
        loaded = store.load_model(name)
        cpu["eval"] = time.process_time()
        figures = evaluate(loaded, eval_docs, max_bytes=settings["max_bytes"], ksr_bytes=settings["ksr_bytes"])
        cpu["eval"] = time.process_time() - cpu["eval"]
        say(f"probing {name}: bpc with the state reset every K bytes, and long-range closers by distance")
        cpu["probes"] = time.process_time()
        probes = probe(Engine.from_model(loaded), eval_docs, max_bytes=settings["max_bytes"])
        cpu["probes"] = time.process_time() - cpu["probes"]
    finally:
        if not settings["kept"] and store.model_exists(name):
            store.remove_model(name)  # out of the user's list of models, whatever happened
    return {"name": name, "cell": cell, "hidden": config.hidden, "parameters": config.parameter_count(),
            "steps": result.steps_run, "train_seconds": result.train_seconds, "train_chars": result.chars_trained,
            "train_chars_per_s": result.chars_per_s, "best_val_bpc": result.best_val_bpc, "eval": figures,
            "probes": probes, "curve": curve, "cpu_seconds": cpu}


def _stream(documents: list):
    """Documents (corpus.Document, bytes or str) as one stream, each after DOC_START, as corpus.encode lays it out."""
    import numpy as np

    from charcomplete.core.config import DOC_START
    from charcomplete.evaluate.evaluation import as_documents

    joined = b"".join(bytes([DOC_START]) + doc for doc in as_documents(documents))
    return np.frombuffer(joined, dtype=np.uint8).copy()
