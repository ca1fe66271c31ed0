"""`charcomplete` (no command) and `charcomplete edit [FILE]`: the terminal editor.

textual and the editor are imported inside the functions, so that the other commands
start without them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from charcomplete.cli import app, show_version
from charcomplete.core.errors import CharcompleteError


def _open_editor(path: Path | None, model: str | None, learn: bool) -> None:
    from charcomplete.editor import EditorApp, read_document
    from charcomplete.model.engine import Engine

    text = read_document(path) if path is not None else ""  # bad input: one sentence, before the screen changes
    engine = Engine.load(model)
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise CharcompleteError("the editor needs a terminal; to complete piped text, use `charcomplete complete`")
    EditorApp(path, engine, text=text, learn=learn, cache=learn).run()  # --no-learn: no cache either


@app.callback(invoke_without_command=True)
def scratch(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", is_eager=True, callback=show_version, help="Show the version and exit.")
    ] = False,
) -> None:
    """A terminal autocomplete that learns how you write. Run without a command to open the editor."""
    if ctx.invoked_subcommand is None:
        _open_editor(None, None, learn=True)


FileArg = Annotated[
    Path | None, typer.Argument(help="The file to edit (created on first save).", metavar="FILE", show_default=False)
]
ModelOption = Annotated[
    str | None, typer.Option("--model", "-m", help="Model to suggest with (default: the one in use).")
]
NoLearnOption = Annotated[bool, typer.Option("--no-learn", help="Do not learn from what you write in this session.")]


@app.command("edit")
def edit(file: FileArg = None, model: ModelOption = None, no_learn: NoLearnOption = False) -> None:
    """Edit a file with suggestions from your model, which keeps learning as you write."""
    _open_editor(file, model, learn=not no_learn)
