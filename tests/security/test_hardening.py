"""Issue 14's attack run, each finding pinned: no command from a corpus runs, ignore rules
fail closed, links do not reopen excluded folders, hostile JSON and model files stay
bounded, a stopped `train` keeps its best model."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from charcomplete.core.config import ModelConfig
from charcomplete.core.errors import CharcompleteError, ModelError
from charcomplete.learn.corpus import scan
from charcomplete.storage import store
from tests.helpers import CLI, assert_one_clear_error, cli_env, make_notes, random_weights

TINY = ["--steps", "2", "--hidden", "16", "--embed", "8", "--batch-size", "4", "--seq-len", "16"]


def texts(corpus) -> list[str]:
    return sorted(doc.relpath for doc in corpus.documents)


def git_init(repo: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    env = cli_env(GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1")
    subprocess.run(["git", "init", "-q", str(repo)], check=True, timeout=30, env=env)


# --- item 1: nothing a corpus configures is ever run --------------------------------------------


def test_a_repositorys_fsmonitor_hooks_and_filters_never_run(tmp_path: Path) -> None:
    """The repository's own config names commands git would run (`git check-ignore` runs
    core.fsmonitor); a `git` early in PATH stands for any other way of running git. None of
    them may run during `charcomplete train`, and the .gitignore still holds."""
    repo = tmp_path / "cloned"
    repo.mkdir()
    git_init(repo)
    marker = tmp_path / "MARKER"
    command = f"sh -c 'echo ran >> {marker}'"
    with open(repo / ".git" / "config", "a") as config:
        config.write(
            f'[core]\n\tfsmonitor = "{command}"\n\thooksPath = {repo / ".git" / "evil-hooks"}\n\tpager = {command}\n'
            f'[filter "evil"]\n\tclean = {command}\n\tsmudge = {command}\n\tprocess = {command}\n'
            f'[diff]\n\texternal = {command}\n'
        )
    (repo / ".git" / "evil-hooks").mkdir()
    for hook in ("pre-commit", "post-checkout", "post-index-change", "fsmonitor-watchman", "reference-transaction"):
        (repo / ".git" / "evil-hooks" / hook).write_text(f"#!/bin/sh\necho ran >> {marker}\n")
        (repo / ".git" / "evil-hooks" / hook).chmod(0o755)
    (repo / ".gitattributes").write_text("* filter=evil diff=evil\n")
    (repo / ".gitignore").write_text("secret.env\n")
    (repo / "secret.env").write_text("API_KEY=hunter2\n")
    make_notes(repo / "notes", count=4)
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "git").write_text(f"#!/bin/sh\necho ran >> {marker}\nexit 1\n")
    (fake_bin / "git").chmod(0o755)

    env = cli_env(PATH=f"{fake_bin}{os.pathsep}{os.environ.get('PATH', '')}")
    result = subprocess.run([*CLI, "train", str(repo), "--model", "cloned", *TINY],
                            capture_output=True, text=True, env=env, timeout=180)
    assert result.returncode == 0, result.stderr
    assert not marker.exists(), "a command configured by the trained folder ran"
    assert "1 gitignored" in result.stdout  # secret.env: the rules were applied all the same
    assert "documents: 4 " in result.stdout


def test_ignore_rules_follow_gits_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Global excludes, .git/info/exclude, nested .gitignore files, negation, and a file in an
    ignored folder that cannot be re-included: as git decides, without git."""
    config_home = tmp_path / "xdg"
    (config_home / "git").mkdir(parents=True)
    (config_home / "git" / "ignore").write_text("*.bak\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config_home))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GIT_CONFIG_GLOBAL", raising=False)
    repo = tmp_path / "repo"
    repo.mkdir()
    git_init(repo)
    (repo / ".git" / "info").mkdir(exist_ok=True)
    (repo / ".git" / "info" / "exclude").write_text("local-only.txt\n")
    (repo / ".gitignore").write_text("*.log\nbuild/\n")
    (repo / "sub").mkdir()
    (repo / "sub" / ".gitignore").write_text("!keep.log\n/anchored.txt\n")
    (repo / "build").mkdir()
    (repo / "build" / ".gitignore").write_text("!*\n")  # cannot re-include: its folder is ignored
    for rel in ("a.txt", "a.bak", "local-only.txt", "x.log", "sub/keep.log", "sub/other.log",
                "sub/anchored.txt", "sub/deep/anchored.txt", "build/out.txt"):
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(rel)
    corpus = scan([repo])
    assert texts(corpus) == ["a.txt", "sub/deep/anchored.txt", "sub/keep.log"]
    assert corpus.skipped["gitignored"] == 6


GIT_RULES = {
    ".gitignore": "build\n*.log\n!important.log\n/top.txt\ndocs/**/secret*\nlogs/\n**/tmp\na/*/c.txt\n"
                  "\\#hash.txt\nspace\\ .txt\n*.bak\n!keep/*.bak\nkeep/\n!keep/\n",
    "src/.gitignore": "*.gen\n!ok.gen\n/local.txt\nnested/\n",
    "docs/.gitignore": "!secret-public.md\n",
}
GIT_FILES = [
    "build/x.txt", "src/build/y.txt", "a.log", "important.log", "src/important.log", "top.txt", "src/top.txt",
    "docs/secret1.md", "docs/x/y/secret2.md", "docs/secret-public.md", "logs/l.txt", "src/logs/m.txt",
    "x/tmp/t.txt", "tmp/u.txt", "a/b/c.txt", "a/b/d/c.txt", "#hash.txt", "space .txt", "f.bak", "keep/g.bak",
    "src/a.gen", "src/ok.gen", "src/local.txt", "src/sub/local.txt", "src/nested/n.txt", "src/sub/nested/n.txt",
    "plain.txt", "src/deep/er/file.gen",
]


def test_ignore_rules_agree_with_git_itself(tmp_path: Path) -> None:
    """The matcher against `git check-ignore` on a repository of our own making (the one
    place git runs: in the test, on a folder the test wrote)."""
    from charcomplete.learn.corpus import IgnoreRules

    repo = tmp_path / "repo"
    repo.mkdir()
    git_init(repo)
    for name, text in {**GIT_RULES, **{name: name for name in GIT_FILES}}.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    rules = IgnoreRules()
    ours = {name for name in GIT_FILES if rules.reason_to_skip(str(repo / name)) == "gitignored"}
    env = cli_env(GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1", XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    git = subprocess.run(["git", "-C", str(repo), "check-ignore", "--no-index", "--stdin", "-z"],
                         input="\0".join(GIT_FILES) + "\0", capture_output=True, text=True, env=env, timeout=30)
    theirs = {name for name in git.stdout.split("\0") if name}
    assert len(theirs) >= 15  # the fixture does ignore things
    assert ours == theirs


# --- item 9: what cannot be checked is skipped, and counted ---------------------------------------


def test_unreadable_ignore_rules_fail_closed(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git_init(repo)
    (repo / "open.txt").write_text("fine")
    (repo / "sub").mkdir()
    (repo / "sub" / "secret.env").write_text("API_KEY=hunter2")
    os.mkfifo(repo / "sub" / ".gitignore")  # exists, and cannot be read as rules
    corpus = scan([repo])
    assert texts(corpus) == ["open.txt"]
    assert corpus.skipped["ignore rules unreadable"] == 1

    # A `.git` file pointing nowhere (a broken worktree): nothing in it can be checked.
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / ".git").write_text("gitdir: /nonexistent/worktree\n")
    (broken / ".gitignore").write_text("secret.env\n")
    (broken / "secret.env").write_text("API_KEY=hunter2")
    (broken / "notes.txt").write_text("notes")
    corpus = scan([broken])
    assert corpus.documents == []
    assert corpus.skipped["ignore rules unreadable"] == 2
    assert "2 ignore rules unreadable" in corpus.skip_summary()


def test_a_repository_of_another_owner_is_still_filtered(tmp_path: Path) -> None:
    """git refuses such a repository ("dubious ownership") and ignored files leaked; the
    rules are now read as files, whoever owns the folder."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git_init(repo)
    (repo / ".gitignore").write_text("secret.env\n")
    (repo / "secret.env").write_text("API_KEY=hunter2")
    (repo / "notes.txt").write_text("notes")
    if os.geteuid() == 0:
        os.chown(repo, 12345, 12345)
        os.chown(repo / ".git", 12345, 12345)
    corpus = scan([repo])
    assert texts(corpus) == ["notes.txt"]
    assert corpus.skipped["gitignored"] == 1


# --- item 2 (the walker's part): links do not reopen what is excluded -----------------------------


def test_a_link_to_an_excluded_folder_does_not_reopen_it(tmp_path: Path) -> None:
    root = tmp_path / "notes"
    (root / "private").mkdir(parents=True)
    (root / "private" / "secret.txt").write_text("secret")
    (root / "diary.secret").write_text("secret")
    (root / "open.txt").write_text("open")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "h.txt").write_text("hidden")
    os.symlink("private", root / "current")  # ln -s private current
    os.symlink("private/secret.txt", root / "today.txt")
    os.symlink("diary.secret", root / "diary.txt")
    os.symlink(".hidden", root / "visible")
    corpus = scan([root], exclude=["private/", "*.secret"])
    assert texts(corpus) == ["open.txt"]
    assert corpus.skipped["excluded"] == 5  # private, diary.secret, and the three links into them
    assert corpus.skipped["hidden"] == 2


def test_train_does_not_follow_a_folder_link_out_of_the_tree(tmp_path: Path) -> None:
    outside = tmp_path / "system"
    outside.mkdir()
    (outside / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    notes = make_notes(tmp_path / "notes", count=4)
    os.symlink(outside, notes / "etc")  # notes/etc -> /etc
    result = subprocess.run([*CLI, "train", str(notes), "--model", "linked", *TINY],
                            capture_output=True, text=True, env=cli_env(), timeout=180)
    assert result.returncode == 0, result.stderr
    assert "documents: 4 " in result.stdout
    assert "1 link out of the folder" in result.stdout


def test_exclusion_rule_is_one_matcher() -> None:
    from charcomplete.core.exclusions import Exclusions

    assert Exclusions.of(["private/"]).path("/home/u/private/a/b.txt")
    assert Exclusions.of(["*.secret"]).path("/home/u/notes/diary.secret")
    assert Exclusions.of(["journal-*.md"]).path("/n/journal-1.md")
    assert not Exclusions.of(["private/", "*.secret"]).path("/n/notes/public.txt")
    assert not Exclusions.of([]).path("/anything")


def test_scan_keeps_its_signature(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    assert texts(scan(tmp_path, exclude=("b.txt",), max_file_bytes=10)) == ["a.txt"]


# --- shared: a small model written through the store (no torch needed) -----------------------------

SMALL = ModelConfig(cell="gru", embed=8, hidden=16, layers=1)


def save_small(name: str, optimizer: bool = False) -> Path:
    weights = random_weights(SMALL, scale=0.1)
    optim = {key: np.zeros_like(value) for key, value in weights.items()} if optimizer else None
    with store.lock_model(name):
        return store.save_model(name, SMALL, weights, {"steps": 1, "history": []}, optimizer=optim)


def cli(*args: str, timeout: float = 180, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=cli_env(), timeout=timeout, **kwargs)


# --- item 6: a lock file, a model folder or a model file that is a link --------------------------


def test_a_lock_file_that_is_a_link_is_never_followed(tmp_path: Path) -> None:
    folder = save_small("m")
    victim = tmp_path / "precious.txt"
    victim.write_text("do not truncate me\n")
    (folder / ".lock").unlink()
    os.symlink(victim, folder / ".lock")
    notes = make_notes(tmp_path / "notes", count=4)
    assert_one_clear_error(cli("train", str(notes), "--model", "m", "--resume", *TINY[:2]), "symbolic link")
    assert victim.read_text() == "do not truncate me\n"
    forget = cli("forget", "--all", "--yes")
    assert forget.returncode == 0, forget.stderr
    assert victim.read_text() == "do not truncate me\n"
    assert not folder.exists()


def test_a_lock_file_is_never_truncated(tmp_path: Path) -> None:
    folder = save_small("m")
    (folder / ".lock").write_text("someone's data\n")  # a hard link to another file would look like this
    with store.lock_model("m"):
        pass
    assert (folder / ".lock").read_text() == "someone's data\n"


def test_a_model_folder_that_is_a_link_is_refused(tmp_path: Path, charcomplete_home: Path) -> None:
    real = save_small("real")
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(real, elsewhere)
    (elsewhere / "keep.safetensors").write_bytes(b"someone else's file")
    os.symlink(elsewhere, store.models_root() / "evil")
    notes = make_notes(tmp_path / "notes", count=4)
    assert_one_clear_error(cli("train", str(notes), "--model", "evil", "--resume", *TINY), "symbolic link")
    assert_one_clear_error(cli("models", "info", "evil"), "symbolic link")
    assert (elsewhere / "keep.safetensors").read_bytes() == b"someone else's file"


def test_model_files_that_are_links_or_lead_out_are_refused(tmp_path: Path) -> None:
    folder = save_small("m", optimizer=True)
    meta = json.loads((folder / "meta.json").read_text())
    model = store.load_model("m")
    assert store.load_optimizer_state(model) is not None
    secret = tmp_path / "secret.safetensors"
    shutil.copy(folder / meta["optimizer"], secret)
    for hostile in ("../secret.safetensors", "/etc/passwd", ".hidden"):
        model.meta = dataclasses.replace(model.meta, optimizer=hostile)
        with pytest.raises(ModelError, match="optimizer state"):
            store.load_optimizer_state(model)
    weights = folder / meta["weights"]
    moved = tmp_path / "weights.safetensors"
    weights.rename(moved)
    os.symlink(moved, weights)
    with pytest.raises(ModelError, match="symbolic link"):
        store.load_model("m")


# --- item 7: what meta.json declares is bounded ---------------------------------------------------


def write_meta(folder: Path, **changes) -> None:
    meta = json.loads((folder / "meta.json").read_text())
    meta.update(changes)
    meta.pop("weights_sha256", None)
    (folder / "meta.json").write_text(json.dumps(meta))


def test_a_huge_declared_model_is_refused_before_anything_is_read(tmp_path: Path) -> None:
    folder = save_small("m")
    write_meta(folder, config={"cell": "gru", "embed": 64, "hidden": 8192, "layers": 8192, "dropout": 0.0})
    message = assert_one_clear_error(cli("models", "info", "m", timeout=60), "hidden must be a whole number")
    assert "MemoryError" not in message


def test_a_weights_file_larger_than_declared_is_refused_by_its_size_once(monkeypatch, tmp_path: Path) -> None:
    folder = save_small("m")
    config = {"cell": "gru", "embed": 64, "hidden": 2048, "layers": 4, "dropout": 0.0}
    write_meta(folder, config=config)
    weights = folder / json.loads((folder / "meta.json").read_text())["weights"]
    with open(weights, "wb") as handle:
        handle.truncate(3 * 2**30)  # sparse: 3 GB that cost nothing on disk
    opened = []
    real_open = open

    def counting_open(path, *args, **kwargs):
        if str(path) == str(weights):
            opened.append(path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", counting_open)
    started = time.monotonic()
    with pytest.raises(ModelError, match="larger than its configuration explains"):
        store.load_model("m")
    assert len(opened) == 1  # refused once, never read again
    assert time.monotonic() - started < 5  # by its size: reading 3 GB takes tens of seconds


def test_a_tiny_weights_file_under_a_large_declared_model_is_one_sentence() -> None:
    """A 1-byte weights file under a large declared model: read as the 1 byte it is (it was
    read with a buffer the size the model declared: MemoryError)."""
    folder = save_small("m")
    write_meta(folder, config={"cell": "gru", "embed": 64, "hidden": 4096, "layers": 2, "dropout": 0.0})
    weights = folder / json.loads((folder / "meta.json").read_text())["weights"]
    weights.write_bytes(b"x")
    with pytest.raises(ModelError, match="not a valid safetensors"):
        store.load_model("m")


def test_the_command_line_caps_the_model_size_the_same_way(tmp_path: Path) -> None:
    notes = make_notes(tmp_path / "notes", count=2)
    assert_one_clear_error(cli("train", str(notes), "--hidden", "8192", "--layers", "8192", timeout=60), "hidden")
    assert_one_clear_error(cli("train", str(notes), "--hidden", "4096", "--layers", "16", timeout=60), "parameters")
    assert not (store.models_root() / "mine").exists()  # refused before the model's folder was made
    with pytest.raises(ValueError, match="parameters"):
        ModelConfig(cell="lstm", embed=4096, hidden=4096, layers=16)


# --- item 8: every JSON reader refuses in one sentence and keeps serving ------------------------------


def strict_json(line: str) -> object:
    def refuse(name):
        raise AssertionError(f"{name} is not JSON")

    return json.loads(line, parse_constant=refuse)


def test_complete_lines_refuses_hostile_requests_and_keeps_serving() -> None:
    requests = [
        "[" * 1000,
        "[" * 100_000,
        '{"text": "a", "id": 1e400}',
        '{"text": "a", "id": NaN}',
        '{"text": "a", "max_chars": ' + "9" * 5000 + "}",
        '{"text": "a", "id": ' + "1" * 5000 + "}",
        '{"text": "a", "id": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}',
        '{"text": "The quick bro", "id": 7}',
    ]
    result = subprocess.run([*CLI, "complete", "--lines"], input="\n".join(requests) + "\n", capture_output=True,
                            text=True, env=cli_env(), timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    answers = [strict_json(line) for line in result.stdout.splitlines()]
    assert len(answers) == len(requests)
    assert all("error" in answer for answer in answers[:-1])
    assert answers[-1]["id"] == 7 and "completion" in answers[-1]


def test_a_huge_integer_in_one_meta_json_leaves_the_others_listed() -> None:
    save_small("good")
    bad = save_small("bad")
    (bad / "meta.json").write_text((bad / "meta.json").read_text().replace('"steps": 1', '"steps": ' + "9" * 5000))
    result = cli("models", timeout=60)
    assert result.returncode == 0, result.stderr
    assert "good" in result.stdout and "damaged" in result.stdout
    assert_one_clear_error(cli("models", "info", "bad", timeout=60), "damaged")


def test_a_huge_integer_in_settings_json_keeps_complete_and_models_working(charcomplete_home: Path) -> None:
    settings = store.locations().settings_file
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text('{"model": "default", "n": ' + "9" * 5000 + "}")
    result = subprocess.run([*CLI, "complete"], input="The quick bro", capture_output=True, text=True,
                            env=cli_env(), timeout=60)
    assert result.returncode == 0, result.stderr
    assert cli("models", timeout=60).returncode == 0
    # train reads its exclusions from it: a damaged file stops it in one sentence rather than drop them.
    assert_one_clear_error(cli("train", str(charcomplete_home), timeout=60), "settings file")


def test_a_string_dropout_on_resume_is_one_sentence(tmp_path: Path) -> None:
    folder = save_small("m")
    write_meta(folder, config={**SMALL.to_dict(), "dropout": "0.5"})
    notes = make_notes(tmp_path / "notes", count=2)
    assert_one_clear_error(cli("train", str(notes), "--model", "m", "--resume", *TINY, timeout=60), "dropout")


def test_a_damaged_journal_is_not_offered_and_does_not_crash(tmp_path: Path) -> None:
    from charcomplete.editor.journal import Journal

    document = tmp_path / "doc.md"
    document.write_text("saved\n")
    journal = Journal(document, session="999999999-aaaaaa")  # no such process: its journal is "left behind"
    journal.path.parent.mkdir(parents=True, exist_ok=True)
    start = json.dumps({"document": str(document), "text": "x"})[:-1]
    for damaged in (start + ', "saved_at": ' + "9" * 5000 + "}", start + ', "saved_at": 1e400}',
                    "[" * 100_000, '{"text": ' * 5000):
        journal.path.write_text(damaged)
        reader = Journal(document)
        assert reader.read(journal.path) is None
        assert reader.recoverable("saved\n") is None


# --- item 10: SIGTERM and SIGHUP keep the best model ---------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_keeps_the_best_model(tmp_path: Path, charcomplete_home: Path, sig) -> None:
    notes = make_notes(tmp_path / "notes", count=8)
    process = subprocess.Popen(
        [*CLI, "train", str(notes), "--model", "t", "--minutes", "10", "--eval-every", "0.5",
         "--hidden", "32", "--embed", "8", "--batch-size", "8", "--seq-len", "32"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(),
    )
    deadline = time.monotonic() + 90
    seen = ""
    while time.monotonic() < deadline and "step" not in seen:
        seen += process.stderr.readline()
    assert "step" in seen, seen
    process.send_signal(sig)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert f"stopped by {sig.name}" in out
    assert "Traceback" not in err
    meta = json.loads((charcomplete_home / "data" / "models" / "t" / "meta.json").read_text())
    assert meta["steps"] >= 1


# --- Low ---------------------------------------------------------------------------------------------


def test_a_model_name_with_a_final_newline_is_refused() -> None:
    with pytest.raises(ModelError):
        store.check_name("evil\n")
    assert_one_clear_error(cli("train", "/nonexistent", "--model", "evil\n", timeout=60), "not a valid model name")


def test_seed_and_temperature_out_of_range_are_one_sentence(tmp_path: Path) -> None:
    for args in (["--seed", "-1"], ["--temperature", "nan"], ["--temperature", "inf"]):
        result = subprocess.run([*CLI, "complete", "--sample", *args], input="The", capture_output=True, text=True,
                                env=cli_env(), timeout=60)
        assert_one_clear_error(result, "complete: argument")
    notes = make_notes(tmp_path / "notes", count=2)
    assert_one_clear_error(cli("train", str(notes), "--seed", "-1", timeout=60), "--seed")


def test_a_full_or_closed_stdout_is_one_sentence() -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("needs /dev/full")
    with open("/dev/full", "w") as full:
        for args in (["complete"], ["models"]):
            result = subprocess.run([*CLI, *args], input="The quick", stdout=full, stderr=subprocess.PIPE,
                                    text=True, env=cli_env(), timeout=60)
            assert_one_clear_error(result, "No space left on device")
    closed = subprocess.run([*CLI, "complete"], input="The quick", stdout=None, stderr=subprocess.PIPE, text=True,
                            env=cli_env(), timeout=60, preexec_fn=lambda: os.close(1))
    assert_one_clear_error(closed, "standard output is closed")


def test_refusals_are_charcomplete_errors() -> None:
    assert issubclass(ModelError, CharcompleteError)


def test_a_fifo_or_a_huge_settings_file_never_blocks_or_fills_memory(charcomplete_home: Path) -> None:
    settings = store.locations().settings_file
    settings.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(settings)  # read, it would wait for a writer forever
    result = subprocess.run([*CLI, "complete"], input="The quick", capture_output=True, text=True,
                            env=cli_env(), timeout=60)
    assert result.returncode == 0, result.stderr
    settings.unlink()
    with open(settings, "wb") as handle:
        handle.truncate(2**40)  # 1 TB, sparse
    assert cli("models", timeout=60).returncode == 0
    assert_one_clear_error(cli("train", str(charcomplete_home), timeout=60), "settings file")


def test_what_the_store_writes_its_readers_accept() -> None:
    """Readers refuse NaN and Infinity, so a model saved with a non-finite figure (a
    validation that overflowed) is written as strict JSON, not left unreadable."""
    weights = random_weights(SMALL)
    with store.lock_model("m"):
        folder = store.save_model("m", SMALL, weights, {"best_val_bpc": float("inf"),
                                                        "history": [{"val_bpc": float("nan"), "step": 1}]})
    strict_json((folder / "meta.json").read_text())
    model = store.load_model("m")
    assert model.meta.best_val_bpc is None and model.meta.history[0]["val_bpc"] is None


async def test_the_editor_starts_with_a_damaged_journal_beside_its_document(tmp_path: Path) -> None:
    from charcomplete.editor import EditorApp
    from charcomplete.editor.journal import Journal
    from charcomplete.model.engine import Engine

    document = tmp_path / "doc.md"
    document.write_text("saved\n")
    journal = Journal(document, session="999999999-bbbbbb")  # a dead session's journal, damaged
    journal.path.parent.mkdir(parents=True, exist_ok=True)
    record = json.dumps({"document": str(document), "text": "x"})[:-1]
    journal.path.write_text(record + ', "saved_at": ' + "9" * 5000 + "}")
    app = EditorApp(document, Engine.load("default"), learn=False, cache=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.editor.text == "saved\n"


def test_compare_sizes_its_cells_within_the_model_limits(tmp_path: Path) -> None:
    from charcomplete.evaluate.comparison import MAX_COMPARE_HIDDEN, matched_configs

    configs = matched_configs(MAX_COMPARE_HIDDEN)  # the widest it accepts: the RNN still fits the limits
    assert configs["rnn"].hidden > MAX_COMPARE_HIDDEN
    notes = make_notes(tmp_path / "notes", count=2)
    assert_one_clear_error(cli("compare", str(notes), "--hidden", "4096", timeout=60), "--hidden must be from 1 to")
