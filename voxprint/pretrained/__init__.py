"""Weights that ship inside the package (each folder has its provenance and licence beside it),
and where a user's own state (enrolled profiles) lives for them."""

from __future__ import annotations

import os
from pathlib import Path

# The general speaker encoder: the default model of enroll / identify / verify / serve and Recognizer().
ENCODER_DIR = Path(__file__).parent / "encoder"


def user_home() -> Path:
    """Where voxprint keeps a user's state for shipped models (the package folder may be read-only):
    $VOXPRINT_HOME, else $XDG_DATA_HOME/voxprint, else ~/.local/share/voxprint (not created)."""
    if os.environ.get("VOXPRINT_HOME"):
        return Path(os.environ["VOXPRINT_HOME"]).expanduser()
    if os.environ.get("XDG_DATA_HOME"):
        return Path(os.environ["XDG_DATA_HOME"]).expanduser() / "voxprint"
    return Path.home() / ".local" / "share" / "voxprint"
