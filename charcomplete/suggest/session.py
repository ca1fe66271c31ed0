"""The suggestion session: one model opened for suggesting, the same for every surface.

The editor, the language server (one session per open document), the shell server and
`complete --lines` each used to assemble these pieces themselves: the numpy engine, the
typing cache of the document and of what is typed (`model.cache.typing_cache`), the
model's memory (`model.memory`: an n-gram of the text it was trained on), a
`decoder.Completer`, new weights swapped in when the learner publishes, and what to drop
when `charcomplete forget --all` runs. A `Session` is that assembly, in one place; the
surfaces keep only their own threading and I/O.

Threads: a session is used by one thread at a time (the surface's lock or event loop says
which). What is slow (loading weights, building a memory n-gram) is done by the caller
off its keystroke path, with `load_engine` and `load_memory`, and handed in with `swap`
and `remember`, which are quick."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from charcomplete.core.errors import CharcompleteError
from charcomplete.core.predictor import Predictor
from charcomplete.learn.learner import forget_generation_stamp
from charcomplete.model.cache import CacheEngine, typing_cache
from charcomplete.model.ngram import NGram
from charcomplete.suggest.decoder import Completer, Suggestion

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SessionOptions:
    """How a surface wants its suggestions made."""

    cache: bool = True  # mix the model with a cache of the document and what is typed (False: the model alone)
    memory: bool = True  # and with the model's memory of its training text
    learn: bool = True  # the cache counts what is typed (False while the user pauses learning)
    suggest: dict = field(default_factory=dict)  # decoder policy fields (max_chars, budget_ms, ...)


def load_engine(name: str):
    """The numpy engine of model `name` (slow: call it off the keystroke path)."""
    from charcomplete.model.engine import Engine

    return Engine.load(name)


def load_memory(engine) -> tuple[NGram | None, str | None]:
    """The n-gram of `engine`'s model's memory (a few seconds for the largest: off the keystroke
    path), and a sentence saying why there is none when it could not be read (the weights still
    serve; the surface says so where its user will see it)."""
    from charcomplete.model import memory

    folder = getattr(engine, "folder", None)
    if folder is None:
        return None, None
    try:
        return memory.ngram(folder), None
    except CharcompleteError as error:
        return None, f"suggesting without the model's memory: {error}"


class Session:
    """A model opened for one document (or one shell): suggestions, learning from typing,
    new weights and forgetting."""

    def __init__(self, engine: Predictor, text: str = "", options: SessionOptions | None = None,
                 remembered: NGram | None = None):
        self.options = options or SessionOptions()
        self.engine = engine
        self.cache: CacheEngine | None = (
            typing_cache(engine, text, remembered=remembered) if self.options.cache else None
        )
        self._learning = self.options.learn and self.cache is not None
        self.completer = self.new_completer()
        self._forget_stamp = forget_generation_stamp()

    @classmethod
    def open(cls, name: str, text: str = "", options: SessionOptions | None = None) -> Session:
        """Load model `name` and its memory, and open a session on `text` (slow: off the keystroke path)."""
        engine = load_engine(name)
        options = options or SessionOptions()
        remembered = None
        if options.cache and options.memory:
            remembered, warning = load_memory(engine)
            if warning:
                log.warning("%s", warning)
        return cls(engine, text, options, remembered)

    # ------------------------------------------------------------ suggestions

    def suggest(self, tail: str | bytes, offset: int = 0, alternatives: int = 0, **policy) -> list[Suggestion]:
        """The best continuation of the text before the cursor (given as its end, `tail`, which
        starts `offset` characters into the document) first, then up to `alternatives` other
        distinct ones; [] when nothing is worth showing."""
        best = self.completer.complete_at(tail, offset, **policy)
        found = [best] if best.text else []
        if alternatives:
            for option in self.completer.alternatives_at(tail, offset, alternatives + 1, **policy):
                if option.text and all(option.text != seen.text for seen in found):
                    found.append(option)
        return found[: 1 + alternatives]

    def read(self, tail: str | bytes, offset: int = 0) -> None:
        """Read the text up to the cursor (after an edit, or to prime a document just opened so
        that the first keystroke reads only what it adds); what extends the text read before is
        learned from."""
        self.completer.state_at(tail, offset)

    def learn_line(self, line: str) -> None:
        """Count one finished line (a shell command the user ran) as typed text of its own."""
        if self.cache is None:
            return
        state = self.cache.start()
        self.cache.read(state, line.encode("utf-8", "replace") + b"\n")

    @property
    def learning(self) -> bool:
        return self._learning

    def set_learning(self, learn: bool) -> None:
        """Pause or resume counting what is typed (the model's weights are the learner's business)."""
        self._learning = learn and self.cache is not None
        self.completer.learn = self._learning

    # ------------------------------------------------------------ new weights, memory, forgetting

    def new_completer(self) -> Completer:
        """A Completer over the current engine and cache (what the cache learned carries over).
        The editor primes one off its event loop and installs it between two keystrokes."""
        predictor = self.engine if self.cache is None else self.cache
        return Completer(predictor, learn=self._learning, **self.options.suggest)

    def swap(self, engine: Predictor, *, install: bool = True) -> Completer:
        """Suggest with new weights from now on; the cache and its mixer carry over. `install`
        False: only build the new Completer (the caller installs it when its context is read)."""
        self.engine = engine
        if self.cache is not None:
            self.cache = self.cache.rebased(engine)
        return self._replace_completer(install)

    def remember(self, remembered: NGram | None, *, install: bool = True) -> Completer:
        """Mix in `remembered` (the model's memory, from `load_memory`) in place of the one the
        cache had; the document's own cache carries over."""
        if self.cache is not None:
            self.cache = self.cache.remembering(remembered)
        return self._replace_completer(install)

    def _replace_completer(self, install: bool) -> Completer:
        completer = self.new_completer()
        if install:
            self.completer = completer
        return completer

    def forgotten(self) -> bool:
        """Whether `charcomplete forget` ran since this session opened or last forgot (one stat):
        then everything it learned must go before its next answer (`forget`)."""
        return forget_generation_stamp() != self._forget_stamp

    def forget(self, engine: Predictor, text: str = "") -> None:
        """Drop everything learned: the cache starts again from `text` with no memory, over
        `engine` (the model in use now: the one before may have been deleted)."""
        self._forget_stamp = forget_generation_stamp()
        self.engine = engine
        self.cache = typing_cache(engine, text) if self.options.cache else None
        self._learning = self._learning and self.cache is not None
        self.completer = self.new_completer()


def model_in_use() -> str:
    """The name of the model the surfaces use now (after a forget, the built-in one)."""
    from charcomplete.storage import store

    return store.current_model_name()

