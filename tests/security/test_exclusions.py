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
