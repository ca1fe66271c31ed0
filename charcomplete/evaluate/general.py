"""The one general figure `models` and `train` show for every model: bits per character on
the same general text (the built-in model's heldout.txt, about 32 KB of English prose and
code no model was trained on), for the weights as they are now.

Issue 26: `models` showed a figure recorded when a model was made (copied from its parent,
or measured by the editor's learner on other text) next to validation figures of different
texts; three minutes of `train` on narrow text made a model 0.39 bpc worse on general text
and the listing hid it. Here the figure is measured, never copied: on the same text for
every row, read from the document start in one stream as `charcomplete eval` reads a file
(so `eval heldout.txt` prints the same number), and kept in a small cache keyed by a digest
of the weights and of the text, so new weights (a `train`, a publish of the learner) are
measured again and unchanged ones cost nothing."""

from __future__ import annotations

import hashlib
import json

import numpy as np

from charcomplete.core.config import DOC_START, ModelConfig
from charcomplete.core.paths import locations, private_dir
from charcomplete.storage import jsonsafe, store
from charcomplete.storage.atomic import atomic_write_bytes

CACHE_FILE = "general-bpc.json"
MAX_CACHE_ENTRIES = 256  # weights measured, newest kept
MAX_CACHE_BYTES = 1024 * 1024
SEQ_LEN = 512
# The built-in model's figure, measured once (it never changes; `models` in a fresh home
# would otherwise spend 10-30 s on it). Keyed as the cache is: new built-in weights or a new
# heldout.txt miss it and are measured.
KNOWN = {"4bc9d60c73d404aa235aad9e528d99f7:b8c2054d492f5cc3": 1.684963372227805}


def general_text() -> bytes | None:
    """The general held-out text every model is measured on (None when the package has none)."""
    return store.read_heldout(store.builtin_folder())


def describe_text(text: bytes) -> str:
    return f"the built-in model's {store.HELDOUT_FILE}, {len(text):,} bytes of general text"


def weights_digest(weights: dict[str, np.ndarray]) -> str:
    """A digest of the weights' values (names, shapes and bytes): what the figure belongs to."""
    digest = hashlib.sha256()
    for name in sorted(weights):
        array = np.ascontiguousarray(weights[name])
        digest.update(f"{name}:{array.dtype}:{array.shape};".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()[:32]


def cached_bpc(weights: dict[str, np.ndarray], text: bytes | None = None) -> float | None:
    """The figure when it has been measured for these weights, without measuring."""
    text = general_text() if text is None else text
    if text is None:
        return None
    key = _key(weights, text)
    value = KNOWN.get(key, _read_cache().get(key))
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def general_bpc(config: ModelConfig, weights: dict[str, np.ndarray], threads: int | None = None) -> float | None:
    """Bits per character of these weights on the general text (None when there is none)."""
    text = general_text()
    if text is None:
        return None
    known = cached_bpc(weights, text)
    if known is not None:
        return known
    bpc = _measure(config, weights, text, threads)
    cache = _read_cache()
    cache[_key(weights, text)] = bpc
    _write_cache(dict(list(cache.items())[-MAX_CACHE_ENTRIES:]))
    return bpc


def _measure(config: ModelConfig, weights: dict[str, np.ndarray], text: bytes, threads: int | None) -> float:
    import torch

    from charcomplete.learn.training import Trainer, pick_threads

    torch.set_num_threads(pick_threads(threads))
    data = np.frombuffer(bytes([DOC_START]) + text, dtype=np.uint8)
    with torch.inference_mode():
        # One lane from the document start: the figure `charcomplete eval` gives for the file.
        return float(Trainer(config, weights).evaluate(data, seq_len=SEQ_LEN, lanes=1))


def _key(weights: dict[str, np.ndarray], text: bytes) -> str:
    return f"{weights_digest(weights)}:{hashlib.sha256(text).hexdigest()[:16]}"


def _read_cache() -> dict:
    try:
        record = jsonsafe.read_file(locations().cache / CACHE_FILE, MAX_CACHE_BYTES)
    except (OSError, jsonsafe.JSONRefused):
        return {}  # missing or damaged: measured again
    return record if isinstance(record, dict) else {}


def _write_cache(cache: dict) -> None:
    path = locations().cache / CACHE_FILE
    try:
        private_dir(path.parent)
        atomic_write_bytes(path, json.dumps(cache).encode("utf-8"))
    except OSError:
        pass  # a cache: measured again next time
