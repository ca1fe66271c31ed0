"""How far back a model really looks: the context-length probe and the long-range dependency probe.

Both read held-out documents through the numpy engine's own weights (the ones the
editor, the pipe and the servers suggest with), with many stretches of text stepped
together as one batch: a step is a (batch, H) x (H, G*H) product instead of one
matrix-vector product per byte, so the probes cost a few seconds, not minutes.

- Context-length probe: bits per character when the recurrent state is reset every K
  bytes (K = 8, 32, 128, 512, and never). Each document starts, as in `evaluate`, from
  the state after DOC_START; every K bytes after that the state goes back to zero, the
  state `Engine.prime` reads a long text's tail from. The gain from K=128 to never is
  what the model gets from context further back than 128 characters.
- Long-range dependency probe: held-out positions whose next byte closes something opened
  N bytes earlier in the same document (a bracket, a double quote or backtick on the same
  line, a Markdown code fence, an HTML/XML tag's name after "</", a name of 6 or more
  characters repeated from earlier: its third byte), and the mean probability the model
  gives that byte, by distance bucket, with counts.

Weights are fixed throughout (no dynamic evaluation, no cache): this measures the cell,
not the adaptation around it."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from charcomplete.core.config import LN2
from charcomplete.evaluate.evaluation import as_documents, truncate
from charcomplete.model.engine import Engine

RESETS: tuple[int | None, ...] = (8, 32, 128, 512, None)  # None: never reset
BUCKETS: tuple[tuple[int, int | None], ...] = ((1, 8), (9, 32), (33, 128), (129, 512), (513, None))
KINDS = ("bracket", "quote", "fence", "tag", "name")
NAME_MIN = 6  # a repeated word this long is a name (shorter ones are mostly common words)
NAME_BYTE = 2  # its byte that is scored: after two bytes typed, the rest is copying
HEAD_BLOCK = 4096  # states gathered before the output head runs on them


def reset_label(every: int | None) -> str:
    return "never" if every is None else str(every)


def bucket_label(bucket: tuple[int, int | None]) -> str:
    low, high = bucket
    return f"> {low - 1}" if high is None else f"{low}-{high}"


# ------------------------------------------------------------ batched reading


def byte_log_probs(engine: Engine, documents: Sequence[bytes], reset_every: int | None = None,
                   rows: int = 4096) -> list[np.ndarray]:
    """For each document, log p (nats, float64) the model gave each of its bytes.

    Each document is read from `engine.start()` (DOC_START read); with `reset_every`, the
    state is set to zero before bytes reset_every, 2 * reset_every, ... of the document.
    `rows`: at most this many stretches stepped together (bounds the memory)."""
    if reset_every is not None and reset_every < 1:
        raise ValueError("reset_every must be at least 1")
    # Stretches of text read from one initial state: (document, offset, bytes, from the start state).
    stretches = []
    for index, doc in enumerate(documents):
        step = len(doc) if reset_every is None else reset_every
        for offset in range(0, len(doc), max(1, step)):
            stretches.append((index, offset, doc[offset : offset + step], offset == 0))
    out = [np.empty(len(doc), np.float64) for doc in documents]
    stretches.sort(key=lambda s: -len(s[2]))  # longest first: the ones still going are always a prefix
    for first in range(0, len(stretches), rows):
        group = stretches[first : first + rows]
        logp = _read_batch(engine, [s[2] for s in group], np.array([s[3] for s in group]))
        for (index, offset, data, _), values in zip(group, logp, strict=True):
            out[index][offset : offset + len(data)] = values
    return out


def _read_batch(engine: Engine, texts: list[bytes], from_start: np.ndarray) -> list[np.ndarray]:
    """log p of each byte of each text; texts sorted longest first.

    Bytes and results are laid out step-major in one flat array of the texts' total size
    (step t holds the texts still going, a prefix): a long text beside many short ones
    costs its length, not the longest length times the number of texts."""
    n = len(texts)
    lengths = np.array([len(t) for t in texts])
    active_at = np.searchsorted(-lengths, -np.arange(lengths[0]), side="left")  # texts longer than t, per step t
    offsets = np.concatenate(([0], np.cumsum(active_at)))
    flat = np.empty(offsets[-1], np.uint8)
    for row, text in enumerate(texts):
        flat[offsets[: len(text)] + row] = np.frombuffer(text, np.uint8)
    start = engine.start()
    layers = len(engine.layers)
    H = engine.hidden
    h = [np.zeros((n, H), np.float32) for _ in range(layers)]
    c = [np.zeros((n, H), np.float32) for _ in range(layers)] if engine.cell == "lstm" else []
    for k in range(layers):
        h[k][from_start] = start.h[k]
        if c:
            c[k][from_start] = start.c[k]
    out = np.empty(offsets[-1], np.float64)
    # The states that predict each byte are gathered, and the output head runs on a block of
    # them at a time: one big product instead of a small one per step (a long document is
    # read a step at a time, and there per-step overheads are the cost).
    block = max(HEAD_BLOCK, n)
    gathered = np.empty((block + n, H), np.float32)
    fill, first = 0, 0  # rows gathered; the flat index of the first
    for t, active in enumerate(active_at):
        gathered[fill : fill + active] = h[-1][:active]
        fill += active
        if fill >= block or t == len(active_at) - 1:
            _head(engine, gathered[:fill], flat[first : first + fill], out[first : first + fill])
            first, fill = first + fill, 0
        _step(engine, h, c, flat[offsets[t] : offsets[t + 1]], active)
    return [out[offsets[: len(text)] + row] for row, text in enumerate(texts)]


def _head(engine: Engine, states: np.ndarray, byte: np.ndarray, out: np.ndarray) -> None:
    """log p of `byte` from each row of `states`, into `out`."""
    logits = states @ engine.head_w.T
    logits += engine.head_b
    logits -= logits.max(axis=1, keepdims=True)
    norm = np.log(np.exp(logits, dtype=np.float64).sum(axis=1))
    out[:] = logits[np.arange(len(byte)), byte] - norm


def _step(engine: Engine, h: list[np.ndarray], c: list[np.ndarray], byte: np.ndarray, active: int) -> None:
    """Read one byte per active row, with the engine's equations (its weights come pre-scaled:
    sigmoid(a) = 0.5 + 0.5 * tanh(a / 2), see engine.py)."""
    H = engine.hidden
    below = None
    for k, layer in enumerate(engine.layers):
        state = h[k][:active]
        x = engine.table[byte] if k == 0 else below @ layer.w_ih.T + layer.bias
        hp = state @ layer.w_hh.T
        if engine.cell == "rnn":
            state[:] = np.tanh(x + hp)
        elif engine.cell == "gru":
            rz = 0.5 + 0.5 * np.tanh(x[:, : 2 * H] + hp[:, : 2 * H])
            r, z = rz[:, :H], rz[:, H:]
            n = np.tanh(x[:, 2 * H :] + r * (hp[:, 2 * H :] + layer.b_hn))
            state[:] = n + z * (state - n)
        else:
            gates = np.tanh(x + hp)
            gates[:, : 3 * H] = 0.5 + 0.5 * gates[:, : 3 * H]
            i, f, o, g = (gates[:, j * H : (j + 1) * H] for j in range(4))
            cell = c[k][:active]
            cell *= f
            cell += i * g
            state[:] = o * np.tanh(cell)
        below = state


# ------------------------------------------------------------ the context-length probe


def context_probe(engine: Engine, documents: Sequence, max_bytes: int | None = None,
                  resets: Sequence[int | None] = RESETS) -> dict:
    """Bits per character with the state reset every K bytes, for each K in `resets`."""
    docs = truncate(as_documents(documents), max_bytes)
    started = time.perf_counter()
    context, _ = _context(engine, docs, resets)
    return {**context, "seconds": time.perf_counter() - started}


def _context(engine: Engine, docs: list[bytes], resets: Sequence[int | None]) -> tuple[dict, list | None]:
    """(the context curve, the never-reset pass's log-probabilities when it was read)."""
    total = sum(len(d) for d in docs)
    curve, never = [], None
    for every in resets:
        logp = byte_log_probs(engine, docs, every)
        if every is None:
            never = logp
        bits = -sum(float(values.sum()) for values in logp) / LN2
        curve.append({"reset_every": every, "label": reset_label(every), "bpc": bits / max(1, total)})
    by_label = {point["label"]: point["bpc"] for point in curve}
    gain = by_label["128"] - by_label["never"] if {"128", "never"} <= set(by_label) else None
    return {"bytes": total, "curve": curve, "gain_beyond_128": gain}, never


# ------------------------------------------------------------ the long-range dependency probe


@dataclass(frozen=True)
class Target:
    """A position whose byte closes something opened `distance` bytes earlier in its document."""

    doc: int
    position: int  # of the byte to predict, in the document
    distance: int  # position - where the thing it closes was opened
    kind: str  # one of KINDS


_PAIRS = {ord(")"): ord("("), ord("]"): ord("["), ord("}"): ord("{")}
_SPECIAL = re.compile(rb"[()\[\]{}\"`\n<]")
_TAG = re.compile(rb"<(/?)([A-Za-z][A-Za-z0-9-]*)[^<>\n]*?(/?)>")
_FENCE = re.compile(rb"^[ \t]*(```|~~~)", re.MULTILINE)
_NAME = re.compile(rb"[A-Za-z_][A-Za-z0-9_]{%d,}" % (NAME_MIN - 1))


def find_targets(doc: bytes, index: int = 0) -> list[Target]:
    """Every position in `doc` whose byte is fixed by something opened earlier in it."""
    targets: list[Target] = []
    targets += _fence_targets(doc, index)
    stack: list[tuple[int, int]] = []  # open brackets: (byte, position)
    quote_open: dict[int, int] = {}  # quote byte -> where it opened, on this line
    for match in _SPECIAL.finditer(doc):
        pos, byte = match.start(), doc[match.start()]
        if byte == 10:  # a quote never spans lines
            quote_open.clear()
        elif byte in (ord('"'), ord("`")):
            if byte == ord("`") and _in_fence_run(doc, pos):
                continue  # part of a fence, scored above
            if byte in quote_open:
                targets.append(Target(index, pos, pos - quote_open.pop(byte), "quote"))
            else:
                quote_open[byte] = pos
        elif byte in (ord("("), ord("["), ord("{")):
            stack.append((byte, pos))
        elif byte in _PAIRS:
            # Match the nearest opener of this kind; the ones above it were left open.
            for depth in range(len(stack) - 1, -1, -1):
                if stack[depth][0] == _PAIRS[byte]:
                    targets.append(Target(index, pos, pos - stack[depth][1], "bracket"))
                    del stack[depth:]
                    break
    targets += _tag_targets(doc, index)
    targets += _name_targets(doc, index)
    return targets


def _in_fence_run(doc: bytes, pos: int) -> bool:
    """Is the backtick at `pos` part of a run of three or more?"""
    start = pos
    while start > 0 and doc[start - 1] == ord("`"):
        start -= 1
    end = pos
    while end < len(doc) and doc[end] == ord("`"):
        end += 1
    return end - start >= 3


def _fence_targets(doc: bytes, index: int) -> list[Target]:
    """The first byte of each closing code fence, opened at the fence before it."""
    out, opened = [], None
    for match in _FENCE.finditer(doc):
        if opened is None:
            opened = match.start(1)
        else:
            out.append(Target(index, match.start(1), match.start(1) - opened, "fence"))
            opened = None
    return out


def _tag_targets(doc: bytes, index: int) -> list[Target]:
    """The first byte of the name in each closing tag ("</name>"), opened at its "<name ...>"."""
    out, open_tags = [], []  # (name, position of "<")
    for match in _TAG.finditer(doc):
        closing, name, self_closing = match.group(1), match.group(2).lower(), match.group(3)
        if self_closing:
            continue
        if not closing:
            open_tags.append((name, match.start()))
            continue
        for depth in range(len(open_tags) - 1, -1, -1):
            if open_tags[depth][0] == name:
                position = match.start(2)
                out.append(Target(index, position, position - open_tags[depth][1], "tag"))
                del open_tags[depth:]
                break
    return out


def _name_targets(doc: bytes, index: int) -> list[Target]:
    """The third byte of each name repeated from earlier in the document (distance to its last use)."""
    out, last_seen = [], {}
    for match in _NAME.finditer(doc):
        name, start = match.group(), match.start()
        if name in last_seen:
            out.append(Target(index, start + NAME_BYTE, start - last_seen[name], "name"))
        last_seen[name] = start
    return out


def bucket_of(distance: int) -> int:
    for number, (low, high) in enumerate(BUCKETS):
        if distance >= low and (high is None or distance <= high):
            return number
    raise ValueError(f"a distance is at least 1, not {distance}")


def distance_probe(engine: Engine, documents: Sequence, max_bytes: int | None = None,
                   reset_every: int | None = None, log_probs: list[np.ndarray] | None = None) -> dict:
    """Mean probability of the right byte at long-range targets, by distance bucket (and by kind).

    reset_every: read with the state reset that often (the same model, its memory cut);
    log_probs: byte_log_probs already computed for these documents and this reset."""
    docs = truncate(as_documents(documents), max_bytes)
    started = time.perf_counter()
    logp = log_probs if log_probs is not None else byte_log_probs(engine, docs, reset_every)
    sums = np.zeros((len(KINDS), len(BUCKETS)))
    counts = np.zeros((len(KINDS), len(BUCKETS)), np.int64)
    for index, doc in enumerate(docs):
        for target in find_targets(doc, index):
            kind, bucket = KINDS.index(target.kind), bucket_of(target.distance)
            sums[kind, bucket] += np.exp(logp[index][target.position])
            counts[kind, bucket] += 1
    rows = []
    for bucket, limits in enumerate(BUCKETS):
        count = int(counts[:, bucket].sum())
        rows.append({
            "bucket": bucket_label(limits), "low": limits[0], "high": limits[1], "count": count,
            "mean_p": float(sums[:, bucket].sum() / count) if count else None,
            "by_kind": {kind: {"count": int(counts[k, bucket]),
                               "mean_p": float(sums[k, bucket] / counts[k, bucket]) if counts[k, bucket] else None}
                        for k, kind in enumerate(KINDS)},
        })
    return {"bytes": sum(len(d) for d in docs), "reset_every": reset_every, "buckets": rows,
            "seconds": time.perf_counter() - started}


def probe(engine: Engine, documents: Sequence, max_bytes: int | None = None,
          resets: Sequence[int | None] = RESETS) -> dict:
    """Both probes, reading the text once per reset (the distance probe reuses the never-reset pass)."""
    docs = truncate(as_documents(documents), max_bytes)
    started = time.perf_counter()
    context, never = _context(engine, docs, resets)
    distance = distance_probe(engine, docs, log_probs=never)
    return {"context": context, "distance": distance, "seconds": time.perf_counter() - started}
