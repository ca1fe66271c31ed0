"""Errors that mean "the user's input is wrong": the CLI prints them as one sentence."""


class CharcompleteError(Exception):
    """A problem the user can fix; its message is one clear sentence."""


class ModelError(CharcompleteError):
    """A model is missing, unreadable, or not a charcomplete model."""


class CorpusError(CharcompleteError):
    """The text to learn from is missing or unusable."""


class LockBusyError(CharcompleteError):
    """Another process is writing the same model."""
