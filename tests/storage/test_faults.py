"""Nothing lost: model saves killed at random moments, disks that fill up, writes that are
refused, and two writers of one model at once.

The faults are real where the system allows: SIGKILL, RLIMIT_FSIZE (EFBIG), a full tmpfs
in a private mount namespace (ENOSPC), a read-only folder that binds even root (EACCES),
flock. ENOSPC at fsync is simulated by a patched os.fsync, the one fault made up."""

from __future__ import annotations

import errno
import importlib.util
import json
import os
import random
import resource
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from charcomplete.core.config import ModelConfig
from charcomplete.core.errors import CharcompleteError
from charcomplete.storage import store
from charcomplete.storage.atomic import TEMP_MARK, remove_stale_temps
from tests.faultkit import permission_bits_bind, snapshot
from tests.helpers import CLI, assert_one_clear_error, cli_env, make_notes, random_weights

ROOT = Path(__file__).resolve().parents[2]
# The shape `charcomplete train --resume` keeps: its weights file (58 KB) is larger than the
# 16 KB file-size limit below, its metadata much smaller.
RESUMABLE = ModelConfig(cell="gru", embed=8, hidden=32, layers=1)
TRAIN_FAST = ["--steps", "2", "--batch-size", "4", "--seq-len", "16", "--eval-every", "1000"]


def _load_crash_stress():
    spec = importlib.util.spec_from_file_location("crash_stress", ROOT / "benchmarks" / "crash_stress.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


crash_stress = _load_crash_stress()


def run(*args: str, timeout: float = 180, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=kw.pop("env", cli_env()),
                          timeout=timeout, **kw)


def resumable_model(name: str = "m") -> Path:
    """A model `train --resume` can continue, saved the way train saves (with its lock)."""
    with store.lock_model(name):
        store.save_model(name, RESUMABLE, random_weights(RESUMABLE), {"steps": 5, "history": []})
    return store.model_folder(name)


# ---------------------------------------------------------------- 1. crash during a save


def _kill_trials(trials: int, seed: int) -> list:
    with store.lock_model(crash_stress.MODEL):
        crash_stress.save("A")
    rng = random.Random(seed)
    results = [crash_stress.run_trial(rng) for _ in range(trials)]
    problems = [r.problem for r in results if r.problem]
    unclean = [r.unclean for r in results if r.unclean]
    assert problems == [], problems  # files lost: zero
    assert unclean == [], unclean  # every kill's debris cleaned up by the next save
    assert all(r.killed for r in results)
    return results


def test_killed_saves_never_lose_the_model():
    results = _kill_trials(10, seed=1)
    # The kills are not all between saves: most catch a save half-way and leave debris.
    assert sum(bool(r.debris) for r in results) >= 1, [r.debris for r in results]


@pytest.mark.slow
def test_killed_saves_never_lose_the_model_100_trials():
    results = _kill_trials(100, seed=2)
    assert sum(bool(r.debris) for r in results) >= 20


def test_debris_of_a_dead_writer_is_ignored_then_cleaned_by_the_next_save():
    folder = resumable_model()
    meta_before = store.load_meta("m")[0]
    # What a writer killed at various points leaves: temp files of each file a save writes,
    # and a whole generation written but never committed. All fresh: it died a moment ago.
    debris = [f".weights-0123456789ab.safetensors{TEMP_MARK}x1", f".meta.json{TEMP_MARK}x2",
              "weights-0123456789ab.safetensors", "optim-0123456789ab.safetensors"]
    for name in debris:
        (folder / name).write_bytes(b"\x80\x04 half-written or uncommitted")
    assert store.load_model("m").meta["weights"] == meta_before["weights"]  # loading ignores all of it
    with store.lock_model("m"):
        store.save_model("m", RESUMABLE, random_weights(RESUMABLE, 1), {"steps": 6})
    meta = store.load_meta("m")[0]
    assert sorted(p.name for p in folder.iterdir()) == sorted([".lock", "meta.json", meta["weights"]])
    # Outside a locked model folder a young temp file may be a live writer's: kept until it is a minute old.
    (folder / f".x{TEMP_MARK}live").write_bytes(b"")
    assert remove_stale_temps(folder) == 0
    os.utime(folder / f".x{TEMP_MARK}live", (time.time() - 61, time.time() - 61))
    assert remove_stale_temps(folder) == 1


# ---------------------------------------------------------------- 2. disk full and write errors


def _fail_fsync(monkeypatch, nth: int | None = None) -> list[int]:
    """Make the nth fsync of a regular file (every one when None) raise ENOSPC, the way a full
    disk reports a write it had accepted into the page cache (delayed allocation, NFS, quotas)."""
    real_fsync = os.fsync
    calls = []

    def fsync(fd: int) -> None:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            calls.append(fd)
            if nth is None or len(calls) == nth:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return calls


@pytest.mark.parametrize("failing", [1, 2, 3], ids=["weights", "optimizer", "meta.json"])
def test_disk_full_at_any_file_of_a_save_keeps_the_old_model(monkeypatch, failing):
    folder = resumable_model()
    before = snapshot(folder)
    with monkeypatch.context() as patch, pytest.raises(OSError) as raised, store.lock_model("m"):
        _fail_fsync(patch, failing)
        store.save_model("m", RESUMABLE, random_weights(RESUMABLE, 9), {"steps": 9}, random_weights(RESUMABLE, 3))
    assert raised.value.errno == errno.ENOSPC
    assert snapshot(folder) == before  # old model intact, and no half-written successor left taking space
    assert store.load_model("m").meta["steps"] == 5


def _tiny_plan(tmp_path, **kw):
    from charcomplete.learn import corpus
    from charcomplete.learn.plan import Budget, TrainPlan
    from charcomplete.storage.meta import ModelMeta

    scanned = corpus.scan([make_notes(tmp_path / "notes", count=6)])
    train_docs, val_docs = corpus.split(scanned.documents)
    options = dict(budget=Budget(steps=8), batch_size=4, seq_len=16, device="cpu", eval_every_s=0.0,
                   checkpoint_every_s=0.0, meta=ModelMeta(steps=5), weights=random_weights(RESUMABLE))
    options.update(kw)
    return TrainPlan(name="m", config=RESUMABLE, train_data=corpus.encode(train_docs),
                     val_data=corpus.encode(val_docs), **options)


def test_failed_checkpoints_are_reported_once_and_training_goes_on(tmp_path, monkeypatch):
    from charcomplete.learn.training import train_model

    resumable_model()
    real_save = store.save_model
    attempts = []

    def failing_twice(*args, **kw):
        attempts.append(args[0])
        if len(attempts) <= 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(*args, **kw)

    monkeypatch.setattr(store, "save_model", failing_twice)
    warnings = []
    result = train_model(_tiny_plan(tmp_path), warn=warnings.append)
    assert result.steps_run == 8  # the failures did not stop training
    assert len(attempts) >= 3  # retried at the next checkpoints, then saved
    assert warnings == ["could not save model 'm': No space left on device; the previous version is kept; "
                        "training goes on and tries again at the next checkpoint"]
    saved = store.load_model("m")
    assert saved.meta["best_val_bpc"] == pytest.approx(result.best_val_bpc)
    assert saved.meta["steps"] == result.total_steps


def test_final_save_failing_is_one_sentence_and_keeps_the_old_model(tmp_path, monkeypatch):
    from charcomplete.learn.training import train_model

    folder = resumable_model()
    before = snapshot(folder)
    warnings = []
    with monkeypatch.context() as patch, pytest.raises(CharcompleteError) as raised:
        _fail_fsync(patch)  # every save fails, checkpoints and the final one
        train_model(_tiny_plan(tmp_path), warn=warnings.append)
    assert str(raised.value) == "could not save model 'm': No space left on device; the previous version is kept"
    assert len(warnings) == 1
    assert snapshot(folder) == before


def test_train_reports_file_too_large_in_one_sentence(tmp_path):
    """A real EFBIG: the file-size limit stops the weights file half-written."""
    folder = resumable_model()
    before = snapshot(folder)
    notes = make_notes(tmp_path / "notes", count=6)
    limit = 16 * 1024

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))  # Python ignores SIGXFSZ: writes get EFBIG

    result = run("train", str(notes), "--model", "m", "--resume", *TRAIN_FAST, preexec_fn=small_files)
    line = assert_one_clear_error(result, "", only_line=False)
    assert line == "charcomplete: could not save model 'm': File too large; the previous version is kept"
    assert snapshot(folder) == before


@pytest.mark.slow  # the default run covers ENOSPC with a simulated fsync failure, and the CLI's sentence with EFBIG
def test_train_on_a_really_full_disk_keeps_the_old_model(tmp_path):
    """A real ENOSPC: the model lives on a 1 MB tmpfs, mounted in a private mount namespace and filled up."""
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare(1) to mount a small tmpfs")
    probe = subprocess.run(["unshare", "--mount", "mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(tmp_path)],
                           capture_output=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs CAP_SYS_ADMIN): {probe.stderr.decode().strip()}")
    resumable_model()
    prepared = Path(os.environ["CHARCOMPLETE_HOME"])
    notes = make_notes(tmp_path / "notes", count=6)
    disk, after = tmp_path / "disk", tmp_path / "after"
    disk.mkdir()
    # Fill the disk, then free 32 KB: room for the lock file, not for the 58 KB weights.
    script = f"""
set -u
mount -t tmpfs -o size=1m,mode=0700 tmpfs {disk}
cp -a {prepared}/. {disk}/
dd if=/dev/zero of={disk}/fill bs=4k 2>/dev/null
truncate -s -32k {disk}/fill
CHARCOMPLETE_HOME={disk} {sys.executable} -m charcomplete train {notes} --model m --resume {' '.join(TRAIN_FAST)}
echo "exit=$?" >&2
cp -a {disk}/data/models/m {after}
"""
    result = subprocess.run(["unshare", "--mount", "sh", "-c", script], capture_output=True, text=True,
                            env=cli_env(), timeout=180)
    assert "exit=1" in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("charcomplete:")]
    assert errors == ["charcomplete: could not save model 'm': No space left on device; the previous version is kept"]
    assert "Traceback" not in result.stderr
    assert snapshot(after) == snapshot(prepared / "data" / "models" / "m")


def test_train_into_a_read_only_folder_keeps_the_old_model(tmp_path):
    """A real EACCES: a model folder without write permission, binding root too (see permission_bits_bind)."""
    try:
        as_user = permission_bits_bind()
    except OSError as error:
        pytest.skip(str(error))
    folder = resumable_model()
    before = snapshot(folder)
    notes = make_notes(tmp_path / "notes", count=6)
    folder.chmod(0o500)
    try:
        result = run("train", str(notes), "--model", "m", "--resume", *TRAIN_FAST, preexec_fn=as_user)
    finally:
        folder.chmod(0o700)
    line = assert_one_clear_error(result, "", only_line=False)
    assert line == "charcomplete: could not save model 'm': Permission denied; the previous version is kept"
    assert snapshot(folder) == before
    # A new model where the models folder itself is read-only: refused before any training.
    root = store.models_root()
    root.chmod(0o500)
    try:
        result = run("train", str(notes), "--model", "new", *TRAIN_FAST, preexec_fn=as_user)
    finally:
        root.chmod(0o700)
    assert_one_clear_error(result, f"cannot write model 'new' in {root}: Permission denied")


# ---------------------------------------------------------------- 3. concurrent writers


HOLD_LOCK = """
import sys, time
from charcomplete.storage import store
lock = store.lock_model(sys.argv[1])
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
"""


def _hold_lock(name: str, seconds: float) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, name, str(seconds)], stdout=subprocess.PIPE,
                              text=True, env=cli_env())
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_train_waits_ten_seconds_for_another_writer_then_refuses(tmp_path):
    notes = make_notes(tmp_path / "notes", count=4)
    holder = _hold_lock("m", 120)
    try:
        started = time.monotonic()
        result = run("train", str(notes), "--model", "m", *TRAIN_FAST)
        waited = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    assert_one_clear_error(result, "another charcomplete process is writing model 'm'; wait for it to finish")
    assert waited >= 10.0
    assert not store.model_exists("m")


@pytest.mark.slow
def test_train_goes_ahead_when_the_other_writer_finishes_in_time(tmp_path):
    notes = make_notes(tmp_path / "notes", count=4)
    holder = _hold_lock("m", 3)
    result = run("train", str(notes), "--model", "m", *TRAIN_FAST)
    holder.wait(timeout=60)
    assert result.returncode == 0, result.stderr
    assert len(store.load_model("m").meta["history"]) == 2  # a validation before and after: the run's own save


@pytest.mark.slow
def test_two_trains_on_one_model_take_turns(tmp_path):
    """Both resume the same model at once: the lock makes them take turns, so the second
    continues from what the first saved (no update lost), or it refuses after 10 s."""
    notes = make_notes(tmp_path / "notes", count=6)
    folder = resumable_model()
    command = [*CLI, "train", str(notes), "--model", "m", "--resume", *TRAIN_FAST]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env())
            for _ in range(2)]
    outcomes = [process.communicate(timeout=300) + (process.returncode,) for process in runs]
    succeeded = sum(code == 0 for _, _, code in outcomes)
    for _, err, code in outcomes:
        assert "Traceback" not in err
        if code != 0:
            assert "another charcomplete process is writing model 'm'" in err, err
    assert succeeded >= 1
    loaded = store.load_model("m")
    # Each run adds two validation points to the history it started from: the second run
    # started from the first one's save, or its save would hold two points, not four.
    assert len(loaded.meta["history"]) == 2 * succeeded
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [".lock", "meta.json", loaded.meta["weights"], loaded.meta["optimizer"]])
    # Two runs creating the same new model: one creates it, the other never overwrites it.
    command = [*CLI, "train", str(notes), "--model", "fresh", *TRAIN_FAST]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env())
            for _ in range(2)]
    outcomes = [process.communicate(timeout=300) + (process.returncode,) for process in runs]
    assert sorted(code == 0 for _, _, code in outcomes) == [False, True]
    loser = next(err for _, err, code in outcomes if code != 0)
    assert "already exists" in loser or "another charcomplete process is writing" in loser, loser
    assert len(json.loads((store.model_folder("fresh") / "meta.json").read_text())["history"]) == 2
