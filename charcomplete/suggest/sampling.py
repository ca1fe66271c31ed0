"""Free text generation (`complete --sample`): bytes drawn so that the text stays valid UTF-8."""

from __future__ import annotations

import codecs
from collections.abc import Iterator

import numpy as np

from charcomplete.core.config import DOC_START
from charcomplete.core.predictor import TAIL_BYTES, PredictorState
from charcomplete.suggest.characters import unfinished_tail


def sample(
    state: PredictorState,
    n_chars: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    rng: np.random.Generator | None = None,
) -> str:
    """Generate up to `n_chars` characters after `state` (left unchanged).

    Stops early at a document start (the model ending the text). `temperature` 0 is
    greedy; `top_k` keeps only the k likeliest bytes at each step."""
    return "".join(iter_sample(state, n_chars, temperature, top_k, rng))


def iter_sample(
    state: PredictorState,
    n_chars: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    rng: np.random.Generator | None = None,
) -> Iterator[str]:
    """`sample`, yielding the text as it is generated (a piece per finished character)."""
    if temperature < 0:
        raise ValueError("temperature must be 0 or more")
    rng = rng if rng is not None else np.random.default_rng()
    state = state.fork()
    # Only bytes that keep the text valid UTF-8 are drawn (a continuation byte where one is
    # due, a character's first byte elsewhere), so a sample never shows U+FFFD. Bytes that
    # finish a character the prompt left unfinished are read but not shown.
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    recent = state.tail[-TAIL_BYTES:]  # the last bytes read: is a character unfinished?
    hidden = unfinished_tail(recent)  # the prompt's unfinished character: its bytes are not ours to show
    chars = 0
    while True:
        allowed = utf8_next_bytes(recent)
        byte = _draw(np.where(allowed, state.log_probs(), -np.inf), temperature, top_k, rng)
        continues = unfinished_tail(recent) > 0
        if byte == DOC_START and not continues or (chars >= n_chars and not continues):
            return
        chars += not continues
        recent = (recent + bytes((byte,)))[-TAIL_BYTES:]
        state.feed(bytes((byte,)))
        if hidden:
            hidden = unfinished_tail(recent)
            continue
        piece = decoder.decode(bytes((byte,)))
        if piece:
            yield piece


# The bytes that may follow each kind of UTF-8 lead byte as its second byte (RFC 3629: no
# overlong forms, no surrogates, nothing past U+10FFFF); later continuation bytes are 80-BF.
_ASCII_OR_LEAD = np.zeros(256, dtype=bool)
_ASCII_OR_LEAD[0x00:0x80] = True
_ASCII_OR_LEAD[0xC2:0xF5] = True
_CONTINUATION = np.zeros(256, dtype=bool)
_CONTINUATION[0x80:0xC0] = True
_SECOND = {0xE0: (0xA0, 0xC0), 0xED: (0x80, 0xA0), 0xF0: (0x90, 0xC0), 0xF4: (0x80, 0x90)}


def utf8_next_bytes(data: bytes) -> np.ndarray:
    """(256,) bool: the bytes that may come next after `data` with the text still valid
    UTF-8 (a character left unfinished must be finished; none may start broken)."""
    back = unfinished_tail(data)
    if back == 0:
        return _ASCII_OR_LEAD
    if back == 1 and data[-1] in _SECOND:
        low, high = _SECOND[data[-1]]
        allowed = np.zeros(256, dtype=bool)
        allowed[low:high] = True
        return allowed
    return _CONTINUATION


def _draw(logits: np.ndarray, temperature: float, top_k: int | None, rng: np.random.Generator) -> int:
    if temperature == 0:
        return int(np.argmax(logits))
    scaled = logits.astype(np.float64) / temperature  # (256,)
    if top_k is not None and 0 < top_k < scaled.size:
        cutoff = np.partition(scaled, -top_k)[-top_k]
        scaled[scaled < cutoff] = -np.inf
    odds = np.exp(scaled - scaled.max())
    cumulative = np.cumsum(odds)
    return int(min(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"), scaled.size - 1))
