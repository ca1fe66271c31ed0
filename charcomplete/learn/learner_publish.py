"""What a publish of the learner must pass, and where it writes.

New weights are saved only when, on text they were not trained on, they are
  - no worse than the last published weights on the user's held-out recent text (zero
    tolerance: it is exactly what learning is meant to improve), and
  - no worse, by more than `general_tolerance_bpc`, than the figure the model was created
    with on its general held-out text: `heldout.txt` in the model's folder (the built-in
    model ships one, and the user's own model gets a copy), and the validation documents
    of its sources.
Otherwise the publish is refused, the reason logged, and the weights go back to the last
published ones. Without enough held-out text of the user's yet, nothing is published.

A model of the user's is learned on in place. The built-in model is never written: learning
on it goes into the user's own model, created at the first publish from the built-in weights
under the first free name of `mine`, `default-mine`, `default-mine-2`, ..., which is then made
the one in use. That first publish waits for `min_create_heldout_bytes` of the user's held-out
text (about 2,000 characters of complete lines): a model made the default is judged on more
than a few characters. An existing model is never overwritten with weights that did not come
from it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from charcomplete.core.errors import CharcompleteError, LockBusyError
from charcomplete.learn.learner import Busy, LearnerSettings, Message, Published, Rebased, Refused
from charcomplete.learn.learner_log import log
from charcomplete.learn.training import Trainer
from charcomplete.model import memory
from charcomplete.storage import store
from charcomplete.storage.meta import ModelMeta


@dataclass
class LearnerStats:
    """What a learner session has done so far (the session counts, the publisher marks)."""

    steps: int = 0  # updates made in this session
    user_steps: int = 0  # those made on the document
    # Characters learned from the document, each weighted by the step's share of the full learning
    # rate: a warm-up step at a twentieth of it learns about a twentieth as much. Divided by the
    # document's length now, it says how many passes over the document were learned (`passes`).
    user_chars_at_full_rate: float = 0.0
    chars: int = 0
    published_steps: int = 0  # `steps` at the last publish
    published_chars: int = 0
    attempted_steps: int = 0  # `steps` at the last publish attempt (published or not)
    ema_bpc: float | None = None  # training loss on the user's text, bits per character

    def mark_published(self) -> None:
        self.published_steps = self.steps
        self.published_chars = self.chars


class Forget(Exception):
    """`charcomplete forget` ran (or the model was deleted): drop everything, publish nothing."""


@dataclass(frozen=True)
class Candidate:
    """Weights the session offers for publishing, and the user's held-out text to judge them on."""

    trainer: Trainer  # the weights being learned (rolled back to the last published ones on a refusal)
    stats: LearnerStats
    user_heldout: np.ndarray | None  # DOC_START then the latest held-out lines; None before any text


class Publisher:
    """Judges the session's weights against the last published ones and saves those that pass.

    It owns the last published weights (`reference`, the bar to beat and what a refusal or a
    divergence goes back to), the general held-out text with its baseline, and which model is
    written (`publish_name`: None until the first publish creates the user's own model)."""

    def __init__(self, loaded, settings: LearnerSettings, reference: Trainer, send: Callable[[Message], None],
                 check_forget: Callable[[], None], general: np.ndarray | None):
        self.settings = settings
        self.send, self.check_forget = send, check_forget
        self.parent = loaded
        # The built-in model is never written: the user's own model is named at the first publish.
        self.publish_name: str | None = None if loaded.builtin else loaded.name
        self.on_disk = None if loaded.builtin else loaded.meta.weights  # what we started from
        self.config = loaded.config
        self.meta = loaded.meta.without_files()
        self.reference = reference
        self.general = general
        self.general_baseline = None
        if general is not None:
            self.general_baseline = self._general_baseline(loaded.meta.heldout_baseline_bpc)
            log(f"general held-out text: {len(general) - 1} bytes from {store.HELDOUT_FILE}, "
                f"bpc limit {self.general_baseline + settings.general_tolerance_bpc:.4f}")
        self.sources_check: np.ndarray | None = None
        self.sources_baseline: float | None = None
        self.postponed_at: int | None = None  # held-out bytes at the last postponed publish (logged once)

    def _general_baseline(self, recorded: float | None) -> float:
        """The figure publishes are held to: the one recorded when the model was created, so that
        sessions cannot add up. A learner never publishes past it plus the tolerance, so weights
        already past that were changed by someone else (`train --resume`): their figure is the new start."""
        start = self.reference.evaluate(self.general)
        if recorded is None or start > recorded + self.settings.general_tolerance_bpc:
            return start
        return recorded

    def judge_sources_on(self, check: np.ndarray | None) -> None:
        """Hold publishes to the sources' validation documents too (read after the model loaded)."""
        self.sources_check = check
        self.sources_baseline = None if check is None else self.reference.evaluate(check)

    def roll_back(self, trainer: Trainer) -> None:
        """Back to the last published weights."""
        trainer.load_weights(self.reference.weights())

    def publish(self, candidate: Candidate) -> None:
        """Save the candidate's weights if they pass the held-out checks (the module's docstring)."""
        stats = candidate.stats
        stats.attempted_steps = stats.steps
        self.check_forget()
        verdict = self._judge(candidate)
        if verdict is None:
            return
        user_bpc, was, general_bpc = verdict
        weights = candidate.trainer.weights()
        name = self.publish_name or store.own_model_name(self.parent.name)
        created = self.publish_name is None
        try:
            with store.lock_model(name, timeout=self.settings.lock_timeout_s):
                try:
                    self.check_forget()
                    if not self._save(name, created, candidate, user_bpc, general_bpc):
                        return
                finally:
                    store.remove_if_unsaved(name)  # a model forgotten meanwhile is not brought back as a folder
        except LockBusyError:
            self.send(Busy(steps=stats.steps))  # `charcomplete train` is writing it: try next time
            log(f"publish skipped: model {name!r} is being written by another process")
            return
        self.publish_name = name
        stats.mark_published()
        self.reference.load_weights(weights)
        self.send(Published(name=name, steps=stats.steps, bpc=user_bpc, was=was, general_bpc=general_bpc,
                            created=created))
        general = "-" if general_bpc is None else f"{general_bpc:.4f}"
        log(f"published {name!r}{' (created, now in use)' if created else ''} at step {stats.steps}: "
            f"your held-out text {was:.4f} -> {user_bpc:.4f} bpc, general held-out {general}")

    def _judge(self, candidate: Candidate) -> tuple[float, float, float | None] | None:
        """(user bpc, its previous figure, general bpc) when the weights may be published; None otherwise."""
        settings = self.settings
        user = candidate.user_heldout
        creates = self.publish_name is None  # learning on the built-in model: the first publish creates one
        need = max(settings.min_heldout_bytes, settings.min_create_heldout_bytes if creates else 0)
        if user is None or len(user) - 1 < need:
            have = 0 if user is None else len(user) - 1
            if have != self.postponed_at:  # said once per amount, not at every attempt
                self.postponed_at = have
                why = "to create your own model" if creates else "to judge new weights"
                log(f"publish postponed: {have} bytes of your held-out text, {need} needed {why}")
            return None
        trainer = candidate.trainer
        user_bpc, was = trainer.evaluate(user), self.reference.evaluate(user)
        if user_bpc > was:
            return self._refuse(candidate, f"worse on your held-out text ({user_bpc:.4f} against {was:.4f} bpc)")
        figures = {}
        for label, text, baseline in (("general held-out text", self.general, self.general_baseline),
                                      ("the sources' held-out documents", self.sources_check,
                                       self.sources_baseline)):
            if text is None:
                continue
            figures[label] = bpc = trainer.evaluate(text)
            limit = baseline + settings.general_tolerance_bpc
            if bpc > limit:
                return self._refuse(candidate, f"worse on {label} ({bpc:.4f} bpc, limit {limit:.4f})")
        return user_bpc, was, figures.get("general held-out text")

    def _refuse(self, candidate: Candidate, reason: str) -> None:
        self.roll_back(candidate.trainer)
        candidate.stats.mark_published()
        self.send(Refused(reason=reason, steps=candidate.stats.steps))
        log(f"publish refused at step {candidate.stats.steps}: {reason}; back to the last published weights")
        return None

    def _save(self, name: str, created: bool, candidate: Candidate, user_bpc: float,
              general_bpc: float | None) -> bool:
        """Under the lock of `name`: write the model; False when it must not be written now."""
        if created:
            if store.model_exists(name):
                log(f"publish skipped: {name!r} was created by someone else meanwhile")
                return False
        elif not store.model_exists(name):
            raise Forget  # the model was deleted (`forget`, `models rm`): what was learned goes with it
        elif self._current_on_disk(name) != self.on_disk:
            self._rebase(name, candidate)
            return False
        meta = self._meta_for_publish(candidate.stats, user_bpc, general_bpc, created)
        trainer = candidate.trainer
        store.save_model(name, self.config, trainer.weights(), meta, trainer.optimizer_state())
        if created:
            store.copy_heldout(self.parent.folder, store.model_folder(name))
            memory.copy(self.parent.folder, store.model_folder(name))  # it still knows what the parent knew
            if store.current_model_name() == self.parent.name:
                store.update_settings(model=name)
        self.on_disk = self._current_on_disk(name)
        self.meta = meta
        return True

    @staticmethod
    def _current_on_disk(name: str) -> str | None:
        if not store.model_exists(name):
            return None
        meta, _, _ = store.load_meta(name)
        return meta.weights

    def _rebase(self, name: str, candidate: Candidate) -> None:
        """Someone else (`charcomplete train`) saved the model since we loaded it: their
        training wins; start over from their weights rather than overwrite them."""
        loaded = store.load_model(name)
        if loaded.config != self.config:
            raise CharcompleteError(f"model {name!r} changed shape while the editor was learning")
        candidate.trainer.load_weights(loaded.weights)
        self.reference.load_weights(loaded.weights)
        self.meta = loaded.meta.without_files()
        self.on_disk = loaded.meta.weights
        candidate.stats.mark_published()
        self.send(Rebased(name=name, steps=candidate.stats.steps))
        log(f"model {name!r} was saved by another process: learning starts again from its weights")

    def _meta_for_publish(self, stats: LearnerStats, user_bpc: float, general_bpc: float | None,
                          created: bool) -> ModelMeta:
        learned = stats.steps - stats.published_steps
        chars = stats.chars - stats.published_chars
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

