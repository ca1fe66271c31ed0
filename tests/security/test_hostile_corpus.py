"""`charcomplete train` on a folder of odd files, as a real subprocess: it finishes, never
blocks or crashes, and its summary counts every skipped entry by reason."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections import Counter

import pytest

from tests.faultkit import permission_bits_bind
from tests.helpers import CLI, cli_env, make_notes

GIB = 2**30


def test_train_on_odd_files_finishes_and_counts_every_skip(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    try:
        as_user = permission_bits_bind()
        can_lock_out = True
    except OSError:
        # Root that cannot give up its override reads mode-000 files: those two entries are left out.
        as_user, can_lock_out = None, False
    env = cli_env(GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1")
    root = tmp_path / "corpus"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True, timeout=30, env=env)
    make_notes(root / "notes", count=6)
    (root / "latin1.txt").write_bytes(b"caf\xe9 cr\xe8me br\xfbl\xe9e, invalid UTF-8 kept as bytes\n")
    (root / "utf16.txt").write_bytes("héllo wörld, UTF-16 with a BOM\n".encode("utf-16"))
    expected = Counter()

    (root / "nul.txt").write_bytes(b"text with a NUL\x00 in it")
    expected["binary"] += 1
    with open(root / "huge.txt", "wb") as handle:
        handle.truncate(GIB)  # sparse: 1 GB that, read, would also be "binary" (all NUL); its size alone rules it out
    expected["too large"] += 1
    os.symlink("loop-b", root / "loop-a")
    os.symlink("loop-a", root / "loop-b")
    os.symlink("..", root / "notes" / "up")  # a folder link back to its own ancestor
    expected["symlink loop"] += 3
    os.symlink(root / "gone", root / "dangling")
    expected["dangling link"] += 1
    os.mkfifo(root / "fifo")  # opened for reading, it would wait for a writer forever
    expected["not a regular file"] += 1
    # Links out of the trained folder are never followed: read, /dev/zero would never end and
    # /proc/self/mem fails even for root.
    os.symlink("/dev/zero", root / "zero")
    os.symlink("/proc/self/mem", root / "mem")
    expected["link out of the folder"] += 2
    if can_lock_out:
        # Mode 000 binds the subprocess even as root: permission_bits_bind drops root's override.
        (root / "locked.txt").write_text("secret")
        (root / "locked").mkdir()
        (root / "locked" / "inner.txt").write_text("secret")
        (root / "locked.txt").chmod(0)
        (root / "locked").chmod(0)
        expected["unreadable"] += 2
    (root / ".hidden.txt").write_text("hidden")
    (root / ".gitignore").write_text("*.log\n")
    expected["hidden"] += 3  # .git, .gitignore, .hidden.txt
    (root / "debug.log").write_text("ignored by git")
    expected["gitignored"] += 1
    (root / "empty.txt").write_bytes(b"")
    expected["empty"] += 1
    (root / "drafts").mkdir()
    (root / "drafts" / "draft.md").write_text("kept out by --exclude")
    expected["excluded"] += 1

    try:
        result = subprocess.run(
            [*CLI, "train", str(root), "--model", "odd", "--steps", "2", "--hidden", "16", "--embed", "8",
             "--batch-size", "4", "--seq-len", "16", "--exclude", "drafts"],
            capture_output=True, text=True, env=env, timeout=180, preexec_fn=as_user,
        )
    finally:
        for path in (root / "locked.txt", root / "locked"):
            if path.exists():
                path.chmod(0o700)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("documents:"))
    assert line.startswith("documents: 8 "), line  # six notes, the Latin-1 and the UTF-16 file
    total = sum(expected.values())
    summary = re.search(r"skipped (\d+) files: (.*)$", line)
    assert summary, line
    counted = Counter({reason: int(n) for n, reason in re.findall(r"(\d+) ([a-z ]+?)(?:,|$)", summary.group(2))})
    assert counted == expected, line
    assert int(summary.group(1)) == total
