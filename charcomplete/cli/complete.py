"""`charcomplete complete`, as listed by `charcomplete --help`.

The command itself lives in the typer-free `charcomplete.pipe.command`, and the launcher sends
`charcomplete complete ...` there directly; this entry only forwards when the typer
application is called another way (tests, `charcomplete.cli.app`)."""

from __future__ import annotations

import typer

from charcomplete.cli import app
from charcomplete.pipe.command import DESCRIPTION


@app.command(
    "complete",
    help=DESCRIPTION + " See `charcomplete complete --help` for its options.",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []},
)
def complete(ctx: typer.Context) -> None:
    from charcomplete.pipe import command as pipe

    pipe.main(list(ctx.args))
