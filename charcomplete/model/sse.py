"""Secondary symbol estimation (SSE): a last stage that learns how sure the typing cache's
mixed prediction should be (issue 23.2; an adaptive probability map, as in lpaq).

The mixer learns how far to trust each component, per bin; nothing checks that the mixture
itself is calibrated: that when it gives its likeliest byte 0.6 in some context, that byte
comes 6 times in 10. SSE measures it online and corrects it.

PAQ's APM works on binary decisions. A 256-byte prediction is binarised along its likeliest
bytes, as a binary coder would: "is it b1?", then "is it b2, given it is not b1?", ... for
`candidates` bytes. Each question's probability q goes through tables (APMs): one row per
context, `buckets` points spaced evenly in stretch(q) = ln(q / (1 - q)), interpolated between
the two nearest; a point holds what probability such a q has had in that context. The answer
is `weight` * the tables' mean + (1 - weight) * q (the input keeps a say where the tables have
seen little), and the bytes past the candidates keep their shares of the mass left.

Contexts (`SSESettings.contexts`): "bin", the mixer's bin without its memory and neural
splits (how much of the context the document's cache has seen, how often, and the match
length: `CacheEngine.sse_contexts`); "order1", the previous byte; "order2", the previous two
bytes, hashed to 4096 rows; "agree", how many of the mixer's components have the mixture's
likeliest byte as theirs (a linear mixture of components that agree is never surer than the
surest of them, though their agreement is evidence of its own). A step is an argmax of 256
and a few scalar look-ups per table and candidate."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

ORDER2_ROWS = 4096  # the hashed order-2 context's rows: 40 kB of text visits fewer than that
AGREE_ROWS = 8  # components agreeing with the mixture: 0..7 (the typing cache mixes at most 5)
CONTEXT_ROWS = {"order1": 256, "order2": ORDER2_ROWS, "agree": AGREE_ROWS}  # "bin": the engine's own count


# The defaults were chosen on the dev slices (`benchmarks/long_context.py`, the match+sse
# variants; figures in BENCHMARKS.md, "Quality against PPMd"): without "agree" or with weight 0.5
# 0.001-0.003 bpc worse; a second candidate, an order-2 table, weight 0.9, a slower or faster
# rate, 24 buckets, or the answer mixed in the stretch domain each within about 0.001.
@dataclass(frozen=True)
class SSESettings:
    candidates: int = 1  # likeliest bytes asked about, one binary question each
    contexts: tuple[str, ...] = ("bin", "order1", "agree")  # the tables' contexts, their outputs averaged
    weight: float = 0.75  # the tables' share of the answer, the input's is the rest
    rate: float = 0.02  # the slowest a table point learns (a newer one learns as a running mean)
    buckets: int = 33  # points per context row, over stretch(q) in [-LIMIT, LIMIT]
    # Updates a point starts as having seen at the identity. At 0 a point's first outcome moves it
    # 2/3 of the way, so a document's first misses in a bin cut the next guess there by half: a
    # name typed twice was no longer suggested whole the third time (tests/editor). 16 costs the
    # dev slices 0.0003-0.0012 bpc.
    prior: float = 16.0


LIMIT = 8.0  # stretch(q) is clipped to +-8: q in [3.4e-4, 0.99966]
Question = tuple[int, float, int, float, list[int]]  # (byte, q, lower point, upper share, each table's row)


class SSE:
    """Refines a 256-byte distribution along its likeliest bytes (see the module docstring):
    `questions` binarises it, `refine` answers them for any look-up (suggestions included),
    `learn` teaches the tables once the real byte is known.

    A table (an adaptive probability map) holds per context row `buckets` points spaced evenly
    in stretch(q); a point starts at the identity (its own q) and moves toward each outcome at
    a rate of 1 / (its updates + 1.5), never below `rate` (updates counted from `prior`). Every
    table interpolates at the same stretch(q), so a question finds its two points once and each
    table only its row. Python lists, not numpy: a step reads and writes a few scalars, which
    lists do 3x faster."""

    def __init__(self, settings: SSESettings, bins: int):
        """bins: how many values the "bin" context takes (the engine's)."""
        self.settings = settings
        for name in settings.contexts:
            if name not in ("bin", *CONTEXT_ROWS):
                raise ValueError(f"unknown SSE context {name!r}; choose bin, order1, order2 or agree")
        self.rows = [bins if name == "bin" else CONTEXT_ROWS[name] for name in settings.contexts]
        buckets = settings.buckets
        self.step = 2.0 * LIMIT / (buckets - 1)
        identity = [1.0 / (1.0 + math.exp(LIMIT - i * self.step)) for i in range(buckets)]
        # [table][context row][point]: each rank of candidate has rows of its own
        self.tables = [[list(identity) for _ in range(n * settings.candidates)] for n in self.rows]
        self.counts = [[[settings.prior] * buckets for _ in range(n * settings.candidates)] for n in self.rows]

    @property
    def wants_agreement(self) -> bool:
        return "agree" in self.settings.contexts

    def context_values(self, bin_: int, context: bytes, agree: int = 0) -> list[int]:
        """Each table's context row for a look-up after `context` (the text read) in `bin_`,
        `agree` components having the mixture's likeliest byte as theirs."""
        values = []
        for name in self.settings.contexts:
            if name == "bin":
                values.append(bin_)
            elif name == "order1":
                values.append(context[-1] if context else 0)
            elif name == "order2":
                values.append((int.from_bytes(context[-2:], "big") * 2654435761 >> 8) % ORDER2_ROWS)
            else:
                values.append(min(agree, AGREE_ROWS - 1))
        return values

    def questions(self, p: np.ndarray, contexts: list[int]) -> list[Question]:
        """p (256,) summing to 1, binarised: per candidate byte, the input's probability q of it
        given no earlier candidate came, the lower point and the upper one's share at stretch(q),
        and each table's row."""
        out, left = [], 1.0  # left: the input's mass not yet asked about
        last = self.settings.buckets - 2
        for rank, byte in enumerate(_likeliest(p, self.settings.candidates)):
            pb = float(p[byte])
            q = min(max(pb / left, 1e-9), 1.0 - 1e-9) if left > 1e-12 else 0.5
            s = math.log(q / (1.0 - q))
            x = ((LIMIT if s > LIMIT else -LIMIT if s < -LIMIT else s) + LIMIT) / self.step
            low = min(int(x), last)
            rows = [rank * n + context for n, context in zip(self.rows, contexts, strict=True)]
            out.append((byte, q, low, x - low, rows))
            left -= pb
        return out

    def refine(self, p: np.ndarray, questions: list[Question]) -> np.ndarray:
        """p (256,) summing to 1 and its `questions` -> the refined (256,), summing to 1 (as
        closely as p does: the candidates' answers and the rest's scale add up to 1)."""
        weight, tables = self.settings.weight, self.tables
        answers = []  # (candidate byte, its refined probability)
        left_in, left_out = 1.0, 1.0  # mass past the candidates asked about so far: input, refined
        for byte, q, low, share, rows in questions:
            total = 0.0
            for table, row in zip(tables, rows, strict=True):
                points = table[row]
                total += points[low] + (points[low + 1] - points[low]) * share
            answer = weight * total / len(rows) + (1.0 - weight) * q
            answers.append((byte, left_out * answer))
            left_in -= float(p[byte])
            left_out *= 1.0 - answer
        if left_in > 1e-12:  # the other bytes keep their shares of what is left
            out = p * (left_out / left_in)
        else:  # the input left them nothing (rounding): they share what is left evenly
            out = np.full_like(p, left_out / (len(p) - len(answers)))
        for byte, probability in answers:
            out[byte] = probability
        return out

    def learn(self, questions: list[Question], byte: int) -> None:
        """`byte` came after a look-up that asked `questions`: each question asked up to the one
        that named it (all of them if none did) learns its outcome; both points around its
        stretch(q) move toward it, each by its share."""
        slowest = self.settings.rate
        for candidate, _, low, share, rows in questions:
            target = 1.0 if candidate == byte else 0.0
            for table, counts, row in zip(self.tables, self.counts, rows, strict=True):
                points, seen = table[row], counts[row]
                for point, part in ((low, 1.0 - share), (low + 1, share)):
                    n = seen[point]
                    rate = 1.0 / (n + 1.5)
                    points[point] += part * (rate if rate > slowest else slowest) * (target - points[point])
                    seen[point] = n + part
            if target:
                return


def _likeliest(p: np.ndarray, k: int) -> list[int]:
    """The k likeliest bytes, likeliest first: k argmaxes (for a few, 4x cheaper than a sort of 256)."""
    if k == 1:
        return [int(p.argmax())]
    rest, top = p.copy(), []
    for _ in range(k):
        top.append(int(rest.argmax()))
        rest[top[-1]] = -1.0
    return top
