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
from collections.abc import Callable
from dataclasses import dataclass, field

from charcomplete.core.errors import CharcompleteError
from charcomplete.core.predictor import Predictor
from charcomplete.learn.learner import forget_generation_stamp
from charcomplete.model.cache import CacheEngine, typing_cache
from charcomplete.model.ngram import NGram
from charcomplete.suggest.completer import READ_S
from charcomplete.suggest.decoder import Completer, Suggestion

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SessionOptions:
    """How a surface wants its suggestions made."""

    cache: bool = True  # mix the model with a cache of the document and what is typed (False: the model alone)
    memory: bool = True  # and with the model's memory of its training text (its n-gram and its match index)
    online: bool = False  # and the weights learn from what is typed (dynamic evaluation, in a worker thread)
    learn: bool = True  # the cache counts what is typed (False while the user pauses learning)
    suggest: dict = field(default_factory=dict)  # decoder policy fields (max_chars, budget_ms, ...)
    # A suggestion typed over after standing this long was read and declined (Completer; 0: at once)
    read_s: float = READ_S


def load_engine(name: str):
    """The numpy engine of model `name` (slow: call it off the keystroke path)."""
    from charcomplete.model.engine import Engine

    return Engine.load(name)


@dataclass(frozen=True)
class Remembered:
    """A model's memory as suggestions use it: its n-gram and its match index (`model.memory`)."""

    ngram: NGram
    index: object | None = None  # memory.recall's TextIndex (None: no match model over the memory)


def load_memory(engine) -> tuple[Remembered | None, str | None]:
    """`engine`'s model's memory (seconds for the largest: off the keystroke path), and a sentence
    saying why there is none when it could not be read (the weights still serve; the surface
    says so where its user will see it)."""
    from charcomplete.model import memory

    folder = getattr(engine, "folder", None)
    if folder is None:
        return None, None
    try:
        ngram = memory.ngram(folder)
        return (Remembered(ngram, memory.recall(folder)) if ngram is not None else None), None
    except CharcompleteError as error:
        return None, f"suggesting without the model's memory: {error}"


def load_online(engine):
    """Online weights for `engine`'s model (`learn.online`: torch is imported, seconds: off the
    keystroke path); None when the model cannot be read for it."""
    from charcomplete.learn.online import online_weights

    try:
        return online_weights(engine.name)
    except CharcompleteError:
        return None


class Session:
    """A model opened for one document (or one shell): suggestions, learning from typing,
    new weights and forgetting."""

    def __init__(self, engine: Predictor, text: str = "", options: SessionOptions | None = None,
                 remembered: Remembered | None = None, online=None):
        self.options = options or SessionOptions()
        self.engine = engine
        self.online = online  # learn.online.OnlineWeights, or None
        self._online_for = load_online  # makes the online weights for new weights (go_online changes it)
        self.cache: CacheEngine | None = (
            typing_cache(engine, text, remembered=remembered.ngram if remembered else None,
                         recalled=remembered.index if remembered else None, online=online)
            if self.options.cache else None
        )
        self._learning = self.options.learn and self.cache is not None
        self.completer = self.new_completer()
        self._forget_stamp = forget_generation_stamp()

    @classmethod
    def open(cls, name: str, text: str = "", options: SessionOptions | None = None) -> Session:
        """Load model `name` and its memory, and open a session on `text` (slow: off the keystroke path)."""
        engine = load_engine(name)
        options = options or SessionOptions()
        remembered = online = None
        if options.cache and options.memory:
            remembered, warning = load_memory(engine)
            if warning:
                log.warning("%s", warning)
        if options.cache and options.online:
            online = load_online(engine)
        return cls(engine, text, options, remembered, online)

    def go_online(self, online_for: Callable[[Predictor], object]) -> None:
        """Let the weights learn from what is typed from now on, through `online_for(engine)`
        (an `online.OnlineWeights` for those weights; quick: the editor's steps them in its
        learner process, `online_remote.remote_online`), also for the weights swapped in later.
        The Completer takes each new set between two keystrokes."""
        if self.cache is None:
            return
        self._online_for = online_for
        if self.online is not None:
            self.online.close()
        self.online = online_for(self.engine)
        self.cache.online = self.online  # the Completer's predictor is this cache, or a twin sharing it

    def go_offline(self) -> None:
        """The weights stop learning online (the editor's learner stopped, or another model was
        chosen whose learner is not running yet); what they learned goes."""
        if self.online is not None:
            self.online.close()
            self.online = None
        self._online_for = load_online
        if self.cache is not None:
            self.cache.online = None

    # ------------------------------------------------------------ suggestions

    def suggest(self, tail: str | bytes, offset: int = 0, alternatives: int = 0, since: float | None = None,
                **policy) -> list[Suggestion]:
        """The best continuation of the text before the cursor (given as its end, `tail`, which
        starts `offset` characters into the document) first, then up to `alternatives` other
        distinct ones; [] when nothing is worth showing. since: when the keystroke this answers
        arrived, if it waited before this call (None: now; the time budget counts from there:
        `Completer.complete_at`)."""
        best = self.completer.complete_at(tail, offset, since, **policy)
        found = [best] if best.text else []
        if alternatives:
            for option in self.completer.alternatives_at(tail, offset, alternatives + 1, since, **policy):
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
        return Completer(predictor, learn=self._learning, read_s=self.options.read_s, **self.options.suggest)

    def swap(self, engine: Predictor, *, install: bool = True) -> Completer:
        """Suggest with new weights from now on; the cache and its mixer carry over. `install`
        False: only build the new Completer (the caller installs it when its context is read).
        What the weights learned online goes: the new weights (a publish of the learner, or
        another model) start the online learning afresh."""
        self.engine = engine
        if self.online is not None:
            self.online.close()
            self.online = self._online_for(engine)
        if self.cache is not None:
            self.cache = self.cache.rebased(engine)
            self.cache.online = self.online
        return self._replace_completer(install)

    def remember(self, remembered: Remembered | None, *, install: bool = True) -> Completer:
        """Mix in `remembered` (the model's memory, from `load_memory`) in place of the one the
        cache had; the document's own cache carries over."""
        if self.cache is not None:
            self.cache = self.cache.remembering(remembered.ngram if remembered else None,
                                                remembered.index if remembered else None)
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
        if self.online is not None:  # what the weights learned online is forgotten too
            self.online.close()
            self.online = self._online_for(engine)
        self.cache = typing_cache(engine, text, online=self.online) if self.options.cache else None
        self._learning = self._learning and self.cache is not None
        self.completer = self.new_completer()

    def close(self) -> None:
        """Stop the online weights' worker (the session is done)."""
        if self.online is not None:
            self.online.close()
            self.online = None


def model_in_use() -> str:
    """The name of the model the surfaces use now (after a forget, the built-in one)."""
    from charcomplete.storage import store

    return store.current_model_name()

