"""Shared fixtures. Every test runs with its own CHARCOMPLETE_HOME, so no test ever
touches the real user directories."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from charcomplete.core.paths import HOME_ENV
from charcomplete.storage import store
from tests.helpers import SENTENCE, SENTENCE_CONFIG, memorised_weights


def pytest_configure(config) -> None:
    # One thread per test process: on a busy 2-core machine, two OpenMP threads
    # fighting other processes run many times slower than one.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")


_FAULT_SUITES = {"test_faults.py", "test_document_crash.py"}


def pytest_collection_modifyitems(config, items) -> None:
    # The suites are marked by where they live, so `-m security` or `-m faults` runs one alone.
    for item in items:
        path = Path(str(item.fspath))
        if path.parent.name == "security":
            item.add_marker(pytest.mark.security)
        if path.name in _FAULT_SUITES:
            item.add_marker(pytest.mark.faults)


@pytest.fixture(autouse=True)
def charcomplete_home(tmp_path_factory, monkeypatch) -> Path:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv(HOME_ENV, str(home))
    return home


@pytest.fixture(scope="session")
def sentence_weights():
    """A tiny GRU that has learned one sentence by heart (real torch training, a few seconds)."""
    return memorised_weights(SENTENCE_CONFIG, b"\0" + (SENTENCE * 200).encode())


@pytest.fixture
def sentence_model(sentence_weights) -> str:
    """That GRU saved as model "tiny"."""
    with store.lock_model("tiny"):
        store.save_model("tiny", SENTENCE_CONFIG, sentence_weights, {"history": []})
    return "tiny"
