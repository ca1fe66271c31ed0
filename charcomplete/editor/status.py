"""What the editor's status bar (widgets.StatusBar) shows, and when: the file and whether
it is saved, the model in use, the learner's state and steps, its bits per character, and
the suggestions' latency. The learner's state is shown the moment it changes (the app's
watchers); the rest on a timer and after a save or a recovery."""

from __future__ import annotations

import statistics

from charcomplete.editor.host import EditorHost
from charcomplete.editor.learning import Learning
from charcomplete.editor.suggestions import Suggestions


class StatusLine:
    """Fills the app's status bar from the document, the suggestions and the learner's side."""

    def __init__(self, host: EditorHost, suggestions: Suggestions, learning: Learning):
        self.host = host
        self.suggestions = suggestions
        self.learning = learning
        self._version = -1  # the editor's version `_modified` was worked out for
        self._modified = False

    def show_model(self) -> None:
        status = self.host.status
        if not status.is_mounted:
            return
        engine = self.suggestions.session.engine
        config = engine.config
        status.show_model(engine.name, config.describe(), config.parameter_count())

    def _document_modified(self) -> bool:
        editor = self.host.editor
        version = editor.version
        if version != self._version:
            self._version = version
            self._modified = editor.text != self.host.saved_text
        return self._modified

    def show_learner(self) -> None:
        host = self.host
        if host.status.is_mounted:
            host.status.show_learner(host.learner_state, host.learner_steps)

    def refresh(self, force: bool = False) -> None:
        host = self.host
        status = host.status
        if not status.is_mounted:
            return
        if force:
            self._version = -1
        if host.path is None:
            state = "modified" if self._document_modified() else "new"
        else:
            state = "modified" if self._document_modified() else ("saved" if host.path.exists() else "new")
        status.show_file(host.document_name, state)
        self.show_learner()
        status.show_bpc(list(self.learning.bpc_history))
        latencies = host.editor.latencies
        if latencies:
            status.show_latency(latencies[-1], statistics.median(latencies))
