"""The editor's keystroke context (charcomplete.editor.context): the tail and offset the
Completer is handed instead of the whole text before the cursor, on a bare Textual
Document and in the real text area, checked against the whole text."""

from __future__ import annotations

import random

import numpy as np
import pytest
from textual.app import App, ComposeResult
from textual.document._document import Document, Selection

from charcomplete.core.config import ModelConfig
from charcomplete.editor.context import ChangeLog, CursorContext
from charcomplete.editor.widgets import SuggestingTextArea
from charcomplete.model.engine import Engine
from charcomplete.suggest.decoder import Completer
from tests.helpers import random_weights, save_weights

WINDOW = 64
WORDS = ["the", "quick", "brown", "fox", "✓", "Déjà", "vu", "\n", "\n\n", " ", "  "]


def random_text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def random_location(rng: random.Random, document: Document) -> tuple[int, int]:
    row = rng.randrange(document.line_count)
    return row, rng.randint(0, len(document[row]))


def change(rng: random.Random, document: Document, cursor: tuple[int, int]) -> tuple[tuple[int, int], tuple]:
    """One random edit, mostly at the cursor as typing is: (where it starts, the new cursor)."""
    start = cursor if rng.random() < 0.6 else random_location(rng, document)
    end = start if rng.random() < 0.5 else random_location(rng, document)
    text = rng.choice(["x", " ", "é", "\n", random_text(rng, 3), ""])
    top = min(start, end)
    result = document.replace_range(top, max(start, end), text)
    return top, result.end_location


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("seed", range(4))
def test_each_context_is_the_end_of_the_text_before_the_cursor_from_the_earliest_change_on(seed, newline):
    rng = random.Random(seed)
    document = Document(random_text(rng, 400).replace("\n", newline) + "a" * 500)  # a long last line, too
    tracker = CursorContext()
    tracker.changes.MAX_ENTRIES = 8  # a small log, so that old versions fall off it here too
    tracker.rows.BLOCK = 4  # and small blocks of rows, so that changes drop some of them
    cursor = document.end
    last_text, since = None, None
    for step in range(300):
        for _ in range(rng.choice([1, 1, 1, 2, 5, 12])):  # several changes between two reads, now and then
            top, cursor = change(rng, document, cursor)
            tracker.changed(top)
        if step % 37 == 0:
            cursor = random_location(rng, document)  # a jump
        context = tracker.at(document, cursor, WINDOW, since)
        before = document.get_text_range((0, 0), cursor).encode()
        assert before[context.offset :] == context.tail
        assert len(context.tail) >= min(WINDOW, len(before))
        if last_text is not None:  # the text before the tail is as the Completer last read it
            assert document.text.encode()[: context.offset] == last_text[: context.offset]
        last_text, since = document.text.encode(), context.version


def test_the_change_log_answers_for_versions_it_no_longer_holds_with_the_document_start():
    log = ChangeLog()
    log.MAX_ENTRIES = 4
    for column in range(10):  # typing forward: each change after the one before
        log.record((5, column))
    assert log.earliest_since(9) == (5, 9)
    assert log.earliest_since(6) == (5, 6)
    assert log.earliest_since(5) == (0, 0)  # (5, 5) fell off the log: anything may have changed
    assert log.earliest_since(10) is None and log.earliest_since(None) is None
    log.record((1, 0))  # a change further up covers every version before it
    assert log.earliest_since(9) == (1, 0)


def test_a_tail_is_short_when_nothing_changed_before_it():
    document = Document(("x" * 40 + "\n") * 20_000)
    tracker = CursorContext()
    context = tracker.at(document, document.end, WINDOW, None)
    assert len(context.tail) < 3 * WINDOW
    assert context.offset == len(document.text) - len(context.tail)
    document.replace_range((0, 0), (0, 0), "edited at the top ")
    tracker.changed((0, 0))
    moved = tracker.at(document, document.end, WINDOW, context.version)
    assert moved.offset == 0 and moved.tail == document.text.encode()  # the change is before the tail: read from it
    again = tracker.at(document, document.end, WINDOW, moved.version)
    assert len(again.tail) < 3 * WINDOW and again.offset == len(document.text) - len(again.tail)


# ---------------------------------------------------------------- in the text area


class CheckedCompleter(Completer):
    """A real Completer that checks what it is handed, at every call: the text before the
    tail's start is as it was at its previous call (the contract of `state_at`), and a twin
    handed the whole text before the cursor reaches the same state. (The tests wait for
    every suggestion before the next key, so a worker reads the text area unchanged.)"""

    def __init__(self, engine: Engine, area: SuggestingTextArea):
        super().__init__(engine, window=WINDOW, checkpoint_every=4)
        self.twin = Completer(engine, window=WINDOW, checkpoint_every=4)
        self.area = area
        self.agreed: list[str] = []  # per call: "twin", "fresh" (a windowed prime) or "neither"
        self.kept_before: list[bool] = []  # per call after the first: the text before the tail unchanged
        self.offsets: list[int] = []  # where each tail it was handed starts
        self._seen: bytes | None = None  # the document at the previous call

    def state_at(self, tail, offset):
        document = self.area.document.text.encode()
        if self._seen is not None:
            self.kept_before.append(document[:offset] == self._seen[:offset])
        self._seen = document
        self.offsets.append(offset)
        state = super().state_at(tail, offset)
        whole = self.area.document.get_text_range((0, 0), self.area.cursor_location)
        twin = self.twin.state_for(whole)
        fresh = self.engine.prime(whole.encode(), window=WINDOW)
        self.agreed.append("twin" if _same(state, twin) else "fresh" if _same(state, fresh) else "neither")
        return state

    def checked(self) -> set[str]:
        """What every call came to: {"twin"} when all were right."""
        return {*self.agreed, *("text before the tail changed" for kept in self.kept_before if not kept)}


def _same(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a.h, b.h, strict=True))


class AreaApp(App):
    def __init__(self, text: str):
        super().__init__()
        self.area = SuggestingTextArea(text, soft_wrap=True)
        # The checks compare each read with the text before the cursor at that moment; a read
        # after a jump, in a worker, is of the context it was given (tested on its own below).
        self.area.prime_after_jumps = False

    def compose(self) -> ComposeResult:
        yield self.area


@pytest.fixture
def small() -> Engine:
    config = ModelConfig(cell="gru", embed=16, hidden=32)
    save_weights("small", config, random_weights(config, seed=1, scale=0.5, radius=0.9))
    return Engine.load("small")


async def settle(pilot) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def type_at_the_end(pilot, *keys: str) -> None:
    """Type `keys` at the end of the document and wait for what the Completer made of them."""
    area = pilot.app.area
    area.move_cursor(area.document.end)
    await pilot.press(*keys)
    await settle(pilot)


async def test_what_the_text_area_hands_the_completer_reads_as_the_whole_text_would(small):
    """Typing, jumps, edits far above the cursor, selections, pastes, undo and redo."""
    rng = random.Random(3)
    app = AreaApp(random_text(rng, 300))
    async with app.run_test(size=(80, 24)) as pilot:
        area = app.area
        area.completer = completer = CheckedCompleter(small, area)
        area.move_cursor(area.document.end)
        for _ in range(160):
            action = rng.random()
            if action < 0.1:
                area.move_cursor(random_location(rng, area.document))
            elif action < 0.15:
                ends = sorted(random_location(rng, area.document) for _ in range(2))
                area.selection = Selection(*ends)
            elif action < 0.2:
                area.insert(random_text(rng, 8))
            elif action < 0.3:
                await pilot.press(rng.choice(["ctrl+z", "ctrl+y", "backspace", "ctrl+end", "enter"]))
            else:
                await pilot.press(rng.choice("abc  "))
            await settle(pilot)
        assert len(completer.agreed) > 60  # it was asked often enough to tell
        assert completer.checked() == {"twin"}


FAR_EDITS = {  # changes inside a word far above the end
    "typing": lambda area: area.insert("xy", (3, 2)),
    "a backspace": lambda area: area.delete((3, 1), (3, 2)),
    "a deleted selection": lambda area: area.delete((3, 1), (6, 3)),
    "a pasted paragraph": lambda area: area.insert("one\ntwo\nthr", (3, 2)),
}


@pytest.mark.parametrize("edit", FAR_EDITS)
async def test_a_change_far_above_is_read_when_typing_goes_on_at_the_end(small, edit):
    """The tail reaches back to a change the Completer has not read, and to where an undo or
    a redo of it changed the text."""
    app = AreaApp("\n".join(["alpha beta gamma delta"] * 40))
    async with app.run_test(size=(80, 24)) as pilot:
        area = app.area
        area.completer = completer = CheckedCompleter(small, area)
        await type_at_the_end(pilot, "x")
        area.history.checkpoint()  # the change far above is an undo step of its own
        FAR_EDITS[edit](area)  # read at once with the cursor at the end, or not at all
        area.history.checkpoint()
        for step in (area.undo, area.redo, lambda: None):
            await settle(pilot)
            await type_at_the_end(pilot, "x")
            area.history.checkpoint()
            area.undo()  # that "x" again: typing on leaves the history as it was
            await settle(pilot)
            step()
        assert len(completer.agreed) >= 6 and completer.checked() == {"twin"}


async def test_a_completer_primed_while_typing_goes_on_where_the_text_changed(small):
    """install_completer: a new Completer reads the context of an earlier version (hold_context)
    while typing goes on with the old one, here far above the cursor; every context handed
    out meanwhile reaches back to that change, whichever Completer reads it."""
    app = AreaApp("\n".join(["a" * 50] * 40))
    async with app.run_test(size=(80, 24)) as pilot:
        area = app.area
        area.completer = old = CheckedCompleter(small, area)
        await type_at_the_end(pilot, "a")
        primed = area.hold_context()
        fresh = CheckedCompleter(small, area)
        fresh.state_at(primed.tail, primed.offset)
        area.move_cursor((2, 50))
        await pilot.press("a", "a")  # read by the old Completer, far above the new one's tail
        await settle(pilot)
        await type_at_the_end(pilot, "a")  # read by the old one too, but as the new one would need it
        assert old.offsets[-1] <= 2 * 51 + 50
        area.install_completer(fresh, primed)
        area.release_context(primed)
        await type_at_the_end(pilot, "a")
        assert len(fresh.agreed) == 2 and fresh.checked() == {"twin"}
        assert old.checked() == {"twin"}


async def test_after_a_jump_the_text_before_the_cursor_is_read_before_the_next_key(small):
    app = AreaApp("\n".join(["a" * 50] * 40))
    async with app.run_test(size=(80, 24)) as pilot:
        area = app.area
        area.prime_after_jumps = True
        area.completer = completer = CheckedCompleter(small, area)
        await type_at_the_end(pilot, "a")
        area.move_cursor((2, 50))  # a jump, no key typed there yet
        await settle(pilot)
        assert area._last_read is not None and area._last_read.cursor == (2, 50)
        assert completer.checked() == {"twin"}
        before = len(completer.offsets)
        await pilot.press("b")  # one byte past what was read there
        await settle(pilot)
        assert len(completer.offsets) > before and completer.checked() == {"twin"}
