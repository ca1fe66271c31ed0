"""The `charcomplete` command. Each sub-command lives in its own module and imports
its heavy dependencies (torch, textual) inside the function that runs it, so that
`charcomplete complete` starts in a fraction of the time `import torch` takes."""

from __future__ import annotations

import sys

import typer

from charcomplete.errors import CharcompleteError

app = typer.Typer(
    name="charcomplete",
    help="A terminal autocomplete that learns how you write. Run without a command to open the editor.",
    invoke_without_command=True,
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one sentence on stderr and return the Exit to raise."""
    print(f"charcomplete: {message}", file=sys.stderr)
    return typer.Exit(code)


# Sub-commands register themselves on `app` when imported.
from charcomplete.cli import compare as _compare  # noqa: E402,F401
from charcomplete.cli import complete as _complete  # noqa: E402,F401
from charcomplete.cli import edit as _edit  # noqa: E402,F401
from charcomplete.cli import eval as _eval  # noqa: E402,F401
from charcomplete.cli import forget as _forget  # noqa: E402,F401
from charcomplete.cli import lsp as _lsp  # noqa: E402,F401
from charcomplete.cli import models as _models  # noqa: E402,F401
from charcomplete.cli import serve as _serve  # noqa: E402,F401
from charcomplete.cli import train as _train  # noqa: E402,F401


def main() -> None:
    try:
        app()
    except CharcompleteError as error:
        print(f"charcomplete: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("charcomplete: interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        # The reader went away (`| head -c 1`): nothing left to say to it.
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)
