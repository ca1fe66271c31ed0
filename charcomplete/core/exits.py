"""How a command ends: one sentence on stderr and an exit status, never a traceback.

Whatever goes wrong with the user's input or with standard output (closed, a full disk, a
reader gone) is mapped here, for every surface that runs as a command."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from charcomplete.core.errors import CharcompleteError


def say(message: str) -> None:
    """One sentence to the user, on stderr."""
    print(f"charcomplete: {message}", file=sys.stderr)


@contextmanager
def exit_status(interrupted: str | None = "interrupted") -> Iterator[None]:
    """Map what escapes a command to its exit: a CharcompleteError is its sentence and 1,
    Ctrl-C is 130 (saying `interrupted`, when given), a reader gone is a quiet 0, any other
    OSError (mostly writing the output) one sentence and 1."""
    try:
        yield
    except CharcompleteError as error:
        say(str(error))
        sys.exit(1)
    except KeyboardInterrupt:
        if interrupted:
            say(interrupted)
        sys.exit(130)
    except BrokenPipeError:
        reader_gone()
    except OSError as error:
        output_failed(error)


def reader_gone() -> None:
    """The reader closed the pipe (`| head -c 1`): nothing left to say to it. Stop quietly,
    with stdout pointed at /dev/null so the flush at exit does not fail again."""
    _silence_stdout()
    raise SystemExit(0)


def output_failed(error: OSError) -> None:
    """An OSError nothing else caught: mostly writing the output (`> /dev/full`). One sentence,
    exit status 1, and stdout pointed at /dev/null so the flush at exit does not fail again."""
    _silence_stdout()
    reason = error.strerror or str(error)
    where = f"{error.filename}: " if error.filename else "cannot write the output: "
    say(f"{where}{reason}")
    sys.exit(1)


def _silence_stdout() -> None:
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass
