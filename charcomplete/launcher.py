"""The `charcomplete` entry point: a switch that keeps the pipe's start-up small.

`charcomplete complete` is what shells and editors call per suggestion, so it goes to the
typer-free pipe module; every other command goes to the typer application.

Whatever happens to standard output (closed, a full disk, a reader gone), the user gets
one sentence on stderr rather than a traceback."""

from __future__ import annotations

import os
import sys


def main() -> None:
    if sys.stdout is None:  # started with stdout closed (`>&-`): answers would vanish
        print("charcomplete: standard output is closed; give it somewhere to write", file=sys.stderr)
        sys.exit(1)
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
    except OSError as error:
        output_failed(error)


def output_failed(error: OSError) -> None:
    """An OSError nothing else caught: mostly writing the output (`> /dev/full`). One sentence,
    exit status 1, and stdout pointed at /dev/null so the flush at exit does not fail again."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    reason = error.strerror or str(error)
    where = f"{error.filename}: " if error.filename else "cannot write the output: "
    print(f"charcomplete: {where}{reason}", file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
    main()
