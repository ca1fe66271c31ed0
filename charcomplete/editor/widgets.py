"""The editor's widgets: the text area that shows suggestions, the status bar, and the
small modal dialogs (recover, save as, quit)."""

from __future__ import annotations

import enum
import math
import threading
import time
from collections import deque
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Sparkline, Static, TextArea
from textual.widgets.text_area import Location
from textual.worker import Worker, WorkerState, get_current_worker

from charcomplete.editor.context import DOCUMENT_START, Context, CursorContext
from charcomplete.suggest.decoder import IME_KEYS, MIN_CHARS, next_word, typing_keys
from charcomplete.suggest.policy import at_cursor, blank_shows

AnswerT = TypeVar("AnswerT")  # what a dialog answers

# A suggestion computed faster than this (a moving average of its CPU time) is computed inline
# (see _ask): half a frame. At 5 ms, a few of issue 11's deeper searches in a row (up to 6 ms
# each) sent the next suggestions through a thread hop that costs 12-21 ms on a busy machine,
# which set the editor's p99 on large documents (18-19 ms; 6.7-7.5 ms at 8).
INLINE_BUDGET_MS = 8.0
INLINE_MAX_NEW_BYTES = 12  # ...when the Completer has at most this much new text to read (a typed-over word)


class SuggestingTextArea(TextArea):
    """A TextArea whose `suggestion` (Textual's ghost text) comes from a `Completer`.

    A suggestion is computed after every change of the document: inline when that is
    known to be cheap, otherwise in a thread worker whose answer is shown only if the
    document and cursor are still what they were when it was asked for. Taking its next
    word, or typing its next character while typing on (TextArea.edit does that), keeps the
    rest of it. Typing its next character once it has stood long enough to be read (the
    Completer's `read_s`) declines it: the Completer suggests again, never all of the rest
    (`suggest/declined.py`). Any other change or cursor move drops it."""

    suggestions_enabled: reactive[bool] = reactive(True)

    # What the suggestion latency (from the keystroke to the suggestion shown: the status
    # bar's figure) is read from. The snapshot tests pin it, so that the frame is the same
    # every run; nothing else does.
    clock = staticmethod(time.perf_counter)

    # On top of TextArea's own (Ctrl+Z/Ctrl+Y undo/redo, Ctrl+Backspace, Alt+Backspace and
    # Ctrl+W delete a word left, Alt+Delete one right): what people expect of an editor.
    BINDINGS = [
        Binding("ctrl+home", "cursor_document_start", "Document start", show=False),
        Binding("ctrl+end", "cursor_document_end", "Document end", show=False),
        Binding("ctrl+shift+home", "cursor_document_start(True)", "Select to start", show=False),
        Binding("ctrl+shift+end", "cursor_document_end(True)", "Select to end", show=False),
        Binding("ctrl+delete", "delete_word_right", "Delete word right", show=False),
    ]

    def __init__(self, text: str = "", *, completer=None, **kwargs):
        # Set before TextArea.__init__, which already moves the cursor (and so calls watch_selection).
        self.completer = completer
        # The Completer keeps one inference state: one thread at a time may use it, and
        # install_completer takes this lock to swap in new weights between two suggestions.
        self.completer_lock = threading.Lock()
        # After a cursor jump, read the text before the cursor in a worker (False: the next key does).
        self.prime_after_jumps = True
        self.latencies: deque[float] = deque(maxlen=500)  # ms, keystroke -> suggestion shown
        self._cursor_context = CursorContext()  # the document's changes and row starts: each keystroke's tail
        self._changed_from: Location | None = None  # the change in progress touches nothing before this
        # What the Completer read last, and the versions of contexts handed to Completers being
        # primed to replace it: every context covers the changes since the oldest of them (see
        # hold_context). Read and written together, from the event loop and from workers.
        self._readers_lock = threading.Lock()
        self._last_read: Context | None = None
        self._held: list[int] = []
        self._request = 0  # the newest suggestion request; older answers are dropped
        self._anchor: Location | None = None  # the cursor location the shown suggestion belongs to
        self._suggested = ""  # the shown suggestion as Tab inserts it (`suggested_text`)
        self._shown_at = 0.0  # when it was put on the screen, or last shortened by typing (`clock`)
        self._in_edit = False
        self._failed = False
        self._compute_ms: float | None = None  # recent time of Completer.complete_at (moving average)
        super().__init__(text, **kwargs)

    @property
    def version(self) -> int:
        """A number that changes whenever the document does."""
        return self._cursor_context.version

    # ------------------------------------------------------------ deciding when to suggest

    def edit(self, edit):
        # TextArea.edit consumes inserted text from the suggestion, then calls
        # update_suggestion: the flag tells that hook the leftover is still good. That holds
        # for a word taken (Ctrl+Right) and for a character typed on without a pause; one typed
        # over a suggestion that stood long enough to be read declines it instead (the Completer
        # then suggests anew: a person who wanted all of it would have pressed Tab).
        # The text behind the ghost text shrinks the same way (a typed line end included, which
        # the drawn LINE_END_MARK is not).
        rest = self.suggested_text
        read = self.clock() - self._shown_at >= getattr(self.completer, "read_s", math.inf)
        taken = rest.startswith(edit.text) and (len(edit.text) > 1 or not read)
        self._suggested = rest[len(edit.text):] if taken else ""
        self._in_edit = True
        try:
            with self._changing_from(edit.top):
                return super().edit(edit)
        finally:
            self._in_edit = False

    # Undo and redo change the text where their edits did; told so, the next tail starts there
    # rather than at the document start. (Private hooks of TextArea: were they renamed, such a
    # change would count as anywhere, which costs a longer tail once, never a wrong suggestion.)
    def _undo_batch(self, edits) -> None:
        with self._changing_from(min((edit.top for edit in edits), default=None)):
            super()._undo_batch(edits)

    def _redo_batch(self, edits) -> None:
        with self._changing_from(min((edit.top for edit in edits), default=None)):
            super()._redo_batch(edits)

    @contextmanager
    def _changing_from(self, top: Location | None):
        self._changed_from = top
        try:
            yield
        finally:
            self._changed_from = None

    def update_suggestion(self) -> None:
        """Textual's hook, called after every change of the document (an edit, undo or redo,
        or load_text: the last one tells nothing of where, so the whole text counts as changed)."""
        self._cursor_context.changed(DOCUMENT_START if self._changed_from is None else self._changed_from)
        self._request += 1
        if self._in_edit and self._worth_showing(self._suggested) and self.selection.is_empty:
            self.suggestion = _drawn(self._suggested)  # Textual drops what it draws at a typed line end
            self._anchor = self.cursor_location  # typed or took what was suggested: the rest stays, nothing to compute
            self._shown_at = self.clock()
            self._read_ahead()
            return
        self.suggestion = ""
        if self.can_suggest():
            self._ask()

    def _worth_showing(self, rest: str) -> bool:
        """Whether what is left of a suggestion, once its first characters were typed, is still
        worth showing by the decoder's rule (decoder.Policy: min_chars, never spaces only). A
        lone space left after typing the end of a word looks like nothing; a fresh suggestion
        runs on into the next word instead."""
        options = getattr(self.completer, "options", {})
        keys = typing_keys(rest, options.get("ime_keys", IME_KEYS))  # a Chinese character left is worth its keys
        blank = blank_shows(rest, options.get("blank_ok", False), options.get("line_ends", False))
        return keys >= options.get("min_chars", MIN_CHARS) and (blank or not rest.isspace())

    def can_suggest(self) -> bool:
        """Suggest only with suggestions on, no selection, and the cursor at a line end or before whitespace."""
        if not self.suggestions_enabled or self.completer is None or self.read_only or not self.selection.is_empty:
            return False
        row, column = self.cursor_location
        line = self.document[row]
        return column >= len(line) or line[column].isspace()

    def watch_selection(self, selection) -> None:
        if self._in_edit:
            return  # the edit itself moved the cursor; update_suggestion decides
        if self.suggestion and (not selection.is_empty or selection.end != self._anchor):
            self.suggestion = ""
            self._request += 1
        if self.prime_after_jumps and self.completer is not None and selection.is_empty and self.is_mounted:
            # After whatever moved it has finished (an undo or a paste moves the cursor mid-edit).
            self.call_after_refresh(self._prime_if_jumped)

    def _prime_if_jumped(self) -> None:
        if self.completer is None or not self.selection.is_empty:
            return
        context = self._context_now(self._reader_version())
        if not self._near(context):  # a jump (Ctrl+End, a click): read there before the next key
            self._prime_after_jump(context)

    def watch_suggestions_enabled(self, enabled: bool) -> None:
        self.dismiss_suggestion()
        if enabled and self.is_mounted and self.can_suggest():
            self._ask()  # back on: the suggestion for where the cursor is, not at the next key (issue 26)

    def dismiss_suggestion(self) -> None:
        self.suggestion = ""
        self._request += 1  # an answer still on its way must not bring it back

    def _ask(self) -> None:
        started = self.clock()
        context = self._context_now(self._reader_version())
        request = self._request
        options = self._line_options(context.cursor)
        # Inline when it is known to be cheap: a keystroke or two after the text the
        # Completer last read, on a model measured fast here. A thread hop and the trip
        # back through the event loop cost more than such a computation (several ms on a
        # busy machine); anything else (a jump, a paste, fresh weights, a slow model) goes
        # to a thread so typing never waits for it.
        if self._cheap(context) and self.completer_lock.acquire(blocking=False):
            try:
                result = self._complete(context, options)
            except Exception as error:  # a failed suggestion is reported and must not cost the keystroke
                self._report_failure(error)
                return
            finally:
                self.completer_lock.release()
            self._show(request, context.version, context.cursor, result.text, started)
        else:
            self._compute(request, context, started, options)

    def _line_options(self, cursor: Location) -> dict:
        """Policy fields for a suggestion at `cursor`: one that runs on into further lines
        (Policy.line_ends) only at a line's end, never into the middle of one."""
        row, column = cursor
        return at_cursor(column >= len(self.document[row]))

    def _read_ahead(self) -> None:
        """The Completer reads a typed character that was suggested now, one cheap step, when
        it can without waiting: otherwise the next suggestion would first read (and learn) the
        whole run typed from the last one, up to 40 steps, and that keystroke would wait for it."""
        context = self._context_now(self._reader_version())
        if not self._near(context) or not self.completer_lock.acquire(blocking=False):
            return
        try:
            self.completer.state_at(context.tail, context.offset)
            with self._readers_lock:
                self._last_read = context
        except Exception as error:  # as in _ask: reported, and never costs the keystroke
            self._report_failure(error)
        finally:
            self.completer_lock.release()

    def _context_now(self, since: int | None) -> Context:
        """The text before the cursor as a tail and its offset, covering the changes after version `since`."""
        return self._cursor_context.at(self.document, self.cursor_location, self.completer.window, since)

    def _reader_version(self) -> int | None:
        """The version the next context must cover the changes since: what the Completer read
        last, or an older one held for a Completer about to replace it (None: nothing read)."""
        with self._readers_lock:
            last = [] if self._last_read is None else [self._last_read.version]
            return min([*self._held, *last], default=None)

    def _cheap(self, context: Context) -> bool:
        """Close to what the Completer read last (`_near`), on a model measured fast here."""
        return self._compute_ms is not None and self._compute_ms < INLINE_BUDGET_MS and self._near(context)

    def _near(self, context: Context) -> bool:
        """A keystroke or two after the text the Completer read last, that text unchanged."""
        last = self._last_read
        return (
            last is not None
            and 0 <= context.length - last.length <= INLINE_MAX_NEW_BYTES
            and self._cursor_context.unchanged_before(last.cursor, last.version)
        )

    def _complete(self, context: Context, options: dict):
        """Completer.complete_at, timed; the caller holds completer_lock."""
        # CPU time of this thread, not wall time: in a worker, waiting for the GIL while
        # the event loop renders is not what the computation would cost inline.
        started = time.thread_time()
        result = self.completer.complete_at(context.tail, context.offset, **options)
        spent = (time.thread_time() - started) * 1000.0
        self._compute_ms = spent if self._compute_ms is None else 0.8 * self._compute_ms + 0.2 * spent
        with self._readers_lock:
            self._last_read = context
        return result

    @work(thread=True, exclusive=True, exit_on_error=False, group="suggest")
    def _compute(self, request: int, context: Context, started: float, options: dict) -> None:
        worker = get_current_worker()
        with self.completer_lock:
            # Typing faster than suggestions come: skip the ones already out of date.
            if worker.is_cancelled or request != self._request:
                return
            result = self._complete(context, options)
        if not worker.is_cancelled and result.text:
            self.app.call_from_thread(self._show, request, context.version, context.cursor, result.text, started)

    def hold_context(self) -> Context:
        """The text before the cursor, for a new Completer to read before install_completer
        swaps it in; call release_context when done, installed or not.

        The new Completer will have read this version and the one in use a later one: until
        the release, every keystroke's context also covers the changes since this version,
        so whichever Completer reads it next can place it."""
        context = self._context_now(None)  # a Completer that has read nothing needs no change covered
        with self._readers_lock:
            self._held.append(context.version)
        return context

    def release_context(self, context: Context) -> None:
        """End the hold_context that returned `context`; safe to call from a thread."""
        with self._readers_lock:
            self._held.remove(context.version)

    def install_completer(self, completer, primed_on: Context) -> None:
        """Suggest with `completer` (new weights) from the next keystroke on; safe to call from a thread.

        The caller builds it and has it read `primed_on` (from hold_context) first, without
        the lock: re-reading up to a kilobyte of context takes a good part of a second on a
        busy machine, and suggestions must not wait for it. Only the swap itself happens
        under the lock, between two suggestions."""
        with self.completer_lock:
            self.completer = completer
            with self._readers_lock:
                self._last_read = primed_on

    @work(thread=True, exclusive=True, exit_on_error=False, group="prime")
    def _prime_after_jump(self, context: Context) -> None:
        """After the cursor jumped, read the text before it off the event loop, so that the next
        keystroke there reads only what it adds (and is computed inline on a fast model)."""
        with self.completer_lock:
            if get_current_worker().is_cancelled or context.version != self.version \
                    or context.cursor != self.cursor_location:
                return  # typed or moved again meanwhile: that keystroke reads for itself
            self.completer.state_at(context.tail, context.offset)
            with self._readers_lock:
                self._last_read = context

    def prime(self, context: Context) -> None:
        """Read `context` (from hold_context) and time one suggestion there, from a worker: the
        document just opened is read before the first keystroke, which then reads only what it
        adds and, on a model measured fast, is computed inline."""
        with self.completer_lock:
            if self._last_read is not None:
                return  # a keystroke came first and read the document itself
            self.completer.state_at(context.tail, context.offset)
            with self._readers_lock:
                self._last_read = context
            if self._compute_ms is None:
                started = time.thread_time()
                self.completer.complete_at(context.tail, context.offset)
                self._compute_ms = (time.thread_time() - started) * 1000.0

    def _show(self, request: int, version: int, location: Location, text: str, started: float) -> None:
        if request != self._request or version != self.version or location != self.cursor_location:
            return  # the text or cursor changed while it was computed: it would be stale
        if not self.can_suggest():
            return
        text = _showable_prefix(text)  # drawn on the cursor's line, as plain characters and line-end marks
        if not text:
            return
        self._anchor = location
        self._suggested = text
        self._shown_at = self.clock()
        self.suggestion = _drawn(text)
        self.latencies.append((self.clock() - started) * 1000.0)

    def _report_failure(self, error: BaseException) -> None:
        if not self._failed:
            self._failed = True  # say it once; typing goes on, and so do later suggestions
            self.notify(f"Suggestions failed: {error}", severity="error")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "suggest" and event.state == WorkerState.ERROR:
            self._report_failure(event.worker.error)

    # ------------------------------------------------------------ accepting

    @property
    def suggested_text(self) -> str:
        """The suggestion as Tab inserts it, line ends and all (`suggestion` is how it is drawn:
        each line end a LINE_END_MARK); what `suggestion` holds when something else set it."""
        return self._suggested if _drawn(self._suggested) == self.suggestion else self.suggestion

    def accept_suggestion(self, text: str | None = None) -> bool:
        """Insert the suggestion (or its first `text` characters); False when there is none."""
        text = self.suggested_text if text is None else text
        if not text:
            return False
        location = self.cursor_location
        self.replace(text, location, location, maintain_selection_offset=False)
        return True

    def action_cursor_right(self, select: bool = False) -> None:
        if not select and self.accept_suggestion():
            return
        self.dismiss_suggestion()
        super().action_cursor_right(select)

    def action_cursor_line_end(self, select: bool = False) -> None:
        """End: accept the suggestion when there is one, else go to the end of the line (the
        whole line, not the end of its wrapped screen row: that is where suggestions show)."""
        if not select and self.accept_suggestion():
            return
        row, _ = self.cursor_location
        self.move_cursor((row, len(self.document[row])), select=select)

    def action_cursor_line_start(self, select: bool = False) -> None:
        """Home: to the line's first non-blank character, or from there to its very start.
        (TextArea does this only without soft wrap, and the editor wraps.)"""
        row, column = self.cursor_location
        line = self.document[row]
        indent = len(line) - len(line.lstrip(" \t"))
        self.move_cursor((row, 0 if column == indent else indent), select=select)

    def action_cursor_document_start(self, select: bool = False) -> None:
        self.move_cursor((0, 0), select=select)

    def action_cursor_document_end(self, select: bool = False) -> None:
        self.move_cursor(self.document.end, select=select)

    def action_cursor_word_right(self, select: bool = False) -> None:
        if not select and self.suggestion:
            self.accept_suggestion(next_word(self.suggested_text))
            return
        super().action_cursor_word_right(select)

    async def _on_key(self, event: events.Key) -> None:
        # Tab and Escape are handled here, not by bindings: TextArea's own key handler
        # (which Textual calls after this one, unless prevented) would insert an indent
        # or move the focus first.
        if event.key == "tab" and self.suggestion:
            event.stop()
            event.prevent_default()
            self.accept_suggestion()
        elif event.key == "escape":
            event.stop()
            event.prevent_default()
            self.dismiss_suggestion()


# A line end inside a suggestion (decoder.Policy.line_ends) is drawn as this mark on the
# cursor's line: Textual draws its ghost text within that line.
LINE_END_MARK = "\u23ce"  # ⏎


def _showable_prefix(text: str) -> str:
    """`text` up to its first tab or other control character but a line end (LF)."""
    for index, char in enumerate(text):
        if char != "\n" and not char.isprintable():
            return text[:index]
    return text


def _drawn(text: str) -> str:
    """A suggestion as its ghost text is drawn: each line end a LINE_END_MARK."""
    return text.replace("\n", LINE_END_MARK)


class LearnerState(str, enum.Enum):
    """What the background learner is doing, as the status bar names it. (A str, so that
    `app.learner_state == "error"` reads as it always has in tests and benchmarks.)"""

    STARTING = "starting"
    LEARNING = "learning"
    PAUSED = "paused"  # F3: nothing typed is learned or journaled
    ERROR = "error"
    OFF = "off"  # `edit --no-learn`, or after `charcomplete forget`


class StatusBar(Horizontal):
    """One line, each figure with a label saying what it is: the file and its state, the
    model suggestions come from, the background learner and its steps, its training loss
    on your text (bits per character, recent history as a sparkline), and how long the
    last suggestion took to appear (with the median). Hovering a part says more.

    Refreshed on a timer, not per keystroke, and each part only when its text changes:
    an auto-width label that changes costs a layout pass of the whole screen."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._shown: dict[str, object] = {}

    def compose(self) -> ComposeResult:
        # markup=False: file and model names are shown as they are, brackets included.
        yield Static(id="status-file", markup=False)
        yield Static(id="status-model", markup=False)
        yield Static(id="status-learner", markup=False)
        yield Static("loss", id="status-bpc-label", markup=False)
        yield Sparkline([], id="status-bpc")
        yield Static("", id="status-bpc-value", markup=False)
        yield Static("", id="status-latency", markup=False)

    def on_mount(self) -> None:
        loss = "the learner's training loss on your text, in bits per character (lower: it predicts you better)"
        self.query_one("#status-bpc-label", Static).tooltip = loss
        self.query_one("#status-bpc", Sparkline).tooltip = loss + "; the line shows its recent history"
        self.query_one("#status-bpc-value", Static).tooltip = loss

    def _set(self, part: str, text: str) -> Static | None:
        """Show `text` in the part; returns the label when it changed."""
        if self._shown.get(part) == text:
            return None
        found = self.query(f"#status-{part}").results(Static)
        static = next(found, None)
        if static is None:  # the bar's children are not mounted yet, or already gone at exit
            return None
        self._shown[part] = text
        static.update(text)
        return static

    def show_file(self, name: str, state: str) -> None:
        self._set("file", f"{name} [{state}]")

    def show_model(self, name: str, description: str, parameters: int) -> None:
        static = self._set("model", f"model: {name}")
        if static is not None:
            static.tooltip = f"suggestions come from model {name!r}: {description}, {parameters:,} parameters"

    def show_learner(self, state: LearnerState, steps: int | None = None) -> None:
        if state is LearnerState.LEARNING and steps:
            text = f"learner: {steps:,} step{'' if steps == 1 else 's'}"  # learning, and how far it got
        else:
            text = f"learner: {state.value}"
        static = self._set("learner", text)
        if static is not None:
            static.set_class(state is LearnerState.ERROR, "error")
            static.tooltip = ("the background learner fine-tunes the model on your folders and this document "
                              "(F3 pauses it); steps: its training updates so far")

    def show_bpc(self, history: list[float]) -> None:
        if self._shown.get("bpc-history") != history:
            self._shown["bpc-history"] = history
            self.query_one("#status-bpc", Sparkline).data = history
        self.set_class(not history, "-no-loss")  # no figure yet: no label either
        self._set("bpc-value", f"{history[-1]:.2f} bits/char" if history else "")

    def show_latency(self, last_ms: float, p50_ms: float) -> None:
        static = self._set("latency", f"suggestion {last_ms:.1f} ms, median {p50_ms:.1f}")
        if static is not None:
            static.tooltip = "suggestion latency: from the keystroke to the suggestion shown, last and median"


# ---------------------------------------------------------------- dialogs


class Dialog(ModalScreen[AnswerT]):
    """Every dialog of the editor, typed by its answer: Esc cancels (None), and editor.tcss
    centres it (one rule, `Dialog`, for all of them: a dialog that is not a Dialog would be
    drawn at the top-left corner). The app awaits the answer with push_screen_wait in a worker."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def action_cancel(self) -> None:
        self.dismiss(None)


class RecoverScreen(Dialog[bool | None]):
    """Offer the journaled text of a document the editor lost: dismissed with True (recover),
    False (discard) or None (Esc: keep it, to be offered again next time).

    The dialog opens as the editor starts, often under a person already typing (issue 26:
    keys typed then were dropped, Enter pressed Recover, and a typed `d` would have discarded
    the journal). So no button has the focus, the choices are Ctrl+R and Ctrl+D (or a click,
    or Tab to a button and Enter), and what is typed while it is open is kept in `typed`,
    for the editor to type at the cursor once the choice is made."""

    AUTO_FOCUS = ""  # no button has the focus: Enter is a typed line end, not Recover
    BINDINGS = [Binding("ctrl+r", "dismiss(True)", "Recover"), Binding("ctrl+d", "dismiss(False)", "Discard")]

    def __init__(self, document: str, saved_at: float):
        super().__init__()
        self.document = document
        self.saved_at = saved_at
        # What was typed while the dialog was open, in order: text to insert, or BACKSPACE.
        self.typed: list[str] = []

    def compose(self) -> ComposeResult:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.saved_at))
        with Vertical(classes="dialog"):
            yield Label(f"{self.document} has unsaved changes from {when} that were never saved.")
            yield Label("Recover them?")
            with Horizontal(classes="buttons"):
                yield Button("Recover", id="recover", variant="primary")
                yield Button("Discard", id="discard", variant="error")
            yield Label("Ctrl+R recover · Ctrl+D discard · Esc decide later", classes="hint")
            yield Label("What you type meanwhile is kept for after the choice.", classes="hint")

    def on_key(self, event: events.Key) -> None:
        if self.focused is not None and event.key in ("enter", "space"):
            return  # a button the user moved to with Tab: the key presses it
        if event.is_printable and event.character:
            self.typed.append(event.character)
        elif event.key == "enter":
            self.typed.append("\n")
        elif event.key == "backspace":
            self.typed.append(BACKSPACE)
        else:
            return  # Tab, Esc, Ctrl+R, Ctrl+D, Ctrl+Q...: the dialog's and the app's keys
        event.stop()
        event.prevent_default()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "recover")


BACKSPACE = "\b"  # in RecoverScreen.typed: a Backspace typed while the dialog was open


class SaveAsScreen(Dialog[Path | None]):
    """Ask for a file name; dismissed with the Path, or None."""

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Save as:")
            yield Input(placeholder="file name, e.g. notes/today.md", id="save-as-name")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        name = event.value.strip()
        self.dismiss(Path(name).expanduser() if name else None)


class _Choice(Dialog[str | None]):
    """A question with buttons, each also a key; dismissed with the chosen button's id, or
    None for Cancel and Esc. Subclasses set CHOICES: (id, label, variant, key) per button."""

    CHOICES: tuple[tuple[str, str, str, str], ...] = ()

    def __init_subclass__(cls, **kwargs) -> None:
        # Before Textual's own hook, which merges each class's BINDINGS when it is created.
        cls.BINDINGS = [
            Binding(key, f"dismiss({answer!r})", label.rstrip(".")) for answer, label, _, key in cls.CHOICES
        ]
        super().__init_subclass__(**kwargs)

    def __init__(self, *lines: str):
        super().__init__()
        self.lines = lines

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            for line in self.lines:
                yield Label(line)
            with Horizontal(classes="buttons"):
                for answer, label, variant, _ in self.CHOICES:
                    yield Button(label, id=answer, variant=variant)
                yield Button("Cancel", id="cancel")
            keys = [f"{key} {label.rstrip('.').lower()}" for _, label, _, key in self.CHOICES]
            yield Label(" · ".join([*keys, "Esc cancel"]), classes="hint")

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None if event.button.id == "cancel" else event.button.id)


class QuitScreen(_Choice):
    """Unsaved changes on quit: dismissed with "save", "discard" or None (stay)."""

    CHOICES = (("save", "Save", "primary", "s"), ("discard", "Discard", "error", "d"))

    def __init__(self, document: str):
        super().__init__(f"{document} has unsaved changes.")


class ChangedOnDiskScreen(_Choice):
    """The file changed on disk since it was opened or saved: dismissed with "overwrite",
    "save-as" or None (do not save)."""

    CHOICES = (("overwrite", "Overwrite", "error", "o"), ("save-as", "Save as...", "primary", "a"))

    def __init__(self, document: str):
        super().__init__(f"{document} was changed by another program since you opened or saved it.",
                         "Overwrite those changes with this text?")


class ReadOnlyScreen(_Choice):
    """The file is read-only: dismissed with "overwrite", "save-as" or None (do not save)."""

    CHOICES = (("overwrite", "Overwrite", "error", "o"), ("save-as", "Save as...", "primary", "a"))

    def __init__(self, document: str):
        super().__init__(f"{document} is read-only.", "Overwrite it anyway?")
