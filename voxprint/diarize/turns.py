"""A turn of speech: who spoke from when to when."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Turn:
    start: float  # seconds from the start of the recording
    end: float
    label: str  # "speaker-1", ... or an enrolled speaker's name

    def __iter__(self):  # unpacks as (start, end, label)
        return iter((self.start, self.end, self.label))

    def as_dict(self) -> dict:
        return asdict(self)
