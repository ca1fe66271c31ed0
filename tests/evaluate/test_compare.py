"""`charcomplete compare` and the plots it draws."""

from __future__ import annotations

import json
import struct
import subprocess
import zlib

import numpy as np
import pytest

from charcomplete.evaluate import plot
from charcomplete.evaluate.comparison import matched_configs
from tests.helpers import CLI, assert_cli_error, assert_one_clear_error, cli_env, make_notes

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=cli_env(OMP_NUM_THREADS="1"),
                          timeout=timeout)


def read_png(data: bytes) -> np.ndarray:
    """Decode what encode_png writes (RGB, 8 bits, filter 0), checking the chunks' CRCs."""
    assert data[:8] == PNG_SIGNATURE
    pos, chunks = 8, {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        tag, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(tag + body) & 0xFFFFFFFF, tag
        chunks.setdefault(tag, b"")
        chunks[tag] += body
        pos += 12 + length
    width, height, depth, colour, _, _, _ = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert (depth, colour) == (8, 2) and b"IEND" in chunks
    rows = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), dtype=np.uint8).reshape(height, 1 + width * 3)
    assert (rows[:, 0] == 0).all()
    return rows[:, 1:].reshape(height, width, 3)


@pytest.mark.parametrize("hidden", [16, 64, 256, 512])
def test_cells_get_the_same_parameter_budget(hidden):
    configs = matched_configs(hidden)
    assert list(configs) == ["rnn", "lstm", "gru"] and configs["gru"].hidden == hidden
    counts = [config.parameter_count() for config in configs.values()]
    assert max(counts) / min(counts) < 1.03
    assert configs["rnn"].hidden > configs["gru"].hidden > configs["lstm"].hidden


def test_png_round_trip_and_terminal_plot(tmp_path):
    series = {"RNN": [(0, 3.0), (1000, 2.5), (2000, 2.2)], "GRU": [(0, 3.1), (1500, 2.0)]}
    image = plot.render(series, width=300, height=200, title="curves", x_label="chars", y_label="bpc")
    assert image.shape == (200, 300, 3)
    assert (read_png(plot.encode_png(image)) == image).all()
    red = np.array(plot.RGB[0])
    assert ((image == red).all(axis=2)).sum() > 50  # the first series was drawn
    text = plot.terminal_plot(series, width=40, height=8, x_label="chars", y_label="bpc")
    assert any("\u2800" < ch <= "\u28ff" for ch in text) and "RNN" in text and "GRU" in text
    assert "\x1b[" not in text and "\x1b[" in plot.terminal_plot(series, color=True)
    assert plot.nice_ticks(0, 2000, 5) == [0, 500, 1000, 1500, 2000]
    assert plot.short_number(1_500_000) == "1.5M"


def test_compare_trains_three_cells_and_draws_the_curves(tmp_path, charcomplete_home):
    notes = make_notes(tmp_path / "notes", count=20)
    png = tmp_path / "curves.png"
    result = run("compare", str(notes), "--steps", "3", "--hidden", "16", "--batch-size", "4", "--seq-len", "16",
                 "--max-bytes", "1500", "--ksr-bytes", "300", "--png", str(png), "--json")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    cells = [row["cell"] for row in figures["cells"]]
    assert cells == ["rnn", "lstm", "gru"]
    for row in figures["cells"]:
        assert row["name"] == f"compare-{row['cell']}" and row["steps"] == 3
        assert row["train_chars_per_s"] > 0 and row["eval"]["bpc"] > 0 and row["eval"]["ksr"] is not None
        # Out of the user's list of models: nothing asked to keep them.
        assert not (charcomplete_home / "data" / "models" / row["name"]).exists()
        assert len(figures["curves"][row["cell"]]) >= 2  # the start and the end at least
    counts = [row["parameters"] for row in figures["cells"]]
    assert max(counts) / min(counts) < 1.03
    assert figures["baseline"]["mode"] == "adaptive"
    data = png.read_bytes()
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (720, 440)
    assert read_png(data).shape == (440, 720, 3)


def test_compare_keeps_its_models_only_when_asked_and_warns_on_a_short_budget(tmp_path, charcomplete_home):
    notes = make_notes(tmp_path / "notes", count=20)
    small = ["--hidden", "16", "--batch-size", "4", "--seq-len", "16", "--max-bytes", "800", "--ksr-bytes", "0"]
    kept = run("compare", str(notes), "--steps", "2", "--keep", *small)
    assert kept.returncode == 0, kept.stderr
    assert "the models are kept: compare-rnn, compare-lstm, compare-gru" in kept.stdout
    listing = run("models").stdout
    assert all(f"compare-{cell}" in listing for cell in ("rnn", "lstm", "gru"))
    # A time budget under a minute: said to mean little, and "minute" in the singular.
    short = run("compare", str(notes), "--minutes", "0.05", *small)
    assert short.returncode == 0, short.stderr
    assert "0.05 minutes per cell is too short for the comparison to mean much" in short.stderr
    assert "each cell trained for 0.05 minutes" in short.stdout
    assert "compare-" not in run("models").stdout  # this run replaced the kept ones and removed its own
    from charcomplete.cli.compare import minutes_text

    assert minutes_text(1) == "1 minute" and minutes_text(2) == "2 minutes" and minutes_text(0.5) == "0.5 minutes"


def test_compare_errors_are_one_sentence(tmp_path):
    notes = make_notes(tmp_path / "notes", count=2)
    assert_one_clear_error(run("compare", str(tmp_path / "missing")), "does not exist")
    assert_cli_error(["compare", str(notes), "--minutes", "0"], "--minutes must be more than 0")
    assert_cli_error(["compare", str(notes), "--png", str(tmp_path / "no" / "such" / "dir.png")], "does not exist")
    assert_cli_error(["compare", str(notes), "--hidden", "0"], "--hidden must be")
