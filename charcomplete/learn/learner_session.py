"""The learner's session: the loop that fine-tunes a model on the user's text while they type.

The document being edited gets most updates (`user_share`), half of them cut from its latest
part, where the user is writing; the rest come from the folders the model was trained on
(`learner_text`). Every `publish_every_s` the weights are offered to the `Publisher`
(`learner_publish`), which saves them only when they pass its held-out checks. Messages from
the editor (the text, pause, resume, stop, and the chunks its online weights step on:
`learner_online`) arrive in `inbox`; what happened goes to `outbox`.
`charcomplete forget` is noticed between steps: everything learned is dropped, nothing published."""

from __future__ import annotations

import math
import queue
import time

import numpy as np
import torch

from charcomplete.core.config import LN2
from charcomplete.learn.learner import (
    Forgotten,
    LearnerSettings,
    Message,
    Pause,
    Progress,
    Ready,
    Resume,
    SourcesRead,
    Stop,
    Stopped,
    Text,
    forget_generation,
)
from charcomplete.learn.learner_log import log
from charcomplete.learn.learner_online import OnlineServer
from charcomplete.learn.learner_publish import Candidate, Forget, LearnerStats, Publisher
from charcomplete.learn.learner_text import Background, DocumentSplit, read_background, split_document
from charcomplete.learn.training import ChunkStream, Trainer
from charcomplete.storage import store

LISTED_FILES = 200  # source files named in a SourcesRead message (all are counted)
LOG_EVERY_S = 30.0  # a progress line in the log this often while learning
EDITOR_GONE = object()  # put in the inbox when the editor's stream ends


class Session:
    def __init__(self, model_name: str, settings: LearnerSettings, inbox, outbox):
        torch.set_num_threads(settings.threads)
        torch.manual_seed(settings.seed)
        self.settings = settings
        self.inbox, self.outbox = inbox, outbox
        self.rng = np.random.default_rng(settings.seed)
        self.generation = forget_generation()

        loaded = store.load_model(model_name)
        self.trainer = Trainer(loaded.config, loaded.weights, lr=settings.lr)
        reference = Trainer(loaded.config, loaded.weights)  # the weights last published: the bar to beat
        publishing_into = None if loaded.builtin else loaded.name
        log(f"learning on model {loaded.name!r}{' (built-in)' if loaded.builtin else ''}, "
            f"{loaded.config.describe()}; publishing into "
            f"{publishing_into or 'your own model, created at the first publish'}")

        self.document: DocumentSplit | None = None
        self.changed_at_step = 0
        self.stats = LearnerStats()
        self.paused = False
        self.stopping = False
        self.editor_gone = False
        self.last_attempt = time.monotonic()
        self.last_progress = self.last_log = 0.0
        self.last_logged: tuple[int, bool] | None = None  # (steps, paused) in the last progress line
        self._send(Ready(model=loaded.name, steps=0))

        self.publisher = Publisher(loaded, settings, reference, self._send, self._check_forget,
                                   general=self._read_general_heldout(loaded))
        # The editor's online weights start from what it suggests with: the weights last published.
        self.online = OnlineServer(loaded.config, reference.weights, self._send, settings.threads)
        self.background, scanned = read_background(loaded.meta.sources, loaded.meta.exclude,
                                                    settings, self.rng)
        if scanned is not None:
            files = tuple(str(d.path) for d in scanned.documents)
            self._send(SourcesRead(files[:LISTED_FILES], len(files), scanned.total_bytes, scanned.skip_summary()))
        del scanned  # only the capped text stays in memory
        self.publisher.judge_sources_on(self.background.check)
        self.background_stream = None
        self.background_hidden = None
        if self.background.train is not None:
            self.background_stream = ChunkStream(self.background.train, settings.batch, settings.seq_len,
                                                 torch.device("cpu"), seed=settings.seed)

    @staticmethod
    def _read_general_heldout(loaded) -> np.ndarray | None:
        raw = store.read_heldout(loaded.folder)
        if raw is None or len(raw) < 2:
            log(f"no {store.HELDOUT_FILE} with model {loaded.name!r}: judged on the user's held-out text"
                " and the sources' validation documents")
            return None
        return np.frombuffer(b"\0" + raw, dtype=np.uint8)

    # ------------------------------------------------------------ messages

    def _send(self, message: Message) -> None:
        self.outbox.put(message)

    def _handle(self, message) -> None:
        if self.online.handle(message):
            return
        if isinstance(message, Text):
            self.document = split_document(message.text, self.settings)
            self.changed_at_step = self.stats.steps
        elif isinstance(message, Pause):
            self.paused = True
        elif isinstance(message, Resume):
            self.paused = False
        elif isinstance(message, Stop):
            self.stopping = True
        elif message is EDITOR_GONE and not self.stopping:
            self.stopping = self.editor_gone = True

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

    # ------------------------------------------------------------ loop

    def _has_work(self) -> bool:
        if self.paused or self.document is None or len(self.document.train) < 3:
            return False  # nothing complete written yet: the sources alone were learned by `charcomplete train`
        settings = self.settings
        passes = self.stats.user_chars_at_full_rate / len(self.document.train)
        return passes < settings.passes and self.stats.steps - self.changed_at_step < settings.idle_steps

    def loop(self) -> None:
        try:
            self._loop()
        except Forget:
            self._forget()
            return
        finally:
            self.online.close()
        self._send(Stopped(steps=self.stats.steps))
        log(f"stopped after {self.stats.steps} steps")

    def _loop(self) -> None:
        settings = self.settings
        while not self.stopping:
            self._drain(0.0 if self._has_work() else 0.25)
            if self.stopping:
                break
            if self._has_work():  # asked again: the messages just read may have changed the text
                self._step()
            since = self.stats.steps - self.stats.attempted_steps
            due = time.monotonic() - self.last_attempt >= settings.publish_every_s or (
                settings.publish_every_steps and since >= settings.publish_every_steps)
            if due and self.stats.steps > self.stats.published_steps and since > 0:
                self._publish()
            elif due:
                self.last_attempt = time.monotonic()
            self._report()
        if self.editor_gone:
            log("the editor is gone without asking for a publish: nothing published")
        elif self.stats.steps > self.stats.published_steps:
            self._publish()

    def _publish(self) -> None:
        self.last_attempt = time.monotonic()
        heldout = None if self.document is None else self.document.heldout
        self.publisher.publish(Candidate(self.trainer, self.stats, heldout))

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
            log(f"step {self.stats.steps}: the loss diverged; back to the last published weights")
            self.publisher.roll_back(self.trainer)  # a diverged update must not reach the model in use
            return
        self.stats.steps += 1
        self.stats.chars += x.numel()
        if use_user:
            self.stats.user_steps += 1
            self.stats.user_chars_at_full_rate += x.numel() * warm
            bpc = loss / LN2
            self.stats.ema_bpc = bpc if self.stats.ema_bpc is None else 0.9 * self.stats.ema_bpc + 0.1 * bpc

    def _user_batch(self):
        """Lanes cut from the document's training text; half of them from its latest part.

        A short document gets fewer lanes, about one pass over it per step: a full batch would
        spend all its `passes` in a single step (issue 26: one step per session on a short note,
        a warm-up step at that, which learned next to nothing)."""
        data = self.document.train
        length = min(self.settings.seq_len, len(data) - 1)
        last_start = len(data) - 1 - length
        lanes = min(self.settings.batch, -(-(len(data) - 1) // length))
        starts = self.rng.integers(0, last_start + 1, size=lanes)
        recent_from = max(0, len(data) - self.settings.recent_bytes - 1)
        starts[: lanes // 2] = self.rng.integers(min(recent_from, last_start), last_start + 1, size=lanes // 2)
        windows = data[starts[:, None] + np.arange(length + 1)]  # (B, T + 1)
        tokens = torch.from_numpy(windows.astype(np.int64))
        return tokens[:, :-1], tokens[:, 1:]

    def _report(self) -> None:
        now = time.monotonic()
        if now - self.last_progress >= self.settings.progress_every_s:
            self.last_progress = now
            self._check_forget()
            self._send(Progress(steps=self.stats.steps, bpc=self.stats.ema_bpc, paused=self.paused))
        logged = (self.stats.steps, self.paused)
        if now - self.last_log >= LOG_EVERY_S and self.stats.steps > 0 and logged != self.last_logged:
            # Only news: a session that has learned what there was (a short note) stops stepping,
            # and its log is not the same line every 30 s (issue 26).
            self.last_log, self.last_logged = now, logged
            bpc = "-" if self.stats.ema_bpc is None else f"{self.stats.ema_bpc:.3f}"
            log(f"step {self.stats.steps}: {self.stats.chars} characters learned this session, "
                f"training bpc on the document {bpc}{' (paused)' if self.paused else ''}")

    # ------------------------------------------------------------ forgetting

    def _check_forget(self) -> None:
        if forget_generation() != self.generation:
            raise Forget

    def _forget(self) -> None:
        self.document = None
        self.background = Background(None, None)
        self.background_stream = None
        self.publisher.roll_back(self.trainer)
        self._send(Forgotten(steps=self.stats.steps))
        log("`charcomplete forget` ran: dropped everything learned in this session; nothing published")


def learn(model_name: str, settings: LearnerSettings, inbox, outbox) -> None:
    """The learning loop, until a Stop arrives (or the editor's stream ends).

    `inbox` and `outbox` need only get/get_nowait/put: `learner_child.main` passes queues fed
    by the editor's pipe, tests may pass queue.Queue and run this in a thread."""
    Session(model_name, settings, inbox, outbox).loop()
