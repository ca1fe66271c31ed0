"""The context-length and long-range dependency probes (evaluate/probes.py)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from charcomplete.core.config import ModelConfig
from charcomplete.evaluate.evaluation import evaluate
from charcomplete.evaluate.probes import (
    RESETS,
    Target,
    bucket_of,
    byte_log_probs,
    context_probe,
    distance_probe,
    find_targets,
    probe,
)
from charcomplete.model.engine import Engine
from tests.helpers import random_weights

OPENERS, CLOSERS = b"([{", b")]}"
STEPS = 600  # updates of the real training below
LETTERS = b"abcdefghijklmnopqrstuvwxyz"


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("reset_every", [None, 5])
def test_batched_reading_matches_the_engine_byte_by_byte(cell, layers, reset_every):
    config = ModelConfig(cell=cell, embed=8, hidden=24, layers=layers)
    engine = Engine("random", config, random_weights(config, seed=3, scale=0.5, radius=0.9))
    rng = np.random.default_rng(0)
    docs = [bytes(rng.integers(32, 127, size=n).astype(np.uint8)) for n in (40, 3, 17, 1)]
    got = byte_log_probs(engine, docs, reset_every, rows=3)  # several groups of stretches, too
    for doc, values in zip(docs, got, strict=True):
        state = engine.start()
        for i, byte in enumerate(doc):
            if reset_every and i and i % reset_every == 0:
                state = engine.zero_state()
            assert values[i] == pytest.approx(float(state.log_probs()[byte]), abs=1e-4)
            state.feed(bytes([byte]))


def test_never_reset_is_what_evaluate_measures():
    engine = Engine("random", ModelConfig(cell="gru", embed=8, hidden=16), random_weights(seed=1, scale=0.5))
    docs = [b"# a note\n\nsome (text) here\n", b"another `one`\n" * 5]
    curve = context_probe(engine, docs)["curve"]
    assert [point["label"] for point in curve] == ["8", "32", "128", "512", "never"]
    assert curve[-1]["bpc"] == pytest.approx(evaluate(engine, docs, max_bytes=None, ksr_bytes=0)["bpc"], abs=1e-5)


def test_targets_found_in_markdown():
    doc = (b'# T\n\nsome (text [with] {br}) "quote" and `code`\n```sh\nls -la\n```\n'
           b'<div class="x"><b>hi</b></div>\nvariable_name = 3\nprint(variable_name)\n')
    found = {(t.kind, doc[t.position : t.position + 1], t.distance) for t in find_targets(doc)}
    assert found == {
        ("bracket", b"]", 5), ("bracket", b"}", 3), ("bracket", b")", 17), ("bracket", b")", 14),
        ("quote", b'"', 6), ("quote", b"`", 5), ("quote", b'"', 2),  # the attribute's quotes too
        ("fence", b"`", 13),
        ("tag", b"b", 7), ("tag", b"d", 26),
        ("name", b"r", 24),  # variable_name's third byte, 24 bytes after its first use
    }
    assert [bucket_of(d) for d in (1, 8, 9, 32, 33, 128, 129, 512, 513, 10_000)] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    # A quote never spans lines; an unmatched closer closes nothing.
    assert find_targets(b'say "one\ntwo" now)') == []
    assert find_targets(b'x "" y') == [Target(0, 3, 1, "quote")]  # an empty string closes 1 byte after it opens


# ------------------------------------------------------------ a planted long-range dependency


def planted_documents(seed: int = 0, count: int = 12, records: int = 8, filler: tuple[int, int] = (40, 100),
                      letters: bytes = LETTERS) -> list[bytes]:
    """Records "(" + 40-100 random letters + ")": the closing byte is fixed by the opener 41-101 bytes back."""
    rng = random.Random(seed)
    docs = []
    for _ in range(count):
        parts = []
        for _ in range(records):
            kind = rng.randrange(3)
            filler_bytes = bytes(rng.choice(letters) for _ in range(rng.randint(*filler)))
            parts.append(bytes([OPENERS[kind]]) + filler_bytes + bytes([CLOSERS[kind]]) + b"\n")
        docs.append(b"".join(parts))
    return docs


def carrying_gru() -> Engine:
    """A GRU built by hand to carry the opener: unit j latches +1 on opener j (and -1 on the
    others) and keeps it through any other byte (update gate shut); the head gives closer j
    a logit of 3 * h_j - 4 (a closer comes once in about 70 bytes: a model that puts more on
    it everywhere loses more on the letters than it gains on the closers), every letter,
    opener and the line end 0, every other byte -20."""
    config = ModelConfig(cell="gru", embed=4, hidden=3)
    w = {key: np.zeros(shape, np.float32) for key, shape in config.weight_shapes().items()}
    H = 3
    for j, byte in enumerate(OPENERS):
        w["embed.weight"][byte, j] = 1.0
    # Gates in PyTorch's order r, z, n. z = sigmoid(12 - 30 * [opener]): keep, unless an opener comes.
    w["rnn.bias_ih_l0"][H : 2 * H] = 12.0
    w["rnn.weight_ih_l0"][H : 2 * H, :3] = -30.0
    # n = tanh(20 * [opener j] - 10): +1 for the opener read, -1 for the others.
    w["rnn.bias_ih_l0"][2 * H :] = -10.0
    for j in range(3):
        w["rnn.weight_ih_l0"][2 * H + j, j] = 20.0
    w["head.bias"][:] = -20.0
    for byte in LETTERS + OPENERS + CLOSERS + b"\n":
        w["head.bias"][byte] = 0.0
    for j, byte in enumerate(CLOSERS):
        w["head.weight"][byte, j] = 3.0
        w["head.bias"][byte] = -4.0
    return Engine("carrying", config, w)


def test_the_distance_probe_separates_a_model_that_carries_the_dependency_from_the_same_model_reset():
    engine, docs = carrying_gru(), planted_documents()
    carried = distance_probe(engine, docs)
    cut = distance_probe(engine, docs, reset_every=8)
    by_bucket = {row["bucket"]: row for row in carried["buckets"]}
    assert by_bucket["33-128"]["count"] == 12 * 8  # every record's closer, 41-101 bytes after its opener
    assert by_bucket["33-128"]["by_kind"]["bracket"]["count"] == 12 * 8
    kept = by_bucket["33-128"]["mean_p"]
    lost = {row["bucket"]: row for row in cut["buckets"]}["33-128"]["mean_p"]
    # Carried: e^-1 / (30 + e^-1 + 2 e^-7) ~ 0.012; reset, all three closers look alike: e^-4 / 30 ~ 0.0006.
    assert kept > 0.01 and lost < 0.001 and kept > 10 * lost


def test_the_context_curve_falls_where_the_dependency_comes_within_reach():
    engine, docs = carrying_gru(), planted_documents()
    result = probe(engine, docs)
    bpc = {point["label"]: point["bpc"] for point in result["context"]["curve"]}
    assert list(bpc) == [str(k) if k else "never" for k in RESETS]
    # No dependency fits in 32 bytes: 8 and 32 differ only by the little the remembered opener
    # costs the letters after it (it is carried, its closer is not reached). From there on,
    # every longer reach brings more closers within it, and the curve must fall.
    assert bpc["8"] == pytest.approx(bpc["32"], abs=0.005)
    assert bpc["32"] > bpc["128"] > bpc["512"] > bpc["never"]
    assert bpc["32"] - bpc["never"] > 0.04
    assert result["context"]["gain_beyond_128"] == pytest.approx(bpc["128"] - bpc["never"])
    # The distance probe in `probe` reads the same never-reset pass.
    assert result["distance"]["buckets"] == distance_probe(engine, docs)["buckets"]


def test_a_gru_trained_on_planted_text_carries_the_opener_and_loses_it_when_reset():
    """Real torch training, a few seconds: closers 11-21 bytes after their openers, across letters."""
    import torch

    from charcomplete.learn.training import ChunkStream, Trainer

    text = b"".join(b"\0" + doc for doc in planted_documents(seed=1, count=200, records=10, filler=(10, 20),
                                                             letters=b"ab"))
    config = ModelConfig(cell="gru", embed=8, hidden=24)
    torch.manual_seed(0)
    trainer = Trainer(config, lr=1e-2)
    stream = ChunkStream(np.frombuffer(text, dtype=np.uint8).copy(), 16, 64, torch.device("cpu"))
    hidden = None
    for _ in range(STEPS):
        x, y, new_epoch = stream.next()
        _, hidden = trainer.step(x, y, None if new_epoch else hidden)
    engine = Engine("trained", config, trainer.weights())
    held_out = planted_documents(seed=2, count=20, records=10, filler=(10, 20), letters=b"ab")
    carried = {row["bucket"]: row for row in distance_probe(engine, held_out)["buckets"]}["9-32"]
    cut = {row["bucket"]: row for row in distance_probe(engine, held_out, reset_every=8)["buckets"]}["9-32"]
    assert carried["count"] == 200
    # A closer comes after 10-20 letters, so even a perfect model gives it about 1/6 on average;
    # which of the three it is, only the opener 11-21 bytes back says.
    assert carried["mean_p"] > 2 * cut["mean_p"], (carried["mean_p"], cut["mean_p"])
