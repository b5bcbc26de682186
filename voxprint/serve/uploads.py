"""One uploaded audio file -> mono float32 at the model's rate, through voxprint.audio (the one reader).

Each upload is copied into a file in the server's private temporary folder under a name the server
picks; the client's file name is used only for messages (and its extension, if it is a known audio
one, as a decoding hint). The file is removed as soon as it is decoded.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import unicodedata
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

from ..audio import AUDIO_EXTENSIONS
from ..errors import AudioError
from .errors import ApiError


class Spool:
    """The private upload folder: mode 0700, made at start-up, removed with everything in it at shutdown."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="voxprint-serve-"))

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def shown_name(filename: str | None) -> str:
    """The client's file name made safe to echo in a one-line message."""
    base = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(c for c in base if unicodedata.category(c)[0] not in "CZ" or c == " ").strip()
    return (base[:80] or "upload").replace("'", "")


def _header_seconds(path: str) -> float | None:
    """Duration from the file header without decoding the samples; None when the header does not say."""
    try:
        info = sf.info(path)
    except Exception:
        return None
    return info.frames / info.samplerate if info.frames > 0 and info.samplerate > 0 else None


def decode(spool: Spool, fileobj, filename: str | None, load: Callable[[str], np.ndarray],
           sample_rate: int, max_seconds: float) -> np.ndarray:
    """Copy `fileobj` into the spool, check its length, decode it with `load` -> [samples] float32.

    ApiError 413 audio_too_long (from the header when it has one, before decoding) or 400 bad_audio.
    """
    shown = shown_name(filename)
    ext = os.path.splitext(shown)[1].lower()
    fd, path = tempfile.mkstemp(suffix=ext if ext in AUDIO_EXTENSIONS else "", dir=spool.dir)
    try:
        with os.fdopen(fd, "wb") as out:
            fileobj.seek(0)
            shutil.copyfileobj(fileobj, out, 1 << 20)
        seconds = _header_seconds(path)
        if seconds is not None and seconds > max_seconds:
            raise _too_long(shown, seconds, max_seconds)
        try:
            y = load(path)
        except AudioError as e:
            # The reason may quote the spool path (decoder messages do): show the client's name instead.
            raise ApiError(400, "bad_audio", f"{shown}: {e.reason.replace(path, shown)}") from None
        if len(y) / sample_rate > max_seconds:
            raise _too_long(shown, len(y) / sample_rate, max_seconds)
        return y
    finally:
        os.unlink(path)


def _too_long(shown: str, seconds: float, max_seconds: float) -> ApiError:
    return ApiError(413, "audio_too_long", f"{shown}: {seconds:.1f} s of audio; the limit is {max_seconds:g} s")
