"""The terminal editor (Textual): ghost-text suggestions and a background learner.

Importing this package imports textual; the CLI does so only inside `charcomplete edit`."""

from charcomplete.editor.app import EditorApp
from charcomplete.editor.reading import read_document

__all__ = ["EditorApp", "read_document"]
