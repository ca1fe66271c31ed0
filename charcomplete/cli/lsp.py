"""`charcomplete lsp`: the language server (pygls is imported only when it runs)."""

from __future__ import annotations

from typing import Annotated

import typer

from charcomplete.cli import app


@app.command("lsp")
def lsp(
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model to suggest with (default: the one in use).")]
    = None,
    no_learn: Annotated[bool, typer.Option("--no-learn", help="Neither count what is typed nor run the learner.")]
    = False,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", help="Glob of files to leave alone (repeatable), on top of the "
                                       "settings file's \"exclude\" list.")
    ] = None,
    stdio: Annotated[bool, typer.Option("--stdio", help="Talk over stdin/stdout (the only transport; accepted "
                                        "because editors pass it).")] = True,
) -> None:
    """A language server on stdio: inline completion (LSP 3.18) and a completion item, learning as you write."""
    from charcomplete.lsp import run
    from charcomplete.lsp.server import LspSettings

    run(LspSettings(model=model, learn=not no_learn, exclude=tuple(exclude or ())))
