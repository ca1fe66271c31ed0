"""The typing cache: a neural engine mixed with n-grams of the user's own text.

A cache of the text read (an adaptive `ngram.NGram`) predicts the names, commands and links
a writer repeats, which no pretrained model knows; `Mixer` learns online how far to trust
it against the neural prediction. `CacheEngine` is a `predictor.LearningPredictor`: the
decoder and the Completer use it as they use the bare numpy `Engine`, and it learns from
each byte the user types (`observe`, `read`). `typing_cache` builds the editor's.
numpy and dicts only, no torch.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from charcomplete.core.config import DOC_START
from charcomplete.core.predictor import PRIME_WINDOW, TAIL_BYTES, Predictor, PredictorState
from charcomplete.model.match import LEVELS as MATCH_LEVELS
from charcomplete.model.match import MAX_LENGTH, MIN_MATCH, Match, MatchModel, TextIndex
from charcomplete.model.ngram import NGram
from charcomplete.model.sse import SSE, SSESettings


class OnlineSource(Protocol):
    """New neural weights learned online from the text typed (`learn.adapt.OnlineWeights`:
    dynamic evaluation, off the keystroke path). The typing cache feeds it each byte the user
    wrote and swaps in what `latest` hands back (`CacheEngine.current`)."""

    def feed(self, data: bytes) -> None: ...

    def start_document(self) -> None: ...

    def latest(self) -> Predictor | None: ...


def _count_bucket(count: float) -> int:
    return 0 if count < 1.5 else 1 if count < 3.5 else 2 if count < 7.5 else 3


def _logit(weight: np.ndarray) -> np.ndarray:
    weight = np.clip(weight, 1e-3, 1 - 1e-3)
    return np.log(weight / (1.0 - weight))


MEMORY_LEVELS = 4
BYTE_CLASSES = 6  # a byte's kind for the coarse weight sets: lower, upper, digit, space, newline, other


def _byte_class(byte: int) -> int:
    if 97 <= byte <= 122:
        return 0
    if 65 <= byte <= 90:
        return 1
    if 48 <= byte <= 57:
        return 2
    return 3 if byte == 32 else 4 if byte == 10 else 5


_CLASS_OF = bytes(_byte_class(byte) for byte in range(256))


def _memory_level(found: int, sure: float, order: int) -> int:
    """How much the memory knows the context: 0 less than its last 4 bytes, 1 more but not
    all it can (order - 1 bytes), 2 all of it, 3 all of it and it is sure what comes next
    (`sure`: its likeliest byte's probability, at least 0.8): a name or a path it has read."""
    if found < 4:
        return 0
    if found < order - 1:
        return 1
    return 3 if sure >= 0.8 else 2


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
        return self.mix_logs(np.log(np.maximum(probs, 1e-300)), bin_)

    def mix_logs(self, logs: np.ndarray, bin_: int) -> np.ndarray:
        """Geometric mixing of the components' log-probabilities (K, 256) -> (256,)."""
        logp = self.params[bin_] @ logs
        p = np.exp(logp - logp.max())
        return p / p.sum()

    def learn(self, probs: np.ndarray, byte: int, bin_: int) -> None:
        """probs (K, 256): each component's prediction; `byte`: what came."""
        if self.kind == "linear":
            self.learn_hits(probs[:, byte], bin_)
            return
        logs = np.log(np.maximum(probs, 1e-300))  # (K, 256)
        self.learn_logs(logs, self.mix_logs(logs, bin_), byte, bin_)

    def learn_logs(self, logs: np.ndarray, mixed: np.ndarray, byte: int, bin_: int) -> None:
        """Geometric mixing's step from the components' log-probabilities (K, 256) and their
        mixture (256,) in `bin_` (what `mix_logs` gave)."""
        self.params[bin_] += self.lr * (logs[:, byte] - logs @ mixed)

    def learn_hits(self, hit: np.ndarray, bin_: int) -> None:
        """Linear mixing's step from the probability each component gave the byte that came (K,)."""
        w = self.weights(bin_)
        p = float(w @ hit)
        if p > 0.0:
            self.params[bin_] += self.lr * w * (hit - p) / p


@dataclass(frozen=True)
class Mixtures:
    """One look-up's mixture (`CacheEngine._mixtures`), with what `observe` learns from."""

    mixed: np.ndarray  # (256,): the prediction before SSE
    parts: np.ndarray | None = None  # the final mixer's inputs (the fine, the coarse, the geometric mixture)
    coarse_bin: int = 0  # the coarse weight set used
    logs: np.ndarray | None = None  # the components' log-probabilities (K, 256), with a geometric mixture


class CacheEngine:
    """A neural engine mixed with n-gram caches of the user's own text.

    A `predictor.LearningPredictor`: its states wrap the base engine's states, so `suggest`
    and `Completer` work with it unchanged. `observe(state, byte)` is called once the real next byte is
    known (`read` does it for a whole text): it counts the byte in the adaptive n-grams
    and teaches the mixer. Looking ahead (suggestions) never counts anything.

    The mixing bin is the longest context the first cache has seen and how often
    ((order + 1) x 4 bins), and with a second cache (the memory) how much it knows
    (x MEMORY_LEVELS: see `_memory_level`): a memory that has seen the whole context many
    times deserves trust from the first keystroke, before the mixer has learned anything.
    `neural_bins` > 1 also splits bins by the neural model's confidence; on the notes that
    was worse once the neural weights adapt (dynamic evaluation), since the confidence drifts
    into bins whose weights have not been learned yet."""

    def __init__(self, base: Predictor, caches: Sequence[NGram], lr: float = 0.02, neural_bins: int = 1,
                 mixing: str = "linear", trust: Sequence[Sequence[float]] | None = None,
                 memory_trust: Sequence[float] = (), match: MatchModel | None = None,
                 match_trust: Sequence[float] = (), online: OnlineSource | None = None, low_order: int = 0,
                 sse: SSESettings | None = None, coarse_lr: float = 0.0, geometric_lr: float = 0.0):
        """trust: with linear mixing, the first cache's starting weight per bin, as a table
        [longest context found + 1][count bucket] (see CACHE_TRUST), and memory_trust the
        second's per memory level (see MEMORY_TRUST); the others start at the default: about
        12% each everywhere. match: a match model (match.py), mixed in as the last component,
        its weight set chosen by its match length (match_trust: its starting weight per
        length bucket, see MATCH_TRUST). online: where new neural weights come from as the
        text is typed (see `current`). low_order: also the first cache's prediction from its
        last `low_order` bytes of context only, as a component of its own (0: not). sse: a
        last stage that refines the mixture (sse.py; None: none, the mixture as it is).
        coarse_lr: also a second, coarse set of mixing weights, chosen by the kinds of the last
        two bytes, the memory level and the match length and learning at this rate, and a final
        mixer of the two mixtures (0: the fine set alone; linear mixing only; see COARSE_MIX_LR).
        geometric_lr: with the coarse sets, also a geometric mixture of the components (one
        set of exponents per fine bin, learning at this rate) as the final mixer's third input
        (0: none; see GEOMETRIC_MIX_LR)."""
        if not caches:
            raise ValueError("a CacheEngine needs at least one n-gram")
        self.base = base
        self.caches = list(caches)
        self.match = match
        self.online = online
        self.low_order = low_order
        self.neural_bins = neural_bins
        self.levels = MEMORY_LEVELS if len(caches) > 1 else 1
        self.match_levels = MATCH_LEVELS if match is not None else 1
        self.bins = (caches[0].order + 1) * 4 * neural_bins * self.levels * self.match_levels
        self.lr, self.mixing, self.trust, self.memory_trust = lr, mixing, trust, tuple(memory_trust)
        self.match_trust = tuple(match_trust)
        components = 1 + len(caches) + (low_order > 0) + (match is not None)
        start = None
        if trust is not None:
            if mixing != "linear" or neural_bins != 1 or len(trust) != caches[0].order + 1:
                raise ValueError("a trust table fits the first cache's order, linear mixing and no neural bins")
            start = np.zeros((self.bins, components))
            start[:, 1] = np.repeat(_logit(np.asarray(trust, dtype=np.float64).reshape(-1)),
                                    self.levels * self.match_levels)
            start[:, 2:] = -2.0  # the default start's logits
            if len(caches) > 1 and memory_trust:
                start[:, 2] = np.tile(np.repeat(_logit(np.asarray(memory_trust, dtype=np.float64)),
                                                self.match_levels), self.bins // self.levels // self.match_levels)
            if match is not None and match_trust:
                start[:, -1] = np.tile(_logit(np.asarray(match_trust, dtype=np.float64)),
                                       self.bins // self.match_levels)
        self.mixer = Mixer(components, self.bins, lr=lr, kind=mixing, start=start)
        # The fine sets above split what is learned thinly (hundreds of bins, most seen a few
        # times in a document); coarse ones, few and fast, follow the text's drift, and a final
        # mixer learns which of the two to trust (PAQ's several weight sets and a mixer of mixers).
        self.coarse_lr, self.geometric_lr = coarse_lr, geometric_lr
        self.coarse = self.final = self.geometric = None
        if coarse_lr > 0:
            if mixing != "linear":
                raise ValueError("coarse weight sets mix linearly (their mixture is one product of blended weights)")
            coarse_bins = BYTE_CLASSES * BYTE_CLASSES * self.levels * self.match_levels
            coarse_start = None
            if start is not None:
                # The memory's and the match model's columns start as the fine sets' do (by how much
                # the memory knows, by the match length), so a memory sure of a name is trusted
                # from the first keystroke by both; the rest at the default start.
                coarse_start = np.full((coarse_bins, components), -2.0)
                coarse_start[:, 0] = 0.0
                per_row = self.levels * self.match_levels  # the fine start repeats every this many bins
                coarse_start[:, 2:] = np.tile(start[:per_row, 2:], (coarse_bins // per_row, 1))
            self.coarse = Mixer(components, coarse_bins, lr=coarse_lr, start=coarse_start)
            self.final = Mixer(2, 1, lr=FINAL_MIX_LR, start=np.array(FINAL_START))
            if geometric_lr > 0:
                # A linear mixture is never surer than its surest component; a geometric one (a
                # product of the components' probabilities raised to learned exponents, PAQ's
                # logistic mixing for a byte at once) is surer where they agree. It starts with the
                # network's exponent 1 and the others' 0.5 (GEOMETRIC_EXPONENTS), and the final
                # mixer starts giving it little (GEOMETRIC_START).
                exponents = np.full((self.bins, components), GEOMETRIC_EXPONENTS[1])
                exponents[:, 0] = GEOMETRIC_EXPONENTS[0]
                self.geometric = Mixer(components, self.bins, lr=geometric_lr, kind="geometric", start=exponents)
                self.final = Mixer(3, 1, lr=FINAL_MIX_LR, start=np.array(FINAL_START + (GEOMETRIC_START,)))
        # SSE's "bin" context: the first cache's bin and the match length, not the memory's
        # level, so that `remembering` twins (with or without a memory) share its tables.
        self.sse = SSE(sse, (caches[0].order + 1) * 4 * self.match_levels) if sse is not None else None
        self.name = f"{base.name}+cache"

    @property
    def context_bytes(self) -> int:
        """Bytes of recent text a state keeps for the caches (and the match model, which
        measures a match that far back)."""
        return max(max(cache.context_bytes for cache in self.caches), TAIL_BYTES,
                   MAX_LENGTH + 1 if self.match is not None else 0)

    def describe(self) -> str:
        return f"{self.base.describe()} + a cache of the text read"

    @property
    def parameters(self) -> int:
        return self.base.parameters

    def rebased(self, base: Predictor) -> CacheEngine:
        """A twin over new neural weights that shares these caches and this mixer (what was
        learned from the user's typing carries over); this engine and its states are untouched.
        Carry a state over with `state.carried_to(twin)`."""
        twin = copy.copy(self)
        twin.base = base
        twin.name = f"{base.name}+cache"
        return twin

    def remembering(self, remembered: NGram | None, recalled: TextIndex | None = None) -> CacheEngine:
        """A twin with this document's cache, and `remembered` (`memory.ngram`) in place of
        the memory it had (None: none), and with a match model, `recalled` (`memory.recall`:
        the memory's text, indexed) in place of the memory it searched: the editor adds the
        model's memory once it is built, and changes it with the model. What the mixer
        learned of the document's cache (and of the match model) carries over; the memory's
        weights start from `memory_trust`. Carry states over with `carried_to`."""
        caches = self.caches[:1] + ([remembered] if remembered is not None else [])
        match = self.match.recalling(recalled) if self.match is not None else None
        twin = CacheEngine(self.base, caches, lr=self.lr, neural_bins=self.neural_bins, mixing=self.mixing,
                           trust=self.trust, memory_trust=self.memory_trust, match=match,
                           match_trust=self.match_trust, online=self.online, low_order=self.low_order,
                           coarse_lr=self.coarse_lr, geometric_lr=self.geometric_lr)
        twin.sse = self.sse  # what it learned of the document carries over, as the match model's confidence
        self._carry_weights(self.mixer, twin, twin.mixer)
        if self.coarse is not None and twin.coarse is not None:
            self._carry_weights(self.coarse, twin, twin.coarse)
            if self.geometric is not None and twin.geometric is not None:
                self._carry_weights(self.geometric, twin, twin.geometric)
            twin.final = self.final
        return twin

    def _carry_weights(self, mine: Mixer, twin: CacheEngine, theirs: Mixer) -> None:
        """What `mine` (a weight set of this engine) learned, into `theirs` (the same set of a
        `remembering` twin): the same components in the same places (the network, the document's
        cache, the match model last), each memory level taking the first's; a memory's column
        starts afresh."""
        learned = mine.params.reshape(-1, self.levels, self.match_levels, mine.params.shape[1])[:, 0]
        target = theirs.params.reshape(-1, twin.levels, twin.match_levels, theirs.params.shape[1])
        target[..., :2] = learned[:, None, :, :2]
        if twin.match is not None:  # a twin has a match model only when this engine has one
            target[..., -1] = learned[:, None, :, -1]

    def current(self) -> CacheEngine:
        """This engine, or a twin over the newest weights its online source finished since (a
        `rebased` twin: what the caches and the mixer learned carries over). Call it between
        keystrokes and carry the state over (`state.carried_to(twin)`) when it is a new one."""
        fresh = self.online.latest() if self.online is not None else None
        return self.rebased(fresh) if fresh is not None else self

    def new_document(self) -> None:
        """The text typed next is a new document (the online source resets its hidden state);
        then take `current()` before `start()`."""
        if self.online is not None:
            self.online.start_document()

    def zero_state(self) -> CacheState:
        return CacheState(self, self.base.zero_state())

    def start(self) -> CacheState:
        return CacheState(self, self.base.start())

    def prime(self, text: bytes | str, window: int = PRIME_WINDOW) -> CacheState:
        """As `Predictor.prime`; the caches see as much of the text as their order uses (the
        base state's tail alone is 4 bytes, too short for an order-8 cache)."""
        data = text.encode("utf-8", errors="replace") if isinstance(text, str) else bytes(text)
        read = bytes([DOC_START]) + data if len(data) <= window else data[len(data) - window :]
        state = CacheState(self, self.base.prime(data, window), read[-self.context_bytes :])
        if self.match is not None:
            self.match.find(state.match, state.context)
        return state

    def components(self, state: CacheState) -> tuple[np.ndarray, int]:
        """(K, 256) probabilities of the base and each cache, and the mixing bin."""
        neural = state.inner.probs()
        rows = [neural]
        bin_ = 0
        context = state.context
        for index, cache in enumerate(self.caches):
            probs, found, count = cache.lookup(context[max(0, len(context) - cache.context_bytes) :])
            rows.append(probs)
            if index == 0:
                top = float(neural.max())
                confidence = 0 if top < 0.3 else 1 if top < 0.7 else 2
                cache_bin = (found + 1) * 4 + _count_bucket(count)
                bin_ = (cache_bin * self.neural_bins + min(confidence, self.neural_bins - 1)) * self.levels
            elif index == 1:
                bin_ += _memory_level(found, float(probs.max()), cache.order)
        if self.low_order:
            rows.append(self.caches[0].lookup(context[max(0, len(context) - self.low_order) :])[0])
        if self.match is not None:
            byte, sure, level = self.match.confidence(state.match)
            rows.append(_matched(neural, byte, sure) if byte >= 0 else neural)
            bin_ = bin_ * self.match_levels + level
        return np.array(rows), bin_

    def sse_contexts(self, probs: np.ndarray, bin_: int, mixed: np.ndarray, context: bytes) -> list[int]:
        """The SSE tables' context rows for the components `probs` in mixing bin `bin_`, mixed
        as `mixed`, after `context`."""
        split = self.neural_bins * self.levels * self.match_levels  # bins per first-cache bin
        coarse = bin_ // split * self.match_levels + bin_ % self.match_levels
        agree = int(np.count_nonzero(probs.argmax(axis=1) == mixed.argmax())) if self.sse.wants_agreement else 0
        return self.sse.context_values(coarse, context, agree)

    def _coarse_bin(self, context: bytes, bin_: int) -> int:
        """The coarse weight set: the kinds of the last two bytes read, and the memory level and the
        match length's set (the fine bin's last two factors)."""
        last = _CLASS_OF[context[-1]] if context else 3
        before = _CLASS_OF[context[-2]] if len(context) > 1 else 3
        per_kinds = self.levels * self.match_levels
        return (last * BYTE_CLASSES + before) * per_kinds + bin_ % per_kinds

    def _mixtures(self, probs: np.ndarray, bin_: int, context: bytes) -> Mixtures:
        """The components `probs` (K, 256) mixed in fine bin `bin_` after `context`: by the fine
        set alone, or by the final mixer of the fine and the coarse sets' linear mixtures (and the
        geometric one). A suggestion's search makes hundreds of look-ups: each is a few products."""
        if self.coarse is None:
            return Mixtures(self.mixer.mix(probs, bin_))
        coarse_bin = self._coarse_bin(context, bin_)
        parts = np.stack([self.mixer.weights(bin_), self.coarse.weights(coarse_bin)]) @ probs  # (2, 256)
        logs = None
        if self.geometric is not None:
            logs = np.log(np.maximum(probs, 1e-300))
            parts = np.vstack([parts, self.geometric.mix_logs(logs, bin_)])
        return Mixtures(self.final.weights(0) @ parts, parts, coarse_bin, logs)

    def mixed(self, state: CacheState) -> np.ndarray:
        """The (256,) prediction from `state`: the components mixed, then refined by SSE if any
        (its questions kept in the state for `observe`)."""
        probs, bin_ = state.cached_components()
        mixed = state.cached_mixtures().mixed
        if self.sse is None:
            return mixed
        state.sse_questions = self.sse.questions(mixed, self.sse_contexts(probs, bin_, mixed, state.context))
        return self.sse.refine(mixed, state.sse_questions)

    def read(self, state: CacheState, data: bytes) -> None:
        """The user wrote `data` after `state`: learn from each byte, then read it into the state."""
        for byte in data:
            self.observe(state, byte)
            state.feed(bytes((byte,)))

    def observe(self, state: CacheState, byte: int) -> None:
        probs, bin_ = state.cached_components()
        mixtures = state.cached_mixtures()
        mixed = mixtures.mixed
        if self.sse is not None:  # what the last look-up from this state asked, else ask now
            if state.sse_questions is None:  # (before the mixer learns: what the mixture predicted)
                state.sse_questions = self.sse.questions(mixed, self.sse_contexts(probs, bin_, mixed, state.context))
            self.sse.learn(state.sse_questions, byte)
        if mixtures.parts is not None:
            self.final.learn_hits(mixtures.parts[:, byte], 0)  # what each set's mixture gave the byte
            self.coarse.learn(probs, byte, mixtures.coarse_bin)
            if self.geometric is not None:
                self.geometric.learn_logs(mixtures.logs, mixtures.parts[2], byte, bin_)
        self.mixer.learn(probs, byte, bin_)
        for cache in self.caches:
            if cache.adaptive:
                cache.observe(state.context, byte)
        if self.match is not None:
            self.match.learn(state.match, byte)
            self.match.observe(byte)
        if self.online is not None:
            self.online.feed(bytes((byte,)))


def _matched(neural: np.ndarray, byte: int, sure: float) -> np.ndarray:
    """The match model's distribution: `sure` on the byte it predicts, the rest shared as the
    neural model shares it among the other bytes."""
    rest = neural.copy()
    rest[byte] = 0.0
    total = float(rest.sum())
    out = rest * ((1.0 - sure) / total) if total > 1e-12 else np.full_like(neural, (1.0 - sure) / 255)
    out[byte] = sure
    return out


class CacheState:
    """A base engine's state plus the recent bytes the caches need as context (and what the
    engine's SSE asked at its last look-up from here, for `observe` to learn the answer of)."""

    __slots__ = ("engine", "inner", "context", "match", "_components", "_mixtures", "sse_questions")

    def __init__(self, engine: CacheEngine, inner: PredictorState, context: bytes | None = None,
                 match: Match | None = None):
        self.engine = engine
        self.inner = inner
        self.context = inner.tail if context is None else context
        self.match = match if match is not None else Match()  # where the match model's context matched
        self._components = self._mixtures = None
        self.sse_questions = None

    @property
    def tail(self) -> bytes:
        return self.inner.tail

    def fork(self) -> CacheState:
        return CacheState(self.engine, self.inner.fork(), self.context, self.match.copy())

    def feed(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode("utf-8")
        if data:
            self.inner.feed(data)
            matcher = self.engine.match
            if matcher is None:
                self.context = (self.context + data)[-self.engine.context_bytes :]
            else:
                for byte in data:
                    self.context = (self.context + bytes((byte,)))[-self.engine.context_bytes :]
                    matcher.advance(self.match, byte, self.context)
            self._components = self._mixtures = None
            self.sse_questions = None

    def carried_to(self, engine: CacheEngine) -> CacheState:
        """The same text read, under `engine` (this one `rebased` on new weights): the base
        state is carried to the new base, the caches' context is kept."""
        state = CacheState(engine, self.inner.carried_to(engine.base), self.context, self.match.copy())
        self._match_again(engine, state.match)
        return state

    def move_to(self, engine: CacheEngine) -> None:
        """`carried_to` in place."""
        self.inner.move_to(engine.base)
        self._match_again(engine, self.match)
        self.engine = engine
        self._components = self._mixtures = None
        self.sse_questions = None

    def _match_again(self, engine: CacheEngine, match: Match) -> None:
        """Where this state's context matches under `engine`, if its match model searches other text."""
        mine, theirs = self.engine.match, engine.match
        if theirs is not None and (mine is None or (mine.memory, mine.history) != (theirs.memory, theirs.history)):
            theirs.find(match, self.context)  # the match pointed into text the new engine does not search

    def cached_components(self) -> tuple[np.ndarray, int]:
        if self._components is None:
            self._components = self.engine.components(self)
        return self._components

    def cached_mixtures(self) -> Mixtures:
        """`CacheEngine._mixtures` of this state's components, worked out once."""
        if self._mixtures is None:
            probs, bin_ = self.cached_components()
            self._mixtures = self.engine._mixtures(probs, bin_, self.context)
        return self._mixtures

    def probs(self) -> np.ndarray:
        return self.engine.mixed(self)

    def log_probs(self) -> np.ndarray:
        return np.log(np.maximum(self.probs(), 1e-300))


# The typing cache: an n-gram of order 8 (7 bytes of context), the mixer learning at 0.2.
# On the notes dev slice (held-out notes after the first 100 kB, 40 kB; the built-in GRU 512,
# dynamic evaluation decaying 1% a step) longer contexts predict better: order 5 1.721 bpc,
# 7 1.697, 8 1.690 (mixer 0.1 / 0.3: 1.692 / 1.690). On a repetitive document an order-8 cache
# suggests whole 40-character runs, which took the editor's keystroke-to-suggestion p99 from
# 10 ms to 25 ms with the learner running; the editor reading a typed-over suggestion at once
# and the Completer's search budget (decoder.INTERACTIVE_BUDGET_MS) brought it to 6.5 ms
# (BENCHMARKS.md, "Editor").
CACHE_ORDER = 8
CACHE_MIX_LR = 0.2
# The coarse weight sets (by the kinds of the last two bytes, the memory level and the match
# length, learning fast) and the final mixer of the fine and the coarse mixtures. Dev slices (20 kB of each held-out set
# after its first 100 kB, `benchmarks/adapt_settings.py --sets notes,rust-book,cheatsheets`), bpc:
#                                           notes    rust-book  cheatsheets
#   built-in model, fine sets alone          1.7437   1.4831     1.9194
#   + coarse (1.0), final (0.15)             1.7341   1.4663     1.9038   (final starting at 88%)
#   new user's model, fine sets alone        1.6775   1.4913     1.9250
#   + coarse 1.0, final 0.05 / 0.15 / 0.3    1.6577 / 1.6561 / 1.6560   1.4615 / 1.4600 / 1.4594
#                                            (cheatsheets 1.8988 / 1.8976 / 1.8974)
#   coarse 0.5 / 2.0 (final 0.15)            1.6554 / 1.6560 (mix_lr 0.4)   1.6560 (2.0)
#   coarse by the last byte's kind alone (built-in, 0.3 / final 0.05): 1.7358 1.4705 1.9071
#   (these without the memory level; with it, final starting at 95%: built-in 1.7355 / 1.4673 /
#   1.9046, new user 1.6557 / 1.4666 / 1.9009: the default)
# The final mixer starts trusting the fine sets (FINAL_START), and the coarse sets' memory and
# match columns start as the fine sets' tables: a name typed twice is a suggestion the third
# time, and a name the memory is sure of from the first keystroke, which an even start (and
# coarse sets that did not know the memory level) diluted ("bla" of "blax ", "ero" of "eron").
COARSE_MIX_LR = 1.0
FINAL_MIX_LR = 0.15
FINAL_START = (3.0, 0.0)  # the final mixer's logits: 95% on the fine sets' mixture at first
# A geometric mixture of the components (exponents per fine bin) as the final mixer's third
# input, starting at GEOMETRIC_START (2% of the mix) with GEOMETRIC_EXPONENTS. Dev documents (the
# whole documents of each held-out set after its first 100 kB, the first 20 kB typed; the new
# user's model), bpc and Tab savings, without -> with it:
#   notes 1.6557 -> 1.6486, 38.82 -> 39.14%; rust-book 1.4121 -> 1.4041, 44.55 -> 44.64%;
#   cheat sheets 1.9069 -> 1.8976, 37.59 -> 37.64%
# Starting as the network alone (exponents 1, 0): notes 1.6488, 39.03%, and a remembered name was
# no longer suggested whole at the first keystroke (tests/model/test_memory.py); all at 1: 1.6497,
# 39.16%; starting at 0.2% of the mix (-3): 1.6541, 38.87%. Notes at a rate of 0.05: 1.6540; one
# set of exponents per coarse bin, or a rate of 0.005, 0.0008-0.0013 worse on the notes dev
# slice; SSE on top: no better (1.6490).
GEOMETRIC_MIX_LR = 0.02
GEOMETRIC_START = -1.0
GEOMETRIC_EXPONENTS = (1.0, 0.5)  # the network's and every other component's exponent at first
# How far to trust a cache of the text read, before the mixer has learned it: its weight
# per bin, rows by the longest context the cache has seen (none, 0..4 bytes; a longer one
# takes the last row), columns by how often (1, 2-3, 4-7, 8+ times). What the mixer learned
# reading 57 kB of the notes dev slice (4 kB of each document): a cache that has seen the
# whole 4-byte context deserves 40-80%, not the flat 12%. Over a long text the start hardly
# matters (order 8: a flat 12% 1.6426 bpc on the held-out notes, a table fitted on editing
# sessions with `benchmarks/cache_trust.py` 1.6435); it is what makes a name typed twice a
# suggestion the third time, which the session-fitted table (10-30% for a partly seen
# context) did not.
CACHE_TRUST = (
    (0.12, 0.12, 0.12, 0.12),
    (0.12, 0.12, 0.11, 0.11),
    (0.08, 0.11, 0.17, 0.10),
    (0.24, 0.22, 0.18, 0.14),
    (0.29, 0.40, 0.25, 0.17),
    (0.71, 0.80, 0.63, 0.41),
)
# How far to trust the model's memory (memory.py) before the mixer has learned it, by how much
# of the context it knows (`_memory_level`). Measured on the notes dev slice typed as fresh
# documents (a new cache per document, the memory of the notes' training 90%, no dynamic
# evaluation): this table 1.640 bpc, (0.04, 0.14, 0.28, 0.6) 1.644, (0.04, 0.12, 0.25, 0.8)
# 1.642, a flat 12% 1.680. A memory sure of a 7-byte context it has read is right often
# enough to be shown from a document's first keystroke.
MEMORY_TRUST = (0.05, 0.2, 0.4, 0.7)
# How far to trust the match model (match.py) before the mixer has learned it, per match length
# weight set (match.mix_level: none; in the text read up to 16 bytes, longer; in the memory the same).
MATCH_TRUST = (0.02, 0.2, 0.35, 0.1, 0.25)
CACHE_READS_BYTES = 64 * 1024  # of a document as opened, the cache counts this much (its end)


def trust_table(order: int) -> tuple[tuple[float, ...], ...]:
    """CACHE_TRUST for a cache of `order`: a context longer than 4 bytes takes the 4-byte row."""
    rows = CACHE_TRUST[: order + 1]
    return rows + (CACHE_TRUST[-1],) * (order + 1 - len(rows))


def typing_cache(base: Predictor, text: str = "", order: int = CACHE_ORDER,
                 mix_lr: float = CACHE_MIX_LR, remembered: NGram | None = None,
                 recalled: TextIndex | None = None, match: bool = True,
                 match_trust: Sequence[float] = MATCH_TRUST, online: OnlineSource | None = None,
                 min_match: int = MIN_MATCH, low_order: int = 0, sse: SSESettings | None = None,
                 coarse_lr: float = COARSE_MIX_LR, geometric_lr: float = GEOMETRIC_MIX_LR) -> CacheEngine:
    """`base` mixed with a cache of one document: an adaptive n-gram that has read the
    document's text as opened (its last CACHE_READS_BYTES) and counts what is typed next,
    and with `remembered` (`memory.ngram`: the static n-gram of the text the model was
    trained on, shared between documents).

    This is the editor's half of what `eval --adapt` measures as "+ cache": names,
    commands and links a writer repeats get suggested after their first use, and those of
    their trained folders from the start. The mixer starts from CACHE_TRUST and learns from
    each typed byte.

    match: also a match model (match.py) of the document's text and of `recalled`
    (`memory.recall`: the memory's text, indexed), for contexts longer than the n-grams'.

    online: dynamic evaluation as the user types (`learn.adapt.OnlineWeights`, background
    in a session, deterministic in `eval --adapt`): each observed byte is fed to it, and
    `current()` swaps in its newest weights between keystrokes.

    sse: a last stage refining the mixture (sse.py; None: the mixture as it is). Off by default:
    on the dev slices `SSESettings()` is 0.0056-0.0096 bpc better for 14-18 us more per byte read
    (BENCHMARKS.md, "Quality against PPMd"); turning it on waits for every adapting figure and
    keystroke p99 to be measured again with it."""
    data = text.encode("utf-8", errors="replace")[-CACHE_READS_BYTES:]
    caches = [_counted(order, data)] + ([remembered] if remembered is not None else [])
    matcher = None
    if match:
        matcher = MatchModel(recalled, min_match)
        matcher.history.extend(data)
    return CacheEngine(base, caches, lr=mix_lr, trust=trust_table(order), memory_trust=MEMORY_TRUST,
                       match=matcher, match_trust=match_trust, online=online, low_order=low_order, sse=sse,
                       coarse_lr=coarse_lr, geometric_lr=geometric_lr)


def _counted(order: int, data: bytes) -> NGram:
    """An adaptive n-gram that has counted `data` (a document's text after its start) as
    typing would have, counted in numpy (`NGram.update_all`)."""
    cache = NGram(order, adaptive=True)
    cache.update_all(data)
    return cache
