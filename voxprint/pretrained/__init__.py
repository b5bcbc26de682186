"""Weights that ship inside the package (each folder has its provenance and licence beside it)."""

from __future__ import annotations

from pathlib import Path

# The general speaker encoder: the default model of enroll / identify / verify / serve and Recognizer().
ENCODER_DIR = Path(__file__).parent / "encoder"
NOTICE = "NOTICE"  # the Apache-2.0 notice that weights derived from GE2E carry beside them


def ge2e_notice(changes: str) -> str:
    """The NOTICE text for a folder of weights derived from resemblyzer's GE2E: what was done to
    them (`changes`), then the Apache License 2.0 text that the shipped encoder's NOTICE holds."""
    shipped = (ENCODER_DIR / NOTICE).read_text(encoding="utf-8")
    licence = shipped[shipped.index("-" * 40):]
    return ("The weights in this folder are derived from the GE2E speaker encoder weights distributed in\n"
            "the Resemblyzer package, version 0.1.4 (resemblyzer/pretrained.pt), Copyright 2019 Resemble.AI,\n"
            "licensed under the Apache License, Version 2.0 (text below).\n\n"
            f"Changes made by voxprint: {changes}\n\n" + licence)


def write_notice(folder: str | Path, changes: str) -> None:
    """Write `folder`/NOTICE: every folder of GE2E-derived weights carries the Apache-2.0 notice."""
    from ..io import atomic_write_text

    atomic_write_text(Path(folder) / NOTICE, ge2e_notice(changes))
