"""The online adaptation every surface's session and `eval --adapt` share: its settings (torch-free,
so a surface can read them without importing torch) and the factory of `adapt.OnlineWeights`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from charcomplete.learn.adapt import OnlineWeights

# The online defaults every surface's session and `eval --adapt` share (chosen on a dev slice
# of the notes benchmark; evaluate.evaluation.AdaptSettings has the figures).
ONLINE_CHUNK = 32  # bytes between two gradient steps
ONLINE_LR = 0.1  # SGD
ONLINE_OPTIMIZER = "sgd"
ONLINE_DECAY = 0.01  # pulled back towards the starting weights by this share after each step


def online_weights(name: str, background: bool = True, threads: int | None = 1) -> OnlineWeights:
    """Online weights for model `name` with the shared defaults (torch is imported here: call it
    off the keystroke path)."""
    from charcomplete.learn.adapt import OnlineAdapter, OnlineWeights  # torch
    from charcomplete.storage import store

    loaded = store.load_model(name)
    adapter = OnlineAdapter(loaded.config, loaded.weights, lr=ONLINE_LR, optimizer=ONLINE_OPTIMIZER,
                            decay=ONLINE_DECAY, threads=threads)
    return OnlineWeights(adapter, ONLINE_CHUNK, background=background, name=loaded.name)
