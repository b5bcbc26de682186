"""Padded copies of shared data subsets, for tests: known non-speech around every clip.

    from padded import padded_set
    root = padded_set(tmp_path, "fsdd", "silence", max_per_speaker=20)   # -> ROOT usable as --data

Or use the session fixture `padded` (tests/conftest.py), which builds each copy once per
test session: `padded("speeches5", "room", max_per_speaker=30, speakers=[...])`.
Kinds: "silence" (1.0 s of digital silence before and after every clip) and "room" (the
same 1.0 s, with a quiet recorded-noise bed at -55 dBFS under the whole padded clip, from
the evaluation part of noise/exercise_bike.wav). See voxprint/padding.py.
"""

from __future__ import annotations

from pathlib import Path

from conftest import shared_file

from voxprint.padding import padded_copy

SOURCES = {"fsdd": ("fsdd",), "speeches5": ("speeches5",)}


def padded_set(tmp: Path, name: str, kind: str, seconds: float = 1.0, max_per_speaker: int | None = None,
               speakers: list[str] | None = None, seed: int = 0) -> Path:
    """Write the padded copy of shared data set `name` under `tmp` and return its root."""
    src = shared_file(*SOURCES[name])
    tag = f"{name}-{kind}-{seconds:g}s-{max_per_speaker or 'all'}-{'_'.join(speakers or ['all'])}-{seed}"
    out = Path(tmp) / tag
    if not out.exists():
        padded_copy(src, out, kind, seconds, max_per_speaker=max_per_speaker, speakers=speakers, seed=seed,
                    noise_file=shared_file("noise", "exercise_bike.wav"))
    return out
