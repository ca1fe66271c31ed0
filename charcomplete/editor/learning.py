"""The learner's side of the editor: starting the background learner process
(learn.learner) for the model in use, sending it the document as it changes, hearing what
it says (LearnerSaid, posted by its handle's reader thread: no polling), swapping in the
weights it publishes, pausing and resuming it, and turning learning off when `charcomplete
forget` runs.

The learner only ever talks to the editor through its handle's two queues; nothing here
imports torch. What the user typed while learning was paused is redacted from all it is sent."""

from __future__ import annotations

from collections import deque

from textual.worker import get_current_worker

from charcomplete.editor.host import EditorHost, in_thread
from charcomplete.editor.messages import LearnerSaid
from charcomplete.editor.suggestions import Suggestions
from charcomplete.editor.widgets import LearnerState
from charcomplete.learn.learner import (
    Busy,
    Exited,
    Failed,
    Forgotten,
    Learner,
    LearnerSettings,
    Progress,
    Published,
    Rebased,
)
from charcomplete.storage import store


class Learning:
    """The app's learner (None while none runs) and what it heard of it; its state is the
    app's reactive `learner_state`/`learner_steps`, shown by the status bar."""

    def __init__(self, host: EditorHost, suggestions: Suggestions, settings: LearnerSettings, wanted: bool):
        self.host = host
        self.suggestions = suggestions
        self.settings = settings
        self.wanted = wanted  # whether this session learns: at start, or once the user turned learning on
        self.learner: Learner | None = None
        self.error: str | None = None
        self.bpc_history: deque[float] = deque(maxlen=40)
        self.sent_version = -1  # the editor's version the learner was last sent
        self._early: list[LearnerSaid] = []  # from a learner whose start the app has not heard of yet
        self._pause_snapshot: str | None = None

    # ------------------------------------------------------------ starting

    def start(self) -> None:
        """Start a learner for the model in use, ending the previous one (which keeps what it learned)."""
        host = self.host
        old, self.learner = self.learner, None
        if host.learner_state is not LearnerState.PAUSED:
            host.learner_state = LearnerState.STARTING
        self.error = None
        host.learner_steps = 0
        self.sent_version = -1
        in_thread(host, self._spawn, old, self.suggestions.session.engine.name, group="learner-start", exclusive=True)

    def _spawn(self, old: Learner | None, name: str) -> None:
        # Off the event loop: starting a process takes tens of milliseconds. The old learner
        # publishes what it learned and exits in the background.
        if old is not None:
            old.hand_over()
        learner = Learner(name, self.settings)
        # Its messages come as they arrive, posted from the handle's reader thread (no polling).
        learner.on_message = lambda said: self.host.post_message(LearnerSaid(learner, said))
        learner.start()
        if get_current_worker().is_cancelled:  # a newer start (another model) replaced this one
            learner.hand_over()
            return
        self.host.call_from_thread(self._started, learner)

    def _started(self, learner: Learner) -> None:
        host = self.host
        if host.quitting or self.learner is not None:
            # Closing, or a newer learner won the race: this one must not keep running unseen.
            learner.hand_over()
            return
        self.learner = learner
        self.suggestions.go_online(learner)  # the online weights step in the learner's process
        early, self._early = [event for event in self._early if event.learner is learner], []
        for event in early:
            self._hear(event.said)
        if host.learner_state is LearnerState.PAUSED:
            learner.pause()  # paused while it was starting
        else:
            host.learner_state = LearnerState.LEARNING
        self.send_tick()

    def follow_model(self) -> None:
        """Another model was chosen: the learner follows the model suggestions come from."""
        if self.learner is not None or self.host.learner_state is LearnerState.ERROR:
            self.start()

    def hand_over(self) -> None:
        """The app is closing: the learner finishes what is left to do (its final publish) on its own."""
        self.suggestions.go_offline()
        if self.learner is not None:
            self.learner.hand_over()

    # ------------------------------------------------------------ talking to it

    def send_tick(self) -> None:
        host = self.host
        if self.suggestions.session.forgotten() and not host.quitting:  # `forget` ran, the learner on or not
            self.suggestions.load_engine(store.current_model_name(), "forgotten")
        learner = self.learner
        if learner is None or host.learner_state in (LearnerState.PAUSED, LearnerState.ERROR, LearnerState.OFF):
            return
        version = host.editor.version
        if version != self.sent_version:
            self.sent_version = version
            learner.send_text(host.redactions.apply(host.editor.text))

    def heard(self, event: LearnerSaid) -> None:
        if event.learner is not self.learner:
            if self.learner is None and not event.learner.stopped:
                self._early.append(event)  # it spoke before the app heard that it started
            return  # a learner handed over: what it does now is its own business
        self._hear(event.said)

    def _hear(self, said) -> None:
        learner = self.learner
        if isinstance(said, Exited):
            if learner is not None and not learner.stopped and self.host.learner_state is not LearnerState.ERROR:
                self.failed(f"the background learner stopped unexpectedly ({said.how})")
            return
        self._on_message(said)

    def _on_message(self, message) -> None:
        host = self.host
        if hasattr(message, "steps"):
            host.learner_steps = message.steps
        if isinstance(message, Progress):
            if message.bpc is not None:
                self.bpc_history.append(message.bpc)
        elif isinstance(message, (Published, Rebased)) and not host.quitting:
            self.suggestions.load_engine(message.name, "learned")
            if isinstance(message, Published) and message.created:
                host.notify(f"What you write is now learned in your own model {message.name!r}, now in use; "
                            "the built-in model stays as shipped.", timeout=6)
        elif isinstance(message, Busy):
            host.notify("Model busy: another charcomplete process is training it; learning goes on.", timeout=4)
        elif isinstance(message, Forgotten):
            host.learner_state = LearnerState.OFF
            self.learner.hand_over()  # it has stopped on its own; nothing more is sent to it
            # weights that may be gone from disk
            self.suggestions.load_engine(store.current_model_name(), "forgotten")
            host.notify("Everything learned was forgotten (charcomplete forget); learning is off for this session.",
                        timeout=6)
        elif isinstance(message, Failed):
            self.failed(f"the background learner failed: {message.message}")

    def failed(self, reason: str) -> None:
        self.suggestions.go_offline()  # no learner steps them any more
        self.host.learner_state = LearnerState.ERROR
        self.error = reason
        self.host.notify(f"{reason[0].upper()}{reason[1:]}; editing goes on without learning.",
                         severity="error", timeout=8)

    # ------------------------------------------------------------ the user's switch (F3)

    def toggle(self) -> None:
        """Turn learning on (a new learner), pause it, or resume it: what is typed while paused
        is neither learned, nor counted by the suggestions' cache, nor journaled."""
        host = self.host
        session, editor = self.suggestions.session, host.editor
        if host.learner_state in (LearnerState.OFF, LearnerState.ERROR):
            self.wanted = True
            self.start()
            host.notify("Learning on.")
        elif host.learner_state is LearnerState.PAUSED:
            if self._pause_snapshot is not None:
                host.redactions.add_changes(self._pause_snapshot, editor.text)
                self._pause_snapshot = None
            host.learner_state = LearnerState.LEARNING
            session.set_learning(True)
            editor.completer.learn = session.learning
            if self.learner is not None:
                self.learner.resume()
            self.sent_version = -1
            host.notify("Learning resumed; what you typed while paused stays out of it.")
        elif host.learner_state in (LearnerState.LEARNING, LearnerState.STARTING):
            self._pause_snapshot = editor.text
            host.learner_state = LearnerState.PAUSED
            session.set_learning(False)  # the suggestions' cache stops counting what is typed, too
            editor.completer.learn = False
            if self.learner is not None:
                self.learner.pause()
            host.notify("Learning paused: nothing you type now is learned or journaled.")
