"""The model side of the language server: one Completer per open document, all used from
one thread (the model thread), never from the protocol thread.

Each document gets what the editor gives its one document (charcomplete.editor.app): a
cache of the document as opened and of what is typed into it (`cache.typing_cache`)
mixed with the model, and a `decoder.Completer` that keeps the state after the text
before the cursor, so that a keystroke feeds the model only the bytes it added.

The text a Completer reads starts at an anchor (`Snapshot.text`): the document start,
or for a long document a point a few thousand characters back that stays put while
the user types, so each request hands over a bounded text whose beginning does not
move (the Completer then reads just the new bytes)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from charcomplete.core.errors import CharcompleteError
from charcomplete.model import memory
from charcomplete.model.cache import typing_cache
from charcomplete.model.ngram import NGram
from charcomplete.suggest.decoder import Completer, Suggestion

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    """What the model thread needs to answer for one document at one moment."""

    uri: str
    version: int  # the document's version when the snapshot was taken
    text: str  # from the document's anchor to the cursor (the whole text before it when short)
    alternatives: int = 0  # further options wanted besides the best one


@dataclass
class _Entry:
    completer: Completer
    cache: object  # cache.CacheEngine: this document's counts and mixer, carried over new weights


@dataclass
class DocumentModels:
    """Completers per document over one engine. Every method runs on the model thread."""

    engine: object  # engine.Engine (numpy), or anything with its interface
    learn: bool = True  # the caches count what is typed (False while learning is paused)
    suggest_options: dict = field(default_factory=dict)
    _entries: dict[str, _Entry] = field(default_factory=dict)

    def open(self, uri: str, text: str) -> None:
        """Start a document: its cache reads the text as opened (its last 64 KiB), and knows the
        model's memory (memory.py: the text it was trained on; built at the first document)."""
        cache = typing_cache(self.engine, text, remembered=self._remembered())
        self._entries[uri] = _Entry(self._completer(cache), cache)

    def close(self, uri: str) -> None:
        self._entries.pop(uri, None)

    def is_open(self, uri: str) -> bool:
        return uri in self._entries

    def advance(self, snapshot: Snapshot) -> None:
        """Read the text up to the cursor (after an edit), learning what was typed."""
        entry = self._entries.get(snapshot.uri)
        if entry is not None:
            entry.completer.state_for(snapshot.text)

    def suggest(self, snapshot: Snapshot) -> list[Suggestion]:
        """The best continuation first, then up to `snapshot.alternatives` others; [] when none is confident."""
        entry = self._entries.get(snapshot.uri)
        if entry is None:
            return []
        best = entry.completer.complete(snapshot.text)
        found = [best] if best.text else []
        if snapshot.alternatives:
            for option in entry.completer.alternatives(snapshot.text, snapshot.alternatives + 1):
                if option.text and all(option.text != seen.text for seen in found):
                    found.append(option)
        return found[: 1 + snapshot.alternatives]

    def set_learning(self, learn: bool) -> None:
        self.learn = learn
        for entry in self._entries.values():
            entry.completer.learn = learn

    def swap_engine(self, engine) -> None:
        """New weights (the learner published): each document keeps its cache and mixer."""
        self.engine = engine
        for entry in self._entries.values():
            entry.cache = entry.cache.rebased(engine)
            entry.completer = self._completer(entry.cache)

    def _remembered(self) -> NGram | None:
        folder = getattr(self.engine, "folder", None)
        try:
            return memory.ngram(folder) if folder is not None else None
        except CharcompleteError as error:  # the weights still serve; the server's log says why
            log.warning("suggesting without the model's memory: %s", error)
            return None

    def _completer(self, cache) -> Completer:
        return Completer(cache, learn=self.learn, **self.suggest_options)
