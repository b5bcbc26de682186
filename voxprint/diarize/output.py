"""What `voxprint diarize` and POST /v1/diarize answer: lines, JSON, RTTM files, a progress bar."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

from .pipeline import Diarization
from .rttm import write_rttm


def tsv_lines(path: str, result: Diarization) -> list[str]:
    """One `path<TAB>start<TAB>end<TAB>label` line per turn."""
    return [f"{path}\t{t.start:.2f}\t{t.end:.2f}\t{t.label}" for t in result.turns]


def as_dict(path: str, result: Diarization) -> dict:
    """JSON-ready: the turns, and per cluster its label, speech seconds and (with --identify) the
    best enrolled profile's name, raw score and calibrated LLR."""
    clusters = []
    for i, label in enumerate(result.labels):
        c = {"label": label, "seconds": round(result.seconds[i], 2)}
        if result.matches:
            m = result.matches[i]
            c.update(enrolled=m.name is not None, best=m.best, score=round(m.score, 4),
                     llr=None if m.llr is None else round(m.llr, 3))
        clusters.append(c)
    return {"path": path, "duration": round(result.duration, 3),
            "turns": [{"start": t.start, "end": t.end, "label": t.label} for t in result.turns],
            "speakers": clusters}


def rttm_path(folder: str | Path, path: str | Path) -> Path:
    """DIR/<file stem>.rttm."""
    return Path(folder) / f"{Path(path).stem}.rttm"


def save_rttm(folder: str | Path, path: str | Path, result: Diarization) -> Path:
    return write_rttm(rttm_path(folder, path), result.turns, Path(path).stem)


@contextmanager
def window_bar(name: str, enabled: bool | None = None):
    """(on_windows, progress) callbacks drawing a tqdm bar over a file's windows on stderr; silent
    unless stderr is a terminal (a log gets no bar lines)."""
    enabled = sys.stderr.isatty() if enabled is None else enabled
    if not enabled:
        yield None, None
        return
    from tqdm import tqdm

    holder: dict = {}

    def on_windows(n: int) -> None:
        holder["bar"] = tqdm(total=n, desc=Path(name).name, unit="win", file=sys.stderr, leave=False,
                             dynamic_ncols=True)

    def progress(n: int) -> None:
        holder["bar"].update(n)

    try:
        yield on_windows, progress
    finally:
        if "bar" in holder:
            holder["bar"].close()
