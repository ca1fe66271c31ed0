"""Issue 25, item 3: one exclusion verdict. `train` (the corpus walk, and so the memory and the
learner), the language server, the editor and the shell server ask one matcher, with gitignore's
meaning, about the resolved path; each case below used to get different answers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from charcomplete.core.exclusions import Exclusions
from charcomplete.learn.corpus import scan


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    root = tmp_path / "home" / "notes"
    (root / "private").mkdir(parents=True)
    (root / "secret.md").write_text("the vault code is 4471\n")
    (root / "public.md").write_text("shopping list: eggs, milk\n")
    (root / "private" / "plan.md").write_text("quit in march\n")
    os.symlink(root / "private" / "plan.md", root / "today.md")
    return root


def kept(paths, exclude) -> list[str]:
    return sorted(Path(doc.path).name for doc in scan(paths, exclude=exclude).documents)


def test_a_double_star_pattern_keeps_the_file_out_of_train_and_the_lsp(notes):
    assert kept([notes], ["**/secret*"]) == ["plan.md", "public.md"]  # (today.md is the same file as plan.md)
    assert Exclusions.of(["**/secret*"]).path(notes / "secret.md")


def test_a_pattern_with_a_slash_means_the_same_from_any_root(notes):
    patterns = ["notes/private"]
    assert kept([notes.parent], patterns) == ["public.md", "secret.md"]
    assert kept([notes], patterns) == ["public.md", "secret.md"]  # trained from the folder itself: the same
    assert Exclusions.of(patterns).path(notes / "private" / "plan.md")


def test_a_link_to_an_excluded_file_is_excluded_wherever_it_is_opened(notes):
    assert "plan.md" not in kept([notes], ["private/"])
    assert Exclusions.of(["private/"]).path(notes / "today.md")  # what the LSP and the editor are given


def test_a_folder_named_on_the_command_line_is_matched_by_its_own_name(notes):
    assert kept([notes / "private"], ["private/"]) == []
    assert kept([notes / "private" / "plan.md"], ["private/"]) == []


def test_negation_and_anchoring_follow_gitignore(notes):
    assert kept([notes], ["*.md", "!public.md"]) == ["public.md"]
    anchored = Exclusions.of([f"{notes}/public.md"])
    assert anchored.path(notes / "public.md") and not anchored.path(notes / "private" / "public.md")


async def test_the_editor_does_not_learn_from_an_excluded_document(notes, sentence_model):
    from charcomplete.editor import EditorApp
    from charcomplete.model.engine import Engine
    from charcomplete.storage import store

    store.update_settings(exclude=["private/"])
    for path in (notes / "private" / "plan.md", notes / "today.md"):  # the file, and a link to it
        app = EditorApp(path, Engine.load(sentence_model), learn=True, send_every_s=0.05)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause(0.3)
            counted = app.cache.caches[0].observed_bytes
            await pilot.press(*"the secret plan", "enter")
            await pilot.press("f3")  # asking to learn changes nothing
            await pilot.pause(0.3)
            assert app.excluded and app.learner is None and app.learner_state == "off"
            assert app.cache.caches[0].observed_bytes == counted
            await pilot.press("ctrl+q", "d")


async def test_the_editor_learns_from_a_document_that_is_not_excluded(notes, sentence_model):
    from charcomplete.editor import EditorApp
    from charcomplete.model.engine import Engine
    from charcomplete.storage import store

    store.update_settings(exclude=["private/"])
    app = EditorApp(notes / "public.md", Engine.load(sentence_model), learn=False, send_every_s=0.05)
    async with app.run_test(size=(100, 30)) as pilot:
        counted = app.cache.caches[0].observed_bytes
        await pilot.press("ctrl+end", *"the quick brown fox")
        await pilot.pause(0.3)
        assert not app.excluded and app.cache.caches[0].observed_bytes > counted
        await pilot.press("ctrl+q", "d")
