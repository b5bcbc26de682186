"""Where voxprint keeps things on this machine: the one home of every default folder.

    data_home()         recordings: FSDD downloads, libri-dev/, noise/ ...   $VOXPRINT_DATA
    user_home()         a user's state for shipped models (profiles.db)      $VOXPRINT_HOME
    cache_dir("vad")    one disk cache's folder (None: caching is off)       $VOXPRINT_CACHE/<name>

An environment variable, when set, always wins (`~` expanded); VOXPRINT_CACHE=off turns every
cache off. Otherwise platformdirs gives the platform's folders - on Linux the XDG ones:
$XDG_CACHE_HOME/voxprint (~/.cache/voxprint) for data and caches, $XDG_DATA_HOME/voxprint
(~/.local/share/voxprint) for the user's state. Nothing here creates a folder.
"""

from __future__ import annotations

import os
from pathlib import Path

APP = "voxprint"
DATA_ENV, HOME_ENV, CACHE_ENV = "VOXPRINT_DATA", "VOXPRINT_HOME", "VOXPRINT_CACHE"
CACHE_OFF = "off"


def _env(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value).expanduser() if value else None


def data_home() -> Path:
    """$VOXPRINT_DATA, else the user cache folder: downloaded data can always be fetched again."""
    import platformdirs  # imported here: `voxprint identify` starts without it when the variable is set

    return _env(DATA_ENV) or Path(platformdirs.user_cache_dir(APP, appauthor=False))


def user_home() -> Path:
    """$VOXPRINT_HOME, else the user data folder (the package folder may be read-only)."""
    import platformdirs

    return _env(HOME_ENV) or Path(platformdirs.user_data_dir(APP, appauthor=False))


def cache_dir(name: str) -> Path | None:
    """Folder of the disk cache `name` (voxprint.cache.DiskCache): $VOXPRINT_CACHE/name, else the user
    cache folder's name/; None when VOXPRINT_CACHE is "off"."""
    if os.environ.get(CACHE_ENV) == CACHE_OFF:
        return None
    import platformdirs

    return (_env(CACHE_ENV) or Path(platformdirs.user_cache_dir(APP, appauthor=False))) / name
