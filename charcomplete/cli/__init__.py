"""The `charcomplete` command. Each sub-command lives in its own module and imports
its heavy dependencies (torch, textual) inside the function that runs it, so that
`charcomplete complete` starts in a fraction of the time `import torch` takes."""

from __future__ import annotations

import sys
from pathlib import PurePath
from typing import get_args, get_origin

import typer
from typer.core import TyperArgument, TyperGroup, TyperOption

from charcomplete.core.exits import exit_status, say

# ---------------------------------------------------------------- help that reads as words

# An option's value in the help, by option name, else by type: `--model NAME`, not `--model <str>`.
_OPTION_WORDS = {"model": "NAME", "from_model": "NAME", "arch": "CELL", "device": "DEVICE", "precision": "PRECISION",
                 "exclude": "GLOB", "png": "FILE", "minutes": "MINUTES", "epochs": "EPOCHS", "lr": "RATE",
                 "dropout": "RATE", "eval_every": "SECONDS", "val_fraction": "SHARE"}
_TYPE_WORDS = {int: "N", float: "NUMBER", str: "TEXT"}
_ARGUMENT_WORDS = {"paths": "PATH"}  # an argument's name -> the word for one value


class _WordArgument(TyperArgument):
    """An argument shown as a word, `PATH...` or `[FILE]`, rather than as code (`{paths}...`,
    `<list[Path]>`). It overrides typer's display hooks; another typer that lacks them
    falls back to its own display, never to an error."""

    def _word(self) -> str:
        word = self.metavar or _ARGUMENT_WORDS.get(self.name or "", (self.name or "value").upper())
        return word + ("..." if self.nargs != 1 else "")

    def _rich_display_name(self) -> str:
        return self._word()

    def _usage_display_name(self) -> str:
        return self._word() if self.required else f"[{self._word()}]"

    def display_type_rich(self, ctx) -> str | None:
        return None  # the word says it


def _readable(command) -> None:
    """Give every parameter of `command` (and of its sub-commands) a metavar that is a word."""
    for param in getattr(command, "params", []):
        if isinstance(param, TyperArgument) and not isinstance(param, _WordArgument):
            param.__class__ = _WordArgument  # a subclass that only changes how it is shown
        elif isinstance(param, TyperOption) and param.metavar is None and not (param.is_flag or param.count):
            annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
            if get_origin(annotation) is list:
                annotation = get_args(annotation)[0]
            word = _OPTION_WORDS.get(param.name or "") or _TYPE_WORDS.get(annotation)
            if word is None and isinstance(annotation, type) and issubclass(annotation, PurePath):
                word = "PATH"
            param.metavar = word or "VALUE"
    for sub in getattr(command, "commands", {}).values():
        _readable(sub)


class _Group(TyperGroup):
    """The top-level group: readable help for every command, built once with the group."""

    def __init__(self, **attrs):
        super().__init__(**attrs)
        _readable(self)


app = typer.Typer(
    name="charcomplete",
    help="A terminal autocomplete that learns how you write. Run without a command to open the editor.",
    invoke_without_command=True,
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    cls=_Group,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed_version

    try:
        return installed_version("charcomplete")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def show_version(asked: bool) -> None:
    """--version: print it and stop (an eager option, before any command runs)."""
    if asked:
        print(f"charcomplete {version()}")
        raise typer.Exit(0)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one sentence on stderr and return the Exit to raise: for an ending other than
    the ones `core.exits.exit_status` maps (a Ctrl-C with its own sentence)."""
    say(message)
    return typer.Exit(code)


def confirm_or_stop(question: str) -> None:
    """Ask `question` (default no); on no, say that nothing was deleted and end with success:
    declining is an answer, not a failure."""
    try:
        agreed = typer.confirm(question, default=False)
    except typer.Abort:  # no answer at all (end of input, Ctrl-C at the prompt): not a yes
        agreed = False
    if not agreed:
        print("Nothing was deleted.")
        raise typer.Exit(0)


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
    with exit_status():
        try:
            app()
        finally:
            if sys.stdout is not None and not sys.stdout.closed:  # (the language server closes it at exit)
                sys.stdout.flush()  # here, where a full disk can still be reported, not at exit
