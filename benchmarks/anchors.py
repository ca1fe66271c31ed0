"""Compressors as anchors for a model's bits per character (issue 23.4).

A model that adapts to the user's text must beat what a classic adaptive text compressor
does with the same text: PPMd (var.H, order 24, as 7-Zip's PPMd; `pyppmd`) reading the
scored text cold, and conditional on the training text the model was given (compress
training + scored, subtract the training text alone: what the scored text costs a
compressor that has read the training text first), and xz (LZMA, preset 9e) the same two ways.
Bits per byte of the scored text."""

from __future__ import annotations

import lzma

PPMD_ORDER = 24
PPMD_MEMORY = 256 << 20  # bytes of model memory: more than a 50 MB text fills at order 24 in a pass
XZ_PRESET = 9 | lzma.PRESET_EXTREME


def ppmd_bytes(data: bytes, order: int = PPMD_ORDER) -> int:
    import pyppmd

    encoder = pyppmd.Ppmd7Encoder(order, PPMD_MEMORY)
    return len(encoder.encode(data) + encoder.flush())


def xz_bytes(data: bytes) -> int:
    return len(lzma.compress(data, preset=XZ_PRESET))


def anchors(text: bytes, training: bytes = b"") -> dict[str, float]:
    """Bits per byte of `text`: ppmd and xz read cold, and (with `training`) conditional on it."""
    bits = 8.0 / max(1, len(text))
    out = {"ppmd": ppmd_bytes(text) * bits, "xz": xz_bytes(text) * bits}
    if training:
        out["ppmd_conditional"] = (ppmd_bytes(training + text) - ppmd_bytes(training)) * bits
        out["xz_conditional"] = (xz_bytes(training + text) - xz_bytes(training)) * bits
    return out
