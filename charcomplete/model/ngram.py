"""Byte n-grams: a baseline to measure the neural models against, and the counting model
behind the cache of the user's own strings (cache.py). numpy and dicts only, no torch.

`NGram` is an order-5 byte model (4 bytes of context) with interpolated absolute
discounting (Ney, Essen and Kneser 1994):

    P_k(b | h) = (max(c(h b) - D_k, 0) + D_k * N1+(h .) * P_{k-1}(b | h')) / c(h)

where h' is h without its oldest byte, N1+(h .) the number of distinct bytes seen
after h, and the recursion ends in the uniform 1/256. When h was never seen,
P_k = P_{k-1}. D_k = n1 / (n1 + 2 n2) from the count-of-counts of the fitted text.

Counts come from two places: `fit` builds static sorted arrays from a large text
(fast with numpy), and `observe`/`update` add counts one byte at a time into small
dicts, so an `adaptive` model keeps counting as it reads, like Dasher's PPM.

`NGramEngine` puts an n-gram behind the `predictor.Predictor` contract (the numpy
`Engine`'s), so `decoder.suggest`, the `Completer` and `evaluate` use it unchanged.
`cache.CacheEngine` mixes a neural engine with n-grams of the user's text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from charcomplete.core.config import DOC_START, VOCAB_SIZE
from charcomplete.core.predictor import PRIME_WINDOW, TAIL_BYTES

ORDER = 5  # bytes in an n-gram: 4 of context, 1 predicted
DEFAULT_DISCOUNT = 0.75  # for an order with too few counts to estimate its own
ARRAYS_KEPT = 4096  # per context length, the looked-up contexts whose counts are kept as arrays
LOOKUPS_KEPT = 4096  # whole look-ups a static model keeps (2 kB each)
_UNIFORM = np.full(VOCAB_SIZE, 1.0 / VOCAB_SIZE)
_ALL_BYTES = np.arange(VOCAB_SIZE)


def _key(context: bytes) -> int:
    return int.from_bytes(context, "big") if context else 0


def _pairs(stream: np.ndarray, start: int, length: int) -> np.ndarray:
    """For each byte of `stream` (uint64) from `start` on: the `length` bytes before it and the
    byte itself, as one big-endian integer (context key * 256 + byte)."""
    byte = np.uint64(256)
    keys = np.zeros(len(stream) - start, dtype=np.uint64)
    for j in range(length, 0, -1):
        keys = keys * byte + stream[start - j : len(stream) - j]
    return keys * byte + stream[start:]


class _Table:
    """The static counts of one context length: sorted context keys and, for each, the
    bytes seen after it with their counts. Compact (a few bytes per n-gram, no Python object
    per context): a model's memory of 2 MiB at order 8 holds millions of contexts, and the
    editor keeps it for the whole session."""

    __slots__ = ("contexts", "starts", "symbols", "counts", "totals", "discount_used", "recent")

    def __init__(self, data: np.ndarray, length: int):
        # Unsigned: 7 bytes of context and the byte after them take all 64 bits (signed, a
        # context starting with a byte >= 0x80 would wrap and never be found again).
        data = data.astype(np.uint64)
        pairs, counts = np.unique(_pairs(data, length, length), return_counts=True)
        self.contexts, starts = np.unique(pairs >> np.uint64(8), return_index=True)
        self.starts = np.append(starts, len(pairs)).astype(np.int64 if len(pairs) >= 2**31 else np.int32)
        self.symbols = (pairs & np.uint64(255)).astype(np.uint8)
        self.counts = counts.astype(np.float32)  # exact: a count below 2**24 (16 MiB of text)
        self.totals = np.add.reduceat(counts, starts).astype(np.float64)
        self.discount_used = 0.0  # max(count - D, 0) is what a look-up adds, with D set here
        # key -> what `seen` gives for it (or None: not seen), for contexts looked up lately: a
        # suggestion looks the same contexts up again at every keystroke. Bounded; only dict
        # operations, so threads sharing a memory may use it.
        self.recent: dict[int, tuple | None] = {}

    def find(self, key: int) -> int:
        """Index of context `key`, or -1 (a binary search: no dict of millions of keys)."""
        if key > 0xFFFFFFFFFFFFFFFF:
            return -1
        index = int(np.searchsorted(self.contexts, np.uint64(key)))
        return index if index < len(self.contexts) and int(self.contexts[index]) == key else -1

    def seen(self, key: int) -> tuple[np.ndarray, np.ndarray, float, int, np.ndarray] | None:
        """(bytes seen after context `key`, their counts less the discount, total, how many, their
        counts), or None when it was never seen."""
        try:
            return self.recent[key]
        except KeyError:
            pass
        index = self.find(key)
        found = None
        if index >= 0:
            lo, hi = int(self.starts[index]), int(self.starts[index + 1])
            counts = self.counts[lo:hi].astype(np.float64)
            found = (self.symbols[lo:hi], np.maximum(counts - self.discount_used, 0.0), float(self.totals[index]),
                     hi - lo, counts)
        if len(self.recent) >= ARRAYS_KEPT:
            self.recent.clear()
        self.recent[key] = found
        return found

    def set_discount(self, d: float) -> None:
        self.discount_used = d
        self.recent.clear()

    def discount(self) -> float:
        n1 = float(np.count_nonzero(self.counts == 1))
        n2 = float(np.count_nonzero(self.counts == 2))
        return n1 / (n1 + 2 * n2) if n1 > 0 and n2 > 0 else DEFAULT_DISCOUNT


class NGram:
    """An order-`order` byte model with interpolated absolute discounting.

    `adaptive=True` means its users (evaluate, CacheEngine) call `observe` after each
    byte they predicted, so the counts grow with the text read. `recent_weight`
    counts each observed byte that many times: recent text of the user may deserve
    more trust than a large fitted corpus."""

    def __init__(self, order: int = ORDER, adaptive: bool = False, recent_weight: float = 1.0,
                 discounts: Sequence[float] | None = None):
        if not 1 <= order <= 8:
            raise ValueError(f"order must be from 1 to 8, not {order!r}")
        self.order = order
        self.adaptive = adaptive
        self.recent_weight = float(recent_weight)
        self.discounts = list(discounts) if discounts is not None else [DEFAULT_DISCOUNT] * order
        self._tables: list[_Table | None] = [None] * order
        # Counts added one byte at a time: per context length, context key -> {byte: count}.
        self._added: list[dict[int, dict[int, float]]] = [{} for _ in range(order)]
        # The added counts of contexts looked up since they last changed, as arrays (the bytes seen,
        # their raw counts, the total; the discount is taken at look-up): a suggestion looks the
        # same contexts up again and again.
        self._arrays: list[dict[int, tuple[np.ndarray, np.ndarray, float]]] = [{} for _ in range(order)]
        # Whole look-ups, while nothing was ever observed (a fitted, static model: a model's memory):
        # the context's last order-1 bytes -> what `lookup` gave. Bounded; dict operations only, so
        # threads sharing the model may use it.
        self._lookups: dict[bytes, tuple[np.ndarray, int, float]] = {}
        self._history = bytes([DOC_START])  # what `update` read last (its context for the next byte)
        self.fitted_bytes = 0
        self.observed_bytes = 0

    @property
    def context_bytes(self) -> int:
        return self.order - 1

    # ------------------------------------------------------------ counting

    def fit(self, data: bytes | np.ndarray) -> NGram:
        """Count every n-gram of `data` (replacing earlier fitted counts) and estimate the discounts.

        `data` is one stream, documents separated by DOC_START as `corpus.encode` makes it;
        its first byte is counted with no context. `update` continues where it ends."""
        array = np.frombuffer(bytes(data), dtype=np.uint8) if not isinstance(data, np.ndarray) else data
        array = array.astype(np.int64)
        for length in range(self.order):
            if len(array) > length:
                table = _Table(array, length)
                self._tables[length] = table
                self.discounts[length] = table.discount()
                table.set_discount(self.discounts[length])
        self.fitted_bytes = int(len(array))
        self._lookups.clear()  # (the added counts' arrays stand: they hold raw counts, no discount)
        self._history = bytes(array[len(array) - self.context_bytes :].astype(np.uint8)) if self.context_bytes else b""
        return self

    def set_discounts(self, discounts: Sequence[float]) -> None:
        """Use these discounts (one per context length) instead of the estimated ones."""
        if len(discounts) != self.order or not all(0.0 < d < 1.0 for d in discounts):
            raise ValueError(f"give {self.order} discounts, each between 0 and 1")
        self.discounts = list(discounts)
        for length, table in enumerate(self._tables):
            if table is not None:
                table.set_discount(self.discounts[length])
        self._lookups.clear()

    def observe(self, context: bytes, byte: int) -> None:
        """Count `byte` after `context` (its last order-1 bytes are used)."""
        weight = self.recent_weight
        longest = min(len(context), self.context_bytes)
        for length in range(longest + 1):
            key = _key(context[len(context) - length :])
            seen = self._added[length].setdefault(key, {})
            self._arrays[length].pop(key, None)
            seen[byte] = seen.get(byte, 0.0) + weight
        self.observed_bytes += 1

    def update(self, data: bytes) -> None:
        """Count `data` as the continuation of what `update` read before (a stream)."""
        history = self._history
        for byte in data:
            self.observe(history, byte)
            history = (history + bytes((byte,)))[-self.context_bytes :] if self.context_bytes else b""
        self._history = history

    def update_all(self, data: bytes) -> None:
        """`update(data)` for a whole text at once: the same counts, counted in numpy (a
        document as it opens: 64 KiB at order 5 in 0.04 s, against 0.35 s byte by byte)."""
        if not data:
            return
        stream = np.frombuffer(self._history + data, dtype=np.uint8).astype(np.uint64)
        first = len(self._history)  # data's first byte in the stream
        for length in range(self.order):
            start = max(first, length)  # a byte is counted after `length` bytes only when there are that many
            if start >= len(stream):
                continue
            pairs, counts = np.unique(_pairs(stream, start, length), return_counts=True)
            added = self._added[length]
            self._arrays[length].clear()
            weight = self.recent_weight
            for pair, count in zip(pairs.tolist(), counts.tolist(), strict=True):
                seen = added.setdefault(pair >> 8, {})
                seen[pair & 255] = seen.get(pair & 255, 0.0) + count * weight
        self.observed_bytes += len(data)
        self._history = (self._history + data)[-self.context_bytes :] if self.context_bytes else b""

    # ------------------------------------------------------------ predicting

    def _counts(self, fitted: tuple, added: tuple[np.ndarray, np.ndarray, float]) -> tuple[np.ndarray, float, int]:
        """(count per byte, total, distinct bytes) after a context with both fitted counts (what
        `_Table.seen` gives) and added ones (`_added_arrays`)."""
        counts = np.zeros(VOCAB_SIZE)
        counts[fitted[0]] = fitted[4]
        counts[added[0]] += added[1]
        return counts, fitted[2] + added[2], int(np.count_nonzero(counts))

    def lookup(self, context: bytes) -> tuple[np.ndarray, int, float]:
        """(probabilities (256,) float64, longest context length found, that context's count).
        The probabilities may be shared: never change them."""
        if self.observed_bytes:
            return self._lookup(context)
        context = bytes(context[max(0, len(context) - self.context_bytes) :]) if self.context_bytes else b""
        found = self._lookups.get(context)
        if found is None:
            if len(self._lookups) >= LOOKUPS_KEPT:
                self._lookups.clear()
            found = self._lookups[context] = self._lookup(context)
        return found

    def _lookup(self, context: bytes) -> tuple[np.ndarray, int, float]:
        # The recursion unrolled: P = u * prod_k(w_k) + sum_k (kept_k / total_k) * prod_{j>k}(w_j),
        # w_k = D_k * distinct_k / total_k. Each order's seen bytes are gathered first and the
        # whole sum is one bincount (a lookup is done per step of every suggestion: eight orders
        # of 256-wide vector updates cost 110 us, this a third of it).
        seen: list[tuple[np.ndarray, np.ndarray, float, float]] = []  # (bytes, kept, total, backoff weight)
        found, count = -1, 0.0
        n = len(context)
        for length in range(min(n, self.context_bytes) + 1):
            key = _key(context[n - length :])
            table = self._tables[length]
            fitted = table.seen(key) if table is not None else None
            added = self._added[length].get(key)
            if fitted is None and not added:
                break  # a longer context containing this one cannot have been seen either
            d = self.discounts[length]
            if not added:
                symbols, kept, total, distinct, _ = fitted
            elif fitted is None:
                symbols, counts, total = self._added_arrays(length, key, added)
                kept, distinct = np.maximum(counts - d, 0.0), len(symbols)
            else:
                counts, total, distinct = self._counts(fitted, self._added_arrays(length, key, added))
                symbols, kept = _ALL_BYTES, np.maximum(counts - d, 0.0)
            seen.append((symbols, kept, total, d * distinct / total))
            found, count = length, float(total)
        if not seen:
            return _UNIFORM, found, count
        scale = 1.0  # the product of the backoff weights of the orders above
        parts, values = [], []
        for symbols, kept, total, backoff in reversed(seen):
            parts.append(symbols)
            values.append(kept * (scale / total))
            scale *= backoff
        probs = np.bincount(np.concatenate(parts), np.concatenate(values), VOCAB_SIZE)
        probs += scale / VOCAB_SIZE
        return probs, found, count

    def _added_arrays(self, length: int, key: int, added: dict[int, float]) -> tuple[np.ndarray, np.ndarray, float]:
        """(bytes seen, their counts, total) after a context, of the counts added by `observe`."""
        kept = self._arrays[length]
        arrays = kept.get(key)
        if arrays is None:
            if len(kept) >= ARRAYS_KEPT:
                kept.clear()  # a bound: a long session looks up far more contexts than it revisits
            counts = np.fromiter(added.values(), np.float64, len(added))
            symbols = np.fromiter(added.keys(), np.intp, len(added))
            arrays = kept[key] = (symbols, counts, float(counts.sum()))
        return arrays

    def probs(self, context: bytes) -> np.ndarray:
        return self.lookup(context)[0]

    def log_probs(self, context: bytes) -> np.ndarray:
        """(256,) natural-log probabilities of the next byte after `context`."""
        return np.log(self.lookup(context)[0])

    def bits(self, data: bytes, context: bytes = bytes([DOC_START])) -> float:
        """Total bits to code `data` after `context`, counting as it goes when adaptive."""
        total = 0.0
        for byte in data:
            total -= math.log2(self.probs(context)[byte])
            if self.adaptive:
                self.observe(context, byte)
            context = (context + bytes((byte,)))[-self.context_bytes :]
        return total


# ---------------------------------------------------------------- the engine interface


class NGramEngine:
    """An n-gram as a `predictor.LearningPredictor`, so the decoders and the evaluator can use
    it; it learns (counts what it reads) only when its model is adaptive."""

    parameters = 0  # counts, not trained parameters

    def __init__(self, model: NGram, name: str | None = None):
        self.model = model
        self.name = name or f"ngram-{model.order}" + ("-adaptive" if model.adaptive else "")

    def describe(self) -> str:
        return f"byte {self.model.order}-gram" + (", adaptive" if self.model.adaptive else "")

    def zero_state(self) -> NGramState:
        return NGramState(self, b"")

    def start(self) -> NGramState:
        return NGramState(self, bytes([DOC_START]))

    def prime(self, text: bytes | str, window: int = PRIME_WINDOW) -> NGramState:
        state = self.start()
        state.feed(text[-window:] if len(text) > window else text)
        return state

    def observe(self, state: NGramState, byte: int) -> None:
        """The text went on with `byte` after `state`: count it when adaptive."""
        if self.model.adaptive:
            self.model.observe(state.context, byte)

    def read(self, state: NGramState, data: bytes) -> None:
        """The text went on with `data` after `state`: count it when adaptive, and read it."""
        for byte in data:
            self.observe(state, byte)
            state.feed(bytes((byte,)))


class NGramState:
    __slots__ = ("engine", "context", "tail")

    def __init__(self, engine: NGramEngine, context: bytes):
        self.engine = engine
        self.context = context[-max(engine.model.context_bytes, TAIL_BYTES) :]
        self.tail = context[-TAIL_BYTES:]

    def fork(self) -> NGramState:
        return NGramState(self.engine, self.context)

    def carried_to(self, engine: NGramEngine) -> NGramState:
        return NGramState(engine, self.context)

    def move_to(self, engine: NGramEngine) -> None:
        self.engine = engine

    def feed(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode("utf-8")
        if data:
            self.context = (self.context + data)[-max(self.engine.model.context_bytes, TAIL_BYTES) :]
            self.tail = self.context[-TAIL_BYTES:]

    def log_probs(self) -> np.ndarray:
        return self.engine.model.log_probs(self.context[max(0, len(self.context) - self.engine.model.context_bytes) :])

    def probs(self) -> np.ndarray:
        return self.engine.model.probs(self.context[max(0, len(self.context) - self.engine.model.context_bytes) :])
