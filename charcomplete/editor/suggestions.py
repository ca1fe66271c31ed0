"""The editor's suggestion flow: the one `Session` (engine, typing cache, the model's memory)
its suggestions come from, and the jobs that change what it suggests with. Each job runs off
the event loop and its result is swapped in between two suggestions: new weights (published
by the learner, another model chosen, or everything forgotten), the model's memory once it is
built, and the first read of the document as it opens, so that the first keystroke after
opening is computed inline.

The ghost text itself (inline or worker reads, a read after a cursor jump) is the text area's
(widgets.SuggestingTextArea); this part hands it Completers and primes it."""

from __future__ import annotations

from charcomplete.core.errors import CharcompleteError
from charcomplete.editor.context import Context
from charcomplete.editor.host import EditorHost, in_thread
from charcomplete.editor.messages import EngineLoadFailed, EngineSwapped
from charcomplete.editor.widgets import SuggestingTextArea
from charcomplete.learn.online_remote import remote_online
from charcomplete.suggest.session import Session, load_engine, load_memory


class Suggestions:
    """The app's session and the swaps of what it suggests with; `swaps` counts the weights
    swapped in (tests and the status read it), `switches` those that were another model chosen
    (each brings its own memory)."""

    def __init__(self, host: EditorHost, session: Session):
        self.host = host
        self.session = session
        self.swaps = 0
        self.switches = 0

    # ------------------------------------------------------------ on opening

    def prime(self) -> None:
        """Read the document up to the cursor as it opens (see _prime)."""
        editor = self.host.editor
        in_thread(self.host, self._prime, editor, editor.hold_context(), group="prime")

    def _prime(self, editor: SuggestingTextArea, context: Context) -> None:
        """Read the document up to the cursor as it opens, off the event loop, so that the first
        keystroke reads only what it adds and is computed inline."""
        try:
            editor.prime(context)
        finally:
            editor.release_context(context)

    # ------------------------------------------------------------ new weights

    def switch_model(self, name: str) -> None:
        self.load_engine(name, "switched")

    def load_engine(self, name: str, reason: str) -> None:
        """Load `name`'s weights and swap them in; EngineSwapped (with `reason`) or EngineLoadFailed tells the app."""
        if reason != "learned":
            # The learner's online weights start from the weights it learns on: for another model,
            # or after a forget, none may be used until a learner for what is loaded now says so.
            self.session.go_offline()
        editor = self.host.editor
        in_thread(self.host, self._swap_engine, editor, name, reason, editor.hold_context(), group="engine")

    def _swap_engine(self, editor: SuggestingTextArea, name: str, reason: str, context: Context) -> None:
        """Load weights off the event loop, then swap them in between two suggestions.

        A fresh Completer reads the current context with the new weights before the swap
        (rather than Completer.set_engine on the one in use, which would make the next
        keystroke re-read it): suggestions go on with the old weights meanwhile."""
        try:
            engine = load_engine(name)
        except CharcompleteError as error:
            self.host.post_message(EngineLoadFailed(name, str(error)))
            return
        else:
            if reason == "forgotten":
                self.session.forget(engine)  # what the cache counted goes with everything else
            self._install(editor, self.session.swap(engine, install=False), context)
            self.host.post_message(EngineSwapped(name, reason))
        finally:
            editor.release_context(context)

    def _install(self, editor: SuggestingTextArea, completer, context: Context) -> None:
        """A fresh Completer (from the session: its engine and cache as they are now) reads
        `context` (from hold_context), then is swapped in between two suggestions."""
        # Reads only: the cache is not touched outside the editor's lock.
        completer.state_at(context.tail, context.offset)
        editor.install_completer(completer, context)

    def swapped(self, reason: str) -> None:
        """New weights are in use (EngineSwapped, on the event loop): another model brings its own memory."""
        self.swaps += 1
        if reason == "switched":
            self.switches += 1
            if self.session.cache is not None:
                self.build_memory()  # another model, another memory (or none)

    # ------------------------------------------------------------ online weights

    def go_online(self, learner) -> None:
        """The weights learn from what is typed, stepped in `learner`'s process (it runs on the
        weights suggestions come from): issue 23's one adaptation path, without torch here."""
        if self.session.cache is None:
            return
        self.session.go_online(lambda engine: remote_online(learner, engine))

    def go_offline(self) -> None:
        self.session.go_offline()

    # ------------------------------------------------------------ the model's memory

    def build_memory(self) -> None:
        in_thread(self.host, self._build_memory, self.session.engine, group="memory", exclusive=True)

    def _build_memory(self, engine) -> None:
        """Build the n-gram of `engine`'s model's memory (memory.py: the text it was trained on;
        a few seconds for the largest) off the event loop, then add it to this document's cache.
        Suggestions go on from the model and the document meanwhile."""
        switches = self.switches
        remembered, warning = load_memory(engine)
        if warning:
            self.host.call_from_thread(self.host.notify, warning[0].upper() + warning[1:], severity="warning")
        if remembered is not None or (self.session.cache is not None and len(self.session.cache.caches) > 1):
            self.host.call_from_thread(self._remember, switches, remembered)

    def _remember(self, switches: int, remembered) -> None:
        if self.session.cache is None or switches != self.switches:
            return  # another model was chosen meanwhile: its own memory is on its way
        completer = self.session.remember(remembered, install=False)
        editor = self.host.editor
        in_thread(self.host, self._swap_completer, editor, completer, editor.hold_context(), group="engine")

    def _swap_completer(self, editor: SuggestingTextArea, completer, context: Context) -> None:
        """The same weights with the cache as it is now (its memory added or changed), off the event loop."""
        try:
            self._install(editor, completer, context)
        finally:
            editor.release_context(context)
