"""The Completer: suggestions for a text that changes one keystroke at a time, reading only
what changed (every interactive surface uses one, through the session)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from charcomplete.core.predictor import PRIME_WINDOW, LearningPredictor, Predictor, PredictorState
from charcomplete.suggest.declined import NOTHING_DECLINED, Declined
from charcomplete.suggest.policy import INTERACTIVE_BUDGET_MS
from charcomplete.suggest.search import Suggestion, alternatives, suggest

OFFER_CONTEXT = 16  # bytes before an offer that the next call's text must still hold to count as typed after it
# A suggestion is declined when typed over after a pause this long: time to have read it (a
# reaction to what is seen takes ~0.25 s, reading a few words longer; chosen, not measured). A
# person typing on without a pause has not looked at it, and keeps it (the editor's type-through).
READ_S = 0.4


@dataclass(frozen=True)
class _Offer:
    """The suggestion made last: where (in bytes from the document's start), the text just
    before it, and its bytes (b"": none, or only the alternatives were asked for)."""

    position: int
    before: bytes
    text: bytes


class Completer:
    """Suggestions for a text that changes one keystroke at a time.

    It keeps the state after the text it saw last. When the new text extends it, only
    the new bytes are read; after a deletion or a jump it resumes from the nearest
    checkpoint (a state saved every `checkpoint_every` bytes) before the change;
    failing that it re-reads the last `window` bytes. One thread at a time may use it.

    Two ways to hand it the text before the cursor:
    - `complete(text)` / `state_for(text)`: all of it (the pipe's requests, tests);
    - `complete_at(tail, offset)` / `state_at(tail, offset)`: only its end, `tail`, which
      starts `offset` characters into the document (bytes, when `tail` is bytes). A
      keystroke then costs what changed, not the length of the document: the editor and a
      language server hand it the last few lines. The tail holds at least the last `window`
      characters (or the whole text) and starts no later than any edit since the previous
      call: the text before `offset` is taken as unchanged. Then it suggests exactly what
      the whole text would.

    learn: the engine learns from what is typed (a `predictor.LearningPredictor` such as
    `cache.CacheEngine`: its caches count the bytes and its mixer learns how far to trust
    them). Only text that extends the text read last is learned; text re-read after a jump
    or an edit is read, not counted again.

    A suggestion typed over (the next call's text is the last one and the first characters of
    the suggestion, and the text stood still for `read_s` seconds since it was made, two calls
    that far apart: the user had time to read it and typed rather than take it) is declined:
    the next suggestions hold none of its remainder whole (`declined.py`). What was declined
    before stays declined while the typing goes on along it; a deletion or a jump drops it all.
    A surface that reads a character typed along a suggestion without asking for a new one
    (the editor's type-through) still tells it the time, with `state_at`."""

    def __init__(self, engine: Predictor, window: int = PRIME_WINDOW, checkpoint_every: int = 16,
                 learn: bool = False, read_s: float = READ_S, **options):
        self.window = max(1, int(window))
        self.checkpoint_every = max(1, int(checkpoint_every))
        # Policy fields for suggest(), e.g. max_chars; an interactive caller's time budget unless told otherwise
        self.options = {"budget_ms": INTERACTIVE_BUDGET_MS, **options}
        self.set_engine(engine)
        self.learn = learn
        self.read_s = read_s  # 0: every suggestion is read at once (`eval`'s typist)
        self._offered: _Offer | None = None
        self._last_call = time.monotonic()  # the last state_at (each keystroke reaches one; not the budget's clock)
        self._paused = False  # a pause of read_s came since the last offer: it was read
        self._declined = NOTHING_DECLINED

    @property
    def learn(self) -> bool:
        return self._learn

    @learn.setter
    def learn(self, learn: bool) -> None:
        if learn and not isinstance(self.engine, LearningPredictor):
            raise ValueError(f"engine {self.engine.name!r} cannot learn from typing; wrap it in a CacheEngine")
        self._learn = learn

    def set_engine(self, engine: Predictor) -> None:
        """Use new weights from the next call on (every cached state is dropped)."""
        self.engine = engine
        self._state: PredictorState | None = None
        self._tail = b""  # the last `window` bytes of the text the state has read
        self._length = 0  # where that text ends, in bytes from the document's start
        self._checkpoints: list[tuple[int, PredictorState]] = []  # (position, state there), ascending
        # The last str given: (its offset in characters, the str, its offset in bytes), to
        # turn the next call's character offset into bytes without the text before it.
        self._anchor: tuple[int, str, int] | None = None

    def _adopt_newer_weights(self) -> None:
        """Weights learned online from the text typed (the typing cache's `current()`: dynamic
        evaluation finished in its worker since the last keystroke) are taken here, between two
        keystrokes, and the states read so far carried over: nothing is read again. The
        checkpoints, which only this Completer holds, move in place (`move_to`): copying all of
        them (65 in a language server's 16 kB span) took a millisecond of the keystroke that
        took the new weights, one keystroke in 32, which set the server's p99; and left where
        they were, each would keep its old weights alive (180 MB more in the editor)."""
        current = getattr(self.engine, "current", None)
        newest = current() if current is not None else self.engine
        if newest is self.engine:
            return
        self.engine = newest
        if self._state is not None:
            self._state = self._state.carried_to(newest)
        for _, state in self._checkpoints:
            state.move_to(newest)

    def state_for(self, text: str | bytes) -> PredictorState:
        """The state after `text`, the whole text before the cursor (the Completer's own:
        fork it before changing it)."""
        return self.state_at(text, 0)

    def state_at(self, tail: str | bytes, offset: int) -> PredictorState:
        """The state after the text before the cursor, given as its end: `tail`, which starts
        `offset` characters into the document (bytes when `tail` is bytes)."""
        now = time.monotonic()
        self._paused = self._paused or now - self._last_call >= self.read_s
        self._last_call = now
        self._adopt_newer_weights()
        if isinstance(tail, str):
            data = tail.encode("utf-8", errors="replace")
            base = self._byte_offset(offset)
            self._remember(tail, offset, base)
        else:
            data, base = bytes(tail), offset
            self._anchor = None
        self._read(data, base)
        self._adopt_newer_weights()  # a step the bytes just read finished predicts the next byte
        return self._state

    def complete(self, text_before_cursor: str | bytes, **options) -> Suggestion:
        return self.complete_at(text_before_cursor, 0, **options)

    def complete_at(self, tail: str | bytes, offset: int, since: float | None = None, **options) -> Suggestion:
        """`suggest` after the text before the cursor, given as `state_at` takes it. since: when
        the keystroke reached the caller (`time.perf_counter()`), if it waited before this call
        (a language server's request queued behind the reading of its edit): the time budget
        counts from there."""
        started = _start(since)
        state = self.state_at(tail, offset)
        best = suggest(state, declined=self._declined_here(), **self._searching(options, started))
        self._offered = _Offer(self._length, self._tail[-OFFER_CONTEXT:], best.text.encode("utf-8"))
        self._paused = False
        return best

    def alternatives(self, text_before_cursor: str | bytes, k: int = 3, **options) -> list[Suggestion]:
        return self.alternatives_at(text_before_cursor, 0, k, **options)

    def alternatives_at(self, tail: str | bytes, offset: int, k: int = 3, since: float | None = None,
                        **options) -> list[Suggestion]:
        """`alternatives` after the text before the cursor, given as `state_at` takes it (`since`:
        as for `complete_at`)."""
        started = _start(since)
        state = self.state_at(tail, offset)
        return alternatives(state, k, declined=self._declined_here(), **self._searching(options, started))

    def _declined_here(self) -> Declined:
        """What is declined at the text just read: after text typed on from the last offer, the
        remainders of what was declined before that go on with it, and of the offer itself when
        a pause of `read_s` came since it was made; the same as before when nothing was typed;
        nothing after any other change."""
        offered = self._offered
        if offered is None:
            return self._declined
        typed = self._length - offered.position
        if typed == 0 and self._tail.endswith(offered.before):
            return self._declined  # asked again where it was offered (an alternatives list, say)
        run = self._tail[-typed:] if 0 < typed < len(self._tail) else b""
        if run and self._tail[:-typed].endswith(offered.before):
            self._declined = self._declined.after_typing(offered.text if self._paused else b"", run)
        else:
            self._declined = NOTHING_DECLINED
        self._offered = _Offer(self._length, self._tail[-OFFER_CONTEXT:], b"")  # counted once
        return self._declined

    # ------------------------------------------------------------ internals

    def _searching(self, options: dict, started: float) -> dict:
        """The policy fields for the search of a call that started at `started`: its time budget
        counts the reading of the new bytes too (the keystroke's whole time is what the user
        waits for), but the search keeps at least half of it (after a jump the reading alone
        may take longer, and nothing at all would be shown)."""
        options = {**self.options, **options}
        budget = options.get("budget_ms")
        if budget is not None:
            spent = (time.perf_counter() - started) * 1e3
            options["budget_ms"] = max(budget - spent, budget / 2)
        return options

    def _byte_offset(self, offset: int) -> int:
        """Where the text `offset` characters in starts in bytes, from the text given before
        (what lies before `offset` is the caller's word that nothing changed there); when
        that text does not reach it, everything read is forgotten."""
        if offset == 0:
            return 0
        if self._placeable(offset):
            chars, text, base = self._anchor
            return base + len(text[: offset - chars].encode("utf-8", errors="replace"))
        self._state = None
        self._checkpoints = []
        return max(1, offset)  # any position past the start will do: nothing read is reused

    def _placeable(self, offset: int) -> bool:
        """The text given before reaches `offset` (characters)."""
        return self._anchor is not None and self._anchor[0] <= offset <= self._anchor[0] + len(self._anchor[1])

    def _remember(self, tail: str, offset: int, base: int) -> None:
        """Keep the text given so far, up to a few windows of it: a later tail may start
        before this one (after a backspace, say) and still be placed."""
        if offset == 0 or not self._placeable(offset):
            self._anchor = (offset, tail, base)
            return
        chars, text, start = self._anchor
        text = text[: offset - chars] + tail
        keep = max(len(tail), 2 * self.window)
        if len(text) > 2 * keep:  # trim now and then, not per call: the trimmed part is encoded to count its bytes
            cut = len(text) - keep
            chars, start, text = chars + cut, start + len(text[:cut].encode("utf-8", errors="replace")), text[cut:]
        self._anchor = (chars, text, start)

    def _read(self, data: bytes, base: int) -> PredictorState:
        """The state after `data`, the text from byte `base` of the document to the cursor."""
        start, state = self._resume_point(data, base)
        typed = state is not None and state is self._state  # the text grew after what was read last
        if state is None:
            start, state = self._fresh(data, base)
        self._feed(state, data, base, start, learn=self.learn and typed)
        self._state = state
        self._length = base + len(data)
        self._tail = data[-self.window :]
        return state

    def _resume_point(self, data: bytes, base: int) -> tuple[int, PredictorState | None]:
        """(position, state) to continue from, or (0, None) when the text must be re-read."""
        end = base + len(data)
        tail_start = self._length - len(self._tail)  # where the remembered tail starts in the text
        if self._state is None or end < tail_start or base > self._length:
            return 0, None
        # Compare where both are known; text before `base` is the caller's word that nothing changed.
        low = max(base, tail_start)
        same = _common_prefix(data[low - base : self._length - base], self._tail[low - tail_start :])
        common = low + same
        if common == self._length and end - self._length <= self.window:
            return self._length, self._state  # the text grew: read just the new bytes
        self._checkpoints = [(pos, st) for pos, st in self._checkpoints if pos <= common]
        if self._checkpoints and base <= self._checkpoints[-1][0] and end - self._checkpoints[-1][0] <= self.window:
            position, saved = self._checkpoints[-1]
            return position, saved.fork()
        return 0, None

    def _fresh(self, data: bytes, base: int) -> tuple[int, PredictorState]:
        """Start over as Predictor.prime does: at the document start, or window bytes back."""
        if base == 0 and len(data) <= self.window:
            origin, state = 0, self.engine.start()
        else:
            origin, state = base + max(0, len(data) - self.window), self.engine.zero_state()
        self._checkpoints = [(origin, state.fork())]
        return origin, state

    def _feed(self, state: PredictorState, data: bytes, base: int, position: int, learn: bool = False) -> None:
        """Read the text from `position` to its end into `state` (learning from it when `learn`),
        saving a checkpoint at each multiple of checkpoint_every; `data` starts at `base`."""
        every = self.checkpoint_every
        end = base + len(data)
        while position < end:
            stop = min(end, (position // every + 1) * every)
            if learn:
                self.engine.read(state, data[position - base : stop - base])
            else:
                state.feed(data[position - base : stop - base])
            position = stop
            if position % every == 0:
                self._checkpoints.append((position, state.fork()))
        # Checkpoints further back than a window are never used again.
        oldest = end - self.window
        if self._checkpoints and self._checkpoints[0][0] < oldest:
            self._checkpoints = [(pos, st) for pos, st in self._checkpoints if pos >= oldest]


def _common_prefix(a: bytes, b: bytes) -> int:
    """Length of the common prefix of a and b, by bisection over C-speed slice compares."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        mid = (low + high + 1) // 2
        if a[:mid] == b[:mid]:
            low = mid
        else:
            high = mid - 1
    return low


def _start(since: float | None) -> float:
    """When a call's time budget starts: now, or earlier when the caller says the keystroke came earlier."""
    now = time.perf_counter()
    return now if since is None else min(since, now)
