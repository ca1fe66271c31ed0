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


@dataclass
class LearnerSaid(Message):
    """A message from a background learner (`learn.learner`), posted by its handle's reader thread."""

    learner: object  # the Learner handle that heard it: messages of one handed over are not the app's
    said: object  # a learn.learner message, or Exited when its process is gone
