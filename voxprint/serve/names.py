"""Speaker names that clients send: normalised and checked before they reach the store.

Names are data only: they are stored in SQLite and shown on the page, never joined to a path.
"""

from __future__ import annotations

import unicodedata

from .errors import ApiError

# Cc control, Cf format (zero-width joiners, bidi overrides), Cs surrogates, Co private use,
# Cn unassigned, Zl/Zp line and paragraph separators: invisible or ambiguous in a list of names.
_BANNED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
# '/' cannot be addressed in DELETE /v1/speakers/{name}; '\\' looks like a path on Windows.
_BANNED_CHARS = {"/", "\\"}


def clean_name(raw: str, max_len: int) -> str:
    """NFC-normalised `raw`, or ApiError(400, invalid_name) saying what is wrong with it.

    NFC makes 'José' typed as e + combining accent and as é the same speaker.
    """
    if not isinstance(raw, str):
        raise ApiError(400, "invalid_name", "speaker name must be text")
    name = unicodedata.normalize("NFC", raw)
    if not name.strip():
        raise ApiError(400, "invalid_name", "speaker name is empty")
    if name != name.strip():
        raise ApiError(400, "invalid_name", "speaker name has leading or trailing spaces")
    if len(name) > max_len:
        raise ApiError(400, "invalid_name", f"speaker name is longer than {max_len} characters")
    if name in (".", ".."):
        # Browsers resolve /v1/speakers/.. to /v1/ before sending it: such a name could never be deleted.
        raise ApiError(400, "invalid_name", f"speaker name cannot be {name!r}")
    for ch in name:
        if unicodedata.category(ch) in _BANNED_CATEGORIES:
            raise ApiError(400, "invalid_name", f"speaker name contains a control or invisible character (U+{ord(ch):04X})")
        if ch in _BANNED_CHARS:
            raise ApiError(400, "invalid_name", f"speaker name cannot contain {ch!r}")
    return name
