"""The editor app: a TextArea with ghost-text suggestions, a status bar, saving and
crash recovery, and a background learner process that keeps adapting the model.

This module is the shell: the layout, the key bindings and commands, the timers, and the
wiring of its parts, each of which sees the app only through host.EditorHost:
suggestions.Suggestions (the session and the swaps of what it suggests with),
learning.Learning (the background learner), recovery.Journaling (the journal and the offer
to recover it), saving.Saving (the save and quit flows and their dialogs) and
status.StatusLine (what the status bar shows). reading.py says which files it opens.

Nothing here imports torch: suggestions come from the numpy engine, learning happens
in the learner process (charcomplete.learn.learner), which only ever talks to this one
through two queues."""

from __future__ import annotations

import asyncio
import os
from collections import deque
from collections.abc import Iterable
from functools import partial
from pathlib import Path

from textual import on
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer
from textual.worker import Worker, WorkerState

from charcomplete.core.errors import CharcompleteError
from charcomplete.editor.journal import Journal, Redactions
from charcomplete.editor.learning import Learning
from charcomplete.editor.messages import EngineLoadFailed, EngineSwapped, LearnerSaid
from charcomplete.editor.reading import disk_stamp, read_document
from charcomplete.editor.recovery import Journaling
from charcomplete.editor.saving import Saving
from charcomplete.editor.status import StatusLine
from charcomplete.editor.suggestions import Suggestions
from charcomplete.editor.widgets import LearnerState, StatusBar, SuggestingTextArea
from charcomplete.learn.learner import Learner, LearnerSettings
from charcomplete.storage import store
from charcomplete.suggest.policy import IN_DOCUMENTS
from charcomplete.suggest.session import Session, SessionOptions


def _excluded(path: Path) -> bool:
    """Whether the settings' "exclude" patterns keep `path` out; a damaged list keeps it out too."""
    from charcomplete.core.exclusions import Exclusions

    try:
        return Exclusions.of(store.exclude_patterns()).path(path)
    except CharcompleteError:
        return True


def _markdown_language() -> str | None:
    """Highlight Markdown when tree-sitter is installed (textual[syntax]); plain text otherwise."""
    from importlib.util import find_spec

    installed = find_spec("tree_sitter") is not None and find_spec("tree_sitter_markdown") is not None
    return "markdown" if installed else None


class ModelCommands(Provider):
    """Command palette: switch the model suggestions come from."""

    def _names(self) -> list[str]:
        return store.list_model_names()

    async def discover(self) -> Hits:
        app = self.app
        for name in await asyncio.to_thread(self._names):
            yield DiscoveryHit(f"Use model {name}", partial(app.switch_model, name), help="Suggest with this model")

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        app = self.app
        for name in await asyncio.to_thread(self._names):
            command = f"Use model {name}"
            score = matcher.match(command)
            if score > 0:
                yield Hit(score, matcher.highlight(command), partial(app.switch_model, name),
                          help="Suggest with this model")


class EditorApp(App):
    """`charcomplete edit [FILE]`."""

    CSS_PATH = "editor.tcss"
    TITLE = "charcomplete"
    COMMANDS = App.COMMANDS | {ModelCommands}
    editor: SuggestingTextArea  # set in compose
    status: StatusBar
    # Shown in the status bar by their watchers the moment they change (the rest of the bar
    # follows on its timer). Not on mount: on_mount shows the whole bar.
    learner_state: reactive[LearnerState] = reactive(LearnerState.OFF, init=False)
    learner_steps: reactive[int] = reactive(0, init=False)

    BINDINGS = [
        Binding("ctrl+s", "save", "Save"),
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("f2,ctrl+g", "toggle_suggestions", "Suggestions"),
        Binding("f3", "toggle_learning", "Learning"),
    ]

    def __init__(
        self,
        path: Path | None,
        engine,
        *,
        text: str | None = None,
        learn: bool = True,
        learner_settings: LearnerSettings | None = None,
        journal_every_s: float = 3.0,
        send_every_s: float = 1.5,
        suggest_options: dict | None = None,
        cache: bool = True,
    ):
        super().__init__()
        self.path = None if path is None else Path(os.path.abspath(Path(path).expanduser()))
        # Taken before reading: a change in between makes a save ask, rather than go unnoticed.
        stamp = disk_stamp(self.path)
        initial = text if text is not None else (read_document(self.path) if self.path is not None else "")
        self.saved_text = initial
        self.initial_text = initial
        # A document the settings' "exclude" patterns keep out is never learned from: no learner,
        # and the suggestions' cache does not count what is typed (the one matcher `train` uses).
        self.excluded = self.path is not None and _excluded(self.path)
        learn = learn and not self.excluded
        self.set_reactive(EditorApp.learner_state, LearnerState.STARTING if learn else LearnerState.OFF)
        self.journal_every_s = journal_every_s
        self.send_every_s = send_every_s
        # suggest() settings: the defaults, tuned for savings, and a document's (a suggestion may
        # run on past a line end: policy.IN_DOCUMENTS)
        self.suggest_options = {**IN_DOCUMENTS, **(suggest_options or {})}
        self.redactions = Redactions()
        self.quitting = False
        # Suggestions come from the session every surface uses: the model mixed with a cache of
        # this document and what is typed into it, and with the model's memory (added once it is
        # built, off the event loop); `cache` False: the model alone (`edit --no-learn`). The cache
        # lives in memory only and stops counting while learning is paused. The session's online
        # weights stay off here: they import torch, which the editor never does (0.3 GB of memory
        # and seconds of start); its learner process learns for it instead.
        session = Session(engine, initial, SessionOptions(cache=cache, memory=cache, learn=not self.excluded,
                                                          suggest=self.suggest_options))
        self.suggestions = Suggestions(self, session)
        self.learning = Learning(self, self.suggestions, learner_settings or LearnerSettings(), learn)
        self.journaling = Journaling(self, Journal(self.path))
        self.saving = Saving(self, self.journaling, stamp)
        self.status_line = StatusLine(self, self.suggestions, self.learning)

    # ------------------------------------------------------------ what tests and the status read

    @property
    def engine(self):
        return self.suggestions.session.engine

    @property
    def cache(self):
        """The typing cache of this document (None: the model alone)."""
        return self.suggestions.session.cache

    @property
    def swaps(self) -> int:
        """How many times new weights were swapped in."""
        return self.suggestions.swaps

    @property
    def journal(self) -> Journal:
        return self.journaling.journal

    @property
    def learner(self) -> Learner | None:
        return self.learning.learner

    @property
    def learner_error(self) -> str | None:
        return self.learning.error

    @property
    def bpc_history(self) -> deque[float]:
        return self.learning.bpc_history

    @property
    def document_name(self) -> str:
        return self.path.name if self.path is not None else "untitled"

    # ------------------------------------------------------------ layout and start

    def compose(self) -> ComposeResult:

        # Kept as attributes: background results may still arrive while the app tears its screen down.
        self.editor = SuggestingTextArea(
            self.initial_text,
            completer=self.suggestions.session.completer,
            language=_markdown_language(),
            soft_wrap=True,
            tab_behavior="indent",
            id="editor",
        )
        self.status = StatusBar(id="status")
        yield self.editor
        yield self.status
        yield Footer()

    def on_mount(self) -> None:
        self.editor.focus()
        self.sub_title = str(self.path) if self.path is not None else "new document"
        self.status_line.show_model()
        self.refresh_status(force=True)
        self.set_interval(self.journal_every_s, self.journaling.tick)
        self.set_interval(self.send_every_s, self.learning.send_tick)
        self.set_interval(0.5, self.refresh_status)
        self.journaling.offer_recovery(self.initial_text)
        if self.learning.wanted:
            self.learning.start()
        elif self.excluded:
            self.notify(f"{self.document_name} is excluded from learning (the settings' \"exclude\"): "
                        "suggestions only, nothing is learned from it.")
        if self.cache is not None:
            self.suggestions.build_memory()
        self.suggestions.prime()

    # ------------------------------------------------------------ status

    def refresh_status(self, force: bool = False) -> None:
        self.status_line.refresh(force)

    def watch_learner_state(self) -> None:
        self.status_line.show_learner()

    def watch_learner_steps(self) -> None:
        self.status_line.show_learner()

    # ------------------------------------------------------------ actions and commands

    def action_save(self) -> None:
        self.saving.save()

    def action_toggle_suggestions(self) -> None:
        editor = self.editor
        editor.suggestions_enabled = not editor.suggestions_enabled
        self.notify("Suggestions on." if editor.suggestions_enabled else "Suggestions off.")

    def action_toggle_learning(self) -> None:
        if self.excluded:
            self.notify(f"{self.document_name} is excluded from learning; nothing is learned from it.")
            return
        self.learning.toggle()

    def switch_model(self, name: str) -> None:
        self.suggestions.switch_model(name)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Save", "Save the document (Ctrl+S)", self.action_save)
        yield SystemCommand("Toggle suggestions", "Turn ghost-text suggestions off or on (F2)",
                            self.action_toggle_suggestions)
        yield SystemCommand("Toggle learning", "Pause or resume the background learner (F3)",
                            self.action_toggle_learning)

    # ------------------------------------------------------------ what the parts' workers report

    @on(LearnerSaid)
    def _learner_said(self, event: LearnerSaid) -> None:
        self.learning.heard(event)

    @on(EngineSwapped)
    def _engine_swapped(self, event: EngineSwapped) -> None:
        self.suggestions.swapped(event.reason)
        self.status_line.show_model()
        if event.reason == "switched":
            self.notify(f"Suggesting with model {event.name!r}.")
            self.learning.follow_model()  # the learner follows the model suggestions come from

    @on(EngineLoadFailed)
    def _engine_load_failed(self, event: EngineLoadFailed) -> None:
        self.notify(f"Could not load model {event.name!r}: {event.error}", severity="error")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place where a failed background job is told to the user."""
        if event.state != WorkerState.ERROR:
            return
        group, error = event.worker.group, event.worker.error
        if group == "learner-start":
            self.learning.failed(f"the background learner could not start ({error})")
        elif group == "journal":
            self.notify(f"Could not write the recovery journal: {error}", severity="warning")
        elif group != "suggest":  # the editor widget reports its own
            self.notify(f"{group} failed: {error}", severity="error")

    # ------------------------------------------------------------ quitting

    def action_quit(self) -> None:
        if self.editor.text == self.saved_text:
            self.quit_cleanly()
            return
        self.saving.ask_before_quitting()

    def quit_cleanly(self) -> None:
        """Quit at once: no journal left behind; the learner is handed what is left to do
        (its final publish) and finishes in the background, without the user waiting."""
        if self.quitting:
            return
        self.quitting = True
        self.journal.remove()
        self.learning.hand_over()
        self.exit()

    def on_unmount(self) -> None:
        # The app can end without action_quit (a test leaving run_test, an error): the learner
        # is handed over the same way; a learner still starting is ended.
        self.quitting = True
        self.learning.hand_over()
