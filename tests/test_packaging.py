"""What a non-editable install (`pip install .`, a wheel) carries: the package data patterns
in pyproject.toml must take every file the package reads at run time."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "charcomplete"


def test_the_built_in_models_files_are_all_package_data() -> None:
    """heldout.txt was left out of the wheel: an installed learner then had no general text to
    check its publishes on (editable installs, the tests' own, hid it)."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = setuptools["package-data"]["charcomplete"]
    shipped = sorted(p.relative_to(PACKAGE).as_posix() for p in (PACKAGE / "default_model").iterdir() if p.is_file())
    assert "default_model/heldout.txt" in shipped and "default_model/meta.json" in shipped
    missing = [name for name in shipped if not any(fnmatch.fnmatch(name, pattern) for pattern in patterns)]
    assert not missing, f"left out of a non-editable install: {missing}"
