"""Turns <-> NIST RTTM (`SPEAKER <file> 1 <start> <duration> <NA> <NA> <label> <NA> <NA>`)."""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError
from ..io import atomic_write_text
from .turns import Turn


def to_rttm(turns: list[Turn], uri: str) -> str:
    """RTTM text, one SPEAKER line per turn, times in seconds to the millisecond. A label holding
    whitespace (an enrolled name may) has it replaced by '_': RTTM fields are split on whitespace."""
    lines = []
    for t in turns:
        label = "_".join(t.label.split())
        lines.append(f"SPEAKER {uri} 1 {t.start:.3f} {t.end - t.start:.3f} <NA> <NA> {label} <NA> <NA>")
    return "".join(line + "\n" for line in lines)


def write_rttm(path: str | Path, turns: list[Turn], uri: str | None = None) -> Path:
    """Write `turns` to `path` atomically; the file id is `uri` or the path's stem."""
    path = Path(path)
    atomic_write_text(path, to_rttm(turns, uri or path.stem))
    return path


def read_rttm(path: str | Path) -> dict[str, list[Turn]]:
    """{file id: turns sorted by start} of an RTTM file; a malformed SPEAKER line is one DataError
    naming the file and line."""
    out: dict[str, list[Turn]] = {}
    for i, line in enumerate(Path(path).read_text().splitlines(), 1):
        f = line.split()
        if not f or f[0] != "SPEAKER":
            continue
        try:
            start, dur = float(f[3]), float(f[4])
            label = f[7]
        except (IndexError, ValueError):
            raise DataError(f"{path}:{i}: not an RTTM SPEAKER line ({line.strip()[:80]})") from None
        if dur < 0 or start < 0:
            raise DataError(f"{path}:{i}: negative start or duration")
        out.setdefault(f[1], []).append(Turn(start, start + dur, label))
    return {k: sorted(v, key=lambda t: t.start) for k, v in out.items()}
