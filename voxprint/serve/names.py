"""Speaker names that clients send: normalised and checked before they reach the store.

Names are data only: they are stored in SQLite and shown on the page, never joined to a path.
"""

from __future__ import annotations

from ..errors import VoxprintError
from ..store import normalise_name
from .errors import ApiError

# '/' cannot be addressed in DELETE /v1/speakers/{name}; '\\' looks like a path on Windows.
_BANNED_CHARS = {"/", "\\"}


def clean_name(raw: str, max_len: int) -> str:
    """NFC-normalised `raw`, or ApiError(400, invalid_name) saying what is wrong with it: the store's
    rule (store.normalise_name: NFC, no control or invisible characters, no edge spaces, at most
    `max_len` characters), then what a URL path needs.
    """
    if not isinstance(raw, str):
        raise ApiError(400, "invalid_name", "speaker name must be text")
    try:
        name = normalise_name(raw, max_len)
    except VoxprintError as e:
        raise ApiError(400, "invalid_name", str(e)) from None
    if name in (".", ".."):
        # Browsers resolve /v1/speakers/.. to /v1/ before sending it: such a name could never be deleted.
        raise ApiError(400, "invalid_name", f"speaker name cannot be {name!r}")
    for ch in name:
        if ch in _BANNED_CHARS:
            raise ApiError(400, "invalid_name", f"speaker name cannot contain {ch!r}")
    return name
