"""The model record: what a model's meta.json says, as one typed, validated value.

Every tool that makes or reads a model goes through `ModelMeta`: `train` plans one and
records its validations in it, the store fills in the file names and checksums when it
saves, the editor's learner adds what it learned, `models` prints it. Its fields are the
schema: `from_dict` checks a file's values against their annotations, so a damaged or
hostile meta.json is refused with one sentence at load instead of failing later with a
traceback. Keys this version does not know (`training_text`, a later version's fields)
are kept in `extra` and written back unchanged.

Nothing here imports torch or numpy."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone

from charcomplete.core.errors import ModelError

FORMAT_VERSION = 1
MAX_HISTORY = 2000  # history points kept in the record


def now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


@dataclass(frozen=True)
class ModelMeta:
    """A model's record. None means "not known" and is left out of meta.json."""

    format_version: int = FORMAT_VERSION
    name: str | None = None
    config: dict | None = None  # ModelConfig.to_dict(); parsed (and bounded) by the store
    parameters: int | None = None
    weights: str | None = None  # file names inside the model's folder, and their checksums
    weights_sha256: str | None = None
    optimizer: str | None = None
    optimizer_sha256: str | None = None
    created: str | None = None
    updated: str | None = None
    parent: str | None = None  # the model it was fine-tuned from
    steps: int = 0  # updates made in all
    trained_chars: int = 0
    editor_chars: int | None = None  # of those, characters learned in the editor
    best_val_bpc: float | None = None  # on the training run's own validation split
    heldout_bpc: float | None = None  # on the general held-out text shipped with the model
    heldout_baseline_bpc: float | None = None  # the same when the model was created: the bar publishes keep to
    user_heldout_bpc: float | None = None  # on the user's held-out text (editor learning)
    data_fingerprint: str | None = None
    lr: float | None = None  # the peak learning rate it was trained at: `train --resume` keeps its schedule
    # Where `train --resume` goes on from when a run went on past its best weights: that later
    # step's weights and optimizer state ({"step", "trained_chars", "weights", "weights_sha256",
    # "optimizer", "optimizer_sha256"}; store.load_resume_point checks it). None: from the best.
    resume: dict | None = None
    sources: list[str] = field(default_factory=list)  # folders and files it was trained on
    exclude: list[str] = field(default_factory=list)  # globs kept out of them
    history: list[dict] = field(default_factory=list)  # one point per validation or publish, oldest first
    extra: dict = field(default_factory=dict)  # keys this version does not know: written back as read

    # ------------------------------------------------------------ reading and writing

    @classmethod
    def from_dict(cls, data: Mapping, name: str) -> ModelMeta:
        """The record in `data` (a parsed meta.json), each known field checked against its
        type; ModelError names the first invalid field of model `name`."""
        known, extra = {}, {}
        for key, value in data.items():
            (known if key in _FIELD_TYPES else extra)[key] = value
        for key, value in known.items():
            if value is not None and not _is_a(value, _FIELD_TYPES[key]):
                raise ModelError(f"the metadata of model {name!r} has an invalid {key!r} field; the model is damaged")
        # null in the file means "not known": the field's default (an empty list, no steps yet)
        return cls(**{key: value for key, value in known.items() if value is not None}, extra=extra)

    def to_dict(self) -> dict:
        """meta.json's content: the known fields that are set, then the unknown ones as read."""
        record = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        return {**{key: value for key, value in record.items() if value is not None}, **self.extra}

    def __getitem__(self, key: str) -> object:
        """A key as meta.json holds it (KeyError where the file has none): for checks of the
        written record; code in the package reads the attributes."""
        return self.to_dict()[key]

    # ------------------------------------------------------------ the one way to add to it

    def record(self, point: dict | None = None, **changes: object) -> ModelMeta:
        """This record with `changes` made and `point` (a validation or a publish) appended to
        its history, which keeps the last MAX_HISTORY points."""
        history = [*self.history, point] if point is not None else list(self.history)
        return dataclasses.replace(self, **changes, history=history[-MAX_HISTORY:])

    def without_files(self) -> ModelMeta:
        """The descriptive record, without what a save fills in for its own files: the base a
        learner publishes from (a publish writes no optimizer file the old one named)."""
        return dataclasses.replace(self, optimizer=None, optimizer_sha256=None)


def check_format_version(version: object, name: str) -> None:
    """ModelError unless meta.json's "format_version" is one this charcomplete reads: a whole
    number from 1 to FORMAT_VERSION. A string ("1"), a fraction or a number below 1 is a damaged
    record, said as such; only a larger whole number means a newer charcomplete wrote it."""
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ModelError(
            f"the metadata of model {name!r} has an invalid 'format_version' field ({version!r}, "
            f"{_json_kind(version)}; it must be a whole number such as {FORMAT_VERSION}); the model is damaged"
        )
    if version > FORMAT_VERSION:
        raise ModelError(
            f"model {name!r} was written by a newer charcomplete (format {version!r}); upgrade charcomplete to use it"
        )


def _json_kind(value: object) -> str:
    """What a JSON value is, in words."""
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, float):
        return "a decimal number"
    if isinstance(value, int):
        return "below 1"
    if isinstance(value, (list, dict)):
        return "a list" if isinstance(value, list) else "an object"
    return "null" if value is None else "not a number"


def _is_a(value: object, hint: object) -> bool:
    """Whether a JSON value fits a field's annotation (bool is never a number; an int is a float)."""
    if isinstance(value, bool):
        return hint is bool
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_is_a(value, arm) for arm in typing.get_args(hint) if arm is not type(None))
    if origin is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(_is_a(element, item) for element in value)
    if hint is float:
        return isinstance(value, (int, float))
    return isinstance(value, origin or hint)


_FIELD_TYPES = {name: hint for name, hint in typing.get_type_hints(ModelMeta).items() if name != "extra"}
