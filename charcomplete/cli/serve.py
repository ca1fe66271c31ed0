"""`charcomplete serve` (the resident server for shells) and `charcomplete init SHELL`
(the snippet a shell evaluates at start)."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from charcomplete.cli import app
from charcomplete.core.errors import CharcompleteError

SHELLS = ("zsh", "bash", "fish")


@app.command("serve")
def serve(
    model: Annotated[str, typer.Option("--model", "-m", help="Model to suggest with (made from the built-in one "
                                       "on first use when it is 'shell').")] = "shell",
    idle_exit: Annotated[float, typer.Option("--idle-exit", min=0.5, help="Exit after this many seconds without "
                                             "requests.")] = 1800.0,
    no_learn: Annotated[bool, typer.Option("--no-learn", help="Learn nothing from the commands run.")] = False,
    no_learner: Annotated[bool, typer.Option("--no-learner", help="Keep the history, but do not fine-tune the "
                                             "model in the background.")] = False,
    detach: Annotated[bool, typer.Option("--detach", help="Run in the background, detached from the terminal "
                                         "(what the shell snippets do).")] = False,
    ask: Annotated[str | None, typer.Option("--ask", help="Print the server's completion of this text (starting "
                                            "a server when none runs) and exit.")] = None,
    status: Annotated[bool, typer.Option("--status", help="Say whether a server runs, and what it serves.")] = False,
) -> None:
    """A resident suggestion server for shells, on a private Unix socket (the `complete --lines` protocol)."""
    from charcomplete.shell import server as serving

    if ask is not None:
        completion = serving.ask(ask)
        if completion:
            sys.stdout.write(completion)
        return
    if status:
        answer = serving.request({"status": True})
        if answer is None:
            raise CharcompleteError(f"no server is running (socket {serving.socket_path()})")
        print(" ".join(f"{key}={value}" for key, value in answer.items()))
        return
    settings = serving.ServeSettings(model=model, learn=not no_learn, learner=not no_learner, idle_exit_s=idle_exit)
    if detach:
        _detach()
    try:
        serving.serve(settings)
    except serving.AlreadyRunning as error:
        print(f"charcomplete: {error}", file=sys.stderr)


def _detach() -> None:
    """Fork; the parent returns to the shell at once, the child leaves the terminal's session and
    writes what it has to say to the log in the state folder."""
    from charcomplete.core.logs import open_log, stderr_to_capped_log
    from charcomplete.core.paths import locations, private_dir
    from charcomplete.shell.server import LOG_NAME

    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    log = open_log(private_dir(locations().state) / LOG_NAME)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.dup2(log, 2)
    os.close(devnull)
    os.close(log)
    stderr_to_capped_log(2)  # capped, and tracebacks without the text they were about


@app.command("init")
def init(
    shell: Annotated[str, typer.Argument(help="zsh, bash or fish.", show_default=False)],
    serve_arg: Annotated[list[str] | None, typer.Option("--serve-arg", help="An option for the server the snippet "
                                                        "starts, e.g. --serve-arg=--no-learner (repeatable).")] = None,
) -> None:
    """Print the snippet for your shell: eval "$(charcomplete init zsh)" (fish: charcomplete init fish | source)."""
    import shlex
    from importlib import resources

    from charcomplete.core.selfrun import python_module_command
    from charcomplete.shell.server import socket_path

    if shell not in SHELLS:
        raise CharcompleteError(f"no snippet for {shell!r}; choose one of {', '.join(SHELLS)}")
    template = resources.files("charcomplete.shell").joinpath(f"init.{shell}").read_text(encoding="utf-8")
    command = " ".join(shlex.quote(part) for part in python_module_command())
    text = template.replace("@COMMAND@", command).replace("@SOCKET@", shlex.quote(str(socket_path())))
    text = text.replace("@SERVE_ARGS@", " ".join(shlex.quote(arg) for arg in serve_arg or ()))
    sys.stdout.write(text)
