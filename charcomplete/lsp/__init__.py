"""`charcomplete lsp`: a language server that suggests as you type (LSP 3.18 inline
completion, and a completion item for clients without it).

- documents.py: open documents as lines, edited in place (no pygls workspace)
- models.py: a Completer and a typing cache per document, used from one model thread
- server.py: the pygls wiring, requests, commands, the background learner

pygls is imported only here, when the `lsp` command runs."""

from __future__ import annotations

import logging
import sys

from charcomplete.paths import locations, private_dir

LOG_NAME = "lsp.log"  # under the state folder: what the server logged in its last session


def run(settings) -> None:
    """Serve on stdin/stdout until the client says exit or goes away."""
    from charcomplete import store
    from charcomplete.engine import Engine
    from charcomplete.exclusions import Exclusions
    from charcomplete.lsp.server import CharcompleteLanguageServer

    exclusions = Exclusions.of([*store.exclude_patterns(), *settings.exclude])  # a damaged list: refuse to start
    engine = Engine.load(settings.model)
    _log_to_file()
    server = CharcompleteLanguageServer(engine, settings, exclusions)
    try:
        server.start_io(sys.stdin.buffer, sys.stdout.buffer)
    finally:
        server.close()


def _log_to_file() -> None:
    """pygls logs warnings (an unknown cancel id, a dropped message) through `logging`; stderr is
    the client's log window, so they go to a private file instead."""
    path = private_dir(locations().state) / LOG_NAME
    handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    path.chmod(0o600)
