"""Messages the editor's widgets and workers send to the app."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


@dataclass
class EngineSwapped(Message):
    """New weights are in use for suggestions (published by the learner, or another model chosen)."""

    name: str
    reason: str  # "learned" or "switched"

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, EngineSwapped) and message.reason == self.reason


@dataclass
class EngineLoadFailed(Message):
    """Loading weights for suggestions failed; the current ones stay in use."""

    name: str
    error: str
