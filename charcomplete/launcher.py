"""The `charcomplete` entry point: a switch that keeps the pipe's start-up small.

`charcomplete complete` is what shells and editors call per suggestion, so it goes to the
typer-free pipe module; every other command goes to the typer application."""

from __future__ import annotations

import os
import sys


def main() -> None:
    args = sys.argv[1:]
    if args[:1] != ["complete"]:
        from charcomplete.cli import main as cli_main

        cli_main()
        return
    from charcomplete.errors import CharcompleteError

    try:
        from charcomplete import pipe

        pipe.main(args[1:])
    except CharcompleteError as error:
        print(f"charcomplete: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        # The reader went away (`| head -c 1`): nothing left to say to it.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)


if __name__ == "__main__":
    main()
