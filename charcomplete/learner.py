"""The background learner: a separate process that keeps fine-tuning the model in use
on the user's own text while they type, and publishes better weights now and then.

Why a process and not a thread: the Python parts of a training loop hold the GIL and
would stall typing in the editor (see DESIGN.md). The process is started with
multiprocessing "spawn" (a clean interpreter: nothing of the editor's state, no
forked threads), at lowered priority and with one torch thread, so the editor keeps a
core to itself.

What it learns from: the document being edited gets most updates (`user_share`), half
of them cut from its last few kilobytes, where the user is writing; the rest come from
the folders the model was trained on (its meta["sources"], loaded up to a cap), so that
adapting to today's document does not make it forget the rest of the user's writing.

When it publishes: every `publish_every_s` (and when told to stop), and only if the new
weights are not worse than the last published ones on the document's recent text (nor
worse by more than `forget_tolerance_bpc` on the sources); worse weights are rolled
back. It writes with `store.save_model` under the model's lock; when `charcomplete
train` holds the lock, that publish is skipped ("busy"). Learning on the built-in model
publishes into a user model named "default", which shadows it from then on.

This module is imported by the editor to start the process, so it must stay torch-free
at module level: torch is imported only inside `run`, in the child.

Protocol (plain picklable values over two multiprocessing queues):
    editor -> learner   ("text", str)  the whole document, when it changed
                        ("pause",) ("resume",) ("publish",) ("stop",)
    learner -> editor   {"kind": "ready" | "progress" | "published" | "kept" | "busy"
                         | "rebased" | "stopped" | "error", ...}
"""

from __future__ import annotations

import math
import multiprocessing
import os
import queue
import signal
import sys
import time
from dataclasses import dataclass

LOG_NAME = "learner.log"  # under locations().state: the child's stdout/stderr, last session only


@dataclass(frozen=True)
class LearnerSettings:
    publish_every_s: float = 25.0  # publish improved weights this often...
    publish_every_steps: int = 0  # ...or after this many updates (0: time only)
    batch: int = 16  # lanes per update
    seq_len: int = 64  # characters per lane per update
    lr: float = 5e-4  # gentle: the model already knows the user's folders; it should adapt, not forget
    warmup_steps: int = 20  # a fresh optimizer's first steps are the least reliable
    user_share: float = 0.7  # share of updates taken from the document at hand (the rest: the model's sources)
    recent_bytes: int = 4096  # the document's latest text: sampled most, and what a publish is judged on
    background_bytes: int = 2_000_000  # cap on the text loaded from the folders the model was trained on
    background_file_bytes: int = 1_000_000  # files larger than this in those folders are left out
    forget_tolerance_bpc: float = 0.1  # a publish may cost the sources at most this much
    idle_steps: int = 300  # updates made after the text stopped changing, then rest until it changes
    lock_timeout_s: float = 0.5  # a busy model lock (`charcomplete train`) skips a publish, never waits long
    progress_every_s: float = 1.0
    threads: int = 1
    nice: int = 10
    seed: int = 0


# ---------------------------------------------------------------- editor side


def prepare() -> None:
    """Start multiprocessing's resource tracker now, while sys.stderr is still the real one.

    The tracker is started on first use and hands our stderr's file descriptor to its
    process; once Textual runs, sys.stderr is a capture object with no descriptor and
    starting a learner fails ("bad value(s) in fds_to_keep"). Call before the app runs."""
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()


class Learner:
    """The editor's handle on the learner process. Never blocks for long except `stop`."""

    def __init__(self, model_name: str, settings: LearnerSettings | None = None):
        self.model_name = model_name
        self.settings = settings or LearnerSettings()
        context = multiprocessing.get_context("spawn")
        self._inbox = context.Queue()
        self._outbox = context.Queue()
        # daemon: should the editor die without stopping it, multiprocessing ends it at exit.
        self.process = context.Process(
            target=run,
            args=(model_name, self.settings, self._inbox, self._outbox),
            name="charcomplete-learner",
            daemon=True,
        )
        self.stopped = False
        self.ready = False  # it said "ready": torch is imported and the model loaded
        self._pending: list[dict] = []  # messages read by `stop`, kept for the next `poll`
        self._names_released = False  # see charcomplete.ipc: nothing left in /dev/shm if we die hard

    def start(self) -> Learner:
        self.process.start()
        return self

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def is_alive(self) -> bool:
        return self.process.is_alive()

    def exit_description(self) -> str:
        code = self.process.exitcode
        if code is None:
            return "still running"
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exit status {code}"

    def _send(self, message: tuple) -> None:
        if not self.stopped and self.process.is_alive():
            self._inbox.put(message)

    def send_text(self, text: str) -> None:
        self._send(("text", text))

    def pause(self) -> None:
        self._send(("pause",))

    def resume(self) -> None:
        self._send(("resume",))

    def publish_now(self) -> None:
        self._send(("publish",))

    def poll(self) -> list[dict]:
        """Every message the learner has sent since the last poll."""
        messages, self._pending = self._pending, []
        while True:
            try:
                message = self._outbox.get_nowait()
            except queue.Empty:
                return messages
            except (OSError, ValueError, EOFError):
                return messages  # the queue is closed: the process is gone, `is_alive` tells the rest
            self.ready = self.ready or message.get("kind") == "ready"
            if not self._names_released:  # it has spoken, so it holds both queues open
                from charcomplete.ipc import release_semaphore_names

                release_semaphore_names(self._inbox, self._outbox)
                self._names_released = True
            messages.append(message)

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the learner to publish what it learned and exit; end it if it does not."""
        if self.process.pid is None or self.stopped:
            self.stopped = True
            return
        self._pending = self.poll()
        # Still importing torch or loading the model, it has learned nothing worth waiting for.
        if self.process.is_alive() and self.ready:
            self._inbox.put(("stop",))
            self.process.join(timeout)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(2.0)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(1.0)
        self.stopped = True
        # Text the child never read must not keep this process waiting at exit.
        self._inbox.cancel_join_thread()


# ---------------------------------------------------------------- learner side


def run(model_name: str, settings: LearnerSettings, inbox, outbox) -> None:
    """The learner process's main function."""
    # The terminal belongs to the editor: Ctrl-C there is the editor's business, and
    # anything the child prints (torch warnings, a traceback) goes to a log file.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _redirect_output()
    try:
        os.nice(settings.nice)
    except OSError:
        pass  # not allowed on this system: learning at normal priority is still correct
    # Before torch is imported, so its thread pools are sized once, small.
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(settings.threads)
    try:
        learn(model_name, settings, inbox, outbox)
    except BaseException as error:
        import traceback

        traceback.print_exc()
        outbox.put({"kind": "error", "message": _one_sentence(error)})
        sys.stderr.flush()
        raise SystemExit(1) from None


def learn(model_name: str, settings: LearnerSettings, inbox, outbox) -> None:
    """The learning loop, until a ("stop",) arrives (or the parent process is gone).

    `inbox` and `outbox` need only get/get_nowait/put: `run` passes multiprocessing
    queues, tests may pass queue.Queue and run this in a thread."""
    _Session(model_name, settings, inbox, outbox).loop()


def _redirect_output() -> None:
    from charcomplete.paths import locations, private_dir

    log_path = private_dir(locations().state) / LOG_NAME
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 - lives as long as the process
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115


def _one_sentence(error: BaseException) -> str:
    from charcomplete.errors import CharcompleteError

    if isinstance(error, CharcompleteError):
        return str(error)
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}{': ' + text[:160] if text else ''} (details in {LOG_NAME})"


@dataclass
class _Text:
    """The user's document as training data."""

    data: object  # np.ndarray, uint8: DOC_START, then the document's bytes
    recent: object  # its last `recent_bytes`, what publishes are judged on
    changed_at_step: int = 0  # the update count when it last changed (learning rests when it stays the same)


@dataclass
class _Stats:
    steps: int = 0  # updates made in this session
    chars: int = 0
    published_steps: int = 0  # `steps` at the last publish
    published_chars: int = 0  # `chars` at the last publish
    ema_bpc: float | None = None  # training loss on the user's text, bits per character


class _Session:
    def __init__(self, model_name: str, settings: LearnerSettings, inbox, outbox):
        import numpy as np
        import torch

        from charcomplete import store
        from charcomplete.train import Trainer

        torch.set_num_threads(settings.threads)
        torch.manual_seed(settings.seed)
        self.np, self.torch, self.store = np, torch, store
        self.settings = settings
        self.inbox, self.outbox = inbox, outbox
        self.rng = np.random.default_rng(settings.seed)

        loaded = store.load_model(model_name)
        # Learning on top of the packaged model goes into a user model of the same name,
        # which shadows the built-in one from then on.
        self.publish_name = store.DEFAULT_MODEL if loaded.builtin else loaded.name
        self.on_disk = None if loaded.builtin else loaded.meta.get("weights")  # what we started from
        self.config = loaded.config
        self.meta = {k: v for k, v in loaded.meta.items() if k not in ("optimizer", "optimizer_sha256")}
        if loaded.builtin:
            self.meta["parent"] = "default (built-in)"
        self.trainer = Trainer(loaded.config, loaded.weights, lr=settings.lr)
        self.reference = Trainer(loaded.config, loaded.weights)  # the weights last published: the bar to beat
        self.text: _Text | None = None
        self.stats = _Stats()
        self.paused = False
        self.stopping = False
        self.force_publish = False
        self.last_publish = time.monotonic()
        self.last_progress = 0.0
        self._send("ready", model=self.publish_name, steps=0)
        self.background, self.background_check = self._load_background(loaded.meta.get("sources", []))
        self.background_stream = None
        self.background_hidden = None
        if self.background is not None:
            from charcomplete.train import ChunkStream

            self.background_stream = ChunkStream(self.background, settings.batch, settings.seq_len,
                                                 torch.device("cpu"), seed=settings.seed)

    # ------------------------------------------------------------ data

    def _load_background(self, sources: list) -> tuple[object, object]:
        """The text of the folders the model was trained on, capped; and a slice to check forgetting on."""
        from charcomplete import corpus
        from charcomplete.errors import CorpusError

        paths = [p for p in sources if isinstance(p, str) and os.path.exists(p)]
        if not paths:
            return None, None
        try:
            scanned = corpus.scan(paths, max_file_bytes=self.settings.background_file_bytes)
        except CorpusError:
            return None, None  # a source folder vanished: learn from the document alone
        documents = list(scanned.documents)
        self.rng.shuffle(documents)  # a cap must not always keep the same alphabetical first files
        chosen, total = [], 0
        for document in documents:
            if total + len(document.data) > self.settings.background_bytes:
                continue
            chosen.append(document)
            total += len(document.data)
        if total < 3:
            return None, None
        data = corpus.encode(chosen)
        return data, data[-min(len(data), 16384):]

    def _set_text(self, text: str) -> None:
        np = self.np
        raw = text.encode("utf-8", "surrogatepass")
        data = np.frombuffer(b"\0" + raw, dtype=np.uint8)  # DOC_START opens the document, as in training
        recent = data[-self.settings.recent_bytes:] if len(data) > self.settings.recent_bytes else data
        self.text = _Text(data, recent, self.stats.steps)

    def _user_batch(self):
        """Lanes cut from the document; half of them from its latest part, where the user is writing."""
        np = self.np
        data = self.text.data
        length = min(self.settings.seq_len, len(data) - 1)
        last_start = len(data) - 1 - length
        lanes = self.settings.batch
        starts = self.rng.integers(0, last_start + 1, size=lanes)
        recent_from = max(0, len(data) - len(self.text.recent) - 1)
        starts[: lanes // 2] = self.rng.integers(min(recent_from, last_start), last_start + 1, size=lanes // 2)
        windows = data[starts[:, None] + np.arange(length + 1)]  # (B, T + 1)
        tokens = self.torch.from_numpy(windows.astype(np.int64))
        return tokens[:, :-1], tokens[:, 1:]

    # ------------------------------------------------------------ loop

    def _send(self, kind: str, **fields) -> None:
        self.outbox.put({"kind": kind, **fields})

    def _handle(self, message: tuple) -> None:
        kind = message[0]
        if kind == "text":
            self._set_text(message[1])
        elif kind == "pause":
            self.paused = True
        elif kind == "resume":
            self.paused = False
        elif kind == "publish":
            self.force_publish = True
        elif kind == "stop":
            self.stopping = True

    def _drain(self, wait_s: float) -> None:
        """Read every pending message; wait up to `wait_s` for the first one."""
        try:
            message = self.inbox.get(timeout=wait_s) if wait_s > 0 else self.inbox.get_nowait()
        except queue.Empty:
            return
        self._handle(message)
        while True:
            try:
                self._handle(self.inbox.get_nowait())
            except queue.Empty:
                return

    def _has_work(self) -> bool:
        if self.paused:
            return False
        user_ok = self.text is not None and len(self.text.data) >= 3
        if not user_ok:
            return False  # nothing written yet: the sources alone were learned by `charcomplete train`
        return self.stats.steps - self.text.changed_at_step < self.settings.idle_steps

    def loop(self) -> None:
        parent = multiprocessing.parent_process()
        while not self.stopping:
            if parent is not None and not parent.is_alive():
                return  # the editor is gone without saying stop: nobody is left to use a publish
            self._drain(0.0 if self._has_work() else 0.25)
            if self.stopping:
                break
            if self._has_work():  # asked again: the messages just read may have changed the text
                self._step()
            due = time.monotonic() - self.last_publish >= self.settings.publish_every_s or (
                self.settings.publish_every_steps
                and self.stats.steps - self.stats.published_steps >= self.settings.publish_every_steps
            )
            if (due or self.force_publish) and self.stats.steps > self.stats.published_steps:
                self._publish()
            elif due:
                self.last_publish = time.monotonic()
            self.force_publish = False
            self._report()
        if self.stats.steps > self.stats.published_steps:
            self._publish()
        self._send("stopped", steps=self.stats.steps)

    def _step(self) -> None:
        settings = self.settings
        use_user = self.background_stream is None or self.rng.random() < settings.user_share
        warm = min(1.0, (self.stats.steps + 1) / settings.warmup_steps)
        self.trainer.set_lr(settings.lr * warm)
        if use_user:
            x, y = self._user_batch()
            loss, _ = self.trainer.step(x, y, None)
        else:
            x, y, new_epoch = self.background_stream.next()
            if new_epoch:
                self.background_hidden = None
            loss, self.background_hidden = self.trainer.step(x, y, self.background_hidden)
        if not math.isfinite(loss):
            # A diverged update must not reach the model in use: back to the last good weights.
            self._roll_back()
            return
        self.stats.steps += 1
        self.stats.chars += x.numel()
        if use_user:
            bpc = loss / math.log(2.0)
            self.stats.ema_bpc = bpc if self.stats.ema_bpc is None else 0.9 * self.stats.ema_bpc + 0.1 * bpc

    def _report(self) -> None:
        now = time.monotonic()
        if now - self.last_progress >= self.settings.progress_every_s:
            self.last_progress = now
            self._send("progress", steps=self.stats.steps, bpc=self.stats.ema_bpc, paused=self.paused)

    def _roll_back(self) -> None:
        from charcomplete.model import weights_from_numpy

        weights_from_numpy(self.trainer.model, self.reference.weights())

    # ------------------------------------------------------------ publishing

    def _publish(self) -> None:
        """Save the weights if they did not get worse on the user's recent text."""
        from charcomplete.errors import LockBusyError
        from charcomplete.model import weights_from_numpy

        self.last_publish = time.monotonic()
        judge = self.text.recent if self.text is not None and len(self.text.recent) >= 3 else self.background_check
        if judge is None:
            return
        new_bpc = self.trainer.evaluate(judge)
        old_bpc = self.reference.evaluate(judge)
        worse = new_bpc > old_bpc + 1e-6
        if not worse and self.background_check is not None:
            worse = self.trainer.evaluate(self.background_check) > (
                self.reference.evaluate(self.background_check) + self.settings.forget_tolerance_bpc
            )
        if worse:
            self._roll_back()
            self._mark_published()
            self._send("kept", bpc=new_bpc, was=old_bpc, steps=self.stats.steps)
            return
        weights = self.trainer.weights()
        try:
            with self.store.lock_model(self.publish_name, timeout=self.settings.lock_timeout_s):
                if self._current_on_disk() != self.on_disk:
                    self._rebase()
                    return
                meta = self._meta_for_publish(new_bpc)
                self.store.save_model(self.publish_name, self.config, weights, meta, self.trainer.optimizer_state())
                self.on_disk = self._current_on_disk()
        except LockBusyError:
            self._send("busy", steps=self.stats.steps)  # `charcomplete train` is writing it: try next time
            return
        self.meta = meta
        self._mark_published()
        weights_from_numpy(self.reference.model, weights)
        self._send("published", name=self.publish_name, steps=self.stats.steps, bpc=new_bpc, was=old_bpc)

    def _mark_published(self) -> None:
        self.stats.published_steps = self.stats.steps
        self.stats.published_chars = self.stats.chars

    def _current_on_disk(self) -> str | None:
        if not self.store.model_exists(self.publish_name):
            return None
        meta, _, _ = self.store.load_meta(self.publish_name)
        return meta.get("weights")

    def _rebase(self) -> None:
        """Someone else (`charcomplete train`) saved the model since we loaded it: their
        training wins; start over from their weights rather than overwrite them."""
        from charcomplete.model import weights_from_numpy

        loaded = self.store.load_model(self.publish_name)
        if loaded.config != self.config:
            raise RuntimeError(f"model {self.publish_name!r} changed shape while the editor was learning")
        weights_from_numpy(self.trainer.model, loaded.weights)
        weights_from_numpy(self.reference.model, loaded.weights)
        self.meta = {k: v for k, v in loaded.meta.items() if k not in ("optimizer", "optimizer_sha256")}
        self.on_disk = loaded.meta.get("weights")
        self._mark_published()
        self._send("rebased", name=self.publish_name, steps=self.stats.steps)

    def _meta_for_publish(self, recent_bpc: float) -> dict:
        learned = self.stats.steps - self.stats.published_steps
        chars = self.stats.chars - self.stats.published_chars
        meta = dict(self.meta)
        meta["steps"] = int(meta.get("steps", 0)) + learned
        meta["trained_chars"] = int(meta.get("trained_chars", 0)) + chars
        meta["editor_chars"] = int(meta.get("editor_chars", 0)) + chars
        history = list(meta.get("history", []))
        history.append({"step": meta["steps"], "chars": meta["trained_chars"], "recent_bpc": recent_bpc,
                        "time": self.store.now_iso(), "by": "editor"})
        meta["history"] = history
        return meta
