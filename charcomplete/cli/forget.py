"""`charcomplete forget`: delete what charcomplete learned from you.

`--model NAME` deletes chosen models; `--all` deletes every model you trained, the
editor's journals (copies of unsaved edits kept for crash recovery), the logs (the
learner's, the language server's and the shell server's), the cache, and the choice of
model in the settings. Running editors' learners are told first (a new forget generation,
see charcomplete.learn.learner): they drop what they hold and publish nothing more.
Your own files and folders, the other settings (such
as the "exclude" list) and the built-in default model that ships with the package are
never touched. A model another process is writing (`charcomplete train`, the editor's
learner) is left alone and named in the closing error."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer

from charcomplete.cli import app, confirm_or_stop
from charcomplete.core.errors import CharcompleteError, LockBusyError
from charcomplete.core.paths import locations
from charcomplete.learn.learner import log_path, new_forget_generation
from charcomplete.lsp import LOG_NAME as LSP_LOG
from charcomplete.shell.server import LOG_NAME as SERVE_LOG
from charcomplete.storage import store

PUBLISH_WAIT_S = 5.0  # how long a model's lock is waited for: a learner's publish takes well under a second


@app.command("forget")
def forget(
    model: Annotated[list[str] | None, typer.Option("--model", "-m", help="A model to delete (repeatable).")] = None,
    everything: Annotated[
        bool, typer.Option("--all", help="Delete every trained model, the editor's journals and the cache.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete what was learned from you: chosen models, or everything. Your documents are never touched."""
    if everything and model:
        raise CharcompleteError("use either --model NAME or --all, not both")
    if everything:
        _forget_everything(yes)
    elif model:
        _forget_models(list(dict.fromkeys(model)), yes)
    else:
        raise CharcompleteError("say what to forget: --model NAME (repeatable) or --all")


def _forget_models(names: list[str], yes: bool) -> None:
    for name in names:
        store.check_name(name)
        if not store.model_exists(name):
            if name == store.DEFAULT_MODEL:
                raise CharcompleteError("the built-in default model learned nothing from you and cannot be removed")
            raise CharcompleteError(f"there is no model named {name!r} (see `charcomplete models`)")
    listed = ", ".join(repr(name) for name in names)
    if not yes:
        confirm_or_stop(f"Delete model {listed} and everything it learned?")
    for name in names:
        store.remove_model(name)  # takes the model's lock: refuses while another process writes it
        print(f"removed model {name!r}")


def _forget_everything(yes: bool) -> None:
    where = locations()
    root = store.models_root()
    entries = sorted(root.iterdir())
    models = [entry.name for entry in entries
              if not entry.name.startswith(".") and not entry.is_symlink() and (entry / store.META_FILE).is_file()]
    journals = _count_files(where.journals)
    if not yes:
        print("This deletes, for good:")
        print(f"  {len(models)} trained model(s){': ' + ', '.join(models) if models else ''} in {root}")
        print(f"  {journals} editor journal(s) (unsaved edits kept for crash recovery) in {where.journals}")
        print(f"  the cache in {where.cache}, and the logs in {where.state} ({', '.join(p.name for p in _logs())})")
        print("Your documents, the other settings and the built-in default model are kept.")
        confirm_or_stop("Forget everything?")

    # First: a learner that publishes from now on would bring back what is being deleted. It checks
    # the generation under the model's lock, which it takes before creating anything, so listing
    # again now also finds a model a learner is creating: its lock is waited for, then it goes.
    new_forget_generation()
    busy = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith(".") or entry.is_symlink() or not entry.is_dir():
            _remove(entry)  # leftovers of an interrupted `models rm` (".NAME.removing-..."), stray files, links
            continue
        try:
            if (entry / ".lock").is_symlink():
                (entry / ".lock").unlink()  # a planted link: removed, never followed (its target is left alone)
            # A learner's publish holds the lock briefly; `train` holds it for the whole run.
            trash = store.move_aside(entry, lock_timeout=PUBLISH_WAIT_S)
        except LockBusyError:
            busy.append(entry.name)
            continue
        except OSError as error:
            raise CharcompleteError(f"could not delete {entry}: {error.strerror or error}") from None
        _remove(trash)
        if entry.name in models:
            print(f"removed model {entry.name!r}")
    if where.journals.exists() or where.journals.is_symlink():
        _remove(where.journals)
        print(f"removed {journals} editor journal(s) in {where.journals}")
    removed_logs = [log for log in _logs() if log.exists() or log.is_symlink()]
    for log in removed_logs:
        _remove(log)  # a running server's open log goes on in a file with no name, gone when it exits
    if removed_logs:
        print(f"removed the logs {', '.join(log.name for log in removed_logs)} in {where.state}")
    # The editor's online weights, handed over by its learner (a running learner's session ends
    # at this forget and takes its file with it; these are the files of a learner that was killed).
    from charcomplete.learn.online_remote import WEIGHTS_GLOB

    online = sorted(where.state.glob(WEIGHTS_GLOB)) if where.state.is_dir() else []
    for path in online:
        _remove(path)
    if online:
        print(f"removed {len(online)} file(s) of online weights in {where.state}")
    if where.cache.exists() or where.cache.is_symlink():
        _remove(where.cache)
        print(f"removed the cache in {where.cache}")
    if "model" in store.read_settings():
        store.update_settings(model=None)
        print("cleared the choice of model in the settings")
    if busy:
        listed = ", ".join(repr(name) for name in busy)
        raise CharcompleteError(
            f"model {listed} is being written by another charcomplete process; stop it and run forget again"
        )


def _logs() -> list[Path]:
    """The logs the resident processes keep in the state folder: the learner's, `lsp`'s, `serve`'s."""
    return [log_path(), locations().state / LSP_LOG, locations().state / SERVE_LOG]


def _count_files(folder: Path) -> int:
    try:
        return sum(1 for path in folder.rglob("*") if path.is_file())
    except OSError:
        return 0


def _remove(path: Path) -> None:
    """Delete a file or a folder tree; a link is removed, never followed."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    except OSError as error:
        raise CharcompleteError(f"could not delete {path}: {error.strerror or error}") from None
