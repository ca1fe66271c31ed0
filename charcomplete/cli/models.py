"""`charcomplete models ...` and `charcomplete paths`: look after the model store."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from charcomplete.cli import app, confirm_or_stop
from charcomplete.core.errors import ModelError
from charcomplete.core.paths import HOME_ENV, locations
from charcomplete.evaluate.plot import short_number
from charcomplete.storage import store

models_app = typer.Typer(help="List, inspect, remove and choose models.", invoke_without_command=True)
app.add_typer(models_app, name="models")


def _bpc(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) else "-"


def _count(value: object) -> str:
    return short_number(value) if isinstance(value, int) else "-"


@models_app.callback()
def list_models(ctx: typer.Context) -> None:
    """List the models: name, cell, parameters, general bpc, trained characters.

    "general bpc" is measured on the same general text for every row (the built-in model's
    heldout.txt), for the weights as they are now: measured again when they change."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.console import Console
    from rich.table import Table

    current = store.current_model_name()
    from charcomplete.evaluate import general

    table = Table(box=None, pad_edge=False)
    numeric = ("params", "general bpc", "trained chars")
    for column in ("", "name", "cell", *numeric, "updated"):
        # Names are never cut: they are what the user types next (`models use NAME`).
        table.add_column(column, justify="right" if column in numeric else "left", no_wrap=column in ("name", "cell"))
    for name, builtin_row in _rows():
        try:
            loaded = (store.load_from_folder(store.builtin_folder(), name, True) if builtin_row
                      else store.load_model(name))
            meta, builtin = loaded.meta, loaded.builtin
            config = meta.config or {}
            cell = f"{str(config.get('cell', '?')).upper()} {config.get('layers', '?')}x{config.get('hidden', '?')}"
            updated = (meta.updated or "-")[:16].replace("T", " ")
            label = f"{name} (built-in)" if builtin else name
            table.add_row(
                "*" if name == current and not builtin_row else "",
                label,
                cell,
                _count(meta.parameters),
                _bpc(_general_bpc(loaded)),
                _count(meta.trained_chars),
                updated,
            )
        except ModelError as error:
            table.add_row("*" if name == current else "", name, "damaged", "", "", "", str(error)[:40])
    # Into a pipe or a file, rows are not wrapped to an 80-column guess: a script reads them.
    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print(table)
    text = general.general_text()
    if text is not None:
        console.print(f"general bpc: bits per character on {general.describe_text(text)}, the same for every "
                      "model, for its weights as they are now (lower is better)", markup=False, highlight=False)


def _general_bpc(loaded) -> float | None:
    """The model's general figure; measuring new weights takes a while, so it says so on stderr."""
    from charcomplete.evaluate import general

    if general.cached_bpc(loaded.weights) is None and general.general_text() is not None:
        print(f"measuring {loaded.name!r} on the general held-out text (once for these weights)...",
              file=sys.stderr, flush=True)
    return general.general_bpc(loaded.config, loaded.weights)


def _rows() -> list[tuple[str, bool]]:
    """(name, is the built-in row): every model, and the built-in one even when a model of
    the user's named "default" (made by an older version's learner) hides it."""
    rows = [(name, False) for name in store.list_model_names()]
    if store.model_exists(store.DEFAULT_MODEL):
        rows.insert(0, (store.DEFAULT_MODEL, True))
    return rows


@models_app.command("info")
def info(
    name: Annotated[str, typer.Argument(help="Model name.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the full metadata as JSON.")] = False,
) -> None:
    """Show everything recorded about one model."""
    meta, folder, builtin = store.load_meta(name)
    loaded = store.load_from_folder(folder, name, builtin)  # also proves the weights load
    general_figure = _general_bpc(loaded)
    if as_json:
        in_use = store.current_model_name() == name
        print(json.dumps({**meta.to_dict(), "general_bpc": general_figure, "folder": str(folder), "builtin": builtin,
                          "in_use": in_use}, indent=1))
        return
    config = store.ModelConfig.from_dict(meta.config)
    rows = [
        ("name", name + (" (built-in)" if builtin else "")),
        ("folder", str(folder)),
        ("cell", f"{config.describe()}, embedding {config.embed}, dropout {config.dropout}"),
        ("parameters", f"{meta.parameters or config.parameter_count():,}"),
        ("general bpc", f"{_bpc(general_figure)} (the same text for every model, as `models` lists)"),
        ("best validation bpc", f"{_bpc(meta.best_val_bpc)} (on its own training text's held-out documents)"),
        ("your held-out bpc", f"{_bpc(meta.user_heldout_bpc)} (held-out lines of what you edited, at the "
                              "editor's last publish)" if meta.user_heldout_bpc is not None else "-"),
        ("trained characters", f"{meta.trained_chars:,}"),
        ("steps", f"{meta.steps:,}"),
        ("sources", ", ".join(meta.sources) or "-"),
        ("memory", _memory(folder)),
        ("data fingerprint", meta.data_fingerprint or "-"),
        ("started from", meta.parent or "-"),
        ("created", meta.created or "-"),
        ("updated", meta.updated or "-"),
        ("history points", str(len(meta.history))),
    ]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")


def _memory(folder) -> str:
    """What the model remembers of the text it learned from (memory.py), in a few words."""
    from charcomplete.core.errors import ModelError
    from charcomplete.model import memory

    try:
        text = memory.read(folder)
    except ModelError as error:
        return str(error)
    if not text:
        return "none"
    return f"{len(text):,} bytes of the text it learned from ({memory.MEMORY_FILE})"


@models_app.command("rm")
def remove(
    name: Annotated[str, typer.Argument(help="Model name.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a model and everything learned in it."""
    store.load_meta(name)  # a clear error for an unknown name before asking anything
    if not yes:
        confirm_or_stop(f"Delete model {name!r} and everything it learned?")
    store.remove_model(name)
    print(f"removed model {name!r}")


@models_app.command("use")
def use(name: Annotated[str, typer.Argument(help="Model name.")]) -> None:
    """Choose the model the editor and `complete` use by default."""
    meta, folder, builtin = store.load_meta(name)
    store.load_from_folder(folder, name, builtin)
    store.update_settings(model=name)
    print(f"now using model {name!r}")


@app.command("paths")
def paths() -> None:
    """Show where charcomplete keeps models, caches, settings, journals, logs and the shell socket."""
    import os

    from charcomplete.shell.server import socket_path

    where = locations()
    rows = [
        ("models", where.models),
        ("cache", where.cache),
        ("settings", where.settings_file),
        ("state", f"{where.state} (learner.log, serve.log, lsp.log)"),
        ("journals", where.journals),
        ("shell socket", socket_path()),
        ("built-in model", store.builtin_folder()),
    ]
    for label, path in rows:
        print(f"{label:<15} {path}")
    if os.environ.get(HOME_ENV):
        print(f"(all under {HOME_ENV}={os.environ[HOME_ENV]}, but the built-in model)")
    else:
        print(f"(set {HOME_ENV} to keep everything under one folder)")
