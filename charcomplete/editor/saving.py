"""The editor's save and quit flows: saving (atomically, storage.documents), asking
what the situation needs (a name for a new document, whether to overwrite another
program's changes or a read-only file, whether to save unsaved changes on quitting),
each question a typed dialog (widgets: ModalScreen[answer]) awaited in turn with
push_screen_wait in a worker. A failed save says why and keeps the buffer."""

from __future__ import annotations

import os
from pathlib import Path

from charcomplete.editor.host import EditorHost, in_task
from charcomplete.editor.reading import disk_stamp
from charcomplete.editor.recovery import Journaling
from charcomplete.editor.widgets import ChangedOnDiskScreen, QuitScreen, ReadOnlyScreen, SaveAsScreen
from charcomplete.storage.documents import ReadOnlyDocumentError, write_document


class Saving:
    """Saves the app's document to `host.path` (and sets the path on "save as")."""

    def __init__(self, host: EditorHost, journaling: Journaling, stamp: tuple[int, int, int] | None):
        self.host = host
        self.journaling = journaling
        # The file as it was read or last saved: a save first checks that nobody else changed it since.
        self.disk_stamp = stamp

    def save(self) -> None:
        in_task(self.host, self._save_flow, False, group="save", exclusive=True)

    def ask_before_quitting(self) -> None:
        """Unsaved changes: ask whether to save them, discard them or stay; quit unless the user stays."""
        in_task(self.host, self._quit_flow, group="save", exclusive=True)

    async def _quit_flow(self) -> None:
        answer = await self.host.push_screen_wait(QuitScreen(self.host.document_name))
        if answer == "discard":
            self.host.quit_cleanly()
        elif answer == "save" and await self._save_interactively():
            self.host.quit_cleanly()

    async def _save_flow(self, then_quit: bool) -> None:
        """Save, asking what the situation needs (a name, whether to overwrite another program's
        changes or a read-only file), each answer awaited in turn; quit after a save when asked."""
        if await self._save_interactively() and then_quit:
            self.host.quit_cleanly()

    async def _save_interactively(self) -> bool:
        host = self.host
        if host.path is None:
            return await self._save_as()
        if disk_stamp(host.path) not in (self.disk_stamp, None):
            # Another program changed the file since it was opened or saved: never lose its changes silently.
            answer = await host.push_screen_wait(ChangedOnDiskScreen(host.document_name))
            if answer == "save-as":
                return await self._save_as()
            if answer != "overwrite":
                host.notify(f"Not saved: {host.document_name} keeps the other program's changes; "
                            "your text is still here.")
                return False
        return await self._write_asking(host.path)

    async def _save_as(self) -> bool:
        """Ask for a new file's name and save there; the document is that file from then on."""
        host = self.host
        path = await host.push_screen_wait(SaveAsScreen())
        if path is None:
            return False
        path = Path(os.path.abspath(path))
        if path.is_dir():
            host.notify(f"{path} is a folder; give a file name.", severity="error")
            return False
        if path.exists():
            host.notify(f"{path.name} already exists; choose another name.", severity="error")
            return False
        if not await self._write_asking(path):
            return False
        self.journaling.move_to(path)  # the text now lives in its own file
        host.path = path
        host.sub_title = str(path)
        host.refresh_status(force=True)
        return True

    async def _write_asking(self, path: Path) -> bool:
        """save_to, asking before overwriting a read-only file."""
        try:
            return self.save_to(path)
        except ReadOnlyDocumentError:
            answer = await self.host.push_screen_wait(ReadOnlyScreen(path.name))
        if answer == "overwrite":
            return self.save_to(path, overwrite_read_only=True)
        if answer == "save-as":
            return await self._save_as()
        self.host.notify(f"Not saved: {path.name} is read-only; your text is still here.")
        return False

    def save_to(self, path: Path, overwrite_read_only: bool = False) -> bool:
        """Write the buffer to `path` atomically; on failure say why and keep the buffer.
        ReadOnlyDocumentError for a read-only file unless `overwrite_read_only` (the caller asks)."""
        host = self.host
        text = host.editor.text
        try:
            write_document(path, text, overwrite_read_only=overwrite_read_only)
        except ReadOnlyDocumentError:
            raise  # (an OSError too) not a failure to report: the caller asks whether to overwrite
        except OSError as error:
            reason = error.strerror or str(error)
            host.notify(f"Could not save {path.name}: {reason.lower()}; your text is still here.", severity="error")
            return False
        host.saved_text = text
        self.disk_stamp = disk_stamp(path)
        self.journaling.saved()
        host.refresh_status(force=True)
        return True
