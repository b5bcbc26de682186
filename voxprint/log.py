"""Logging for the command line: progress and skip lines go to stderr through the `voxprint`
logger; library modules only call `logging.getLogger(__name__)`.

Results a command is asked for (predictions, tables) are printed to stdout by the CLI; the
log is for what happened on the way (a file skipped, a cell finished).
"""

from __future__ import annotations

import logging
import sys

_reported: set[str] = set()  # paths with a skip line in this command


class _Stderr(logging.StreamHandler):
    """A handler that writes to whatever sys.stderr is at the time of the record (so that
    redirection set up after start-up, as pytest's capture does, is honoured)."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


def setup(level: int = logging.INFO, fmt: str = "%(message)s") -> None:
    """Send `voxprint.*` records to stderr, one line each in `fmt` (plain by default), and start a
    command's own record of reported skips (see `skip_once`). Idempotent otherwise."""
    _reported.clear()
    root = logging.getLogger("voxprint")
    root.setLevel(level)
    handler = next((h for h in root.handlers if isinstance(h, _Stderr)), None)
    if handler is None:
        handler = _Stderr()
        root.addHandler(handler)
    handler.setFormatter(logging.Formatter(fmt))


def skip_once(logger: logging.Logger, path: str, reason: str) -> None:
    """Log `skip: PATH: reason` the first time PATH is skipped in this process only: a run loads the
    same files again later (the unseen-speaker study re-reads the run's data, once per seed), and
    one line per bad file is enough."""
    if path not in _reported:
        _reported.add(path)
        logger.warning(f"skip: {path}: {reason}")


def interactive() -> bool:
    """True when stderr is a terminal: progress bars redraw in place; otherwise (a pipe, a log
    file, CI) progress is one line per finished epoch or run."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False
