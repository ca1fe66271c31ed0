"""How good is a model on given text: bits per character, next-character accuracy,
keystroke savings and suggestion latency, statically or while adapting to the text.

One pass reads the documents byte by byte, the way the editor reads what is typed:
each document starts from the state after DOC_START (as in training) and the state is
carried through it. At each position the model's log-probabilities of the next byte
give the bits and the accuracy. On the first `ksr_bytes` (whole documents) a simulated
typist also asks for the suggestion the editor would show there (`decoder.suggest`,
the function the editor's Completer calls, with the same defaults) and:

- "whole": accepts it with one key (Tab) when the text goes on with it, else types one
  character (which declines it: the next suggestion holds none of its remainder whole, as
  every interactive surface's Completer does, `suggest.declined`);
- "word": accepts only its first word (Ctrl+Right, the editor's next-word rule) the
  same way;
- "both": uses both keys, as a person who knows them does: Tab when the text goes on
  with the whole suggestion, else Ctrl+Right when it goes on with the first word, else
  types one character.

keystroke savings (KSR) = 1 - keys / characters. Bits and accuracy are per byte (a
character for ASCII text); DOC_START itself is read, never predicted. Each typist also counts
keys as an input method spends them ("ime_savings"): a CJK character it types costs
`characters.IME_KEYS` keys, and the text typed unaided as many (for text without CJK
characters the two figures are the same).

Adaptation (`adapt=True`, or `dynamic`/`cache` one at a time):
- dynamic evaluation: after each `chunk` bytes have been predicted, the model takes a
  gradient step on them (`adapt.OnlineAdapter`, torch) and the next bytes are predicted
  by the new weights, exported to the numpy engine with the hidden state carried;
- cache: an adaptive byte n-gram of the text read so far (the user's own strings) mixed
  linearly with the neural prediction, with mixing weights learned online
  (`cache.CacheEngine`).
A byte is always predicted before anything learns from it.

Nothing here imports torch unless dynamic evaluation is asked for."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from charcomplete.core.config import LN2
from charcomplete.core.errors import CharcompleteError
from charcomplete.core.predictor import LearningPredictor, Predictor, PredictorState
from charcomplete.learn.online import ONLINE_CHUNK, ONLINE_DECAY, ONLINE_LR, ONLINE_OPTIMIZER
from charcomplete.model import memory
from charcomplete.model.cache import (
    CACHE_MIX_LR,
    CACHE_ORDER,
    COARSE_MIX_LR,
    GEOMETRIC_MIX_LR,
    CacheEngine,
    typing_cache,
)
from charcomplete.model.engine import Engine
from charcomplete.model.ngram import NGram, NGramEngine
from charcomplete.storage.store import LoadedModel
from charcomplete.suggest.characters import typing_keys
from charcomplete.suggest.declined import NOTHING_DECLINED, Declined
from charcomplete.suggest.decoder import next_word, suggest
from charcomplete.suggest.policy import IN_DOCUMENTS

MAX_BYTES = 100_000  # text evaluated (bits, accuracy); the notes benchmark reads its first 100 kB
TYPISTS = ("whole", "word", "both")  # the keys a simulated typist accepts suggestions with (above)
KSR_BYTES = 20_000  # text the simulated typist types: a suggestion per position reached costs a search

PROGRESS_EVERY = 4096  # bytes between two progress reports (and at the end of each document)
Progress = Callable[[int, int, float], None]  # (bytes read, bytes in all, bits per character so far)


@dataclass
class AdaptSettings:
    """How the model adapts while it reads. The defaults were chosen on a dev slice of the
    notes benchmark (held-out text after the first 100 kB), see BENCHMARKS.md."""

    dynamic: bool = False  # gradient steps on the text read (torch)
    cache: bool = False  # mix in an n-gram of the text read
    chunk: int = ONLINE_CHUNK  # bytes between two steps (64 a little worse, 2.69 vs 2.67 bpc; 16 too, 1.742 vs 1.732)
    lr: float = ONLINE_LR  # dynamic evaluation's learning rate (online.py has the figures; SGD's best was 0.1)
    optimizer: str = ONLINE_OPTIMIZER  # rms (Krause et al.'s step), sgd or adam
    # Pull the weights back towards the starting ones by this share after each step (Krause et
    # al.'s global prior): with order-8 and order-6 caches 0 1.709, 0.005 1.692, 0.01 1.693, 0.03 1.700 bpc.
    decay: float = ONLINE_DECAY
    cache_order: int = CACHE_ORDER  # the cache n-gram's order (the editor's typing cache's)
    mix_lr: float = CACHE_MIX_LR  # learning rate of the mixing weights
    mixing: str = "linear"  # linear or geometric (cache.Mixer); geometric was 0.06 bpc worse
    memory: bool = True  # with the cache, the model's memory of its training text too (memory.py)
    match: bool = True  # with the cache, the match model of the text read and the memory (match.py)
    coarse_lr: float = COARSE_MIX_LR  # the typing cache's coarse weight sets (cache.py; 0: none)
    geometric_lr: float = GEOMETRIC_MIX_LR  # its geometric mixture, beside the coarse sets (0: none)

    @property
    def any(self) -> bool:
        return self.dynamic or self.cache


@dataclass
class _Typist:
    """A simulated user who accepts suggestions (whole, or first word) whenever they fit."""

    label: str
    options: dict
    keys_used: str  # "whole" (Tab), "word" (Ctrl+Right) or "both"
    next: int = 0  # position of the next decision in the current document
    declined: Declined = NOTHING_DECLINED  # what it typed over there (the Completer's rule: suggest.declined)
    keys: int = 0
    ime_keys: float = 0.0  # the keys again, a CJK character typed costing IME_KEYS (the module's docstring)
    shown: int = 0
    accepted: int = 0
    accepted_chars: int = 0
    shown_chars: int = 0
    shown_one_char: int = 0  # one character long (accepting it saves nothing)
    shown_blank: int = 0  # spaces only (on screen it looks like no suggestion at all)
    asked: int = 0  # suggestions this typist computed (a typist sharing another's offer computes none)
    seconds: float = 0.0  # time they took

    def figures(self, chars: int, ime_total: float) -> dict:
        """ime_total: the keys the text costs typed unaided through an input method."""
        return {
            "savings": 1.0 - self.keys / chars if chars else 0.0,
            "keys": self.keys,
            "ime_savings": 1.0 - self.ime_keys / ime_total if ime_total else 0.0,
            "ime_keys": self.ime_keys,
            "shown": self.shown,
            "accepted": self.accepted,
            "precision": self.accepted / self.shown if self.shown else 0.0,
            "chars_per_accept": self.accepted_chars / self.accepted if self.accepted else 0.0,
            # What a ghost text is worth to the person looking at it: characters it gave them,
            # on average over every one shown (wrong ones count as zero).
            "chars_per_shown": self.accepted_chars / self.shown if self.shown else 0.0,
            "mean_shown_chars": self.shown_chars / self.shown if self.shown else 0.0,
            "shown_one_char": self.shown_one_char,
            "shown_blank": self.shown_blank,
            "ms_per_suggestion": self.seconds / self.asked * 1e3 if self.asked else 0.0,
        }


@dataclass
class _Tally:
    bits: float = 0.0
    bytes: int = 0
    top1: int = 0
    top3: int = 0
    step_s: float = 0.0
    latencies: list[float] = field(default_factory=list)


def as_documents(items: Sequence) -> list[bytes]:
    """Bytes of each document: accepts bytes, str (UTF-8) or corpus.Document; drops empty ones."""
    out = []
    for item in items:
        data = getattr(item, "data", item)
        if isinstance(data, str):
            data = data.encode("utf-8")
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError(f"a document is bytes, str or a corpus.Document, not {type(item).__name__}")
        if data:
            out.append(bytes(data))
    return out


def truncate(documents: list[bytes], max_bytes: int | None) -> list[bytes]:
    """The first `max_bytes` of the documents taken as one text (the last one cut)."""
    if max_bytes is None:
        return documents
    out, total = [], 0
    for doc in documents:
        if total >= max_bytes:
            break
        out.append(doc[: max_bytes - total])
        total += len(out[-1])
    return out


def char_starts(data: bytes) -> list[int]:
    """Where each character starts: whole UTF-8 sequences, or single bytes where it is not valid UTF-8."""
    starts, i, n = [], 0, len(data)
    while i < n:
        starts.append(i)
        i += char_length(data, i)
    return starts


def char_length(data: bytes, i: int) -> int:
    byte = data[i]
    if byte < 0xC0:
        return 1
    need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
    end = i + 1
    while end < min(len(data), i + need) and data[end] & 0xC0 == 0x80:
        end += 1
    return end - i if end - i == need else 1


def _resolve(model) -> tuple[Predictor, LoadedModel | None]:
    """(the predictor, the loaded model when there are weights to adapt)."""
    if isinstance(model, str):
        from charcomplete.storage import store

        model = store.load_model(model)
    if isinstance(model, LoadedModel):
        return Engine.from_model(model), model
    if isinstance(model, NGram):
        return NGramEngine(model), None
    if isinstance(model, Predictor):
        return model, None
    raise TypeError(f"cannot evaluate a {type(model).__name__}; give a model name, LoadedModel, Engine or NGram")


def evaluate(
    model,
    documents: Sequence,
    adapt: bool = False,
    *,
    dynamic: bool | None = None,
    cache: bool | None = None,
    settings: AdaptSettings | None = None,
    max_bytes: int | None = MAX_BYTES,
    ksr_bytes: int = KSR_BYTES,
    decoders: dict[str, dict] | None = None,
    cache_text: bytes | None = None,
    progress: Progress | None = None,
    byte_bits: bool = False,
) -> dict:
    """Evaluate `model` (a model name, LoadedModel, numpy Engine, NGram or NGramEngine)
    on `documents`; returns every figure in a JSON-ready dict.

    adapt: learn while reading: dynamic evaluation and the cache, unless `dynamic` or
        `cache` says otherwise. For an n-gram, adapt means it keeps counting.
    max_bytes: evaluate the first this many bytes of the documents (None: all).
    ksr_bytes: simulate typing on the first documents until this many bytes (0: no KSR).
    decoders: label -> suggest() options, one simulated typist pair each; the first is
        the headline figure. Default: the editor's own settings (the default policy, a
        suggestion running on past a line end: policy.IN_DOCUMENTS).
    cache_text: text for the cache's memory n-gram (e.g. the user's own folders) in place
        of the model's own memory (memory.py: the text `train` learned from), which a
        model name or LoadedModel brings unless settings.memory is off.
    progress: called every PROGRESS_EVERY bytes and after each document with (bytes read,
        bytes in all, bits per character so far)
    byte_bits: also return each byte's bits ("byte_bits", a list): what a session typing the
        same text must reproduce"""
    engine, loaded = _resolve(model)
    settings = AdaptSettings(**asdict(settings)) if settings is not None else AdaptSettings()
    settings.dynamic = adapt if dynamic is None else dynamic
    settings.cache = adapt if cache is None else cache
    neural = isinstance(engine, Engine)
    if not neural:
        if adapt:
            engine.model.adaptive = True
        settings.dynamic = settings.cache = False
    elif settings.dynamic and loaded is None:
        raise CharcompleteError("dynamic evaluation needs the model's weights: give its name rather than an engine")
    docs = truncate(as_documents(documents), max_bytes)
    if not docs:
        raise CharcompleteError("there is no text to evaluate on")
    decoders = decoders if decoders is not None else {"default": dict(IN_DOCUMENTS)}  # the editor's
    if not decoders:
        raise ValueError("give at least one decoding setting")

    remembered = recalled = None
    if settings.cache and cache_text:
        remembered = memory.ngram_of(cache_text)
        recalled = memory.recall_of(cache_text) if settings.match else None
    elif settings.cache and settings.memory and loaded is not None:
        remembered = memory.ngram(loaded.folder)
        recalled = memory.recall(loaded.folder) if settings.match and remembered is not None else None
    run = _Pass(engine, loaded, settings, decoders, (remembered, recalled), byte_bits)
    total = sum(len(doc) for doc in docs)
    started = time.perf_counter()
    for doc in docs:
        run.read(doc, typing=ksr_bytes > 0 and run.ksr_bytes < ksr_bytes, progress=progress, total=total)
    return run.report(docs, time.perf_counter() - started)


class _Pass:
    """One evaluation pass: the predictor as it adapts, what it scored, and the typists."""

    def __init__(self, engine: Predictor, loaded: LoadedModel | None, settings: AdaptSettings,
                 decoders: dict[str, dict], remembered: tuple, byte_bits: bool = False) -> None:
        """remembered: (the memory's n-gram, its match index), either None."""
        self.engine, self.settings = engine, settings
        self.adapter = self.online = None
        if settings.dynamic:
            from charcomplete.learn.adapt import OnlineAdapter  # torch: only now
            from charcomplete.learn.online import OnlineWeights

            self.adapter = OnlineAdapter(loaded.config, loaded.weights, lr=settings.lr,
                                         optimizer=settings.optimizer, decay=settings.decay,
                                         chunk=settings.chunk)
            # The same online weights a session uses, in their deterministic mode: each chunk's
            # step is taken at its boundary and the next byte is predicted by the new weights.
            self.online = OnlineWeights(self.adapter, settings.chunk, background=False, name=engine.name)
        self.top: Predictor = (_with_cache(engine, settings, remembered, self.online) if settings.cache
                               else engine)
        self.bits: list[float] | None = [] if byte_bits else None
        self.typists = [_Typist(label, dict(options), keys)
                        for label, options in decoders.items() for keys in TYPISTS]
        self.tally = _Tally()
        self.ksr_docs = self.ksr_bytes = self.ksr_chars = 0  # what the typists typed
        self.ksr_ime_keys = 0.0  # ...and what it costs typed unaided through an input method

    def read(self, doc: bytes, typing: bool, progress: Progress | None, total: int) -> None:
        """Predict each byte of `doc` before anything learns from it; the typists type it when `typing`."""
        tally = self.tally
        if typing:
            self.ksr_docs += 1
            self.ksr_bytes += len(doc)
            self.ksr_chars += len(char_starts(doc))
            self.ksr_ime_keys += typing_keys(doc.decode("utf-8", errors="replace"))
            for typist in self.typists:
                typist.next = 0
                typist.declined = NOTHING_DECLINED
        if self.online is not None:
            self.online.start_document()  # the last document's partial chunk is learned, the hidden state reset
            self._swap()
        state = self.top.start()
        for i, byte in enumerate(doc):
            t0 = time.perf_counter()
            logp = state.log_probs()  # (256,)
            tally.step_s += time.perf_counter() - t0
            lp = float(logp[byte])
            tally.bits -= lp / LN2
            if self.bits is not None:
                self.bits.append(-lp / LN2)
            better = int(np.count_nonzero(logp >= lp)) - 1  # ties count against it: a flat guess is no hit
            tally.top1 += better == 0
            tally.top3 += better < 3
            if typing:
                _type(self.typists, state, doc, i, tally)
            if isinstance(self.top, LearningPredictor):
                self.top.observe(state, byte)  # a typing cache also feeds the byte to the online weights
            if self.online is not None and not isinstance(self.top, CacheEngine):
                self.online.feed(bytes((byte,)))
            t0 = time.perf_counter()
            state.feed(bytes((byte,)))
            tally.step_s += time.perf_counter() - t0
            if self.online is not None and self._swap():
                state = state.carried_to(self.top)
            if progress is not None and (i + 1) % PROGRESS_EVERY == 0 and i + 1 < len(doc):
                progress(tally.bytes + i + 1, total, tally.bits / (tally.bytes + i + 1))
        tally.bytes += len(doc)
        if progress is not None:
            progress(tally.bytes, total, tally.bits / max(1, tally.bytes))

    def _swap(self) -> bool:
        """Take the online weights' newest engine, as a session does between keystrokes; True when new."""
        if isinstance(self.top, CacheEngine):
            top = self.top.current()
            changed, self.top = top is not self.top, top
            self.engine = top.base
            return changed
        fresh = self.online.latest()
        if fresh is not None:
            self.engine = self.top = fresh
        return fresh is not None

    def report(self, docs: list[bytes], seconds: float) -> dict:
        """Every figure, JSON-ready."""
        tally, engine, settings = self.tally, self.engine, self.settings
        n = max(1, tally.bytes)
        by_label: dict[str, dict] = {}
        for typist in self.typists:
            entry = by_label.setdefault(typist.label, {"label": typist.label, "options": typist.options})
            entry[typist.keys_used] = typist.figures(self.ksr_chars, self.ksr_ime_keys)
        decoders = list(by_label.values())
        result = {
            "model": engine.name,
            "description": engine.describe(),
            "parameters": engine.parameters,
            "mode": _mode(settings, isinstance(engine, Engine), engine),
            "adapt": asdict(settings) if settings.any else None,
            "documents": len(docs),
            "bytes": tally.bytes,
            "chars": sum(len(char_starts(doc)) for doc in docs),
            "bpc": tally.bits / n,
            "top1": tally.top1 / n,
            "top3": tally.top3 / n,
            "ksr": None,
            "decoders": decoders,
            "latency_ms": None,
            "step_us": tally.step_s / n * 1e6,
            "seconds": seconds,
        }
        if self.ksr_chars:
            main = decoders[0]
            latencies = np.asarray(tally.latencies) * 1e3
            result["ksr"] = {"documents": self.ksr_docs, "bytes": self.ksr_bytes, "chars": self.ksr_chars,
                             **{keys: main[keys]["savings"] for keys in TYPISTS},
                             "ime_keys": self.ksr_ime_keys,
                             **{f"ime_{keys}": main[keys]["ime_savings"] for keys in TYPISTS},
                             "precision": main["whole"]["precision"]}
            result["latency_ms"] = {"p50": float(np.percentile(latencies, 50)),
                                    "p99": float(np.percentile(latencies, 99)), "suggestions": int(latencies.size)}
        if self.adapter is not None:
            result["adapter_steps"] = self.adapter.steps
        if self.bits is not None:
            result["byte_bits"] = self.bits
        if isinstance(self.top, CacheEngine):
            weights = np.array([self.top.mixer.weights(b) for b in range(self.top.bins)])
            result["cache_weight_mean"] = float(weights[:, 1:].sum(axis=1).mean())
            result["cache_fitted_bytes"] = sum(cache.fitted_bytes for cache in self.top.caches)
        return result


def _with_cache(engine: Predictor, settings: AdaptSettings, remembered: tuple, online=None) -> CacheEngine:
    """The engine mixed with a cache of the text read, and the memory n-gram (and its match
    index) when there is one: with linear mixing, the editor's own typing cache."""
    remembered, recalled = remembered
    if settings.mixing == "linear":
        return typing_cache(engine, "", settings.cache_order, settings.mix_lr, remembered=remembered,
                            recalled=recalled, match=settings.match, online=online, coarse_lr=settings.coarse_lr,
                            geometric_lr=settings.geometric_lr)
    caches = [NGram(settings.cache_order, adaptive=True)]
    caches += [remembered] if remembered is not None else []
    return CacheEngine(engine, caches, lr=settings.mix_lr, mixing=settings.mixing, online=online)


def _type(typists: list[_Typist], state: PredictorState, doc: bytes, i: int, tally: _Tally) -> None:
    """Each typist due at position i asks for the suggestion and takes it or types a character."""
    offers: dict[tuple[str, Declined], str] = {}
    for typist in typists:
        if typist.next != i:
            continue
        asked = (typist.label, typist.declined)
        if asked not in offers:
            t0 = time.perf_counter()
            offers[asked] = suggest(state, declined=typist.declined, **typist.options).text
            spent = time.perf_counter() - t0
            tally.latencies.append(spent)
            typist.asked += 1
            typist.seconds += spent
        shown = offers[asked]
        offer = shown
        if typist.keys_used == "word" and offer:
            offer = next_word(offer)  # Ctrl+Right
        elif typist.keys_used == "both" and offer and not doc.startswith(offer.encode("utf-8"), i):
            offer = next_word(offer)  # not all of it: does its first word fit?
        typist.keys += 1
        typist.ime_keys += 1  # a Tab, or the character typed (its other keys below)
        data = offer.encode("utf-8")
        if data:
            typist.shown += 1
            typist.shown_chars += len(offer)
            typist.shown_one_char += len(offer) == 1
            typist.shown_blank += offer.isspace()
            if doc.startswith(data, i):
                typist.accepted += 1
                typist.accepted_chars += len(offer)
                typist.next = i + len(data)
                typist.declined = typist.declined.after_typing(b"", data)
                continue
        length = char_length(doc, i)
        typist.declined = typist.declined.after_typing(shown.encode("utf-8"), doc[i : i + length])
        if length > 1:  # a multi-byte character typed: what the input method spends on it beyond one key
            typist.ime_keys += typing_keys(doc[i : i + length].decode("utf-8", errors="replace")) - 1
        typist.next = i + length


def _mode(settings: AdaptSettings, neural: bool, engine) -> str:
    if not neural:
        return "adaptive" if engine.model.adaptive else "static"
    parts = [name for name, on in (("dynamic", settings.dynamic), ("cache", settings.cache)) if on]
    return "+".join(parts) if parts else "static"
