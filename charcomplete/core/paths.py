"""Where charcomplete keeps things: the platform's user directories, or one folder
named by CHARCOMPLETE_HOME (tests, portable installs)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

HOME_ENV = "CHARCOMPLETE_HOME"
APP_NAME = "charcomplete"


@dataclass(frozen=True)
class Locations:
    data: Path  # models
    cache: Path  # corpus caches
    config: Path  # settings
    state: Path  # editor journals (crash recovery)

    @property
    def models(self) -> Path:
        return self.data / "models"

    @property
    def settings_file(self) -> Path:
        return self.config / "settings.json"

    @property
    def journals(self) -> Path:
        return self.state / "journals"


# What the folders depend on: a resident server asks before every answer (has `forget` run?), and
# working them out again took 0.1 ms of each request; they change only with these variables.
_LOCATION_ENV = (HOME_ENV, "HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME")
_located: tuple[tuple, Locations] | None = None


def locations() -> Locations:
    global _located
    key = tuple(os.environ.get(name) for name in _LOCATION_ENV)
    if key[0] and not os.path.isabs(os.path.expanduser(key[0])):
        key += (os.getcwd(),)  # a relative home is relative to where we are
    if _located is not None and _located[0] == key:
        return _located[1]
    home = os.environ.get(HOME_ENV)
    if home:
        base = Path(home).expanduser().absolute()
        found = Locations(base / "data", base / "cache", base / "config", base / "state")
    else:
        import platformdirs  # small, but only needed when no override is set

        dirs = platformdirs.PlatformDirs(APP_NAME, appauthor=False)
        found = Locations(Path(dirs.user_data_dir), Path(dirs.user_cache_dir), Path(dirs.user_config_dir),
                          Path(dirs.user_state_dir))
    _located = (key, found)
    return found


def private_dir(path: Path) -> Path:
    """Create `path` (and missing parents) readable by the user alone, whatever the umask; return it.

    `mkdir(parents=True)` would create the parents with the umask's permissions (0777 under
    umask 000), and even `mode` passes through the umask, so each new folder is chmod-ed."""
    missing = []
    folder = path
    while not folder.is_dir() and folder.parent != folder:
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            if folder.is_dir():
                continue  # made by another process meanwhile
            raise
        folder.chmod(0o700)
    return path
