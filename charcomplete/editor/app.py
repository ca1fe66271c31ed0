"""The editor app: a TextArea with ghost-text suggestions, a status bar, saving and
crash recovery, and a background learner process that keeps adapting the model.

Nothing here imports torch: suggestions come from the numpy engine, learning happens
in the learner process (charcomplete.learn.learner), which only ever talks to this one
through two queues."""

from __future__ import annotations

import asyncio
import os
import statistics
from collections import deque
from collections.abc import Iterable
from functools import partial
from pathlib import Path

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer
from textual.widgets.text_area import Selection
from textual.worker import Worker, WorkerState, get_current_worker

from charcomplete.core.errors import CharcompleteError
from charcomplete.editor.context import Context
from charcomplete.editor.journal import Journal, JournalEntry, Redactions
from charcomplete.editor.messages import EngineLoadFailed, EngineSwapped, LearnerSaid
from charcomplete.editor.reading import disk_stamp, read_document
from charcomplete.editor.widgets import (
    BACKSPACE,
    ChangedOnDiskScreen,
    LearnerState,
    QuitScreen,
    ReadOnlyScreen,
    RecoverScreen,
    SaveAsScreen,
    StatusBar,
    SuggestingTextArea,
)
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
from charcomplete.storage.documents import ReadOnlyDocumentError, write_document
from charcomplete.suggest.session import Session, SessionOptions, load_engine, load_memory


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
        self._disk_stamp = disk_stamp(self.path)  # a save first checks that nobody else changed the file
        initial = text if text is not None else (read_document(self.path) if self.path is not None else "")
        self.saved_text = initial
        self.initial_text = initial
        self.journal = Journal(self.path)
        # A document the settings' "exclude" patterns keep out is never learned from: no learner,
        # and the suggestions' cache does not count what is typed (the one matcher `train` uses).
        self.excluded = self.path is not None and _excluded(self.path)
        learn = learn and not self.excluded
        self.learn = learn
        self.learner_settings = learner_settings or LearnerSettings()
        self.learner: Learner | None = None
        self.set_reactive(EditorApp.learner_state, LearnerState.STARTING if learn else LearnerState.OFF)
        self.learner_error: str | None = None
        self.bpc_history: deque[float] = deque(maxlen=40)
        self.swaps = 0  # how many times new weights were swapped in (tests and the status read it)
        self.switches = 0  # of those, how many were another model chosen (each brings its own memory)
        self.journal_every_s = journal_every_s
        self.send_every_s = send_every_s
        self._early: list[LearnerSaid] = []  # from a learner whose start the app has not heard of yet
        self.suggest_options = dict(suggest_options or {})  # suggest() settings; the defaults were tuned for savings
        # Suggestions come from the session every surface uses: the model mixed with a cache of
        # this document and what is typed into it, and with the model's memory (added once it is
        # built, off the event loop); `cache` False: the model alone (`edit --no-learn`). The cache
        # lives in memory only and stops counting while learning is paused. The session's online
        # weights stay off here: they import torch, which the editor never does (0.3 GB of memory
        # and seconds of start); its learner process learns for it instead.
        self.session = Session(engine, initial, SessionOptions(cache=cache, memory=cache, learn=not self.excluded,
                                                              suggest=self.suggest_options))
        self.redactions = Redactions()
        self._pause_snapshot: str | None = None
        self._sent_version = -1
        self._journaled_version = -1
        self._journaled_selection = None
        self._journal_failed = False  # a failed journal write is reported once, not every few seconds
        self._status_version = -1
        self._modified = False
        self._quitting = False

    # ------------------------------------------------------------ layout and start

    def compose(self) -> ComposeResult:

        # Kept as attributes: background results may still arrive while the app tears its screen down.
        self.editor = SuggestingTextArea(
            self.initial_text,
            completer=self.session.completer,
            language=_markdown_language(),
            soft_wrap=True,
            tab_behavior="indent",
            id="editor",
        )
        self.status = StatusBar(id="status")
        yield self.editor
        yield self.status
        yield Footer()

    @property
    def engine(self):
        return self.session.engine

    @property
    def cache(self):
        """The typing cache of this document (None: the model alone)."""
        return self.session.cache

    @property
    def document_name(self) -> str:
        return self.path.name if self.path is not None else "untitled"

    def on_mount(self) -> None:
        self.editor.focus()
        self.sub_title = str(self.path) if self.path is not None else "new document"
        self._show_model()
        self._refresh_status(force=True)
        self.set_interval(self.journal_every_s, self._journal_tick)
        self.set_interval(self.send_every_s, self._send_tick)
        self.set_interval(0.5, self._refresh_status)
        entry = self.journal.recoverable(self.initial_text)
        if entry is not None:
            dialog = RecoverScreen(self.document_name, entry.saved_at)
            self.push_screen(dialog, partial(self._recover, entry, dialog))
        if self.learn:
            self._start_learner()
        elif self.excluded:
            self.notify(f"{self.document_name} is excluded from learning (the settings' \"exclude\"): "
                        "suggestions only, nothing is learned from it.")
        if self.cache is not None:
            self._build_memory(self.engine)
        self._prime(self.editor, self.editor.hold_context())

    def _recover(self, entry: JournalEntry, dialog: RecoverScreen, recover: bool | None) -> None:
        """Apply the choice, then type what was typed while the dialog was open at the cursor
        (in the recovered text: where the cursor was when the editor died)."""
        if recover:
            self.editor.load_text(entry.text)
            if entry.selection is not None:
                self.editor.selection = Selection(*(self._clamped(location) for location in entry.selection))
        self._type_held_keys(dialog.typed)
        if recover:
            try:  # this session's journal holds the text before the dead session's one goes
                self.journal.write(self.redactions.apply(self.editor.text), self.editor.selection)
            except OSError:
                self._refresh_status(force=True)
                return  # keep the old journal: it is the only copy on disk
            self.notify("Recovered the unsaved changes.")
        if recover is None:
            self.notify("The unsaved changes are kept; they will be offered again next time.")
        else:
            self.journal.remove(entry.path)
        self._refresh_status(force=True)

    def _clamped(self, location: tuple[int, int]) -> tuple[int, int]:
        """`location` moved inside the document (a journal is not trusted to fit it)."""
        document = self.editor.document
        row = min(location[0], document.line_count - 1)
        return row, min(location[1], len(document.get_line(row)))

    def _type_held_keys(self, typed: list[str]) -> None:
        for key in typed:
            if key == BACKSPACE:
                self.editor.action_delete_left()
            else:
                self.editor.insert(key)

    # ------------------------------------------------------------ status

    def _show_model(self) -> None:
        if not self.status.is_mounted:
            return
        config = self.engine.config
        self.status.show_model(self.engine.name, config.describe(), config.parameter_count())

    def _document_modified(self) -> bool:
        version = self.editor.version
        if version != self._status_version:
            self._status_version = version
            self._modified = self.editor.text != self.saved_text
        return self._modified

    def watch_learner_state(self) -> None:
        self._show_learner()

    def watch_learner_steps(self) -> None:
        self._show_learner()

    def _show_learner(self) -> None:
        if self.status.is_mounted:
            self.status.show_learner(self.learner_state, self.learner_steps)

    def _refresh_status(self, force: bool = False) -> None:
        if not self.status.is_mounted:
            return
        if force:
            self._status_version = -1
        if self.path is None:
            state = "modified" if self._document_modified() else "new"
        else:
            state = "modified" if self._document_modified() else ("saved" if self.path.exists() else "new")
        self.status.show_file(self.document_name, state)
        self._show_learner()
        self.status.show_bpc(list(self.bpc_history))
        latencies = self.editor.latencies
        if latencies:
            self.status.show_latency(latencies[-1], statistics.median(latencies))

    # ------------------------------------------------------------ saving

    def action_save(self) -> None:
        self._save_flow(then_quit=False)

    @work(exclusive=True, group="save", exit_on_error=False)
    async def _save_flow(self, then_quit: bool) -> None:
        """Save, asking what the situation needs (a name, whether to overwrite another program's
        changes or a read-only file), each answer awaited in turn; quit after a save when asked."""
        if await self._save_interactively() and then_quit:
            self._quit_cleanly()

    async def _save_interactively(self) -> bool:
        if self.path is None:
            return await self._save_as()
        if disk_stamp(self.path) not in (self._disk_stamp, None):
            # Another program changed the file since it was opened or saved: never lose its changes silently.
            answer = await self.push_screen_wait(ChangedOnDiskScreen(self.document_name))
            if answer == "save-as":
                return await self._save_as()
            if answer != "overwrite":
                self.notify(f"Not saved: {self.document_name} keeps the other program's changes; "
                            "your text is still here.")
                return False
        return await self._write_asking(self.path)

    async def _save_as(self) -> bool:
        """Ask for a new file's name and save there; the document is that file from then on."""
        path = await self.push_screen_wait(SaveAsScreen())
        if path is None:
            return False
        path = Path(os.path.abspath(path))
        if path.is_dir():
            self.notify(f"{path} is a folder; give a file name.", severity="error")
            return False
        if path.exists():
            self.notify(f"{path.name} already exists; choose another name.", severity="error")
            return False
        if not await self._write_asking(path):
            return False
        self.journal.remove()  # the scratch journal (or the old file's): the text now lives in its own file
        self.path = path
        self.journal = Journal(path)
        self.sub_title = str(path)
        self._refresh_status(force=True)
        return True

    async def _write_asking(self, path: Path) -> bool:
        """save_to, asking before overwriting a read-only file."""
        try:
            return self.save_to(path)
        except ReadOnlyDocumentError:
            answer = await self.push_screen_wait(ReadOnlyScreen(path.name))
        if answer == "overwrite":
            return self.save_to(path, overwrite_read_only=True)
        if answer == "save-as":
            return await self._save_as()
        self.notify(f"Not saved: {path.name} is read-only; your text is still here.")
        return False

    def save_to(self, path: Path, overwrite_read_only: bool = False) -> bool:
        """Write the buffer to `path` atomically; on failure say why and keep the buffer.
        ReadOnlyDocumentError for a read-only file unless `overwrite_read_only` (the caller asks)."""
        text = self.editor.text
        try:
            write_document(path, text, overwrite_read_only=overwrite_read_only)
        except ReadOnlyDocumentError:
            raise  # (an OSError too) not a failure to report: the caller asks whether to overwrite
        except OSError as error:
            reason = error.strerror or str(error)
            self.notify(f"Could not save {path.name}: {reason.lower()}; your text is still here.", severity="error")
            return False
        self.saved_text = text
        self._disk_stamp = disk_stamp(path)
        self.journal.remove()
        self._journaled_version = self.editor.version
        self._refresh_status(force=True)
        return True

    # ------------------------------------------------------------ journal

    def _journal_tick(self) -> None:
        version, selection = self.editor.version, tuple(self.editor.selection)
        if self._quitting or self.learner_state is LearnerState.PAUSED:
            return  # the user asked that nothing typed now be kept anywhere
        if version == self._journaled_version and selection == self._journaled_selection:
            return  # nothing new (a moved cursor is news: recovery puts it back)
        self._journaled_version, self._journaled_selection = version, selection
        text = self.editor.text
        if text == self.saved_text:
            self.journal.remove()
        else:
            self._write_journal(self.redactions.apply(text), selection)

    @work(thread=True, exclusive=True, exit_on_error=False, group="journal")
    def _write_journal(self, text: str, selection=None) -> None:
        try:
            self.journal.write(text, selection)
        except OSError as error:
            # The document and the buffer are untouched; say so once, and try again at the next change.
            self._journaled_version = -1
            if not self._journal_failed:
                self._journal_failed = True
                reason = (error.strerror or str(error)).lower()
                self.call_from_thread(
                    self.notify, f"Could not write the recovery journal: {reason}; your text is still here.",
                    severity="warning",
                )
            return
        self._journal_failed = False

    # ------------------------------------------------------------ learner

    def _start_learner(self) -> None:
        """Start a learner for the model in use, ending the previous one (which keeps what it learned)."""
        old, self.learner = self.learner, None
        if self.learner_state is not LearnerState.PAUSED:
            self.learner_state = LearnerState.STARTING
        self.learner_error = None
        self.learner_steps = 0
        self._sent_version = -1
        self._spawn_learner(old, self.engine.name)

    @work(thread=True, exclusive=True, exit_on_error=False, group="learner-start")
    def _spawn_learner(self, old: Learner | None, name: str) -> None:
        # Off the event loop: starting a process takes tens of milliseconds. The old learner
        # publishes what it learned and exits in the background.
        if old is not None:
            old.hand_over()
        learner = Learner(name, self.learner_settings)
        # Its messages come as they arrive, posted from the handle's reader thread (no polling).
        learner.on_message = lambda said: self.post_message(LearnerSaid(learner, said))
        learner.start()
        if get_current_worker().is_cancelled:  # a newer start (another model) replaced this one
            learner.hand_over()
            return
        self.call_from_thread(self._learner_started, learner)

    def _learner_started(self, learner: Learner) -> None:
        if self._quitting or self.learner is not None:
            # Closing, or a newer learner won the race: this one must not keep running unseen.
            learner.hand_over()
            return
        self.learner = learner
        early, self._early = [event for event in self._early if event.learner is learner], []
        for event in early:
            self._hear(event.said)
        if self.learner_state is LearnerState.PAUSED:
            learner.pause()  # paused while it was starting
        else:
            self.learner_state = LearnerState.LEARNING
        self._send_tick()

    def _send_tick(self) -> None:
        if self.session.forgotten() and not self._quitting:  # `forget` ran, the learner on or not
            self._load_engine(store.current_model_name(), "forgotten")
        learner = self.learner
        if learner is None or self.learner_state in (LearnerState.PAUSED, LearnerState.ERROR, LearnerState.OFF):
            return
        version = self.editor.version
        if version != self._sent_version:
            self._sent_version = version
            learner.send_text(self.redactions.apply(self.editor.text))

    @on(LearnerSaid)
    def _learner_said(self, event: LearnerSaid) -> None:
        if event.learner is not self.learner:
            if self.learner is None and not event.learner.stopped:
                self._early.append(event)  # it spoke before the app heard that it started
            return  # a learner handed over: what it does now is its own business
        self._hear(event.said)

    def _hear(self, said) -> None:
        learner = self.learner
        if isinstance(said, Exited):
            if learner is not None and not learner.stopped and self.learner_state is not LearnerState.ERROR:
                self._learner_failed(f"the background learner stopped unexpectedly ({said.how})")
            return
        self._on_learner_message(said)

    def _on_learner_message(self, message) -> None:
        if hasattr(message, "steps"):
            self.learner_steps = message.steps
        if isinstance(message, Progress):
            if message.bpc is not None:
                self.bpc_history.append(message.bpc)
        elif isinstance(message, (Published, Rebased)) and not self._quitting:
            self._load_engine(message.name, "learned")
            if isinstance(message, Published) and message.created:
                self.notify(f"What you write is now learned in your own model {message.name!r}, now in use; "
                            "the built-in model stays as shipped.", timeout=6)
        elif isinstance(message, Busy):
            self.notify("Model busy: another charcomplete process is training it; learning goes on.", timeout=4)
        elif isinstance(message, Forgotten):
            self.learner_state = LearnerState.OFF
            self.learner.hand_over()  # it has stopped on its own; nothing more is sent to it
            self._load_engine(store.current_model_name(), "forgotten")  # weights that may be gone from disk
            self.notify("Everything learned was forgotten (charcomplete forget); learning is off for this session.",
                        timeout=6)
        elif isinstance(message, Failed):
            self._learner_failed(f"the background learner failed: {message.message}")

    def _learner_failed(self, reason: str) -> None:
        self.learner_state = LearnerState.ERROR
        self.learner_error = reason
        self.notify(f"{reason[0].upper()}{reason[1:]}; editing goes on without learning.", severity="error", timeout=8)

    def action_toggle_learning(self) -> None:
        if self.excluded:
            self.notify(f"{self.document_name} is excluded from learning; nothing is learned from it.")
            return
        if self.learner_state in (LearnerState.OFF, LearnerState.ERROR):
            self.learn = True
            self._start_learner()
            self.notify("Learning on.")
        elif self.learner_state is LearnerState.PAUSED:
            if self._pause_snapshot is not None:
                self.redactions.add_changes(self._pause_snapshot, self.editor.text)
                self._pause_snapshot = None
            self.learner_state = LearnerState.LEARNING
            self.session.set_learning(True)
            self.editor.completer.learn = self.session.learning
            if self.learner is not None:
                self.learner.resume()
            self._sent_version = -1
            self.notify("Learning resumed; what you typed while paused stays out of it.")
        elif self.learner_state in (LearnerState.LEARNING, LearnerState.STARTING):
            self._pause_snapshot = self.editor.text
            self.learner_state = LearnerState.PAUSED
            self.session.set_learning(False)  # the suggestions' cache stops counting what is typed, too
            self.editor.completer.learn = False
            if self.learner is not None:
                self.learner.pause()
            self.notify("Learning paused: nothing you type now is learned or journaled.")

    # ------------------------------------------------------------ engines

    def action_toggle_suggestions(self) -> None:
        editor = self.editor
        editor.suggestions_enabled = not editor.suggestions_enabled
        self.notify("Suggestions on." if editor.suggestions_enabled else "Suggestions off.")

    def switch_model(self, name: str) -> None:
        self._load_engine(name, "switched")

    def _load_engine(self, name: str, reason: str) -> None:
        editor = self.editor
        self._swap_engine(editor, name, reason, editor.hold_context())

    @work(thread=True, exit_on_error=False, group="engine")
    def _swap_engine(self, editor: SuggestingTextArea, name: str, reason: str, context: Context) -> None:
        """Load weights off the event loop, then swap them in between two suggestions.

        A fresh Completer reads the current context with the new weights before the swap
        (rather than Completer.set_engine on the one in use, which would make the next
        keystroke re-read it): suggestions go on with the old weights meanwhile."""
        try:
            engine = load_engine(name)
        except CharcompleteError as error:
            self.post_message(EngineLoadFailed(name, str(error)))
            return
        else:
            if reason == "forgotten":
                self.session.forget(engine)  # what the cache counted goes with everything else
            self._install(editor, self.session.swap(engine, install=False), context)
            self.post_message(EngineSwapped(name, reason))
        finally:
            editor.release_context(context)

    def _install(self, editor: SuggestingTextArea, completer, context: Context) -> None:
        """A fresh Completer (from the session: its engine and cache as they are now) reads
        `context` (from hold_context), then is swapped in between two suggestions."""
        # Reads only: the cache is not touched outside the editor's lock.
        completer.state_at(context.tail, context.offset)
        editor.install_completer(completer, context)

    @work(thread=True, exclusive=True, exit_on_error=False, group="memory")
    def _build_memory(self, engine) -> None:
        """Build the n-gram of `engine`'s model's memory (memory.py: the text it was trained on;
        a few seconds for the largest) off the event loop, then add it to this document's cache.
        Suggestions go on from the model and the document meanwhile."""
        switches = self.switches
        remembered, warning = load_memory(engine)
        if warning:
            self.call_from_thread(self.notify, warning[0].upper() + warning[1:], severity="warning")
        if remembered is not None or (self.cache is not None and len(self.cache.caches) > 1):
            self.call_from_thread(self._remember, switches, remembered)

    def _remember(self, switches: int, remembered) -> None:
        if self.cache is None or switches != self.switches:
            return  # another model was chosen meanwhile: its own memory is on its way
        completer = self.session.remember(remembered, install=False)
        editor = self.editor
        self._swap_completer(editor, completer, editor.hold_context())

    @work(thread=True, exit_on_error=False, group="engine")
    def _swap_completer(self, editor: SuggestingTextArea, completer, context: Context) -> None:
        """The same weights with the cache as it is now (its memory added or changed), off the event loop."""
        try:
            self._install(editor, completer, context)
        finally:
            editor.release_context(context)

    @work(thread=True, exit_on_error=False, group="prime")
    def _prime(self, editor: SuggestingTextArea, context: Context) -> None:
        """Read the document up to the cursor as it opens, off the event loop, so that the first
        keystroke reads only what it adds and is computed inline."""
        try:
            editor.prime(context)
        finally:
            editor.release_context(context)

    @on(EngineSwapped)
    def _engine_swapped(self, event: EngineSwapped) -> None:
        self.swaps += 1
        self._show_model()
        if event.reason == "switched":
            self.switches += 1
            if self.cache is not None:
                self._build_memory(self.engine)  # another model, another memory (or none)
            self.notify(f"Suggesting with model {event.name!r}.")
            if self.learner is not None or self.learner_state is LearnerState.ERROR:
                self._start_learner()  # the learner follows the model suggestions come from

    @on(EngineLoadFailed)
    def _engine_load_failed(self, event: EngineLoadFailed) -> None:
        self.notify(f"Could not load model {event.name!r}: {event.error}", severity="error")

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Save", "Save the document (Ctrl+S)", self.action_save)
        yield SystemCommand("Toggle suggestions", "Turn ghost-text suggestions off or on (F2)",
                            self.action_toggle_suggestions)
        yield SystemCommand("Toggle learning", "Pause or resume the background learner (F3)",
                            self.action_toggle_learning)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place where a failed background job is told to the user."""
        if event.state != WorkerState.ERROR:
            return
        group, error = event.worker.group, event.worker.error
        if group == "learner-start":
            self._learner_failed(f"the background learner could not start ({error})")
        elif group == "journal":
            self.notify(f"Could not write the recovery journal: {error}", severity="warning")
        elif group != "suggest":  # the editor widget reports its own
            self.notify(f"{group} failed: {error}", severity="error")

    # ------------------------------------------------------------ quitting

    def action_quit(self) -> None:
        if self.editor.text == self.saved_text:
            self._quit_cleanly()
            return
        self._quit_flow()

    @work(exclusive=True, group="save", exit_on_error=False)
    async def _quit_flow(self) -> None:
        answer = await self.push_screen_wait(QuitScreen(self.document_name))
        if answer == "discard":
            self._quit_cleanly()
        elif answer == "save" and await self._save_interactively():
            self._quit_cleanly()

    def _quit_cleanly(self) -> None:
        """Quit at once: no journal left behind; the learner is handed what is left to do
        (its final publish) and finishes in the background, without the user waiting."""
        if self._quitting:
            return
        self._quitting = True
        self.journal.remove()
        if self.learner is not None:
            self.learner.hand_over()
        self.exit()

    def on_unmount(self) -> None:
        # The app can end without action_quit (a test leaving run_test, an error): the learner
        # is handed over the same way; a learner still starting is ended.
        self._quitting = True
        if self.learner is not None:
            self.learner.hand_over()
