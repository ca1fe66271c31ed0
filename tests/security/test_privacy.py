"""Nothing leaked: private files and folders whatever the umask, excluded files kept out of
training, and `charcomplete forget` deleting what was learned (and nothing else)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from charcomplete.core.paths import HOME_ENV, locations
from charcomplete.learn import corpus
from charcomplete.storage import store
from tests.helpers import CLI, TINY, assert_one_clear_error, cli_env, make_notes, random_weights

SECRET = "correct horse battery staple"


def run(*args: str, input: str | None = None, timeout: float = 180, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], input=input, capture_output=True, text=True, env=cli_env(),
                          timeout=timeout, **kw)


def model(name: str) -> None:
    with store.lock_model(name):
        store.save_model(name, TINY, random_weights(TINY), {"steps": 1}, random_weights(TINY, 1))


# ---------------------------------------------------------------- permissions and exclusion


def test_private_files_under_umask_000_and_excluded_text_stays_out(tmp_path, monkeypatch):
    home = tmp_path / "not" / "yet" / "home"  # every folder down to the models is created by charcomplete
    monkeypatch.setenv(HOME_ENV, str(home))
    notes = make_notes(tmp_path / "notes", count=8)
    (notes / "secret-plans.md").write_text(f"The password is {SECRET}.\n")
    (notes / "private").mkdir()
    (notes / "private" / "diary.md").write_text(f"Dear diary, {SECRET}.\n")
    old_umask = os.umask(0)
    try:
        # The settings file, written under the same umask: how a user keeps a folder out of every run.
        store.update_settings(exclude=["private/"])
    finally:
        os.umask(old_umask)

    result = run("train", str(notes), "--model", "m", "--steps", "2", "--hidden", "16", "--embed", "8",
                 "--batch-size", "4", "--seq-len", "16", "--exclude", "secret*", preexec_fn=lambda: os.umask(0))
    assert result.returncode == 0, result.stderr

    for folder, _subfolders, files in os.walk(tmp_path / "not"):
        assert os.stat(folder).st_mode & 0o777 == 0o700, folder
        for name in files:
            assert os.stat(os.path.join(folder, name)).st_mode & 0o777 == 0o600, os.path.join(folder, name)
    written = [p for p in (tmp_path / "not").rglob("*") if p.is_file()]
    assert {p.name for p in written} >= {"settings.json", "meta.json", ".lock"}

    # The model learned from the eight notes only, and its metadata says what was kept out.
    kept = corpus.scan([notes], exclude=["private/", "secret*"])
    assert len(kept.documents) == 8 and kept.skipped["excluded"] == 2
    meta = store.load_meta("m")[0]
    assert meta["data_fingerprint"] == corpus.fingerprint(kept.documents)
    assert meta["data_fingerprint"] != corpus.fingerprint(corpus.scan([notes]).documents)
    assert meta["exclude"] == ["private/", "secret*"]
    assert "documents: 8 " in result.stdout and "2 excluded" in result.stdout
    assert not any(SECRET.encode() in p.read_bytes() for p in written)


def test_a_damaged_settings_file_stops_train_rather_than_drop_its_exclusions(tmp_path):
    notes = make_notes(tmp_path / "notes", count=2)
    settings = locations().settings_file
    settings.parent.mkdir(parents=True)
    for damaged in ('{"exclude": "private/"}', '{"exclude": ["private/", 3]}', '{"exclude": ["priv'):
        settings.write_text(damaged)
        result = run("train", str(notes), "--model", "m", "--steps", "1")
        assert_one_clear_error(result, f"the settings file {settings} is damaged")
    assert not store.model_exists("m")


# ---------------------------------------------------------------- forget


def test_forget_needs_to_be_told_what(tmp_path):
    assert_one_clear_error(run("forget"), "say what to forget")
    assert_one_clear_error(run("forget", "--model", "a", "--all"), "not both")
    assert_one_clear_error(run("forget", "--model", "nothing"), "no model named 'nothing'")
    assert_one_clear_error(run("forget", "--model", "default"), "built-in default model")


def test_forget_a_model_asks_first():
    model("a")
    model("b")
    store.update_settings(model="a")
    refused = run("forget", "--model", "a", input="n\n")
    assert refused.returncode == 0 and store.model_exists("a")  # declining is an answer, not a failure
    assert refused.stdout.strip().endswith("Nothing was deleted.")
    kept = run("models", "rm", "a", input="n\n")
    assert kept.returncode == 0 and "Nothing was deleted." in kept.stdout and store.model_exists("a")
    unanswered = run("forget", "--all", input="")  # no answer at all (stdin at its end) is not a yes
    assert unanswered.returncode == 0 and "Nothing was deleted." in unanswered.stdout and store.model_exists("a")
    assert "Aborted" not in unanswered.stdout + unanswered.stderr
    done = run("forget", "--model", "a", input="y\n")
    assert done.returncode == 0, done.stderr
    assert "removed model 'a'" in done.stdout
    assert not store.model_exists("a") and store.model_exists("b")
    assert "model" not in store.read_settings()


def _tree_digest(folder) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()}


def test_forget_everything_removes_what_was_learned_and_nothing_else(tmp_path):
    documents = make_notes(tmp_path / "documents", count=3)
    documents_before = _tree_digest(documents)
    builtin = store.builtin_folder()
    builtin_before = _tree_digest(builtin) if builtin.is_dir() else None
    where = locations()
    model("a")
    model("b")
    store.lock_model("c").release()  # a folder holding only a lock: a run that never saved
    root = store.models_root()
    (root / ".a.removing-1700000000").mkdir()  # what an interrupted `models rm` leaves
    (root / ".a.removing-1700000000" / "meta.json").write_text("{}")
    os.symlink(documents, root / "linked")  # a link into the user's files: removed, never followed
    where.journals.mkdir(parents=True)
    for index in range(2):
        (where.journals / f"{index:032x}.json").write_text(json.dumps({"text": SECRET}))
    (where.cache / "corpus").mkdir(parents=True)
    (where.cache / "corpus" / "chunk.bin").write_bytes(SECRET.encode())
    store.update_settings(model="b", exclude=["private/"])

    refused = run("forget", "--all", input="n\n")
    assert refused.returncode == 0 and refused.stdout.strip().endswith("Nothing was deleted.")
    assert "2 trained model(s): a, b" in refused.stdout and "2 editor journal(s)" in refused.stdout
    assert store.model_exists("a") and len(list(where.journals.iterdir())) == 2

    done = run("forget", "--all", "--yes")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "removed model 'a'",
        "removed model 'b'",
        f"removed 2 editor journal(s) in {where.journals}",
        f"removed the cache in {where.cache}",
        "cleared the choice of model in the settings",
    ]
    assert list(root.iterdir()) == []
    assert not where.journals.exists() and not where.cache.exists()
    assert store.read_settings() == {"exclude": ["private/"]}  # preferences stay; only the model choice goes
    assert _tree_digest(documents) == documents_before
    if builtin_before is not None:
        assert _tree_digest(builtin) == builtin_before
    home = Path(os.environ[HOME_ENV])
    assert not any(SECRET.encode() in p.read_bytes() for p in home.rglob("*") if p.is_file())


@pytest.mark.timeout(120)
def test_forget_leaves_a_model_another_process_is_writing():
    model("a")
    model("b")
    with store.lock_model("a"):  # held here, as `charcomplete train` would hold it
        result = run("forget", "--all", "--yes")
    assert_one_clear_error(result, "model 'a' is being written by another charcomplete process")
    assert "removed model 'b'" in result.stdout
    assert store.model_exists("a") and not store.model_exists("b")
