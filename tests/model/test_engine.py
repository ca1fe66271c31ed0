"""The numpy engine equals the torch model, step by step, for every cell."""

from __future__ import annotations

import numpy as np
import pytest

from charcomplete.core.config import DOC_START, ModelConfig
from charcomplete.core.errors import ModelError
from charcomplete.model.engine import Engine
from tests.helpers import chain_weights, random_weights, save_weights


def torch_reference(config: ModelConfig, weights: dict[str, np.ndarray], data: bytes) -> np.ndarray:
    """(len(data), 256) log-probabilities of the torch model after each byte of `data`."""
    torch = pytest.importorskip("torch")
    from charcomplete.model.network import CharModel, weights_from_numpy

    model = CharModel(config).eval()
    weights_from_numpy(model, weights)
    with torch.inference_mode():
        logits, _, _ = model(torch.tensor([list(data)], dtype=torch.long))
        return torch.log_softmax(logits[0].double(), dim=-1).numpy()


# ------------------------------------------------------------ parity


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_engine_matches_torch_over_a_long_stream(cell, layers):
    config = ModelConfig(cell=cell, embed=16, hidden=32, layers=layers)
    weights = random_weights(config, seed=layers, scale=0.5, radius=0.9)
    name = save_weights(f"{cell}{layers}", config, weights)
    engine = Engine.load(name)
    rng = np.random.default_rng(7)
    text = "Ünïcode and ASCII, ✓ mixed in: the quick brown fox. " * 20
    data = bytes(rng.integers(1, 256, 1000, dtype=np.uint8)) + text.encode()[:1000]  # 2000 bytes
    expected = torch_reference(config, weights, bytes([DOC_START]) + data)

    state = engine.start()
    got = [state.log_probs()]
    position = 0
    for size in rng.integers(1, 9, 2000):  # feed in uneven chunks, checking after each one
        chunk = data[position : position + size]
        if not chunk:
            break
        state.feed(chunk)
        position += len(chunk)
        got.append((position, state.log_probs()))
    assert np.abs(got[0] - expected[0]).max() < 1e-4
    worst = max(np.abs(lp - expected[pos]).max() for pos, lp in got[1:])
    assert worst < 1e-4, f"{cell} x{layers}: numpy and torch differ by {worst}"
    assert position == len(data)


def test_logits_match_torch_and_log_probs_normalise():
    config = ModelConfig(cell="gru", embed=8, hidden=24)
    weights = random_weights(config, seed=3, scale=0.5, radius=0.9)
    engine = Engine("m", config, weights)
    torch = pytest.importorskip("torch")
    from charcomplete.model.network import CharModel, weights_from_numpy

    model = CharModel(config).eval()
    weights_from_numpy(model, weights)
    with torch.inference_mode():
        logits, _, _ = model(torch.tensor([[0, 104, 105]]))
    state = engine.start()
    state.feed(b"hi")
    assert np.abs(state.logits() - logits[0, -1].numpy()).max() < 1e-4
    assert abs(np.logaddexp.reduce(state.log_probs().astype(np.float64))) < 1e-5
    assert abs(state.probs().sum() - 1) < 1e-9


# ------------------------------------------------------------ states


def _same(a, b) -> bool:
    states = all(np.array_equal(x, y) for x, y in zip(a.h + a.c, b.h + b.c, strict=True))
    return states and np.array_equal(a.logits(), b.logits())


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_fork_is_independent(cell):
    config = ModelConfig(cell=cell, embed=8, hidden=16, layers=2)
    engine = Engine("m", config, random_weights(config, scale=0.5, radius=0.9))
    state = engine.prime(b"hello ")
    before = state.logits()
    twin = state.fork()
    twin.feed(b"world")
    assert np.array_equal(state.logits(), before)  # the original did not move
    state.feed(b"there")
    fresh = engine.prime(b"hello world")
    assert _same(twin, fresh)  # the fork went on exactly as a fresh state would
    assert not np.array_equal(twin.logits(), state.logits())


def test_logits_are_a_copy():
    config = ModelConfig(cell="rnn", embed=8, hidden=16)
    state = Engine("m", config, random_weights(config, scale=0.5, radius=0.9)).start()
    logits = state.logits()
    logits[:] = 0
    assert not np.array_equal(state.logits(), logits)


def test_start_has_read_the_document_marker():
    config = ModelConfig(cell="gru", embed=8, hidden=16)
    engine = Engine("m", config, random_weights(config, scale=0.5, radius=0.9))
    manual = engine.zero_state()
    manual.feed(bytes([DOC_START]))
    assert _same(engine.start(), manual)
    engine.start().feed(b"changes a copy only")
    assert _same(engine.start(), manual)


def test_prime_reads_the_document_start_or_a_window():
    config = ModelConfig(cell="lstm", embed=8, hidden=16)
    engine = Engine("m", config, random_weights(config, scale=0.5, radius=0.9))
    short = "déjà vu".encode()
    by_hand = engine.start()
    by_hand.feed(short)
    assert _same(engine.prime(short), by_hand)
    assert _same(engine.prime("déjà vu"), by_hand)  # a str is read as UTF-8

    long = bytes(range(32, 127)) * 3
    windowed = engine.prime(long, window=50)
    tail_only = engine.zero_state()
    tail_only.feed(long[-50:])  # past the window, no document marker: the text began earlier
    assert _same(windowed, tail_only)
    assert _same(engine.prime(long[-50:], window=50), engine.prime(long[-50:]))  # fits: from the start
    assert not _same(windowed, engine.prime(long[-50:], window=50))


def test_default_window_is_1024_bytes():
    config = ModelConfig(cell="rnn", embed=8, hidden=16)
    engine = Engine("m", config, random_weights(config, scale=0.5, radius=0.9))
    text = bytes(np.random.default_rng(0).integers(32, 127, 3000, dtype=np.uint8))
    tail_only = engine.zero_state()
    tail_only.feed(text[-1024:])
    assert _same(engine.prime(text), tail_only)


def test_load_errors_are_model_errors():
    with pytest.raises(ModelError, match="no model named 'missing'"):
        Engine.load("missing")


def test_chain_model_is_what_it_says():
    config, weights = chain_weights({"a": {"b": 0.9}})
    engine = Engine("chain", config, weights)
    state = engine.prime(b"xa")
    assert abs(state.probs()[ord("b")] - 0.9) < 1e-5


def test_inference_uses_one_blas_thread_unless_told_otherwise(tmp_path):
    import os
    import subprocess
    import sys

    script = (
        "import ctypes, sys\n"
        "from pathlib import Path\n"
        "import numpy as np\n"
        "from charcomplete.core.config import ModelConfig\n"
        "from charcomplete.model.engine import Engine\n"
        "libs = sorted(Path(np.__file__).parent.parent.glob('numpy.libs/*openblas*'))\n"
        "getter = getattr(ctypes.CDLL(str(libs[0])), 'scipy_openblas_get_num_threads64_', None) if libs else None\n"
        "if getter is None:\n    print('skip'); sys.exit()\n"
        "config = ModelConfig(cell='gru', embed=4, hidden=8)\n"
        "Engine('m', config, {k: np.zeros(s, np.float32) for k, s in config.weight_shapes().items()})\n"
        "print(getter())\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    if out.stdout.strip() == "skip":
        pytest.skip("numpy is not using its bundled OpenBLAS here")
    assert out.stdout.strip() == "1", out.stderr


def test_the_engine_computes_on_one_blas_thread():
    # In a fresh interpreter: numpy's BLAS thread count is per process.
    import os
    import subprocess
    import sys

    code = (
        "from threadpoolctl import threadpool_info\n"
        "from charcomplete.core.config import ModelConfig\n"
        "from charcomplete.model.engine import Engine\n"
        "from tests.helpers import random_weights\n"
        "config = ModelConfig(cell='gru', embed=8, hidden=16)\n"
        "Engine('m', config, random_weights(config))\n"
        "print(sorted({pool['num_threads'] for pool in threadpool_info() if pool['user_api'] == 'blas'}))\n"
    )
    told = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")  # a count the user set is left alone
    env = {k: v for k, v in os.environ.items() if k not in told}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[1]", result.stdout
