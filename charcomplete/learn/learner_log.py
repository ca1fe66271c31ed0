"""The learner process's log: stdlib `logging`, one stamped line per event, to whatever
`sys.stderr` is when the line is written. In the learner process that is `learner.log` in the
state folder (capped and without document text: `core.logs`); in a test that runs a session in
a thread, it is the captured stderr. Each line is flushed as written, so that a process killed
mid-session leaves a log that says how far it got."""

from __future__ import annotations

import logging
import sys

LOGGER_NAME = "charcomplete.learner"


class _CurrentStderr(logging.StreamHandler):
    """A handler writing to `sys.stderr` as it is now, not as it was when the handler was made
    (the learner process replaces it with a capped log once it has started)."""

    def __init__(self):
        super().__init__()

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass  # always the current stderr


def _learner_logger() -> logging.Logger:
    logger = logging.getLogger(LOGGER_NAME)
    if not logger.handlers:
        handler = _CurrentStderr()
        handler.setFormatter(logging.Formatter("%(asctime)s [%(process)d] %(message)s", "%Y-%m-%d %H:%M:%S"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False  # the learner's own log only: a surface's logging set-up is not for it
    return logger


_logger = _learner_logger()


def log(text: str) -> None:
    """One line in the learner's log."""
    _logger.info("%s", text)
