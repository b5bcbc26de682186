"""Weights that ship inside the package (each folder has its provenance and licence beside it)."""

from pathlib import Path

# The general speaker encoder: the default model of enroll / identify / verify and Recognizer().
ENCODER_DIR = Path(__file__).parent / "encoder"
