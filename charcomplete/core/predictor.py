"""The contract between what predicts the next byte and what decodes or learns from it.

Three predictors keep it: the numpy `engine.Engine` (the neural model), `ngram.NGramEngine`
(an n-gram, the baseline) and `cache.CacheEngine` (a neural engine mixed with n-grams of
the user's text). The decoder (`decoder.suggest`, `decoder.Completer`) and the evaluator
(`evaluate.evaluate`) use any of them through these protocols alone.

A `Predictor` makes `PredictorState`s: the state after some text, which reads further
bytes (`feed`), copies itself to look ahead (`fork`) and gives the next byte's odds
(`log_probs`). A `LearningPredictor` also learns from the text as it is read (the cache
counts it, its mixer learns how far to trust the counts): `observe` one byte once it is
known, `read` a whole text. Looking ahead never learns anything.

Protocols are runtime-checkable so a caller can ask `isinstance(engine, LearningPredictor)`
instead of probing attributes; the check looks at method names only, the annotations
here are the contract.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

PRIME_WINDOW = 1024  # bytes of context replayed when a state is rebuilt from text
TAIL_BYTES = 4  # what a state's `tail` keeps: a UTF-8 character is at most 4 bytes


@runtime_checkable
class PredictorState(Protocol):
    """The state after some text: it reads bytes and gives the next byte's odds.

    One thread at a time uses a state; `fork()` it to look ahead without moving it."""

    @property
    def engine(self) -> Predictor:
        """The predictor this state belongs to."""
        ...

    @property
    def tail(self) -> bytes:
        """The last TAIL_BYTES bytes read (fewer at the start): enough for the decoder to
        tell whether the text ends inside a word or inside a UTF-8 character."""
        ...

    def feed(self, data: bytes | str) -> None:
        """Read `data` (a str as UTF-8), moving this state."""
        ...

    def fork(self) -> PredictorState:
        """An independent copy of this state."""
        ...

    def log_probs(self) -> np.ndarray:
        """(256,) natural-log probabilities of the next byte."""
        ...

    def probs(self) -> np.ndarray:
        """(256,) probabilities of the next byte."""
        ...

    def carried_to(self, engine: Predictor) -> PredictorState:
        """The same text read, continued under `engine` (new weights of the same shape);
        this state is left as it was."""
        ...

    def move_to(self, engine: Predictor) -> None:
        """`carried_to` in place, copying nothing: for a state no one else holds (a Completer's
        checkpoints, dozens of which move at each new set of online weights)."""
        ...


@runtime_checkable
class Predictor(Protocol):
    """Something that predicts the next byte of a text."""

    name: str

    def describe(self) -> str:
        """One line for people: what kind of model this is."""
        ...

    @property
    def parameters(self) -> int:
        """Trained parameters (0 for a counting model)."""
        ...

    def zero_state(self) -> PredictorState:
        """The state before anything was read, not even DOC_START (a text cut to its tail)."""
        ...

    def start(self) -> PredictorState:
        """The state at the start of a document (DOC_START read)."""
        ...

    def prime(self, text: bytes | str, window: int = PRIME_WINDOW) -> PredictorState:
        """The state after `text`: from the start when it fits in `window` bytes, else its last
        `window` bytes read from a zero state."""
        ...


@runtime_checkable
class LearningPredictor(Predictor, Protocol):
    """A predictor that learns from the text as it reads it."""

    def observe(self, state: PredictorState, byte: int) -> None:
        """The text went on with `byte` after `state`: learn from it (the state is not moved)."""
        ...

    def read(self, state: PredictorState, data: bytes) -> None:
        """The user wrote `data` after `state`: learn from each byte and read it into the state."""
        ...
