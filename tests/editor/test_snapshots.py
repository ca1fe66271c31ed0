"""What the editor looks like: snapshots (pytest-textual-snapshot) of the main screen, the
suggestion's ghost text and every dialog, and a check that each dialog is centred.

The frames are the same every run: a fixed terminal size, a model that knows one sentence
by heart, learning off (no step counts or loss), the cursor not blinking, and the
suggestion latency's clock pinned (`SuggestingTextArea.clock`), so the status bar shows
0.0 ms. Update them after a deliberate change of the layout with
`pytest tests/test_snapshots.py --snapshot-update`, and look at the SVGs before committing."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from textual.screen import ModalScreen

from charcomplete.editor import EditorApp, widgets
from charcomplete.model.engine import Engine
from charcomplete.storage import store
from tests.helpers import SENTENCE_CONFIG

SIZE = (80, 24)
NOTES = "# Notes\n\nthe lazy dog sleeps.\n"
SAVED_AT = 1_700_000_000.0  # when a recovered journal was written: shown in local time, so TZ is pinned

DIALOGS = {  # every dialog of the editor, as the app opens it
    "recover": lambda: widgets.RecoverScreen("notes.md", SAVED_AT),
    "save-as": widgets.SaveAsScreen,
    "quit": lambda: widgets.QuitScreen("notes.md"),
    "changed-on-disk": lambda: widgets.ChangedOnDiskScreen("notes.md"),
    "read-only": lambda: widgets.ReadOnlyScreen("notes.md"),
}


@pytest.fixture
def app(sentence_weights, tmp_path, monkeypatch) -> Iterator[EditorApp]:
    """The editor on a small saved document, learning off."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    with store.lock_model("tiny"):
        store.save_model("tiny", SENTENCE_CONFIG, sentence_weights, {"history": []})
    path = tmp_path / "notes.md"
    path.write_text(NOTES, encoding="utf-8")
    yield EditorApp(path, Engine.load("tiny"), learn=False)
    monkeypatch.undo()
    time.tzset()


async def steady(pilot) -> None:
    """No blinking cursor and no measured latency in the frame."""
    editor = pilot.app.editor
    editor.cursor_blink = False
    editor.clock = lambda: 0.0


async def wait_until(pilot, condition, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


def test_every_dialog_has_a_snapshot():
    """A new dialog (any ModalScreen of the editor's) must be added to DIALOGS."""
    found, pending = set(), [ModalScreen]
    while pending:
        for screen in pending.pop().__subclasses__():
            pending.append(screen)
            if screen.__module__.startswith("charcomplete.editor") and not screen.__subclasses__():
                found.add(screen)
    assert found == {type(make()) for make in DIALOGS.values()}


def test_main_screen(snap_compare, app):
    assert snap_compare(app, terminal_size=SIZE, run_before=steady)


def test_suggestion_ghost_text(snap_compare, app):
    async def type_then_wait(pilot) -> None:
        await steady(pilot)
        await pilot.press("ctrl+end", *"the quick b")
        await wait_until(pilot, lambda: pilot.app.editor.suggestion, "a suggestion")
        latency = pilot.app.query_one("#status-latency")
        await wait_until(pilot, lambda: "ms" in str(latency.render()), "the latency in the status bar")

    assert snap_compare(app, terminal_size=SIZE, run_before=type_then_wait)
    assert app.editor.suggestion.startswith("rown")  # what the snapshot shows in grey


@pytest.mark.parametrize("dialog", DIALOGS)
def test_dialog(snap_compare, app, dialog):
    async def open_dialog(pilot) -> None:
        await steady(pilot)
        await pilot.app.push_screen(DIALOGS[dialog]())

    assert snap_compare(app, terminal_size=SIZE, run_before=open_dialog)


@pytest.mark.parametrize("dialog", DIALOGS)
async def test_each_dialog_is_centred(app, dialog):
    async with app.run_test(size=SIZE) as pilot:
        await app.push_screen(DIALOGS[dialog]())
        await pilot.pause()
        box = app.screen.query_one(".dialog").region
        width, height = SIZE
        assert abs(box.x - (width - box.right)) <= 1, box
        assert abs(box.y - (height - box.bottom)) <= 1, box
