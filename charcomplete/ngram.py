"""Byte n-grams: a baseline to measure the neural models against, and a cache of the
user's own strings to mix with the neural prediction. numpy and dicts only, no torch.

`NGram` is an order-5 byte model (4 bytes of context) with interpolated absolute
discounting (Ney, Essen and Kneser 1994):

    P_k(b | h) = (max(c(h b) - D_k, 0) + D_k * N1+(h .) * P_{k-1}(b | h')) / c(h)

where h' is h without its oldest byte, N1+(h .) the number of distinct bytes seen
after h, and the recursion ends in the uniform 1/256. When h was never seen,
P_k = P_{k-1}. D_k = n1 / (n1 + 2 n2) from the count-of-counts of the fitted text.

Counts come from two places: `fit` builds static sorted arrays from a large text
(fast with numpy), and `observe`/`update` add counts one byte at a time into small
dicts, so an `adaptive` model keeps counting as it reads, like Dasher's PPM.

`NGramEngine` puts an n-gram behind the interface of the numpy `Engine` (start,
zero_state, states that feed/fork/log_probs), so `suggest.suggest` and `Completer`
decode from it unchanged. `CacheEngine` mixes a neural engine with n-grams, with
mixing weights learned online (`Mixer`).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import numpy as np

from charcomplete.config import DOC_START, VOCAB_SIZE

ORDER = 5  # bytes in an n-gram: 4 of context, 1 predicted
DEFAULT_DISCOUNT = 0.75  # for an order with too few counts to estimate its own
TAIL_BYTES = 4  # what State.tail keeps (engine.TAIL_BYTES): suggest() reads it
_UNIFORM = np.full(VOCAB_SIZE, 1.0 / VOCAB_SIZE)


def _key(context: bytes) -> int:
    return int.from_bytes(context, "big") if context else 0


class _Table:
    """The static counts of one context length: sorted context keys and, for each, the
    bytes seen after it with their counts."""

    __slots__ = ("contexts", "starts", "symbols", "counts", "totals", "distinct", "index", "kept")

    def __init__(self, data: np.ndarray, length: int):
        n = len(data) - length
        context = np.zeros(n, dtype=np.int64)
        for j in range(length):  # the `length` bytes before each target, as one big-endian integer
            context = context * 256 + data[j : j + n]
        pairs, counts = np.unique(context * 256 + data[length:], return_counts=True)
        self.contexts, starts = np.unique(pairs >> 8, return_index=True)
        self.starts = np.append(starts, len(pairs)).astype(np.int64)
        self.symbols = (pairs & 255).astype(np.intp)
        self.counts = counts.astype(np.float64)
        self.totals = np.add.reduceat(self.counts, starts)
        self.distinct = np.diff(self.starts).astype(np.float64)
        # key -> row, so that a look-up is a dict access rather than a binary search
        self.index = dict(zip(self.contexts.tolist(), range(len(self.contexts)), strict=True))
        self.kept = self.counts  # max(count - D, 0), set with the discount

    def find(self, key: int) -> int:
        """Index of context `key`, or -1."""
        return self.index.get(key, -1)

    def set_discount(self, d: float) -> None:
        self.kept = np.maximum(self.counts - d, 0.0)

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

    def observe(self, context: bytes, byte: int) -> None:
        """Count `byte` after `context` (its last order-1 bytes are used)."""
        weight = self.recent_weight
        longest = min(len(context), self.context_bytes)
        for length in range(longest + 1):
            seen = self._added[length].setdefault(_key(context[len(context) - length :]), {})
            seen[byte] = seen.get(byte, 0.0) + weight
        self.observed_bytes += 1

    def update(self, data: bytes) -> None:
        """Count `data` as the continuation of what `update` read before (a stream)."""
        history = self._history
        for byte in data:
            self.observe(history, byte)
            history = (history + bytes((byte,)))[-self.context_bytes :] if self.context_bytes else b""
        self._history = history

    # ------------------------------------------------------------ predicting

    def _counts(self, length: int, key: int) -> tuple[np.ndarray, float, float]:
        """(count per byte, total, distinct bytes) after a context with both fitted and added counts."""
        table = self._tables[length]
        added = self._added[length].get(key)
        index = table.find(key) if table is not None else -1
        counts = np.zeros(VOCAB_SIZE)
        if index >= 0:
            lo, hi = table.starts[index], table.starts[index + 1]
            counts[table.symbols[lo:hi]] = table.counts[lo:hi]
        if added:
            for byte, count in added.items():
                counts[byte] += count
        return counts, float(counts.sum()), float(np.count_nonzero(counts))

    def lookup(self, context: bytes) -> tuple[np.ndarray, int, float]:
        """(probabilities (256,) float64, longest context length found, that context's count)."""
        probs = _UNIFORM
        found, count = -1, 0.0
        n = len(context)
        for length in range(min(n, self.context_bytes) + 1):
            key = _key(context[n - length :])
            table = self._tables[length]
            index = table.index.get(key, -1) if table is not None else -1
            added = self._added[length].get(key)
            if index < 0 and not added:
                break  # a longer context containing this one cannot have been seen either
            d = self.discounts[length]
            # The update touches only the bytes seen after the context: no 256-wide count vector.
            if not added:
                lo, hi = table.starts[index], table.starts[index + 1]
                total = table.totals[index]
                probs = probs * (d * table.distinct[index] / total)
                probs[table.symbols[lo:hi]] += table.kept[lo:hi] / total
            elif index < 0:
                counts = np.fromiter(added.values(), np.float64, len(added))
                total = float(counts.sum())
                probs = probs * (d * len(added) / total)
                probs[list(added)] += np.maximum(counts - d, 0.0) / total
            else:
                counts, total, distinct = self._counts(length, key)
                probs = (np.maximum(counts - d, 0.0) + (d * distinct) * probs) / total
            found, count = length, float(total)
        return probs, found, count

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
    """An n-gram dressed as a numpy `Engine`, so the decoders and the evaluator can use it."""

    def __init__(self, model: NGram, name: str | None = None):
        self.model = model
        self.name = name or f"ngram-{model.order}" + ("-adaptive" if model.adaptive else "")
        self.config = None
        self.parameters = 0

    def describe(self) -> str:
        return f"byte {self.model.order}-gram" + (", adaptive" if self.model.adaptive else "")

    def zero_state(self) -> NGramState:
        return NGramState(self, b"")

    def start(self) -> NGramState:
        return NGramState(self, bytes([DOC_START]))

    def prime(self, text: bytes | str, window: int = 1024) -> NGramState:
        state = self.start()
        state.feed(text[-window:] if len(text) > window else text)
        return state

    def observe(self, state: NGramState, byte: int) -> None:
        """The text went on with `byte` after `state`: count it when adaptive."""
        if self.model.adaptive:
            self.model.observe(state.context, byte)


class NGramState:
    __slots__ = ("engine", "context", "tail")

    def __init__(self, engine: NGramEngine, context: bytes):
        self.engine = engine
        self.context = context[-max(engine.model.context_bytes, TAIL_BYTES) :]
        self.tail = context[-TAIL_BYTES:]

    def fork(self) -> NGramState:
        return NGramState(self.engine, self.context)

    def feed(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode("utf-8")
        if data:
            self.context = (self.context + data)[-max(self.engine.model.context_bytes, TAIL_BYTES) :]
            self.tail = self.context[-TAIL_BYTES:]

    def log_probs(self) -> np.ndarray:
        return self.engine.model.log_probs(self.context[len(self.context) - self.engine.model.context_bytes :])

    def probs(self) -> np.ndarray:
        return self.engine.model.probs(self.context[len(self.context) - self.engine.model.context_bytes :])


# ---------------------------------------------------------------- mixing with a neural model


def _count_bucket(count: float) -> int:
    return 0 if count < 1.5 else 1 if count < 3.5 else 2 if count < 7.5 else 3


class Mixer:
    """Mixes K next-byte distributions with weights learned online, one set per bin (the
    bin says how much the cache knows about the context, so a context seen 20 times can
    trust the cache more than one seen once). Each byte read takes one gradient step on
    its log loss.

    kind="linear":    p = sum_k w_k p_k, w = softmax(a[bin]);
                      d(-ln p(x)) / d a_k = -w_k (p_k(x) - p(x)) / p(x)
    kind="geometric": p ~ prod_k p_k ** w_k[bin] (a log-linear mixture, free weights);
                      d(-ln p(x)) / d w_k = -ln p_k(x) + sum_b p(b) ln p_k(b)"""

    def __init__(self, components: int, bins: int, lr: float = 0.02, kind: str = "linear",
                 start: np.ndarray | None = None):
        if kind not in ("linear", "geometric"):
            raise ValueError(f"unknown mixing {kind!r}; choose linear or geometric")
        self.kind = kind
        self.lr = lr
        if start is not None:  # (bins, K) parameters learned elsewhere
            self.params = np.array(start, dtype=np.float64).reshape(bins, components)
            return
        if kind == "linear":
            first = [0.0] + [-2.0] * (components - 1)  # logits: about 12% for the cache at first
        else:
            first = [1.0] + [0.2] * (components - 1)  # exponents
        self.params = np.tile(np.asarray(first, dtype=np.float64), (bins, 1))  # (bins, K)

    def weights(self, bin_: int) -> np.ndarray:
        """The linear weights (summing to 1), or the geometric exponents."""
        a = self.params[bin_]
        if self.kind == "geometric":
            return a.copy()
        w = np.exp(a - a.max())
        return w / w.sum()

    def mix(self, probs: np.ndarray, bin_: int) -> np.ndarray:
        """probs (K, 256) -> (256,)."""
        if self.kind == "linear":
            return self.weights(bin_) @ probs
        logp = self.params[bin_] @ np.log(np.maximum(probs, 1e-300))
        p = np.exp(logp - logp.max())
        return p / p.sum()

    def learn(self, probs: np.ndarray, byte: int, bin_: int) -> None:
        """probs (K, 256): each component's prediction; `byte`: what came."""
        if self.kind == "linear":
            w = self.weights(bin_)
            hit = probs[:, byte]
            p = float(w @ hit)
            if p > 0.0:
                self.params[bin_] += self.lr * w * (hit - p) / p
            return
        logs = np.log(np.maximum(probs, 1e-300))  # (K, 256)
        mixed = self.mix(probs, bin_)
        self.params[bin_] += self.lr * (logs[:, byte] - logs @ mixed)


class CacheEngine:
    """A neural engine mixed with n-gram caches of the user's own text.

    Engine-like: its states wrap the base engine's states, so `suggest` and `Completer`
    work with it unchanged. `observe(state, byte)` is called once the real next byte is
    known (`read` does it for a whole text): it counts the byte in the adaptive n-grams
    and teaches the mixer. Looking ahead (suggestions) never counts anything.

    The mixing bin is the longest context the first cache has seen and how often
    (6 x 4 bins). `neural_bins` > 1 also splits bins by the neural model's confidence;
    on the notes that was worse once the neural weights adapt (dynamic evaluation),
    since the confidence drifts into bins whose weights have not been learned yet."""

    def __init__(self, base, caches: Sequence[NGram], lr: float = 0.02, neural_bins: int = 1, mixing: str = "linear",
                 trust: Sequence[Sequence[float]] | None = None):
        """trust: with one cache and linear mixing, the cache's starting weight per bin, as a table
        [longest context found + 1][count bucket] (see CACHE_TRUST); by default about 12% everywhere."""
        if not caches:
            raise ValueError("a CacheEngine needs at least one n-gram")
        self.base = base
        self.caches = list(caches)
        self.neural_bins = neural_bins
        self.bins = (caches[0].order + 1) * 4 * neural_bins
        start = None
        if trust is not None:
            if len(caches) != 1 or mixing != "linear" or neural_bins != 1 or len(trust) != caches[0].order + 1:
                raise ValueError("a trust table fits one cache, linear mixing and no neural bins")
            weight = np.clip(np.asarray(trust, dtype=np.float64).reshape(-1), 1e-3, 1 - 1e-3)
            start = np.stack([np.zeros_like(weight), np.log(weight / (1.0 - weight))], axis=1)
        self.mixer = Mixer(1 + len(caches), self.bins, lr=lr, kind=mixing, start=start)
        self.name = f"{base.name}+cache"
        self.config = getattr(base, "config", None)

    def set_base(self, base) -> None:
        """New neural weights (dynamic evaluation, a learner's publish); states must be rebound."""
        self.base = base

    def rebased(self, base) -> CacheEngine:
        """A twin over new neural weights that shares these caches and this mixer (what was
        learned from the user's typing carries over); this engine and its states are untouched."""
        twin = copy.copy(self)
        twin.base = base
        twin.name = f"{base.name}+cache"
        twin.config = getattr(base, "config", None)
        return twin

    def zero_state(self) -> CacheState:
        return CacheState(self, self.base.zero_state())

    def start(self) -> CacheState:
        return CacheState(self, self.base.start())

    def prime(self, text: bytes | str, window: int = 1024) -> CacheState:
        return CacheState(self, self.base.prime(text, window))

    def components(self, state: CacheState) -> tuple[np.ndarray, int]:
        """(K, 256) probabilities of the base and each cache, and the mixing bin."""
        neural = state.inner.probs()
        rows = [neural]
        bin_ = 0
        context = state.context
        for index, cache in enumerate(self.caches):
            probs, found, count = cache.lookup(context[len(context) - cache.context_bytes :])
            rows.append(probs)
            if index == 0:
                top = float(neural.max())
                confidence = 0 if top < 0.3 else 1 if top < 0.7 else 2
                cache_bin = (found + 1) * 4 + _count_bucket(count)
                bin_ = cache_bin * self.neural_bins + min(confidence, self.neural_bins - 1)
        return np.array(rows), bin_

    def read(self, state: CacheState, data: bytes) -> None:
        """The user wrote `data` after `state`: learn from each byte, then read it into the state."""
        for byte in data:
            self.observe(state, byte)
            state.feed(bytes((byte,)))

    def observe(self, state: CacheState, byte: int) -> None:
        probs, bin_ = state.cached_components()
        self.mixer.learn(probs, byte, bin_)
        for cache in self.caches:
            if cache.adaptive:
                cache.observe(state.context, byte)


class CacheState:
    """A base engine's state plus the recent bytes the caches need as context."""

    __slots__ = ("engine", "inner", "context", "_components")

    def __init__(self, engine: CacheEngine, inner, context: bytes | None = None):
        self.engine = engine
        self.inner = inner
        self.context = inner.tail if context is None else context
        self._components = None

    @property
    def tail(self) -> bytes:
        return self.inner.tail

    def fork(self) -> CacheState:
        return CacheState(self.engine, self.inner.fork(), self.context)

    def feed(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode("utf-8")
        if data:
            self.inner.feed(data)
            keep = max(cache.context_bytes for cache in self.engine.caches)
            self.context = (self.context + data)[-max(keep, TAIL_BYTES) :]
            self._components = None

    def rebind(self, inner) -> None:
        """Carry on with another base state (the same text read, new weights)."""
        self.inner = inner
        self._components = None

    def cached_components(self) -> tuple[np.ndarray, int]:
        if self._components is None:
            self._components = self.engine.components(self)
        return self._components

    def probs(self) -> np.ndarray:
        probs, bin_ = self.cached_components()
        return self.engine.mixer.mix(probs, bin_)

    def log_probs(self) -> np.ndarray:
        return np.log(np.maximum(self.probs(), 1e-300))


CACHE_MIX_LR = 0.1  # the mixer's learning rate (0.02-0.1 were within 0.01 bpc on the notes dev slice)
# How far to trust a cache of the text read, before the mixer has learned it: its weight
# per bin, rows by the longest context the cache has seen (none, 0..4 bytes), columns by
# how often (1, 2-3, 4-7, 8+ times). What the mixer learned reading 57 kB of the notes
# dev slice (held-out notes after the first 100 kB, 4 kB of each, default GRU 512):
# a cache that has seen the whole 4-byte context deserves 40-80%, not the flat 12%.
CACHE_TRUST = (
    (0.12, 0.12, 0.12, 0.12),
    (0.12, 0.12, 0.11, 0.11),
    (0.08, 0.11, 0.17, 0.10),
    (0.24, 0.22, 0.18, 0.14),
    (0.29, 0.40, 0.25, 0.17),
    (0.71, 0.80, 0.63, 0.41),
)
CACHE_READS_BYTES = 64 * 1024  # of a document as opened, the cache counts this much (its end)


def typing_cache(base, text: str = "", order: int = ORDER, mix_lr: float = CACHE_MIX_LR) -> CacheEngine:
    """`base` mixed with a cache of one document: an adaptive n-gram that has read the
    document's text as opened (its last CACHE_READS_BYTES) and counts what is typed next.

    This is the editor's half of what `eval --adapt` measures as "+ cache": names,
    commands and links a writer repeats get suggested after their first use. Counting is
    byte by byte (as typing is), about 5.5 us a byte here: 0.36 s for the full 64 KiB when the
    editor opens a large document, a few ms for a typical note. The mixer starts from
    CACHE_TRUST and learns from each typed byte."""
    cache = NGram(order, adaptive=True)
    data = text.encode("utf-8", errors="replace")[-CACHE_READS_BYTES:]
    if data:
        cache.update(data)
    return CacheEngine(base, [cache], lr=mix_lr, trust=CACHE_TRUST if order == ORDER else None)
