"""The shipped model: it loads in the numpy engine and its first guesses are sensible.

A sanity check of the packaged files, not a quality claim: quality is measured by
benchmarks/generalise.py (BENCHMARKS.md, "Quality")."""

from __future__ import annotations

import numpy as np
import pytest

from charcomplete.model.engine import Engine
from charcomplete.storage import store

# Text whose next character a model pretrained on technical English, Python and shell gets
# right (any of the bytes given).
PROMPTS = {
    b"def __init__(sel": b"f",
    b"for i in ran": b"g",
    b"return Non": b"e",
    b"#!/usr/bin/env pyth": b"o",
    b"sudo apt-get inst": b"a",
    b"git commit -": b"-m",
    # With a script above it: bare "__ma" is as likely `__matmul__` (Python's docs name many dunders).
    b"def main():\n    pass\n\n\nif __name__ == \"__ma": b"i",
}


@pytest.fixture(scope="module")
def engine() -> Engine:
    loaded = store.load_model("default")
    assert loaded.builtin
    return Engine.from_model(loaded)


@pytest.mark.parametrize("prompt", list(PROMPTS))
def test_built_in_model_guesses_the_obvious_next_character(engine, prompt):
    state = engine.prime(prompt)
    assert int(np.argmax(state.log_probs())) in PROMPTS[prompt]


def test_built_in_model_ships_its_general_held_out_text():
    folder = store.builtin_folder()
    heldout = (folder / "heldout.txt").read_bytes()
    assert 16_000 <= len(heldout) <= 64_000
    heldout.decode("utf-8")  # whole characters: the learner scores it as text


def test_a_name_typed_twice_is_suggested_whole_the_third_time(engine):
    """The editor's path (a learning Completer over the typing cache, the default policy) on the
    shipped model: the built-in model cannot know a made-up name, the cache of the typing can."""
    from charcomplete.model.cache import typing_cache
    from charcomplete.suggest.decoder import Completer

    typed = "Zorblax came. Zorblax went. Zor"
    learning = Completer(typing_cache(engine, ""), learn=True, budget_ms=None)
    for end in range(1, len(typed) + 1):
        shown = learning.complete(typed[:end])
    assert shown.text == "blax "
    assert not Completer(engine, budget_ms=None).complete(typed).text.startswith("bl")
