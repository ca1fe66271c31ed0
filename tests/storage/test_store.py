"""The model store: round trips, atomic generations, locks, and files that must be refused."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from charcomplete.core.config import ModelConfig
from charcomplete.core.errors import LockBusyError, ModelError
from charcomplete.storage import store
from charcomplete.storage.atomic import FileLock
from tests.helpers import random_weights

SMALL = ModelConfig(cell="gru", embed=8, hidden=16, layers=2)


def test_save_load_round_trip_is_bit_exact():
    weights = random_weights(SMALL)
    optim = {"0.exp_avg": np.ones((256, 8), np.float32), "0.step": np.array(3.0, np.float32)}
    store.save_model("m", SMALL, weights, {"steps": 7, "history": [{"step": 7}]}, optim)
    loaded = store.load_model("m")
    assert loaded.config == SMALL
    assert loaded.meta["steps"] == 7 and loaded.meta["format_version"] == store.FORMAT_VERSION
    for key, array in weights.items():
        assert loaded.weights[key].tobytes() == array.tobytes()
    restored = store.load_optimizer_state(loaded)
    assert restored["0.step"] == 3.0 and restored["0.exp_avg"].shape == (256, 8)


def test_files_are_private_and_old_generations_removed():
    store.save_model("m", SMALL, random_weights(SMALL, 1), {})
    store.save_model("m", SMALL, random_weights(SMALL, 2), {})
    folder = store.model_folder("m")
    tensors = sorted(p.name for p in folder.glob("*.safetensors"))
    assert len(tensors) == 1, tensors
    assert (folder.stat().st_mode & 0o777) == 0o700
    for path in folder.iterdir():
        assert (path.stat().st_mode & 0o777) == 0o600, path
    assert store.load_model("m").weights["head.bias"].tobytes() == random_weights(SMALL, 2)["head.bias"].tobytes()


def test_created_date_survives_later_saves():
    store.save_model("m", SMALL, random_weights(SMALL), {})
    created = store.load_model("m").meta["created"]
    store.save_model("m", SMALL, random_weights(SMALL), {"steps": 1})
    assert store.load_model("m").meta["created"] == created


def _weights_path(name: str):
    return store.load_model(name).weights_file


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: p.write_bytes(p.read_bytes()[:100]), "checksum"),
        (lambda p: p.write_bytes(pickle.dumps({"x": 1})), "pickle"),
        (lambda p: p.write_bytes(b"PK\x03\x04" + b"\0" * 64), "pickle"),
        (lambda p: p.unlink(), "missing"),
    ],
)
def test_damaged_weights_give_one_clear_error(damage, message):
    store.save_model("m", SMALL, random_weights(SMALL), {})
    damage(_weights_path("m"))
    with pytest.raises(ModelError, match=message):
        store.load_model("m")


def _rewrite_meta(name: str, **changes):
    path = store.model_folder(name) / store.META_FILE
    meta = json.loads(path.read_text())
    meta.update(changes)
    path.write_text(json.dumps(meta))


def test_truncated_file_without_checksum_is_refused():
    store.save_model("m", SMALL, random_weights(SMALL), {})
    path = _weights_path("m")
    path.write_bytes(path.read_bytes()[:200])
    _rewrite_meta("m", weights_sha256=None)
    with pytest.raises(ModelError, match="not a valid safetensors"):
        store.load_model("m")


def test_oversized_header_is_refused():
    store.save_model("m", SMALL, random_weights(SMALL), {})
    path = _weights_path("m")
    path.write_bytes((2**62).to_bytes(8, "little") + b"{}")
    _rewrite_meta("m", weights_sha256=None)
    with pytest.raises(ModelError):
        store.load_model("m")


def test_future_format_version_is_refused():
    store.save_model("m", SMALL, random_weights(SMALL), {})
    _rewrite_meta("m", format_version=store.FORMAT_VERSION + 1)
    with pytest.raises(ModelError, match="newer charcomplete"):
        store.load_model("m")


def test_unparsable_metadata_is_refused():
    store.save_model("m", SMALL, random_weights(SMALL), {})
    (store.model_folder("m") / store.META_FILE).write_bytes(b"\x00\xff not json")
    with pytest.raises(ModelError, match="damaged"):
        store.load_model("m")


def test_nan_and_wrong_shapes_are_refused():
    bad = random_weights(SMALL)
    bad["head.bias"][3] = np.nan
    with pytest.raises(ModelError, match="NaN"):
        store.save_model("m", SMALL, bad, {})
    wrong = random_weights(SMALL)
    wrong["head.weight"] = wrong["head.weight"][:, :8].copy()
    with pytest.raises(ModelError, match="shape"):
        store.save_model("m", SMALL, wrong, {})
    # Weights written for another shape and relabelled: the loader catches it too.
    store.save_model("m", SMALL, random_weights(SMALL), {})
    _rewrite_meta("m", config={**SMALL.to_dict(), "hidden": 32})
    with pytest.raises(ModelError, match="shape"):
        store.load_model("m")


def test_unknown_model_and_bad_names():
    with pytest.raises(ModelError, match="no model named"):
        store.load_model("nothing-here")
    for bad in ("", "../x", ".hidden", "a/b", "x" * 80):
        with pytest.raises(ModelError, match="not a valid model name"):
            store.check_name(bad)


def test_lock_is_exclusive_between_holders(tmp_path):
    held = store.lock_model("m")
    try:
        with pytest.raises(LockBusyError, match="another charcomplete process"):
            store.lock_model("m", timeout=0.1)
    finally:
        held.release()
    store.lock_model("m").release()  # free again once released
    lock = FileLock(tmp_path / "x.lock")
    with lock:
        with lock:  # re-entering a held lock does not deadlock
            pass


def test_use_and_remove():
    store.save_model("mine", SMALL, random_weights(SMALL), {})
    assert store.current_model_name() == store.DEFAULT_MODEL
    store.update_settings(model="mine")
    assert store.current_model_name() == "mine"
    assert "mine" in store.list_model_names()
    store.remove_model("mine")
    assert not store.model_exists("mine")
    assert store.current_model_name() == store.DEFAULT_MODEL
    assert not any(p.name.startswith(".mine") for p in store.models_root().iterdir())


def test_damaged_settings_fall_back_to_defaults():
    from charcomplete.core.paths import locations

    path = locations().settings_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{not json")
    assert store.current_model_name() == store.DEFAULT_MODEL
