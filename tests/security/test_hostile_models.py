"""Hostile and broken model files: each is refused with one clear sentence by the commands
that load a model (`charcomplete models info NAME`, `charcomplete complete --model NAME`),
with a non-zero exit and no traceback, and nothing in them ever runs.

The pickle payloads are live: unpickled, they would create a marker file (a control
unpickling proves it). The default run drives the CLI's real entry point in-process for
every case and as real subprocesses for the code-execution cases; the slow run uses
subprocesses for every case."""

from __future__ import annotations

import builtins
import hashlib
import io
import json
import os
import pickle
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save as save_safetensors

from charcomplete.core.config import ModelConfig
from charcomplete.storage import store
from tests.helpers import CLI, TINY, cli_env, random_weights


class _CreatesMarker:
    """Unpickling this calls open(marker, "w"): code from the file runs and leaves a trace."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (builtins.open, (self.marker, "w"))


def pickle_payload(marker: Path, protocol: int = 4) -> bytes:
    return pickle.dumps(_CreatesMarker(marker), protocol=protocol)


def torch_save_payload(marker: Path) -> bytes:
    """What torch.save writes: a zip archive whose data.pkl is the payload."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", pickle_payload(marker, protocol=2))
        archive.writestr("archive/version", "3\n")
    return buffer.getvalue()


def test_the_payloads_are_live(tmp_path):
    """Control: these bytes really run code when unpickled, so their refusal below means something."""
    for index, payload in enumerate([pickle_payload(tmp_path / "a"), pickle_payload(tmp_path / "b", protocol=0)]):
        pickle.loads(payload).close()
        assert (tmp_path / "ab"[index]).exists()
    with zipfile.ZipFile(io.BytesIO(torch_save_payload(tmp_path / "c"))) as archive:
        pickle.loads(archive.read("archive/data.pkl")).close()
    assert (tmp_path / "c").exists()


def test_a_safetensors_header_that_starts_like_a_pickle_still_loads():
    """A header of 1152 bytes starts the file with 0x80, the pickle mark: the file is still safetensors."""
    config = ModelConfig(cell="gru", embed=8, hidden=16, layers=3)
    with store.lock_model("g"):
        store.save_model("g", config, random_weights(config), {})
    loaded = store.load_model("g")
    assert loaded.weights_file.read_bytes()[:1] == b"\x80"
    assert loaded.config == config


# ---------------------------------------------------------------- the damage


def _meta_path(folder: Path) -> Path:
    return folder / store.META_FILE


def _edit_meta(folder: Path, **changes) -> None:
    meta = json.loads(_meta_path(folder).read_text())
    meta.update(changes)
    _meta_path(folder).write_text(json.dumps(meta))


def _weights(folder: Path) -> Path:
    return folder / json.loads(_meta_path(folder).read_text())["weights"]


def _replace_weights(folder: Path, data: bytes, matching_checksum: bool = True) -> None:
    """Put `data` under the weights file name; with the checksum updated, only the parser stands in the way."""
    _weights(folder).write_bytes(data)
    _edit_meta(folder, weights_sha256=hashlib.sha256(data).hexdigest() if matching_checksum else None)


def _tensors(**overrides: np.ndarray) -> bytes:
    tensors = random_weights(TINY)
    tensors.update(overrides)
    return save_safetensors(tensors)


def _flip_bytes(folder: Path) -> None:
    path = _weights(folder)
    data = bytearray(path.read_bytes())
    for offset in (len(data) // 2, len(data) - 1):
        data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def _nan_weights(folder: Path) -> None:
    bias = np.zeros(TINY.weight_shapes()["head.bias"], np.float32)
    bias[7] = np.nan
    _replace_weights(folder, _tensors(**{"head.bias": bias}))


def _inf_weights(folder: Path) -> None:
    embed = np.ones(TINY.weight_shapes()["embed.weight"], np.float32)
    embed[3, 2] = -np.inf
    _replace_weights(folder, _tensors(**{"embed.weight": embed}))


def _wrong_shape(folder: Path) -> None:
    _replace_weights(folder, _tensors(**{"head.weight": np.zeros((256, 8), np.float32)}))


def _sparse(path: Path, size: int) -> None:
    with open(path, "wb") as handle:
        handle.truncate(size)


def _fifo_weights(folder: Path) -> None:
    path = _weights(folder)
    path.unlink()
    os.mkfifo(path)  # opening it for reading would wait for a writer forever


CASES: dict[str, tuple[Callable[[Path, Path], None], str]] = {
    # name: (damage(folder, marker), what the one sentence must say)
    "pickle-as-weights": (lambda f, m: _replace_weights(f, pickle_payload(m)), "pickle or torch.save file"),
    "pickle-protocol-0-as-weights": (lambda f, m: _replace_weights(f, pickle_payload(m, protocol=0)),
                                     "not a valid safetensors file"),
    "torch-save-zip-as-weights": (lambda f, m: _replace_weights(f, torch_save_payload(m)), "pickle or torch.save"),
    "pickle-as-meta": (lambda f, m: _meta_path(f).write_bytes(pickle_payload(m)), "cannot be read"),
    "truncated": (lambda f, m: _weights(f).write_bytes(_weights(f).read_bytes()[:300]), "does not match its checksum"),
    "truncated-no-checksum": (lambda f, m: _replace_weights(f, _weights(f).read_bytes()[:300], False),
                              "not a valid safetensors file"),
    "flipped-bytes": (lambda f, m: _flip_bytes(f), "does not match its checksum"),
    "nan-weights": (lambda f, m: _nan_weights(f), "NaN or infinite weights in head.bias"),
    "inf-weights": (lambda f, m: _inf_weights(f), "NaN or infinite weights in embed.weight"),
    "wrong-shape": (lambda f, m: _wrong_shape(f), "has shape (256, 8), expected (256, 16)"),
    "oversized-header": (lambda f, m: _replace_weights(f, (2**62).to_bytes(8, "little") + b"{}"),
                         "not a valid safetensors file"),
    "header-longer-than-file": (lambda f, m: _replace_weights(f, (40_000_000).to_bytes(8, "little") + b'{"a":'),
                                "not a valid safetensors file"),
    "huge-sparse-weights": (lambda f, m: _sparse(_weights(f), 64 * 2**30), "larger than its configuration explains"),
    "future-format": (lambda f, m: _edit_meta(f, format_version=store.FORMAT_VERSION + 1), "newer charcomplete"),
    # issue 25.9: a damaged version is said to be damaged, not "written by a newer charcomplete"
    "string-format-version": (lambda f, m: _edit_meta(f, format_version="1"),
                              "invalid 'format_version' field ('1', a string"),
    "zero-format-version": (lambda f, m: _edit_meta(f, format_version=0), "invalid 'format_version' field (0, below"),
    "true-format-version": (lambda f, m: _edit_meta(f, format_version=True),
                            "invalid 'format_version' field (True"),
    "deeply-nested-meta": (lambda f, m: _meta_path(f).write_text("[" * 100_000 + "]" * 100_000), "cannot be read"),
    "huge-sparse-meta": (lambda f, m: _sparse(_meta_path(f), 2**40), "implausibly large"),
    "wrong-field-type": (lambda f, m: _edit_meta(f, steps="many"), "invalid 'steps' field"),
    "weights-outside-folder": (lambda f, m: _edit_meta(f, weights="../../../../etc/passwd"), "no valid weights file"),
    "fifo-as-weights": (lambda f, m: _fifo_weights(f), "are missing"),
}
RUNS_CODE = ["pickle-as-weights", "pickle-protocol-0-as-weights", "torch-save-zip-as-weights", "pickle-as-meta"]
COMMANDS = {"models-info": (["models", "info", "bad"], b""), "complete": (["complete", "--model", "bad"], b"x")}


@pytest.fixture
def hostile(request, tmp_path) -> tuple[Path, str]:
    """Model 'bad' damaged the way the case says; returns (the marker its payload would create, fragment)."""
    damage, fragment = CASES[request.param]
    with store.lock_model("bad"):
        store.save_model("bad", TINY, random_weights(TINY), {"steps": 1}, random_weights(TINY, 1))
    marker = tmp_path / "code-ran"
    damage(store.model_folder("bad"), marker)
    return marker, fragment


def _check(returncode: int, stderr: str, marker: Path, fragment: str) -> None:
    assert not marker.exists(), "code from the model file ran"
    assert returncode not in (0, None)
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("charcomplete: ") and fragment in lines[0], lines[0]
    assert "model 'bad'" in lines[0], lines[0]


def run_in_process(args: list[str], stdin: bytes, capsys, monkeypatch) -> tuple[int, str]:
    """The console script's entry point, in this process: same code path, no start-up cost."""
    from charcomplete.cli import main

    monkeypatch.setattr(sys, "argv", ["charcomplete", *args])
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main()
    return exited.value.code, capsys.readouterr().err


def run_subprocess(args: list[str], stdin: bytes) -> tuple[int, str]:
    result = subprocess.run([*CLI, *args], input=stdin, capture_output=True, env=cli_env(), timeout=60)
    return result.returncode, result.stderr.decode("utf-8", "replace")


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("hostile", CASES, indirect=True)
def test_hostile_model_is_refused_in_one_sentence(hostile, command, capsys, monkeypatch):
    marker, fragment = hostile
    code, stderr = run_in_process(*COMMANDS[command], capsys, monkeypatch)
    _check(code, stderr, marker, fragment)


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("hostile", RUNS_CODE, indirect=True)
def test_payloads_never_run_in_a_real_process(hostile, command):
    _check(*run_subprocess(*COMMANDS[command]), *hostile)


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("hostile", sorted(set(CASES) - set(RUNS_CODE)), indirect=True)
def test_hostile_model_is_refused_by_a_real_process(hostile, command):
    _check(*run_subprocess(*COMMANDS[command]), *hostile)
