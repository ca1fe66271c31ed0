"""The background learner, learning side: runs in its own process (`python -m
charcomplete.learn.learner_child MODEL SETTINGS`, started by `charcomplete.learn.learner.Learner`)
and keeps fine-tuning a model on the user's own text while they type.

What it learns from. The document being edited gets most updates (`user_share`), half of
them cut from its latest part, where the user is writing; the rest come from the folders
the model was trained on (its meta["sources"]), read only through `corpus.scan` with the
settings file's "exclude" globs and the model's stored `exclude` list, so that a file kept
out of `train` is kept out here too. Of the document, only complete lines are learned, and
one line in `heldout_every` (chosen by a hash of its text, so the choice stays put as the
user edits elsewhere) is held out: never trained on, it is the user's held-out text.

What a publish must pass. New weights are saved only when, on text they were not trained
on, they are
  - no worse than the last published weights on the user's held-out recent text (zero
    tolerance: it is exactly what learning is meant to improve), and
  - no worse, by more than `general_tolerance_bpc`, than the figure the model was created
    with on its general held-out text: `heldout.txt` in the model's folder (the built-in
    model ships one, and the user's own model gets a copy), and the validation documents
    of its sources.
Otherwise the publish is refused, the reason logged, and the weights go back to the last
published ones. Without enough held-out text of the user's yet, nothing is published.

Where it publishes. A model of the user's is learned on in place. The built-in model is
never written: learning on it goes into the user's own model, created at the first publish
from the built-in weights under the first free name of `mine`, `default-mine`,
`default-mine-2`, ..., which is then made the one in use. That first publish waits for
`min_create_heldout_bytes` of the user's held-out text (about 2,000 characters of complete
lines): a model made the default is judged on more than a few characters. An existing model is never
overwritten with weights that did not come from it.

Everything it does (what it read, steps, publishes, refusals with reasons) goes to its
log, `learner.log` in the state folder.
"""

from __future__ import annotations

import math
import os
import queue
import signal
import sys
import threading
import time
import zlib
from dataclasses import dataclass

import numpy as np
import torch

from charcomplete.core.config import LN2
from charcomplete.core.errors import CharcompleteError, CorpusError, LockBusyError
from charcomplete.core.logs import CappedLog, stderr_to_capped_log, without_text
from charcomplete.learn import corpus
from charcomplete.learn.learner import (
    Busy,
    Failed,
    Forgotten,
    LearnerSettings,
    Message,
    Pause,
    Progress,
    Published,
    Ready,
    Rebased,
    Refused,
    Resume,
    SourcesRead,
    Stop,
    Stopped,
    Text,
    decode_message,
    encode_message,
    forget_generation,
    settings_from_json,
)
from charcomplete.learn.training import ChunkStream, Trainer
from charcomplete.model import memory
from charcomplete.storage import store
from charcomplete.storage.meta import ModelMeta

PIECE_BYTES = 256  # a line longer than this is learned (and held out) in pieces of this size
MAX_CHECK_BYTES = 65_536  # general held-out text read from heldout.txt, and from the sources' validation documents
LISTED_FILES = 200  # source files named in a SourcesRead message (all are counted)
LOG_EVERY_S = 30.0  # a progress line in the log this often while learning


def log(text: str) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    print(f"{stamp} [{os.getpid()}] {text}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- the user's text


@dataclass(frozen=True)
class DocumentSplit:
    """The document as training data and as held-out text (uint8 arrays, each opened by DOC_START)."""

    train: np.ndarray
    heldout: np.ndarray  # the latest held-out text, at most `recent_bytes`


def split_document(text: str, settings: LearnerSettings) -> DocumentSplit:
    """Complete lines (and complete `PIECE_BYTES` pieces of a long line) are learned or held
    out, by a hash of their bytes; the line being typed waits until it is complete, so that
    no text is trained on now and held out later."""
    raw = text.encode("utf-8", "surrogatepass")
    train, heldout = bytearray(b"\0"), bytearray()
    for line in raw.splitlines(keepends=True):
        complete = line.endswith((b"\n", b"\r"))
        for start in range(0, len(line), PIECE_BYTES):
            piece = line[start:start + PIECE_BYTES]
            if len(piece) < PIECE_BYTES and not complete:
                break  # the part still being written
            if zlib.crc32(piece) % settings.heldout_every == 0:
                heldout += piece
            else:
                train += piece
    recent = b"\0" + bytes(heldout[-settings.recent_bytes:])
    return DocumentSplit(np.frombuffer(bytes(train), dtype=np.uint8), np.frombuffer(recent, dtype=np.uint8))


@dataclass(frozen=True)
class Background:
    """What is kept from the folders the model was trained on."""

    train: np.ndarray | None  # their training documents, capped at `background_bytes`
    check: np.ndarray | None  # their validation documents (never trained on), capped at MAX_CHECK_BYTES


def file_limit(paths: list[str], budget: int, largest: int) -> int:
    """The largest file size limit (at most `largest`) under which the files below `paths`
    add up to at most `budget` bytes; 0 when even the smallest file does not fit.

    A stat-only walk, never opening a file: it sees every file `corpus.scan` could read
    (it skips the same hidden entries, follows the same links, and ignores exclusions and
    .gitignore, which only remove files), so a scan with this limit reads at most `budget`.
    Like the scan, it follows a link only to a place inside the folder it was given: a link
    out of it (`notes/etc -> /etc`, `notes/all -> /`) would list a system tree and let files
    the scan never reads crowd the user's own out of the budget."""
    sizes: list[int] = []
    seen: set[tuple[int, int]] = set()
    stack = [(path, os.path.realpath(path)) for path in paths]
    while stack:
        folder, root = stack.pop()
        try:
            info = os.stat(folder)
        except OSError:
            continue
        if (info.st_dev, info.st_ino) in seen:
            continue
        seen.add((info.st_dev, info.st_ino))
        if not os.path.isdir(folder):
            if info.st_size <= largest:
                sizes.append(info.st_size)
            continue
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue  # scan never enters hidden entries below a root
            try:
                if entry.is_symlink() and not _inside(os.path.realpath(entry.path), root):
                    continue  # scan counts it as "link out of the folder" and never opens it
                if entry.is_dir(follow_symlinks=True):
                    stack.append((entry.path, root))
                elif entry.is_file(follow_symlinks=True):
                    file_info = entry.stat(follow_symlinks=True)
                    key = (file_info.st_dev, file_info.st_ino)
                    if file_info.st_size <= largest and key not in seen:
                        seen.add(key)
                        sizes.append(file_info.st_size)
            except OSError:
                continue
    total = 0
    for size in sorted(sizes):
        total += size
        if total > budget:
            return size - 1  # files of this size (and larger) do not all fit: the limit stops below them
    return largest


def _inside(real_path: str, root: str) -> bool:
    return real_path == root or real_path.startswith(root.rstrip(os.sep) + os.sep)


def read_background(sources: list, model_exclude: list, settings: LearnerSettings, rng) -> tuple[Background, object]:
    """Read the sources through `corpus.scan`, honouring every exclusion; (kept text, what was read).

    Memory: the scan reads at most `background_scan_bytes` (the file size limit is chosen
    by `file_limit` so that it cannot read more: with more text than that in the sources,
    the largest files are left out); the cap then keeps at most `background_bytes` of it
    for training and MAX_CHECK_BYTES for the check."""
    empty = Background(None, None)
    paths = [p for p in sources if isinstance(p, str) and os.path.exists(p)]
    if not paths:
        log("no source folders to learn from: learning from the document alone")
        return empty, None
    try:
        exclude = [*store.exclude_patterns(), *model_exclude]
    except CharcompleteError as error:
        log(f"sources not read: {error}")  # fail closed: an unreadable exclude list reads nothing
        return empty, None
    limit = file_limit(paths, settings.background_scan_bytes, settings.background_file_bytes)
    if limit < 1:
        log(f"sources not read: even their smallest file would exceed {settings.background_scan_bytes} bytes")
        return empty, None
    try:
        scanned = corpus.scan(paths, max_file_bytes=limit, exclude=exclude)
    except CorpusError as error:
        log(f"sources not read: {error}")
        return empty, None
    log(f"read {len(scanned.documents)} source files ({scanned.total_bytes} bytes, files up to {limit} bytes) "
        f"from {', '.join(paths)}; "
        f"{scanned.skip_summary()} (excluding {exclude or 'nothing'})")
    if not scanned.documents:
        return empty, scanned
    train_docs, check_docs = corpus.split(scanned.documents)
    rng.shuffle(train_docs)  # a cap must not always keep the same alphabetical first files
    chosen, total = [], 0
    for document in train_docs:
        if total + len(document.data) <= settings.background_bytes:
            chosen.append(document)
            total += len(document.data)
    train = corpus.encode(chosen) if total >= 3 else None
    check = corpus.encode(check_docs)[:MAX_CHECK_BYTES]
    log(f"kept {total} bytes of them for training and {len(check)} held out")
    return Background(train, check if len(check) >= 3 else None), scanned


# ---------------------------------------------------------------- the session


@dataclass
class _Stats:
    steps: int = 0  # updates made in this session
    user_steps: int = 0  # those made on the document
    chars: int = 0
    published_steps: int = 0  # `steps` at the last publish
    published_chars: int = 0
    attempted_steps: int = 0  # `steps` at the last publish attempt (published or not)
    ema_bpc: float | None = None  # training loss on the user's text, bits per character


class Forget(Exception):
    """`charcomplete forget` ran (or the model was deleted): drop everything, publish nothing."""


class Session:
    def __init__(self, model_name: str, settings: LearnerSettings, inbox, outbox):
        torch.set_num_threads(settings.threads)
        torch.manual_seed(settings.seed)
        self.settings = settings
        self.inbox, self.outbox = inbox, outbox
        self.rng = np.random.default_rng(settings.seed)
        self.generation = forget_generation()

        loaded = store.load_model(model_name)
        self.parent = loaded
        # The built-in model is never written: the user's own model is named at the first publish.
        self.publish_name: str | None = None if loaded.builtin else loaded.name
        self.on_disk = None if loaded.builtin else loaded.meta.weights  # what we started from
        self.config = loaded.config
        self.meta = loaded.meta.without_files()
        self.trainer = Trainer(loaded.config, loaded.weights, lr=settings.lr)
        self.reference = Trainer(loaded.config, loaded.weights)  # the weights last published: the bar to beat
        log(f"learning on model {loaded.name!r}{' (built-in)' if loaded.builtin else ''}, "
            f"{loaded.config.describe()}; publishing into "
            f"{self.publish_name or 'your own model, created at the first publish'}")

        self.document: DocumentSplit | None = None
        self.changed_at_step = 0
        self.stats = _Stats()
        self.paused = False
        self.stopping = False
        self.editor_gone = False
        self.postponed_at: int | None = None  # held-out bytes at the last postponed publish (logged once)
        self.last_attempt = time.monotonic()
        self.last_progress = self.last_log = 0.0
        self.last_logged: tuple[int, bool] | None = None  # (steps, paused) in the last progress line
        self._send(Ready(model=loaded.name, steps=0))

        self.general = self._read_general_heldout(loaded)
        self.general_baseline = None
        if self.general is not None:
            self.general_baseline = self._general_baseline(loaded.meta.heldout_baseline_bpc)
            log(f"general held-out text: {len(self.general) - 1} bytes from {store.HELDOUT_FILE}, "
                f"bpc limit {self.general_baseline + settings.general_tolerance_bpc:.4f}")
        self.background, scanned = read_background(loaded.meta.sources, loaded.meta.exclude,
                                                    settings, self.rng)
        if scanned is not None:
            files = tuple(str(d.path) for d in scanned.documents)
            self._send(SourcesRead(files[:LISTED_FILES], len(files), scanned.total_bytes, scanned.skip_summary()))
        del scanned  # only the capped text stays in memory
        self.sources_baseline = None
        if self.background.check is not None:
            self.sources_baseline = self.reference.evaluate(self.background.check)
        self.background_stream = None
        self.background_hidden = None
        if self.background.train is not None:
            self.background_stream = ChunkStream(self.background.train, settings.batch, settings.seq_len,
                                                 torch.device("cpu"), seed=settings.seed)

    def _general_baseline(self, recorded: float | None) -> float:
        """The figure publishes are held to: the one recorded when the model was created, so that
        sessions cannot add up. A learner never publishes past it plus the tolerance, so weights
        already past that were changed by someone else (`train --resume`): their figure is the new start."""
        start = self.reference.evaluate(self.general)
        if recorded is None or start > recorded + self.settings.general_tolerance_bpc:
            return start
        return recorded

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
        passes = self.stats.user_steps * settings.batch * settings.seq_len / len(self.document.train)
        return passes < settings.passes and self.stats.steps - self.changed_at_step < settings.idle_steps

    def loop(self) -> None:
        try:
            self._loop()
        except Forget:
            self._forget()
            return
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
            self._roll_back()  # a diverged update must not reach the model in use
            return
        self.stats.steps += 1
        self.stats.chars += x.numel()
        if use_user:
            self.stats.user_steps += 1
            bpc = loss / LN2
            self.stats.ema_bpc = bpc if self.stats.ema_bpc is None else 0.9 * self.stats.ema_bpc + 0.1 * bpc

    def _user_batch(self):
        """Lanes cut from the document's training text; half of them from its latest part."""
        data = self.document.train
        length = min(self.settings.seq_len, len(data) - 1)
        last_start = len(data) - 1 - length
        lanes = self.settings.batch
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

    def _roll_back(self) -> None:
        self.trainer.load_weights(self.reference.weights())

    # ------------------------------------------------------------ forgetting

    def _check_forget(self) -> None:
        if forget_generation() != self.generation:
            raise Forget

    def _forget(self) -> None:
        self.document = None
        self.background = Background(None, None)
        self.background_stream = None
        self._roll_back()
        self._send(Forgotten(steps=self.stats.steps))
        log("`charcomplete forget` ran: dropped everything learned in this session; nothing published")

    # ------------------------------------------------------------ publishing

    def _publish(self) -> None:
        """Save the weights if they pass the held-out checks (see the module's docstring)."""
        self.last_attempt = time.monotonic()
        self.stats.attempted_steps = self.stats.steps
        self._check_forget()
        verdict = self._judge()
        if verdict is None:
            return
        user_bpc, was, general_bpc = verdict
        weights = self.trainer.weights()
        name = self.publish_name or store.own_model_name(self.parent.name)
        created = self.publish_name is None
        try:
            with store.lock_model(name, timeout=self.settings.lock_timeout_s):
                try:
                    self._check_forget()
                    if not self._save(name, created, weights, user_bpc, general_bpc):
                        return
                finally:
                    store.remove_if_unsaved(name)  # a model forgotten meanwhile is not brought back as a folder
        except LockBusyError:
            self._send(Busy(steps=self.stats.steps))  # `charcomplete train` is writing it: try next time
            log(f"publish skipped: model {name!r} is being written by another process")
            return
        self.publish_name = name
        self._mark_published()
        self.reference.load_weights(weights)
        self._send(Published(name=name, steps=self.stats.steps, bpc=user_bpc, was=was, general_bpc=general_bpc,
                             created=created))
        general = "-" if general_bpc is None else f"{general_bpc:.4f}"
        log(f"published {name!r}{' (created, now in use)' if created else ''} at step {self.stats.steps}: "
            f"your held-out text {was:.4f} -> {user_bpc:.4f} bpc, general held-out {general}")

    def _judge(self) -> tuple[float, float, float | None] | None:
        """(user bpc, its previous figure, general bpc) when the weights may be published; None otherwise."""
        settings = self.settings
        user = None if self.document is None else self.document.heldout
        creates = self.publish_name is None  # learning on the built-in model: the first publish creates one
        need = max(settings.min_heldout_bytes, settings.min_create_heldout_bytes if creates else 0)
        if user is None or len(user) - 1 < need:
            have = 0 if user is None else len(user) - 1
            if have != self.postponed_at:  # said once per amount, not at every attempt
                self.postponed_at = have
                why = "to create your own model" if creates else "to judge new weights"
                log(f"publish postponed: {have} bytes of your held-out text, {need} needed {why}")
            return None
        user_bpc, was = self.trainer.evaluate(user), self.reference.evaluate(user)
        if user_bpc > was:
            return self._refuse(f"worse on your held-out text ({user_bpc:.4f} against {was:.4f} bpc)")
        figures = {}
        for label, text, baseline in (("general held-out text", self.general, self.general_baseline),
                                      ("the sources' held-out documents", self.background.check,
                                       self.sources_baseline)):
            if text is None:
                continue
            figures[label] = bpc = self.trainer.evaluate(text)
            limit = baseline + settings.general_tolerance_bpc
            if bpc > limit:
                return self._refuse(f"worse on {label} ({bpc:.4f} bpc, limit {limit:.4f})")
        return user_bpc, was, figures.get("general held-out text")

    def _refuse(self, reason: str) -> None:
        self._roll_back()
        self._mark_published()
        self._send(Refused(reason=reason, steps=self.stats.steps))
        log(f"publish refused at step {self.stats.steps}: {reason}; back to the last published weights")
        return None

    def _save(self, name: str, created: bool, weights, user_bpc: float, general_bpc: float | None) -> bool:
        """Under the lock of `name`: write the model; False when it must not be written now."""
        if created:
            if store.model_exists(name):
                log(f"publish skipped: {name!r} was created by someone else meanwhile")
                return False
        elif not store.model_exists(name):
            raise Forget  # the model was deleted (`forget`, `models rm`): what was learned goes with it
        elif self._current_on_disk(name) != self.on_disk:
            self._rebase(name)
            return False
        meta = self._meta_for_publish(user_bpc, general_bpc, created)
        store.save_model(name, self.config, weights, meta, self.trainer.optimizer_state())
        if created:
            store.copy_heldout(self.parent.folder, store.model_folder(name))
            memory.copy(self.parent.folder, store.model_folder(name))  # it still knows what the parent knew
            if store.current_model_name() == self.parent.name:
                store.update_settings(model=name)
        self.on_disk = self._current_on_disk(name)
        self.meta = meta
        return True

    def _mark_published(self) -> None:
        self.stats.published_steps = self.stats.steps
        self.stats.published_chars = self.stats.chars

    @staticmethod
    def _current_on_disk(name: str) -> str | None:
        if not store.model_exists(name):
            return None
        meta, _, _ = store.load_meta(name)
        return meta.weights

    def _rebase(self, name: str) -> None:
        """Someone else (`charcomplete train`) saved the model since we loaded it: their
        training wins; start over from their weights rather than overwrite them."""
        loaded = store.load_model(name)
        if loaded.config != self.config:
            raise CharcompleteError(f"model {name!r} changed shape while the editor was learning")
        self.trainer.load_weights(loaded.weights)
        self.reference.load_weights(loaded.weights)
        self.meta = loaded.meta.without_files()
        self.on_disk = loaded.meta.weights
        self._mark_published()
        self._send(Rebased(name=name, steps=self.stats.steps))
        log(f"model {name!r} was saved by another process: learning starts again from its weights")

    def _meta_for_publish(self, user_bpc: float, general_bpc: float | None, created: bool) -> ModelMeta:
        learned = self.stats.steps - self.stats.published_steps
        chars = self.stats.chars - self.stats.published_chars
        meta = self.meta
        if created:  # a new model: its own creation time, and where it came from
            parent = f"{self.parent.name} (built-in)" if self.parent.builtin else self.parent.name
            meta = meta.record(created=None, parent=parent)
        steps, trained_chars = meta.steps + learned, meta.trained_chars + chars
        general = general_bpc is not None and self.general is not None
        return meta.record(
            {"step": steps, "chars": trained_chars, "user_heldout_bpc": user_bpc, "heldout_bpc": general_bpc,
             "time": store.now_iso(), "by": "editor"},
            steps=steps, trained_chars=trained_chars, editor_chars=(meta.editor_chars or 0) + chars,
            user_heldout_bpc=user_bpc,
            heldout_bpc=general_bpc if general else meta.heldout_bpc,
            heldout_baseline_bpc=self.general_baseline if general else meta.heldout_baseline_bpc,
        )


def learn(model_name: str, settings: LearnerSettings, inbox, outbox) -> None:
    """The learning loop, until a Stop arrives (or the editor's stream ends).

    `inbox` and `outbox` need only get/get_nowait/put: `main` passes queues fed by the
    editor's pipe, tests may pass queue.Queue and run this in a thread."""
    Session(model_name, settings, inbox, outbox).loop()


# ---------------------------------------------------------------- the process


EDITOR_GONE = object()  # put in the inbox when the editor's stream ends


class _PipeOutbox:
    """Messages to the editor, one JSON line each; an editor that is gone is not an error."""

    def __init__(self, fd: int):
        self._stream = os.fdopen(fd, "wb")
        self.open = True

    def put(self, message: Message) -> None:
        if not self.open:
            return
        try:
            self._stream.write(encode_message(message))
            self._stream.flush()
        except (OSError, ValueError):
            self.open = False  # the editor has exited: the learner may still finish a handed-over publish


def _read_editor(stream, inbox: queue.Queue) -> None:
    for line in stream:
        message = decode_message(line)
        if message is not None:
            inbox.put(message)
    inbox.put(EDITOR_GONE)


def main(argv: list[str]) -> int:
    model_name, settings = argv[0], settings_from_json(argv[1])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # in its own session already; a stray Ctrl-C is not for it
    try:
        os.nice(settings.nice)
    except OSError:
        pass  # not allowed on this system: learning at normal priority is still correct
    _idle_priority()
    # stdout is the channel to the editor; whatever else writes to it (torch warnings) goes to the log.
    outbox = _PipeOutbox(os.dup(1))
    os.dup2(2, 1)
    stderr_to_capped_log(2)  # the log stays capped as it grows; tracebacks leave out their messages
    sys.stdout = CappedLog(1)
    inbox: queue.Queue = queue.Queue()
    threading.Thread(target=_read_editor, args=(sys.stdin.buffer, inbox), daemon=True).start()
    log(f"learner started (model {model_name!r}, nice {settings.nice}, {settings.threads} thread(s))")
    try:
        learn(model_name, settings, inbox, outbox)
    except BaseException as error:  # noqa: BLE001 - the editor is told in one sentence; the log has the rest
        sys.stderr.write(without_text(error))
        outbox.put(Failed(message=_one_sentence(error)))
        return 1
    return 0


def _idle_priority() -> None:
    """Linux's idle scheduling class, on top of the niceness: the learner then takes only CPU
    time that nothing else wants, so a suggestion never waits behind a training step. Nice 10
    alone still weighs a tenth of a normal process: on the quiet 2-core machine the language
    server's keystroke p99 was 8.2 ms without the learner and 11.5 ms with it."""
    if hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_IDLE"):
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        except OSError:
            pass  # not allowed here: the niceness still holds


def _one_sentence(error: BaseException) -> str:
    if isinstance(error, CharcompleteError):
        return str(error)
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}{': ' + text[:160] if text else ''} (details in learner.log)"


def exit_now(code: int) -> None:
    """Leave without interpreter finalisation. Everything worth keeping is already on disk
    (publishes are atomic and synced) and in the log (flushed per line); finalising would
    only tear down the still-blocked reader thread and torch's thread pools, which aborted
    the process now and then ("terminate called without an active exception", exit -6)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


if __name__ == "__main__":
    exit_now(main(sys.argv[1:]))
