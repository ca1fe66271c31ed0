"""A model's memory of the text it was trained on (charcomplete.model.memory): what `train` keeps,
how it is stored and read back, and the typing cache, `eval --adapt` and the editor using it.
Real training in subprocesses, real files, the real app under its Pilot."""

from __future__ import annotations

import zlib

import pytest

from charcomplete.core.errors import ModelError
from charcomplete.evaluate.evaluation import AdaptSettings, evaluate
from charcomplete.model import memory
from charcomplete.model.cache import typing_cache
from charcomplete.model.engine import Engine
from charcomplete.storage import store
from charcomplete.suggest.decoder import suggest
from tests.editor.test_editor import SIZE, make_app, type_and_wait
from tests.helpers import assert_one_clear_error, make_notes, run

SMALL = ["--batch-size", "8", "--seq-len", "32"]
NAME_LINE = "Deploy with `zorbctl rollout --canary=7 blue-heron` before lunch.\n"


# ---------------------------------------------------------------- the text kept


def test_gather_keeps_each_document_once_the_latest_last_and_within_the_bound(monkeypatch):
    assert memory.gather([b"one", b"two"], earlier=b"two\0zero") == b"zero\0one\0two"
    assert memory.gather([b"a\0b"]) == b"ab"  # a separator inside a document cannot split it
    monkeypatch.setattr(memory, "MEMORY_BYTES", 10)
    assert memory.gather([b"first doc", b"second", b"third"]) == b"third"  # whole documents, the last ones
    assert memory.gather([b"x" * 30]) == b"x" * 10  # one document too long: its end


def test_write_then_read_gives_the_text_back_compressed(tmp_path):
    text = b"# notes\n" + NAME_LINE.encode() * 200
    memory.write(tmp_path, text)
    assert (tmp_path / memory.MEMORY_FILE).stat().st_size < len(text) // 10
    assert memory.read(tmp_path) == text
    memory.write(tmp_path, b"")
    assert not (tmp_path / memory.MEMORY_FILE).exists() and memory.read(tmp_path) == b""


@pytest.mark.parametrize("damage", ["garbage", "bomb", "link"])
def test_a_damaged_memory_is_one_sentence_and_never_read_past_its_bound(tmp_path, damage):
    path = tmp_path / memory.MEMORY_FILE
    if damage == "garbage":
        path.write_bytes(b"not zlib at all")
    elif damage == "bomb":  # 100 kB on disk that would inflate to 40 MB
        path.write_bytes(zlib.compress(b"\xff" * (10 * memory.MEMORY_BYTES), 9))
    else:
        (tmp_path / "elsewhere").write_bytes(zlib.compress(b"text"))
        path.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ModelError) as caught:
        memory.read(tmp_path)
    assert "\n" not in str(caught.value) and "memory" in str(caught.value)


# ---------------------------------------------------------------- the n-gram and the typing cache


def test_the_memory_ngram_is_built_once_and_typing_never_changes_it(sentence_model):
    shared = memory.ngram_of(b"alpha beta gamma\0" * 20)
    assert memory.ngram_of(b"alpha beta gamma\0" * 20) is shared  # built once per text
    before = shared.lookup(b"zorb")[0].copy()
    engine = typing_cache(Engine.load(sentence_model), "", remembered=shared)
    engine.read(engine.start(), b"zorbx zorbx zorbx")
    assert (shared.lookup(b"zorb")[0] == before).all() and shared.observed_bytes == 0
    assert engine.caches[0].lookup(b"zorb")[0][ord("x")] > 0.5  # the document's own cache counted it


def test_the_typing_cache_suggests_a_remembered_string_from_the_first_keystroke():
    engine = Engine.load("default")  # a real model: unsure of a made-up name, as of a stranger's
    remembered = memory.ngram_of((NAME_LINE * 30).encode())
    with_memory = typing_cache(engine, "", remembered=remembered)
    plain = typing_cache(engine, "")
    for prompt, rest in (("Deploy with `zorbc", "tl "), ("ship the blue-h", "eron")):
        assert suggest(with_memory.prime(prompt)).text == rest
        assert not suggest(plain.prime(prompt)).text.startswith(rest[:2])
    # The editor adds the memory later (it takes seconds to build) and swaps it with the model.
    added = plain.remembering(remembered)
    assert len(added.caches) == 2 and added.caches[0] is plain.caches[0]
    assert suggest(added.prime("Deploy with `zorbc")).text == "tl "
    assert len(added.remembering(None).caches) == 1


# ---------------------------------------------------------------- train keeps it, eval and the editor use it


def test_train_keeps_the_text_it_learned_and_fine_tuning_adds_to_it(tmp_path):
    notes = make_notes(tmp_path / "notes", count=6)
    (notes / "deploy.md").write_text(NAME_LINE * 4, encoding="utf-8")
    (notes / "secret.md").write_text("the vault key is hunter2-hunter2\n", encoding="utf-8")
    result = run("train", str(notes), "--steps", "1", "--exclude", "secret.md", *SMALL, timeout=300)
    assert result.returncode == 0, result.stderr
    kept = memory.read(store.model_folder("mine"))
    assert NAME_LINE.encode() in kept and b"To " in kept
    assert b"hunter2" not in kept  # an excluded file is not remembered either
    assert f"{len(kept):,} bytes of the text it learned from" in run("models", "info", "mine").stdout
    assert f"it remembers {len(kept):,} bytes of your text" in result.stdout

    more = tmp_path / "more"
    more.mkdir()
    (more / "plan.md").write_text("Quarterly plan: ship the heron release.\n" * 3, encoding="utf-8")
    again = run("train", str(more), "--model", "mine", "--from", "mine", "--steps", "1", *SMALL, timeout=300)
    assert again.returncode == 0, again.stderr
    both = memory.read(store.model_folder("mine"))
    assert NAME_LINE.encode() in both and b"Quarterly plan" in both
    assert both.count(NAME_LINE.encode() * 4) == 1  # a document remembered twice is kept once

    quiet = run("train", str(more), "--model", "quiet", "--steps", "1", "--no-memory", *SMALL, timeout=300)
    assert quiet.returncode == 0, quiet.stderr
    assert not (store.model_folder("quiet") / memory.MEMORY_FILE).exists()
    assert "it keeps no memory of your text" in quiet.stdout


def test_eval_adapt_reads_with_the_models_memory(sentence_model):
    text = [NAME_LINE * 2]
    with store.lock_model(sentence_model):
        memory.write(store.model_folder(sentence_model), (NAME_LINE * 30).encode())
    remembering = evaluate(sentence_model, text, adapt=True, dynamic=False, ksr_bytes=0)
    forgetting = evaluate(sentence_model, text, adapt=True, dynamic=False, ksr_bytes=0,
                          settings=AdaptSettings(memory=False))
    assert remembering["cache_fitted_bytes"] == len(NAME_LINE) * 30 and forgetting["cache_fitted_bytes"] == 0
    assert remembering["bpc"] < forgetting["bpc"] - 0.5


def test_a_damaged_memory_leaves_eval_with_one_sentence(sentence_model, tmp_path):
    (store.model_folder(sentence_model) / memory.MEMORY_FILE).write_bytes(b"damaged")
    (tmp_path / "a.md").write_text(NAME_LINE, encoding="utf-8")
    result = run("eval", str(tmp_path / "a.md"), "--model", sentence_model, "--adapt", "--ksr-bytes", "0")
    assert_one_clear_error(result, "memory", only_line=False)


async def test_the_editor_suggests_from_the_models_memory(sentence_model, tmp_path):
    with store.lock_model(sentence_model):
        memory.write(store.model_folder(sentence_model), (NAME_LINE * 30).encode())
    app = make_app(Engine.load(sentence_model), tmp_path / "new.md", suggest_options={"budget_ms": None})
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()  # the memory is built off the event loop
        assert len(app.cache.caches) == 2
        assert await type_and_wait(pilot, "Deploy with `zorbc") == "tl "


async def test_a_damaged_memory_leaves_the_editor_suggesting_and_says_so(sentence_model, tmp_path):
    (store.model_folder(sentence_model) / memory.MEMORY_FILE).write_bytes(b"damaged")
    app = make_app(Engine.load(sentence_model), tmp_path / "new.md", suggest_options={"budget_ms": None})
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause(0.1)
        assert any("without the model's memory" in n.message for n in app._notifications)
        assert len(app.cache.caches) == 1
        assert (await type_and_wait(pilot, "the quick b")).startswith("rown")


def test_a_memory_file_is_read_once_and_again_when_it_changes(tmp_path):
    memory.write(tmp_path, b"alpha beta gamma\0" * 20)
    first = memory.ngram(tmp_path)
    assert memory.ngram(tmp_path) is first
    memory.write(tmp_path, b"delta epsilon\0" * 20)
    second = memory.ngram(tmp_path)
    assert second is not first and second.lookup(b"delt")[0][ord("a")] > 0.5
