"""`evaluate` and `charcomplete eval`: the figures on hand-checkable cases, adaptation, the
JSON a script reads, and errors as one sentence."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from charcomplete.core.config import DOC_START, ModelConfig
from charcomplete.evaluate.evaluation import AdaptSettings, char_starts, evaluate, truncate
from charcomplete.model.engine import Engine
from charcomplete.model.ngram import NGram
from tests.helpers import (
    CLI,
    ISSUE3_POLICY,
    assert_cli_error,
    assert_one_clear_error,
    chain_weights,
    cli_env,
    make_notes,
    random_weights,
    save_weights,
)

# A bigram chain that spells "abc abc abc ...": each byte is followed by the next with P = 0.9.
CHAIN = {DOC_START: {"a": 0.9}, "a": {"b": 0.9}, "b": {"c": 0.9}, "c": {" ": 0.9}, " ": {"a": 0.9}}


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=cli_env(OMP_NUM_THREADS="1"),
                          timeout=timeout)


def chain_engine() -> Engine:
    config, weights = chain_weights({chr(k) if isinstance(k, int) else k: v for k, v in CHAIN.items()})
    return Engine("chain", config, weights)


def test_keystroke_savings_by_hand():
    # Issue 3's decoding (one word, counting the word being typed): the suggestion at the
    # start is "abc " (one word with the space after it).
    # Whole: Tab takes "abc " (1 key); then "abc " is offered at "abc", which the text does not go
    # on with (it ends): "a" is typed, declining it (suggest/declined.py), so at "bc" the offer is
    # not all of its rest "bc " but "bc", which Tab takes: 3 keys for 7 characters.
    # First word: Ctrl+Right takes "abc" (1), then " " (the suggestion after "c" is " "), then "abc": 3 keys.
    one_word = {"issue 3": dataclasses.asdict(ISSUE3_POLICY)}
    result = evaluate(chain_engine(), ["abc abc"], ksr_bytes=100, decoders=one_word)
    ksr = result["ksr"]
    assert ksr["chars"] == 7 and ksr["documents"] == 1
    assert ksr["whole"] == pytest.approx(1 - 3 / 7)
    assert ksr["word"] == pytest.approx(1 - 3 / 7)
    # Both keys: Tab takes "abc " (1); at the end the offer "abc " runs past the text, its first
    # word "abc" does not: Ctrl+Right (1). 2 keys for 7 characters.
    assert ksr["both"] == pytest.approx(1 - 2 / 7)
    whole, word = result["decoders"][0]["whole"], result["decoders"][0]["word"]
    assert (whole["keys"], whole["shown"], whole["accepted"]) == (3, 3, 2)
    # 6 characters accepted over 3 shown ("abc ", "abc ", "bc"), 10 characters shown.
    assert whole["chars_per_shown"] == 2.0 and whole["mean_shown_chars"] == 10 / 3
    assert word["shown_blank"] == 1 and word["shown_one_char"] == 1  # the lone " " after the first "abc"
    # Each document starts afresh after DOC_START: two documents, twice the same figures.
    twice = evaluate(chain_engine(), ["abc abc", "abc abc"], ksr_bytes=100, decoders=one_word)["ksr"]
    assert twice["chars"] == 14 and twice["whole"] == pytest.approx(1 - 6 / 14)


def test_bits_and_accuracy_by_hand():
    result = evaluate(chain_engine(), ["abcx"], ksr_bytes=0)
    rest = 0.1 / 255  # the chain spreads what is left over the other 255 bytes
    expected = (3 * -math.log2(0.9) - math.log2(rest)) / 4
    assert result["bpc"] == pytest.approx(expected, rel=1e-4)
    assert result["top1"] == pytest.approx(3 / 4) and result["top3"] == pytest.approx(3 / 4)
    assert result["ksr"] is None and result["bytes"] == 4


def test_unicode_characters_count_once():
    assert char_starts("né✓".encode()) == [0, 1, 3]
    assert char_starts(b"\xff\xe2\x9c") == [0, 1, 2]  # broken UTF-8: a byte is a character
    assert [len(d) for d in truncate([b"abc", b"defg", b"hi"], 5)] == [3, 2]


def test_an_ngram_counts_as_it_reads_when_adapting():
    text = ["the same sentence, again and again. " * 30]
    static = evaluate(NGram().fit(b"\x00unrelated training text"), text, ksr_bytes=0)
    adaptive = evaluate(NGram().fit(b"\x00unrelated training text"), text, adapt=True, ksr_bytes=0)
    assert adaptive["mode"] == "adaptive" and static["mode"] == "static"
    assert adaptive["bpc"] < 0.3 * static["bpc"]


@pytest.fixture
def tiny_model() -> str:
    config = ModelConfig(cell="gru", embed=8, hidden=24)
    return save_weights("tiny", config, random_weights(config, seed=1, scale=0.3, radius=0.9))


def test_adapting_lowers_the_bits_of_repetitive_text(tiny_model):
    text = ["a line the model has never seen; " * 16, "a line the model has never seen; " * 8]
    fast = AdaptSettings(lr=1e-2)  # a random tiny model needs big steps (rms: 30x the default) to learn from 800 bytes
    static = evaluate(tiny_model, text, ksr_bytes=0)
    dynamic = evaluate(tiny_model, text, adapt=True, cache=False, settings=fast, ksr_bytes=0)
    cached = evaluate(tiny_model, text, adapt=True, dynamic=False, ksr_bytes=0)
    both = evaluate(tiny_model, text, adapt=True, settings=fast, ksr_bytes=300)
    assert dynamic["mode"] == "dynamic" and cached["mode"] == "cache" and both["mode"] == "dynamic+cache"
    assert dynamic["bpc"] < static["bpc"] - 1.0
    assert cached["bpc"] < static["bpc"] - 2.0
    assert both["bpc"] < static["bpc"] - 2.0
    assert both["adapter_steps"] >= len(text[0]) // 64
    assert both["ksr"]["whole"] > 0.3  # the cache soon knows the line by heart


def test_a_cache_fitted_on_the_users_folders_knows_their_strings(tiny_model):
    text = ["pip install charcomplete; charcomplete train ~/notes"]
    folders = b"\x00" + b"pip install charcomplete; charcomplete train ~/notes\n" * 20
    fresh = evaluate(tiny_model, text, adapt=True, dynamic=False, ksr_bytes=0)
    fitted = evaluate(tiny_model, text, adapt=True, dynamic=False, ksr_bytes=0, cache_text=folders)
    assert fitted["cache_fitted_bytes"] == len(folders) and fresh["cache_fitted_bytes"] == 0
    assert fitted["bpc"] < fresh["bpc"] - 1.0


def test_eval_json_carries_every_figure(tmp_path, tiny_model):
    notes = make_notes(tmp_path / "notes", count=4)
    result = run("eval", str(notes), "--model", tiny_model, "--json", "--ksr-bytes", "800")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    for key in ("model", "description", "parameters", "mode", "documents", "bytes", "chars", "bpc", "top1", "top3",
                "ksr", "latency_ms", "step_us", "decoders", "seconds"):
        assert key in figures, key
    assert figures["model"] == tiny_model and figures["mode"] == "static" and figures["documents"] == 4
    assert set(figures["ksr"]) >= {"documents", "chars", "whole", "word", "both", "precision"}
    assert figures["ksr"]["documents"] == 1  # whole documents until 800 bytes
    assert set(figures["latency_ms"]) == {"p50", "p99", "suggestions"}
    assert 0 < figures["bpc"] < 10 and 0 <= figures["top1"] <= figures["top3"] <= 1
    table = run("eval", str(notes), "--model", tiny_model, "--max-bytes", "500", "--ksr-bytes", "0")
    assert table.returncode == 0 and "bits per character" in table.stdout and "keystroke" not in table.stdout


def test_eval_context_probes_one_model(tmp_path, tiny_model):
    notes = make_notes(tmp_path / "notes", count=4)
    png = tmp_path / "probes.png"
    result = run("eval", str(notes), "--model", tiny_model, "--context", "--ksr-bytes", "0", "--json", "--png",
                 str(png))
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    curve = figures["probes"]["context"]["curve"]
    assert [point["label"] for point in curve] == ["8", "32", "128", "512", "never"]
    assert curve[-1]["bpc"] == pytest.approx(figures["bpc"], abs=1e-4)  # never reset: what eval itself read
    assert sum(b["count"] for b in figures["probes"]["distance"]["buckets"]) > 0
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[16:24] == (1100).to_bytes(4, "big") + (500).to_bytes(4, "big")
    table = run("eval", str(notes), "--model", tiny_model, "--context", "--ksr-bytes", "0")
    assert table.returncode == 0, table.stderr
    assert "bits per character with the state reset every K bytes" in table.stdout
    assert "long-range closers" in table.stdout and "gain 128 -> never" in table.stdout
    assert_cli_error(["eval", str(notes), "--png", str(png)], "--png draws the probes: it goes with --context")


def test_eval_adapt_shows_progress_and_takes_threads(tmp_path, tiny_model):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "long.md").write_text("a line of notes to read while learning; " * 400)  # 16 kB
    result = run("eval", str(notes), "--model", tiny_model, "--adapt", "--threads", "1", "--ksr-bytes", "0")
    assert result.returncode == 0, result.stderr
    first = result.stderr.splitlines()[0]
    assert first.startswith("evaluating 'tiny' (GRU 1x24) on 16,000 bytes of 1 documents"), first
    assert "gradient steps, cache" in first
    refused = run("eval", str(notes), "--model", tiny_model, "--threads", "0")
    assert refused.returncode == 1 and refused.stderr == "charcomplete: --threads must be at least 1\n"


def test_progress_lines_say_bytes_bpc_and_time_left(tiny_model, capsys, monkeypatch):
    from charcomplete.cli.eval import _Bar

    monkeypatch.setattr(_Bar, "LINE_EVERY_S", 0.0)  # every report becomes a line (off a terminal)
    with _Bar() as bar:
        result = evaluate(tiny_model, ["some text to read " * 500], ksr_bytes=0, progress=bar.update)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) >= 2, lines  # every 4096 bytes of 9,000
    assert lines[0].startswith("evaluating: 4,096 of 9,000 bytes read, ") and "bpc so far, about " in lines[0]
    assert lines[0].endswith(" left")
    assert result["bytes"] == 9000


def test_static_eval_never_imports_torch(tmp_path, tiny_model):
    notes = make_notes(tmp_path / "notes", count=2)
    code = (
        "import sys\n"
        "from charcomplete.cli import app\n"
        f"app(['eval', {str(notes)!r}, '--model', {tiny_model!r}, '--json', '--max-bytes', '300', '--context'],\n"
        "    standalone_mode=False)\n"
        "print('torch' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=cli_env(), timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("False")


def test_errors_are_one_sentence(tmp_path, tiny_model):
    notes = make_notes(tmp_path / "notes", count=2)
    assert_one_clear_error(run("eval", str(tmp_path / "missing")), "does not exist")
    assert_one_clear_error(run("eval", str(notes), "--model", "nope"), "no model named 'nope'")
    (tmp_path / "empty").mkdir()
    for args, fragment in [
        (["--max-bytes", "-1"], "must be 0 or more"),
        (["--no-cache"], "only go with --adapt"),
        (["--adapt", "--no-cache", "--no-dynamic"], "leaves nothing to adapt"),
        (["--model", "bad/name"], "not a valid model name"),
    ]:
        assert_cli_error(["eval", str(notes), *args], fragment)
    assert_cli_error(["eval", str(tmp_path / "empty")], "found no text")


def test_dynamic_evaluation_needs_weights():
    config = ModelConfig(cell="rnn", embed=4, hidden=8)
    engine = Engine("bare", config, random_weights(config, scale=0.5, radius=0.9))
    from charcomplete.core.errors import CharcompleteError

    with pytest.raises(CharcompleteError, match="needs the model's weights"):
        evaluate(engine, ["text"], adapt=True)
    assert np.isfinite(evaluate(engine, ["text"], adapt=True, dynamic=False)["bpc"])


def test_keystroke_savings_through_an_input_method_count_two_keys_a_chinese_character():
    # Issue 26: typed through an input method a CJK character costs characters.IME_KEYS keys;
    # "神经网络。" is 4 of them and a full stop: 9 keys unaided, 5 characters.
    from charcomplete.suggest.decoder import Policy

    text = "神经网络。"
    sure = NGram(order=8).fit(("\0" + text).encode() * 50)  # knows the text by heart
    decoders = {"default": {}, "nothing": dataclasses.asdict(Policy(min_value=1e9))}
    result = evaluate(sure, [text], ksr_bytes=100, decoders=decoders)
    assert result["ksr"]["chars"] == 5 and result["ksr"]["ime_keys"] == 9
    shown, nothing = (entry["whole"] for entry in result["decoders"])
    assert (nothing["keys"], nothing["ime_keys"], nothing["ime_savings"]) == (5, 9, 0.0)
    # The whole text is suggested at once and taken with one Tab: 1 key of 5, or of 9.
    assert (shown["keys"], shown["ime_keys"]) == (1, 1)
    assert shown["savings"] == pytest.approx(1 - 1 / 5) and shown["ime_savings"] == pytest.approx(1 - 1 / 9)
    assert result["ksr"]["ime_whole"] == pytest.approx(1 - 1 / 9)
