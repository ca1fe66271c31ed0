"""`charcomplete compare` and the plots it draws."""

from __future__ import annotations

import json
import os
import struct
import subprocess

import pytest

from charcomplete.evaluate import plot
from charcomplete.evaluate.comparison import matched_configs
from tests.helpers import CLI, assert_cli_error, assert_one_clear_error, cli_env, make_notes

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=cli_env(OMP_NUM_THREADS="1"),
                          timeout=timeout)


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's header."""
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("hidden", [16, 64, 256, 512])
def test_cells_get_the_same_parameter_budget(hidden):
    configs = matched_configs(hidden)
    assert list(configs) == ["rnn", "lstm", "gru"] and configs["gru"].hidden == hidden
    counts = [config.parameter_count() for config in configs.values()]
    assert max(counts) / min(counts) < 1.03
    assert configs["rnn"].hidden > configs["gru"].hidden > configs["lstm"].hidden


def test_terminal_plot_and_the_range_that_shows_where_curves_differ():
    series = {"RNN": [(0, 3.0), (1000, 2.5), (2000, 2.2)], "GRU": [(0, 3.1), (1500, 2.0)]}
    text = plot.terminal_plot(series, width=40, height=8, x_label="chars", y_label="bpc")
    assert any("\u2800" < ch <= "\u28ff" for ch in text) and "RNN" in text and "GRU" in text
    assert "\x1b[" not in text and "\x1b[" in plot.terminal_plot(series, color=True)
    assert plot.nice_ticks(0, 2000, 5) == [0, 500, 1000, 1500, 2000]
    assert plot.short_number(1_500_000) == "1.5M"
    # Learning curves start near 8 bpc: the range leaves out each curve's first quarter.
    curves = {"RNN": [(i, 8.0 if i == 0 else 2.5 - i / 100) for i in range(12)],
              "GRU": [(i, 8.0 if i == 0 else 2.4 - i / 100) for i in range(12)]}
    low, high = plot.focus(curves)
    assert 2.25 < low < 2.29 and 2.47 < high < 2.6
    assert all(low <= y <= high for points in plot.clipped(curves, (low, high)).values() for _, y in points)


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
    for row in figures["cells"]:  # both probes, for every cell
        curve = row["probes"]["context"]["curve"]
        assert [point["label"] for point in curve] == ["8", "32", "128", "512", "never"]
        assert curve[-1]["bpc"] == pytest.approx(row["eval"]["bpc"], abs=1e-4)  # never reset: what eval reads
        buckets = row["probes"]["distance"]["buckets"]
        assert [b["bucket"] for b in buckets] == ["1-8", "9-32", "33-128", "129-512", "> 512"]
        assert sum(b["count"] for b in buckets) > 0  # the notes have backticks and repeated names
    assert png_size(png.read_bytes()) == (1600, 500)  # drawn by matplotlib: three panels


def test_compare_keeps_its_models_only_when_asked_and_warns_on_a_short_budget(tmp_path, charcomplete_home):
    notes = make_notes(tmp_path / "notes", count=20)
    small = ["--hidden", "16", "--batch-size", "4", "--seq-len", "16", "--max-bytes", "800", "--ksr-bytes", "0"]
    kept = run("compare", str(notes), "--steps", "2", "--keep", *small)
    assert kept.returncode == 0, kept.stderr
    assert "the models are kept: compare-rnn, compare-lstm, compare-gru" in kept.stdout
    # The overall table, the context curve and the distance table, a column per cell.
    out = kept.stdout
    assert "5-gram, adaptive" in out and "bits per character with the state reset every K bytes" in out
    assert "long-range closers" in out and "gain 128 -> never" in out
    lines = [line.strip() for line in out.splitlines()]
    assert all(any(line.startswith(f"{label} ") for line in lines) for label in ("8", "never", "9-32", "> 512"))
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


def test_png_without_matplotlib_is_one_clear_sentence_before_any_training(tmp_path, charcomplete_home):
    notes = make_notes(tmp_path / "notes", count=2)
    shadow = tmp_path / "shadow" / "matplotlib"  # a matplotlib that is not there, first on the path
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError(\"No module named 'matplotlib'\")\n")
    path = os.pathsep.join([str(tmp_path / "shadow"), os.environ.get("PYTHONPATH", "")])
    result = subprocess.run([*CLI, "compare", str(notes), "--steps", "1", "--png", str(tmp_path / "c.png")],
                            capture_output=True, text=True, env=cli_env(PYTHONPATH=path), timeout=120)
    assert_one_clear_error(result, "writing a PNG needs matplotlib, which is not installed: "
                                   "pip install 'charcomplete[plot]'")
    assert not (tmp_path / "c.png").exists()
