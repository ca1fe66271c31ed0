"""A document saved by the editor's save path survives SIGKILL at any moment: afterwards the
file is the old version or the new one, whole, with its mode; crash leftovers are removed."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from charcomplete.storage.documents import remove_own_stale_temps, write_document

OLD = "".join(f"old line {i}: the quick brown fox\n" for i in range(20_000))
NEW = "".join(f"new line {i}: jumps over the lazy dog\n" for i in range(20_000))

SAVER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from charcomplete.storage.documents import write_document
    path = Path(sys.argv[1])
    texts = [Path(sys.argv[2]).read_text(), Path(sys.argv[3]).read_text()]
    print("ready", flush=True)
    i = 0
    while True:
        write_document(path, texts[i % 2])
        i += 1
    """
)


def crash_trials(tmp_path, trials: int, seed: int = 0) -> dict:
    rng = random.Random(seed)
    (tmp_path / "old.txt").write_text(OLD)
    (tmp_path / "new.txt").write_text(NEW)
    doc = tmp_path / "notes" / "today.md"
    doc.parent.mkdir()
    doc.write_text(OLD)
    os.chmod(doc, 0o640)
    lost = 0
    for _ in range(trials):
        saver = subprocess.Popen([sys.executable, "-c", SAVER, str(doc), str(tmp_path / "old.txt"),
                                  str(tmp_path / "new.txt")], stdout=subprocess.PIPE, text=True)
        saver.stdout.readline()  # "ready": killed from here on, mid-save or between saves
        time.sleep(rng.uniform(0.0, 0.05))
        saver.send_signal(signal.SIGKILL)
        saver.wait()
        text = doc.read_text()
        lost += text not in (OLD, NEW)
        assert (doc.stat().st_mode & 0o777) == 0o640
    leftovers = [p for p in doc.parent.iterdir() if p != doc]
    assert all(p.name.startswith(".today.md.tmp-") for p in leftovers), leftovers
    for path in leftovers:  # age them past the threshold: the next save removes them
        os.utime(path, (time.time() - 3600, time.time() - 3600))
    write_document(doc, NEW)
    return {"trials": trials, "lost": lost, "left_after_next_save": len(list(doc.parent.iterdir())) - 1}


def test_document_survives_sigkill_during_save(tmp_path):
    result = crash_trials(tmp_path, trials=10)
    assert result == {"trials": 10, "lost": 0, "left_after_next_save": 0}


@pytest.mark.slow
def test_document_survives_sigkill_during_save_100_trials(tmp_path):
    result = crash_trials(tmp_path, trials=100, seed=1)
    assert result == {"trials": 100, "lost": 0, "left_after_next_save": 0}


def test_a_recent_temp_file_is_left_to_its_writer(tmp_path):
    doc = tmp_path / "a.md"
    doc.write_text("x")
    fresh = tmp_path / ".a.md.tmp-abc"
    fresh.write_text("being written")
    other = tmp_path / ".b.md.tmp-abc"
    other.write_text("another document's")
    os.utime(other, (0, 0))
    assert remove_own_stale_temps(doc) == 0
    assert fresh.exists() and other.exists()


def test_a_symlinked_document_keeps_its_link(tmp_path):
    real = tmp_path / "real.md"
    real.write_text("old")
    link = tmp_path / "link.md"
    link.symlink_to(real)
    assert write_document(link, "new") == real
    assert link.is_symlink() and real.read_text() == "new"
