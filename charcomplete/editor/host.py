"""The contract between the editor app and its parts: what the suggestion flow, the
learner's side, the recovery journal, the save and quit flows and the status line may use
of the app that owns them (`EditorHost`), and how a part runs a job off the event loop.

The app (app.EditorApp) satisfies EditorHost; the parts take it in their constructor and
never import the app, so each can be read knowing only this page and the widgets."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeVar

from textual.message import Message
from textual.screen import Screen
from textual.worker import Worker

from charcomplete.editor.journal import Redactions
from charcomplete.editor.widgets import LearnerState, StatusBar, SuggestingTextArea

AnswerT = TypeVar("AnswerT")


class EditorHost(Protocol):
    """The editor app as its parts see it."""

    # The document: the text area (set in compose: read it when needed, not at construction),
    # the file it belongs to and its text as last saved, and what must never leave the editor.
    editor: SuggestingTextArea
    status: StatusBar
    path: Path | None
    saved_text: str
    sub_title: str
    redactions: Redactions
    quitting: bool  # set once the app is closing: background results are then dropped

    # Reactive on the app: the status bar shows them the moment they change.
    learner_state: LearnerState
    learner_steps: int

    @property
    def document_name(self) -> str: ...

    # What the parts ask of one another, through the app.
    def refresh_status(self, force: bool = False) -> None: ...

    def quit_cleanly(self) -> None: ...

    # Textual's App, as far as the parts use it.
    def notify(self, message: str, *, severity: Any = "information", timeout: float | None = None) -> None: ...

    def post_message(self, message: Message) -> bool: ...

    def call_from_thread(self, callback: Callable[..., Any], *args: Any, **kwargs: Any) -> Any: ...

    def run_worker(self, work: Any, name: str | None = "", group: str = "default", description: str = "",
                   exit_on_error: bool = True, start: bool = True, exclusive: bool = False,
                   thread: bool = False) -> Worker: ...

    def push_screen(self, screen: Screen[AnswerT], callback: Callable[[AnswerT | None], None] | None = None,
                    wait_for_dismiss: bool = False) -> Any: ...

    async def push_screen_wait(self, screen: Screen[AnswerT]) -> AnswerT: ...


def in_thread(host: EditorHost, job: Callable[..., Any], *args: Any, group: str, exclusive: bool = False) -> Worker:
    """Run `job(*args)` in a thread worker of the app, as Textual's @work(thread=True) would on
    one of its methods: its failure is told by the app's on_worker_state_changed, by `group`."""
    return host.run_worker(partial(job, *args), name=job.__name__, group=group, exclusive=exclusive,
                           exit_on_error=False, thread=True)


def in_task(host: EditorHost, job: Callable[..., Any], *args: Any, group: str, exclusive: bool = False) -> Worker:
    """Run the coroutine `job(*args)` in an async worker of the app (where push_screen_wait may await a dialog)."""
    return host.run_worker(partial(job, *args), name=job.__name__, group=group, exclusive=exclusive,
                           exit_on_error=False)
