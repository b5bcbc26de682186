"""What every benchmark and test shares: the repository root and where the shared recordings are."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# $VOXPRINT_DATA, else the shared data folder beside the checkout (../shared/data), as tests and CI use it
DATA = Path(os.environ.get("VOXPRINT_DATA") or REPO.parent / "shared" / "data")
