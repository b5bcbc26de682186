"""The server's limits, one dataclass so the CLI, the app and the tests agree on them."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Limits:
    """max_bytes: whole request body (413 while streaming, before any decoding).
    max_seconds: audio per uploaded file (413; read from the header before decoding where it has one).
    max_files: audio files in one enrolment. max_name: characters in a speaker name.
    workers: inference jobs at once (default: the cores this process may use).
    max_queue: requests waiting for a worker before new ones get 503 (bounded memory under overload).
    """

    max_bytes: int = 20_000_000
    max_seconds: float = 300.0
    max_files: int = 20
    max_name: int = 64
    workers: int = 0
    max_queue: int = 256

    def __post_init__(self):
        if self.workers <= 0:
            object.__setattr__(self, "workers", _cores())
        for key in ("max_bytes", "max_files", "max_name", "max_queue", "max_seconds"):
            v = getattr(self, key)
            if not (math.isfinite(v) and v > 0):  # nan would switch a limit off silently
                raise ValueError(f"{key} must be a positive finite number, got {v}")
