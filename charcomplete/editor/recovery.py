"""The editor's crash recovery: this session's unsaved text copied to its journal
(journal.Journal) every few seconds, off the event loop, and the offer, as the editor
opens, to recover what an editor that died left in its journal.

Nothing typed while learning is paused is journaled; what was typed then before is
redacted (journal.Redactions) from every copy."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from textual.widgets.text_area import Selection

from charcomplete.editor.host import EditorHost, in_thread
from charcomplete.editor.journal import Journal, JournalEntry
from charcomplete.editor.widgets import BACKSPACE, LearnerState, RecoverScreen


class Journaling:
    """The app's journal (`journal`), and which of the editor's versions it holds (`version`)."""

    def __init__(self, host: EditorHost, journal: Journal):
        self.host = host
        self.journal = journal
        self.version = -1  # the editor's version last journaled (or saved)
        self._selection = None  # ...and its cursor and selection then
        self._failed = False  # a failed journal write is reported once, not every few seconds

    # ------------------------------------------------------------ recovering, as the editor opens

    def offer_recovery(self, initial_text: str) -> None:
        """Ask whether to recover what a dead editor journaled for this document (if it differs from `initial_text`)."""
        entry = self.journal.recoverable(initial_text)
        if entry is not None:
            dialog = RecoverScreen(self.host.document_name, entry.saved_at)
            self.host.push_screen(dialog, partial(self._recover, entry, dialog))

    def _recover(self, entry: JournalEntry, dialog: RecoverScreen, recover: bool | None) -> None:
        """Apply the choice, then type what was typed while the dialog was open at the cursor
        (in the recovered text: where the cursor was when the editor died)."""
        host, editor = self.host, self.host.editor
        if recover:
            editor.load_text(entry.text)
            if entry.selection is not None:
                editor.selection = Selection(*(self._clamped(location) for location in entry.selection))
        self._type_held_keys(dialog.typed)
        if recover:
            try:  # this session's journal holds the text before the dead session's one goes
                self.journal.write(host.redactions.apply(editor.text), editor.selection)
            except OSError:
                host.refresh_status(force=True)
                return  # keep the old journal: it is the only copy on disk
            host.notify("Recovered the unsaved changes.")
        if recover is None:
            host.notify("The unsaved changes are kept; they will be offered again next time.")
        else:
            self.journal.remove(entry.path)
        host.refresh_status(force=True)

    def _clamped(self, location: tuple[int, int]) -> tuple[int, int]:
        """`location` moved inside the document (a journal is not trusted to fit it)."""
        document = self.host.editor.document
        row = min(location[0], document.line_count - 1)
        return row, min(location[1], len(document.get_line(row)))

    def _type_held_keys(self, typed: list[str]) -> None:
        editor = self.host.editor
        for key in typed:
            if key == BACKSPACE:
                editor.action_delete_left()
            else:
                editor.insert(key)

    # ------------------------------------------------------------ journaling, while editing

    def tick(self) -> None:
        host = self.host
        version, selection = host.editor.version, tuple(host.editor.selection)
        if host.quitting or host.learner_state is LearnerState.PAUSED:
            return  # the user asked that nothing typed now be kept anywhere
        if version == self.version and selection == self._selection:
            return  # nothing new (a moved cursor is news: recovery puts it back)
        self.version, self._selection = version, selection
        text = host.editor.text
        if text == host.saved_text:
            self.journal.remove()
        else:
            in_thread(host, self._write, host.redactions.apply(text), selection, group="journal", exclusive=True)

    def _write(self, text: str, selection=None) -> None:
        try:
            self.journal.write(text, selection)
        except OSError as error:
            # The document and the buffer are untouched; say so once, and try again at the next change.
            self.version = -1
            if not self._failed:
                self._failed = True
                reason = (error.strerror or str(error)).lower()
                self.host.call_from_thread(
                    self.host.notify, f"Could not write the recovery journal: {reason}; your text is still here.",
                    severity="warning",
                )
            return
        self._failed = False

    # ------------------------------------------------------------ after a save

    def saved(self) -> None:
        """The buffer was just saved: no journal, and nothing to journal until it changes."""
        self.journal.remove()
        self.version = self.host.editor.version

    def move_to(self, path: Path) -> None:
        """The document was saved as `path`: the scratch journal (or the old file's) goes; `path`'s
        is kept from now on."""
        self.journal.remove()
        self.journal = Journal(path)
