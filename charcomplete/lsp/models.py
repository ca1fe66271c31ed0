"""The model side of the language server: one suggestion session (`suggest.session`) per
open document, used by one thread at a time (model_work.py: the model thread, or for a
keystroke the protocol thread while the model thread is idle).

The text a session reads starts at an anchor (`Snapshot.text`): the document start, or for
a long document a point a few thousand characters back that stays put while the user
types, so each request hands over a bounded text whose beginning does not move (the
session's Completer then reads just the new bytes)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from charcomplete.suggest.decoder import Suggestion
from charcomplete.suggest.policy import at_cursor
from charcomplete.suggest.session import Session, SessionOptions, load_memory, load_online

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    """What the model thread needs to answer for one document at one moment."""

    uri: str
    version: int  # the document's version when the snapshot was taken
    text: str  # from the document's anchor to the cursor (the whole text before it when short)
    alternatives: int = 0  # further options wanted besides the best one
    # When the keystroke this request answers arrived (time.perf_counter(); None: no keystroke's,
    # the budget counts from the search's start): the suggestion's time budget counts from there,
    # so the reading of the edit it waited behind is part of it, as in the editor, where one call
    # reads the keystroke and searches.
    arrived: float | None = None
    # The cursor ends its line: a suggestion may run on past the line end there (the policy's
    # line_ends, when the server's options allow it), never from the middle of a line.
    at_line_end: bool = True


@dataclass
class DocumentModels:
    """A session per document over one engine. Its methods run one at a time (model_work.py)."""

    engine: object  # engine.Engine (numpy), or anything with its interface
    learn: bool = True  # the caches count what is typed (False while learning is paused)
    suggest_options: dict = field(default_factory=dict)
    # Makes a document's online weights for an engine: in the server's learner process once it
    # runs (`online_remote.remote_online`: torch stays out of the server, whose requests then
    # never wait on a step's interpreter lock), else in this process (`session.load_online`).
    online_for: Callable[[object], object] = load_online
    _sessions: dict[str, Session] = field(default_factory=dict)

    def open(self, uri: str, text: str) -> None:
        """Start a document: its cache reads the text as opened, and knows the model's memory."""
        remembered, warning = load_memory(self.engine)
        if warning:
            log.warning("%s", warning)  # the weights still serve; the server's log says why
        options = SessionOptions(learn=self.learn, online=self.learn, suggest=self.suggest_options)
        session = self._sessions[uri] = Session(self.engine, text, options, remembered)
        if self.learn:
            session.go_online(self.online_for)  # the weights learn from the typing too

    def go_online(self, online_for: Callable[[object], object] = load_online) -> None:
        """Each document's online weights (and those of documents opened later) come from
        `online_for` from now on; what they learned so far goes."""
        self.online_for = online_for
        for session in self._sessions.values():
            if session.online is not None:
                session.go_online(online_for)

    def close(self, uri: str) -> None:
        session = self._sessions.pop(uri, None)
        if session is not None:
            session.close()

    def close_all(self) -> None:
        for uri in list(self._sessions):
            self.close(uri)

    def advance(self, snapshot: Snapshot) -> None:
        """Read the text up to the cursor (after an edit), learning what was typed."""
        session = self._sessions.get(snapshot.uri)
        if session is not None:
            session.read(snapshot.text)

    def suggest(self, snapshot: Snapshot) -> list[Suggestion]:
        """The best continuation first, then up to `snapshot.alternatives` others; [] when none is confident."""
        session = self._sessions.get(snapshot.uri)
        if session is None:
            return []
        return session.suggest(snapshot.text, 0, snapshot.alternatives, snapshot.arrived,
                               **at_cursor(snapshot.at_line_end))

    def set_learning(self, learn: bool) -> None:
        self.learn = learn
        for session in self._sessions.values():
            session.set_learning(learn)

    def swap_engine(self, engine) -> None:
        """New weights (the learner published): each document keeps its cache and mixer."""
        self.engine = engine
        for session in self._sessions.values():
            session.swap(engine)

    def forgotten(self) -> bool:
        """`charcomplete forget` ran since the documents were opened (one stat)."""
        return any(session.forgotten() for session in self._sessions.values())

    def forget(self, engine) -> None:
        """Drop what every document's session learned; suggest with `engine` (the model in use now)."""
        self.engine = engine
        for session in self._sessions.values():
            session.forget(engine)
