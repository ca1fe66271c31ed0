"""General text mixed into fine-tuning (charcomplete.learn.replay; issue 11): real documents, and
`charcomplete train` as a real subprocess."""

from __future__ import annotations

from pathlib import Path

import pytest

from charcomplete.learn import replay
from charcomplete.learn.corpus import Document
from tests.helpers import make_notes, run

SMALL = ["--batch-size", "8", "--seq-len", "32", "--steps", "1"]


def user_docs(count: int, size: int = 1000) -> list[Document]:
    return [Document(Path(f"/notes/{i}.md"), bytes([97 + i % 26]) * size, f"{i}.md") for i in range(count)]


def test_general_text_is_the_share_asked_for_and_spread_among_the_users_documents():
    docs = user_docs(40)
    mixed, added = replay.mix_in(docs, 0.2)
    if not added:
        pytest.skip("this Python has no pydoc_data.topics")
    total = sum(len(doc.data) for doc in mixed)
    assert added / total == pytest.approx(0.2, abs=0.01)
    assert [doc for doc in mixed if not doc.relpath.startswith("<python-docs>")] == docs  # order kept
    # Spread: general documents appear in both halves of the stream, not bunched at one end.
    positions = [i for i, doc in enumerate(mixed) if doc.relpath.startswith("<python-docs>")]
    assert positions[0] < len(mixed) // 2 < positions[-1]


def test_no_share_or_no_documents_leaves_the_text_alone():
    docs = user_docs(3)
    assert replay.mix_in(docs, 0.0) == (docs, 0)
    assert replay.mix_in([], 0.3) == ([], 0)


def test_fine_tuning_mixes_general_text_and_says_so_but_a_new_model_does_not(tmp_path):
    notes = make_notes(tmp_path / "notes", count=6)
    tuned = run("train", str(notes), "--general-share", "0.2", *SMALL, timeout=300)
    assert tuned.returncode == 0, tuned.stderr
    first = tuned.stderr.splitlines()[0]
    if replay.general_documents(1):
        assert "of general text mixed in" in first
    scratch = run("train", str(notes), "--model", "fresh", "--scratch", "--hidden", "16", "--general-share", "0.2",
                  *SMALL)
    assert scratch.returncode == 0, scratch.stderr
    assert "general text" not in scratch.stderr.splitlines()[0]
    plain = run("train", str(notes), "--model", "plain", "--general-share", "0", *SMALL, timeout=300)
    assert "general text" not in plain.stderr.splitlines()[0]


@pytest.mark.parametrize("value", ["-0.1", "0.6", "nan"])
def test_a_general_share_out_of_range_is_one_sentence(tmp_path, value):
    notes = make_notes(tmp_path / "notes", count=2)
    result = run("train", str(notes), "--general-share", value, *SMALL)
    assert result.returncode != 0
    assert result.stderr.strip() == "charcomplete: --general-share must be from 0 to 0.5"
