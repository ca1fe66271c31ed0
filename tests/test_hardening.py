"""Issue 14's attack run, each finding pinned: no command from a corpus runs, ignore rules
fail closed, links do not reopen excluded folders, hostile JSON and model files stay
bounded, a stopped `train` keeps its best model."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from charcomplete.corpus import scan
from tests.conftest import CLI, cli_env, make_notes

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


def test_exclusion_rule_is_one_public_function() -> None:
    from charcomplete.corpus import is_excluded

    assert is_excluded("private/a/b.txt", ["private/"])
    assert is_excluded("notes/diary.secret", ["*.secret"])
    assert is_excluded("journal-1.md", ["journal-*.md"])
    assert not is_excluded("notes/public.txt", ["private/", "*.secret"])
    assert not is_excluded("anything", [])


def test_scan_keeps_its_signature(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    assert texts(scan(tmp_path, exclude=("b.txt",), max_file_bytes=10)) == ["a.txt"]
