"""The model store: one folder per model under the user data directory.

    models/<name>/meta.json                    what the model is (the commit point)
    models/<name>/weights-<gen>.safetensors    its weights, float32
    models/<name>/optim-<gen>.safetensors      optimizer state, for --resume (optional)
    models/<name>/latest-*-<gen>.safetensors   weights and optimizer state of a later step than the
                                               best, where --resume goes on from (optional)
    models/<name>/heldout.txt                  general text the model was never trained on (optional)
    models/<name>/.lock                        held by whoever writes the model

A save writes new generation files first and then replaces meta.json atomically, so
the pair on disk is always consistent: a crash leaves the old model or the new one.
Nothing here imports torch and nothing is ever unpickled."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from charcomplete.core.config import ModelConfig
from charcomplete.core.errors import CharcompleteError, ModelError
from charcomplete.core.paths import locations, private_dir
from charcomplete.storage import jsonsafe
from charcomplete.storage.atomic import FileLock, atomic_write_bytes, remove_stale_temps
from charcomplete.storage.meta import FORMAT_VERSION, ModelMeta, check_format_version, now_iso

DEFAULT_MODEL = "default"  # the model that ships inside the package
OWN_MODEL = "mine"  # the user's own model, which the editor's learner creates from the built-in one
HELDOUT_FILE = "heldout.txt"  # general held-out text shipped with a model: what a learner's publish is checked on
MAX_HELDOUT_BYTES = 65_536  # read at most this much of it (the built-in one is about 32 KB)
META_FILE = "meta.json"
MAX_META_BYTES = 8 * 1024 * 1024
MAX_TENSOR_HEADER_BYTES = 1024 * 1024  # a safetensors header beyond what the tensors need; ours take a few KB
MAX_SETTINGS_BYTES = 1024 * 1024  # the settings file holds a model name and a few patterns
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # used with fullmatch: "$" would accept a final newline


@dataclass
class LoadedModel:
    name: str
    folder: Path
    meta: ModelMeta
    config: ModelConfig
    weights: dict[str, np.ndarray] = field(repr=False)
    builtin: bool = False  # the packaged default model (read-only)

    @property
    def weights_file(self) -> Path:
        return self.folder / self.meta.weights


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name or ""):
        raise ModelError(
            f"{name!r} is not a valid model name: "
            "use up to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return name


def models_root() -> Path:
    return private_dir(locations().models)


def model_folder(name: str) -> Path:
    return models_root() / check_name(name)


def builtin_folder() -> Path:
    return Path(str(resources.files("charcomplete") / "default_model"))


def model_exists(name: str) -> bool:
    return (model_folder(name) / META_FILE).is_file()


def check_model_folder(folder: Path, name: str) -> Path:
    """Refuse a model folder that is a symbolic link: reading or writing through it would act
    on whatever it points at (a save removes other `*.safetensors` files in its folder)."""
    if folder.is_symlink():
        raise ModelError(f"the folder of model {name!r} ({folder}) is a symbolic link; charcomplete refuses to use it")
    return folder


def _model_file(folder: Path, file_name: object, name: str, what: str) -> Path:
    """The path of a file a model's metadata names, checked: a plain name inside the folder,
    not a link (charcomplete never makes links, so one is planted: refused)."""
    if not isinstance(file_name, str) or not file_name or "/" in file_name or "\\" in file_name \
            or file_name.startswith(".") or "\0" in file_name:
        raise ModelError(f"model {name!r} names no valid {what} file")
    path = folder / file_name
    if path.is_symlink():
        raise ModelError(f"the {what} file of model {name!r} is a symbolic link; charcomplete refuses to read it")
    return path


def lock_model(name: str, timeout: float = 0.0) -> FileLock:
    """Take the writer lock of model `name` (raises LockBusyError when another holds it)."""
    folder = private_dir(check_model_folder(model_folder(name), name))
    return FileLock(folder / ".lock", what=f"model {name!r}").acquire(timeout)


def unlock_model(lock: FileLock, name: str) -> None:
    """Release `lock` (from lock_model); a folder left holding nothing but the lock (a run that
    failed or stopped before saving anything) goes too, so no empty model is left behind.
    The lock file is removed while still held: FileLock.acquire notices a lock file that was
    removed under it, so a writer that was waiting takes a fresh one."""
    folder = model_folder(name)
    try:
        if {entry.name for entry in folder.iterdir()} <= {".lock"}:
            (folder / ".lock").unlink()
            folder.rmdir()
    except OSError:
        pass  # something else appeared, or it cannot be removed: it is kept, as before
    finally:
        lock.release()


# ---------------------------------------------------------------- reading


def _read_meta(folder: Path, name: str) -> ModelMeta:
    path = folder / META_FILE
    if path.is_symlink():
        raise ModelError(f"the metadata of model {name!r} is a symbolic link; charcomplete refuses to read it")
    if not path.is_file():
        raise ModelError(f"there is no model named {name!r} (see `charcomplete models`)")
    try:
        meta = jsonsafe.read_file(path, MAX_META_BYTES)
    except OSError as error:
        raise ModelError(f"the metadata of model {name!r} cannot be read ({error.strerror or error})") from None
    except jsonsafe.JSONRefused as error:  # deep nesting, huge integers, NaN: refused, not a traceback
        raise ModelError(f"the metadata of model {name!r} cannot be read ({error}); the model is damaged") from None
    if not isinstance(meta, dict) or "format_version" not in meta:
        raise ModelError(f"{path} is not a charcomplete model file")
    check_format_version(meta.get("format_version"), name)
    return ModelMeta.from_dict(meta, name)


def _config_of(meta: ModelMeta, name: str) -> ModelConfig:
    if meta.config is None:
        raise ModelError(f"model {name!r} has an invalid configuration: 'config'")  # the words of a missing key
    try:
        return ModelConfig.from_dict(meta.config)
    except (TypeError, ValueError) as error:
        raise ModelError(f"model {name!r} has an invalid configuration: {error}") from None


def read_tensor_file(
    path: Path, what: str, expected_sha256: str | None = None, max_bytes: int | None = None
) -> dict[str, np.ndarray]:
    """Parse a safetensors file without torch and without pickle.

    `max_bytes` bounds what is read: a file larger than its tensors can explain is refused
    without being read into memory."""
    from safetensors import SafetensorError
    from safetensors.numpy import load as load_safetensors

    try:
        with open(path, "rb") as handle:
            # The size is checked before anything is read: a sparse 3 GB file costs nothing to refuse.
            size = os.fstat(handle.fileno()).st_size
            if max_bytes is not None and size > max_bytes:
                raise ModelError(
                    f"{what} is larger than its configuration explains; the file is damaged or was replaced"
                )
            data = handle.read(size + 1)  # the size it has, not what it may have: a 1-byte file allocates 2 bytes
    except OSError as error:
        raise ModelError(f"cannot read {what} ({error.strerror or error})") from None
    if (max_bytes is not None and len(data) > max_bytes) or len(data) > size:
        raise ModelError(f"{what} grew while it was read; the file is damaged or was replaced")
    if _looks_like_pickle(data):
        raise ModelError(f"{what} is a pickle or torch.save file; charcomplete never loads those")
    if expected_sha256 is not None and hashlib.sha256(data).hexdigest() != expected_sha256:
        raise ModelError(f"{what} does not match its checksum; the file is damaged or was replaced")
    try:
        return load_safetensors(data)
    except (SafetensorError, ValueError, OverflowError, MemoryError) as error:
        raise ModelError(f"{what} is not a valid safetensors file ({str(error)[:80]})") from None


def _looks_like_pickle(data: bytes) -> bool:
    """A pickle (protocol 2 and later start with 0x80) or a torch.save zip, and not safetensors.

    A safetensors file opens with its header's length (8 bytes, little-endian) and then "{":
    a header of 128, 384, 640... bytes also makes the first byte 0x80 (a GRU 3x16 has one)."""
    if len(data) > 8 and data[8:9] == b"{" and int.from_bytes(data[:8], "little") <= len(data) - 8:
        return False
    return data[:1] == b"\x80" or data[:4] == b"PK\x03\x04"


def _check_weights(weights: dict[str, np.ndarray], config: ModelConfig, name: str) -> None:
    expected = config.weight_shapes()
    missing = sorted(set(expected) - set(weights))
    if missing:
        raise ModelError(f"model {name!r} lacks tensor {missing[0]}; the weights do not match its configuration")
    for key, shape in expected.items():
        array = weights[key]
        if tuple(array.shape) != shape:
            raise ModelError(f"tensor {key} of model {name!r} has shape {tuple(array.shape)}, expected {shape}")
        if array.dtype != np.float32:
            raise ModelError(f"tensor {key} of model {name!r} is {array.dtype}, expected float32")
        if not np.isfinite(array).all():
            raise ModelError(f"model {name!r} has NaN or infinite weights in {key}; it cannot be used")


def load_from_folder(folder: Path, name: str, builtin: bool = False) -> LoadedModel:
    before = _meta_stamp(folder)
    try:
        return _load_from_folder(folder, name, builtin)
    except ModelError:
        # A reader that raced a save can see the new meta.json's generation before its
        # own read of the old one finished; a second read sees one consistent pair. Only
        # then: a model refused as it stands is never read a second time.
        after = _meta_stamp(folder)
        if after is None or after == before:
            raise
        return _load_from_folder(folder, name, builtin)


def _meta_stamp(folder: Path) -> tuple[int, int, int] | None:
    """meta.json's identity: a save replaces it by rename, so a new save means a new inode."""
    try:
        info = os.lstat(folder / META_FILE)
    except OSError:
        return None
    return info.st_ino, info.st_size, info.st_mtime_ns


def _load_from_folder(folder: Path, name: str, builtin: bool) -> LoadedModel:
    if not builtin:
        check_model_folder(folder, name)
    meta = _read_meta(folder, name)
    config = _config_of(meta, name)
    weights_path = _model_file(folder, meta.weights, name, "weights")
    if not weights_path.is_file():
        raise ModelError(f"the weights of model {name!r} are missing ({weights_path})")
    weights = read_tensor_file(weights_path, f"the weights of model {name!r}", meta.weights_sha256,
                               max_bytes=4 * config.parameter_count() + MAX_TENSOR_HEADER_BYTES)
    _check_weights(weights, config, name)
    return LoadedModel(name, folder, meta, config, {k: weights[k] for k in config.weight_shapes()}, builtin)


def load_model(name: str | None = None) -> LoadedModel:
    """Load model `name`, or the one in use when None; 'default' falls back to the packaged one."""
    name = name or current_model_name()
    folder = model_folder(name)
    if name == DEFAULT_MODEL and not (folder / META_FILE).is_file():
        return load_from_folder(builtin_folder(), name, builtin=True)
    return load_from_folder(folder, name)


def load_meta(name: str) -> tuple[ModelMeta, Path, bool]:
    """Metadata only (cheap): (meta, folder, builtin)."""
    folder = model_folder(name)
    if name == DEFAULT_MODEL and not (folder / META_FILE).is_file():
        return _read_meta(builtin_folder(), name), builtin_folder(), True
    return _read_meta(check_model_folder(folder, name), name), folder, False


def builtin_meta() -> ModelMeta:
    """The packaged model's metadata, even where a user model named "default" hides it."""
    return _read_meta(builtin_folder(), DEFAULT_MODEL)


def load_optimizer_state(model: LoadedModel) -> dict[str, np.ndarray] | None:
    optim_name = model.meta.optimizer
    if not optim_name:
        return None
    path = _model_file(model.folder, optim_name, model.name, "optimizer state")  # inside the folder, like the weights
    if not path.is_file():
        return None
    # AdamW keeps two float32 moments per parameter (three with amsgrad) and a step count per tensor.
    return read_tensor_file(path, f"the optimizer state of model {model.name!r}", model.meta.optimizer_sha256,
                            max_bytes=12 * model.config.parameter_count() + MAX_TENSOR_HEADER_BYTES)


# ---------------------------------------------------------------- writing


def _tensor_bytes(tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> bytes:
    from safetensors.numpy import save

    return save({k: np.ascontiguousarray(v) for k, v in tensors.items()}, metadata=metadata)


@dataclass
class TrainingState:
    """A training run's weights and optimizer state at one step: where `train --resume` goes
    on from when the run went on past its best weights (which stay the model)."""

    weights: dict[str, np.ndarray]
    optimizer: dict[str, np.ndarray]
    step: int
    chars: int


def save_model(
    name: str,
    config: ModelConfig,
    weights: dict[str, np.ndarray],
    meta: ModelMeta | Mapping,
    optimizer: dict[str, np.ndarray] | None = None,
    folder: Path | None = None,
    latest: TrainingState | None = None,
) -> Path:
    """Write a model atomically; the caller holds the model's lock. Returns the folder.

    `meta` carries the descriptive fields (history, bpc, sources...), as a ModelMeta or
    as meta.json's keys (checked like a file's); the file names, checksums, config and
    format version are filled in here. `latest`, a later step than `weights`, is saved
    beside them for `--resume` (in the same commit); without it the model has none."""
    folder = private_dir(check_model_folder(folder or model_folder(name), name))
    _check_weights(weights, config, name)
    if not isinstance(meta, ModelMeta):
        meta = ModelMeta.from_dict(meta, name)
    generation = uuid.uuid4().hex[:12]
    old = _read_meta(folder, name) if (folder / META_FILE).is_file() else ModelMeta()

    weights_blob = _tensor_bytes(weights)
    weights_name = f"weights-{generation}.safetensors"
    new_files = [weights_name, f"optim-{generation}.safetensors"]
    try:
        atomic_write_bytes(folder / weights_name, weights_blob)
        resume = _write_latest(folder, latest, generation, config, name, new_files) if latest else None
        updated = now_iso()
        optim_blob = _tensor_bytes(optimizer) if optimizer is not None else None
        record = meta.record(
            format_version=FORMAT_VERSION,
            name=name,
            config=config.to_dict(),
            parameters=config.parameter_count(),
            weights=weights_name,
            weights_sha256=hashlib.sha256(weights_blob).hexdigest(),
            updated=updated,
            created=meta.created or old.created or updated,
            optimizer=f"optim-{generation}.safetensors" if optim_blob is not None else None,
            optimizer_sha256=hashlib.sha256(optim_blob).hexdigest() if optim_blob is not None else None,
            resume=resume,
        )
        if optim_blob is not None:
            atomic_write_bytes(folder / record.optimizer, optim_blob)
        # NaN or infinite figures (a validation that overflowed) are written as null: strict JSON.
        meta_blob = json.dumps(jsonsafe.finite(record.to_dict()), indent=1, allow_nan=False).encode()
        atomic_write_bytes(folder / META_FILE, meta_blob)  # the commit point
    except OSError:
        # Disk full, quota, permissions: meta.json was not replaced, so the old model stands.
        # Don't leave its would-be successor taking the space that just ran out.
        for leftover in new_files:
            try:
                (folder / leftover).unlink()
            except OSError:
                pass
        raise
    latest_files = (resume["weights"], resume["optimizer"]) if resume else ()
    _remove_old_generations(folder, keep={record.weights, record.optimizer, *latest_files})
    return folder


def _write_latest(folder: Path, latest: TrainingState, generation: str, config: ModelConfig, name: str,
                  written: list[str]) -> dict:
    """Write `latest`'s two files (their names appended to `written` first, for the clean-up
    of a failed save); returns the record's `resume` entry."""
    _check_weights(latest.weights, config, name)
    entry: dict = {"step": int(latest.step), "trained_chars": int(latest.chars)}
    for part, tensors in (("weights", latest.weights), ("optimizer", latest.optimizer)):
        blob = _tensor_bytes(tensors)
        file_name = f"latest-{part}-{generation}.safetensors"
        written.append(file_name)
        atomic_write_bytes(folder / file_name, blob)
        entry[part], entry[f"{part}_sha256"] = file_name, hashlib.sha256(blob).hexdigest()
    return entry


def load_resume_point(model: LoadedModel) -> TrainingState | None:
    """The later step `train --resume` goes on from, if the model records one past its best."""
    entry = model.meta.resume
    if not entry:
        return None
    fields = {"step": int, "trained_chars": int, "weights": str, "weights_sha256": str, "optimizer": str,
              "optimizer_sha256": str}
    if any(not isinstance(entry.get(key), kind) or isinstance(entry.get(key), bool) for key, kind in fields.items()):
        raise ModelError(f"the metadata of model {model.name!r} has an invalid 'resume' field; the model is damaged")
    if entry["step"] <= model.meta.steps:
        return None  # not past the best: the best is where it goes on from
    what = f"the latest training state of model {model.name!r}"
    params = model.config.parameter_count()
    weights = read_tensor_file(_model_file(model.folder, entry["weights"], model.name, what), what,
                               entry["weights_sha256"], max_bytes=4 * params + MAX_TENSOR_HEADER_BYTES)
    _check_weights(weights, model.config, model.name)
    optimizer = read_tensor_file(_model_file(model.folder, entry["optimizer"], model.name, what), what,
                                 entry["optimizer_sha256"], max_bytes=12 * params + MAX_TENSOR_HEADER_BYTES)
    return TrainingState(weights, optimizer, entry["step"], entry["trained_chars"])


def _remove_old_generations(folder: Path, keep: set) -> None:
    for entry in folder.iterdir():
        if entry.suffix == ".safetensors" and entry.name not in keep:
            try:
                entry.unlink()
            except OSError:
                pass  # a reader may still hold it on some platforms; it is removed next time
    # Writers hold the model's lock (see save_model), so any temp file here is a dead writer's, however young.
    remove_stale_temps(folder, older_than_s=0)


def remove_model(name: str) -> None:
    if name == DEFAULT_MODEL and not model_exists(name):
        raise ModelError("the built-in default model cannot be removed")
    folder = check_model_folder(model_folder(name), name)
    if not (folder / META_FILE).is_file():
        raise ModelError(f"there is no model named {name!r} (see `charcomplete models`)")
    shutil.rmtree(move_aside(folder), ignore_errors=True)
    if read_settings().get("model") == name:
        update_settings(model=None)


def move_aside(folder: Path, lock_timeout: float = 0.0) -> Path:
    """Under the model's writer lock, rename its folder to a hidden ".NAME.removing-..." one,
    which is returned for the caller to delete: one atomic step, so a model is there or gone,
    never half-deleted, and never taken from under a writer (LockBusyError when one holds it)."""
    with FileLock(folder / ".lock", what=f"model {folder.name!r}").acquire(lock_timeout):
        trash = folder.with_name(f".{folder.name}.removing-{time.time_ns()}")
        folder.rename(trash)
    return trash


def own_model_name(parent: str) -> str:
    """The name for the user's own model learned from `parent`: the first free one of
    `mine`, `<parent>-mine`, `<parent>-mine-2`, ... (an existing model is never taken over)."""
    candidates = [OWN_MODEL, f"{parent}-{OWN_MODEL}"]
    candidates += (f"{parent}-{OWN_MODEL}-{n}" for n in range(2, 1000))
    for name in candidates:
        if _NAME.match(name) and not model_folder(name).exists():
            return name
    raise ModelError(f"no free name for your own model learned from {parent!r}; remove some models")


def read_heldout(folder: Path) -> bytes | None:
    """The general held-out text shipped in a model's folder (at most MAX_HELDOUT_BYTES), or None."""
    path = folder / HELDOUT_FILE
    try:
        if path.is_symlink() or not path.is_file():
            return None  # a link could point anywhere: only the model's own file counts
        with open(path, "rb") as handle:
            data = handle.read(MAX_HELDOUT_BYTES)
    except OSError:
        return None
    return data if b"\0" not in data else None


def copy_heldout(source: Path, target: Path) -> None:
    """Give a model made from another (in `target`) the other's general held-out text, so that
    its later publishes are checked on the same text; the caller holds the target's lock."""
    data = read_heldout(source)
    if data is not None:
        atomic_write_bytes(target / HELDOUT_FILE, data)


def remove_if_unsaved(name: str) -> None:
    """Remove the folder of model `name` if it holds no model (only its lock, made by taking
    it); the caller holds that lock. A model deleted by `forget` must not come back as a folder."""
    folder = model_folder(name)
    if folder.is_dir() and not folder.is_symlink() and not (folder / META_FILE).exists():
        shutil.rmtree(folder, ignore_errors=True)


def list_model_names() -> list[str]:
    root = models_root()
    names = sorted(p.name for p in root.iterdir() if (p / META_FILE).is_file() and _NAME.fullmatch(p.name))
    if DEFAULT_MODEL not in names:
        names.insert(0, DEFAULT_MODEL)
    return names


# ---------------------------------------------------------------- settings


def read_settings() -> dict:
    path = locations().settings_file
    try:
        data = jsonsafe.read_file(path, MAX_SETTINGS_BYTES)
        return data if isinstance(data, dict) else {}
    except FileNotFoundError:
        return {}
    except (OSError, jsonsafe.JSONRefused):
        return {}  # a damaged settings file must never stop the tool; defaults apply


def exclude_patterns() -> list[str]:
    """The settings file's "exclude" globs: files `train` must never read, on top of --exclude.

    Unlike other settings, a damaged file is an error here: falling back to no patterns
    would feed the model exactly the files the user asked to keep out."""
    path = locations().settings_file
    try:
        settings = jsonsafe.read_file(path, MAX_SETTINGS_BYTES)
    except FileNotFoundError:
        return []
    except (OSError, jsonsafe.JSONRefused):
        settings = None
    patterns = settings.get("exclude", []) if isinstance(settings, dict) else None
    if not isinstance(patterns, list) or not all(isinstance(p, str) and p for p in patterns):
        raise CharcompleteError(
            f"the settings file {path} is damaged or its \"exclude\" is not a list of patterns; "
            "fix it so that train can honour it"
        )
    return patterns


def update_settings(**changes: object) -> dict:
    settings = read_settings()
    for key, value in changes.items():
        if value is None:
            settings.pop(key, None)
        else:
            settings[key] = value
    path = locations().settings_file
    private_dir(path.parent)
    atomic_write_bytes(path, json.dumps(settings, indent=1).encode())
    return settings


def current_model_name() -> str:
    name = read_settings().get("model")
    if isinstance(name, str) and _NAME.fullmatch(name) and (name == DEFAULT_MODEL or model_exists(name)):
        return name
    return DEFAULT_MODEL
