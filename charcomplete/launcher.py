"""The `charcomplete` entry point: which surface runs a command.

`charcomplete complete` is what shells and editors call per suggestion, so it goes to the
typer-free pipe module; every other command goes to the typer application. Both run under
`core.exits.exit_status`: one sentence on stderr and an exit status, never a traceback.
This module is dispatch only: nothing imports it."""

from __future__ import annotations

import sys

from charcomplete.core.exits import exit_status, say


def main() -> None:
    if sys.stdout is None:  # started with stdout closed (`>&-`): answers would vanish
        say("standard output is closed; give it somewhere to write")
        sys.exit(1)
    args = sys.argv[1:]
    if args[:1] != ["complete"]:
        from charcomplete.cli import main as cli_main

        cli_main()
        return
    with exit_status(interrupted=None):  # a shell's Ctrl-C needs no sentence about it
        from charcomplete.pipe import command as pipe

        pipe.main(args[1:])


if __name__ == "__main__":
    main()
