"""The default dataset (Free Spoken Digit Dataset): where it lives and how it gets there.

On first use FSDD is downloaded into the data home (``dirs.data_home()``: ``$VOXPRINT_DATA``, else
the user cache folder), extracted safely, verified
against a known digest and moved into place atomically. Later runs find the
recordings on disk and touch neither the network nor the digest.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import logging
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path, PurePosixPath

from .dirs import DATA_ENV, data_home
from .errors import DataError

log = logging.getLogger(__name__)


FSDD_URL = "https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/tags/v1.0.10.tar.gz"
# recordings_digest() of the 3000 recordings of FSDD release v1.0.10. It is a digest of the
# recordings rather than of the archive, because it does not depend on how the archive is
# compressed (GitHub regenerates tag tarballs, and their bytes have changed before).
FSDD_DIGEST = "8dac6ce326e419e9fcfadedf2e4a67d6c08a40968c34bb8fa2b4e27d74753d5a"

TIMEOUT_S = 30.0  # per socket operation (connect, each read)
_CHUNK = 1 << 20
_MARKER = ".verified"


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def recordings_digest(folder: Path) -> str:
    """sha256 over the *.wav files of ``folder``, sorted by name.

    Each file contributes the line ``"<file name>\\t<sha256 hex of its bytes>\\n"`` (UTF-8);
    the digest is the sha256 hex of the concatenation. Other files are ignored.
    """
    h = hashlib.sha256()
    files = sorted((p for p in Path(folder).glob("*.wav") if p.is_file()), key=lambda p: p.name)
    for p in files:
        h.update(f"{p.name}\t{_file_sha256(p)}\n".encode())
    return h.hexdigest()


def _has_wavs(folder: Path) -> bool:
    return folder.is_dir() and any(p.is_file() for p in folder.glob("*.wav"))


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _network_reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            return f"timed out after {TIMEOUT_S:g} s"
        return _one_line(reason) or type(reason).__name__
    if isinstance(exc, TimeoutError):
        return f"timed out after {TIMEOUT_S:g} s"
    return _one_line(exc) or type(exc).__name__


def _offline_error(target: Path, url: str, exc: BaseException) -> DataError:
    return DataError(
        _one_line(
            f"FSDD is not in {target} and could not be downloaded from {url} ({_network_reason(exc)}). "
            f"Download it on a machine with internet, or put the recordings (0_george_0.wav ...) "
            f"in {target}, or set {DATA_ENV}."
        )
    )


def _progress(url: str, total: int | None, quiet: bool):
    """A tqdm bar over the download's bytes (redrawn in place on a terminal; a few lines in a log)."""
    from tqdm import tqdm

    from .log import interactive

    if not quiet:
        log.info(f"Downloading FSDD from {url}")
    return tqdm(total=total, unit="B", unit_scale=True, desc="FSDD", disable=quiet, file=sys.stderr,
                mininterval=0.25 if interactive() else 10.0, leave=True)


def _download(url: str, dest: Path, target: Path, quiet: bool) -> None:
    """Stream ``url`` into ``dest``; any network failure becomes one-line DataError."""
    network_errors = (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError)
    try:
        resp = urllib.request.urlopen(url, timeout=TIMEOUT_S)
    except network_errors as exc:
        raise _offline_error(target, url, exc) from exc
    except (ValueError, OSError) as exc:  # malformed URL, unreachable network, ...
        raise _offline_error(target, url, exc) from exc
    length = resp.headers.get("Content-Length")
    total = int(length) if length and length.isdigit() else None
    done = 0
    with resp, open(dest, "wb") as out, _progress(url, total, quiet) as bar:
        while True:
            try:
                block = resp.read(_CHUNK)
            except (network_errors + (OSError,)) as exc:
                raise _offline_error(target, url, exc) from exc
            if not block:
                break
            try:
                out.write(block)
            except OSError as exc:  # disk full, permissions: not a network problem
                raise DataError(f"cannot write the FSDD download to {dest} ({_one_line(exc)})") from exc
            done += len(block)
            bar.update(len(block))
    if total is not None and done != total:
        raise _offline_error(target, url, ConnectionError(f"got {done} of {total} bytes"))


def _extract_recordings(archive: Path, dest: Path, url: str) -> int:
    """Copy the ``*/recordings/*.wav`` members of ``archive`` into ``dest``; returns their count.

    The archive is rejected (DataError) if any member has an absolute path, a ``..`` component,
    or is a link or a device; nothing is ever written outside ``dest``.
    """
    count = 0
    try:
        with tarfile.open(archive, "r|gz") as tar:
            for m in tar:
                name = m.name
                parts = PurePosixPath(name).parts
                if (
                    name.startswith(("/", "\\"))
                    or (len(name) > 1 and name[1] == ":")
                    or ".." in parts
                    or "\\" in name
                ):
                    raise DataError(f"FSDD archive from {url} has an unsafe member path {name!r}; rejected")
                if m.issym() or m.islnk():
                    raise DataError(f"FSDD archive from {url} has a link member {name!r}; rejected")
                if not (m.isfile() or m.isdir()):
                    raise DataError(f"FSDD archive from {url} has a special-file member {name!r}; rejected")
                if not (
                    m.isfile()
                    and len(parts) == 3
                    and parts[1] == "recordings"
                    and parts[2].endswith(".wav")
                    and not parts[2].startswith(".")
                ):
                    continue  # README, notebooks, other folders: not needed
                src = tar.extractfile(m)
                if src is None:
                    continue
                with src:
                    try:
                        out = open(dest / parts[2], "wb")
                    except OSError as exc:
                        raise DataError(f"cannot write FSDD into {dest} ({_one_line(exc)})") from exc
                    with out:
                        while block := src.read(_CHUNK):
                            try:
                                out.write(block)
                            except OSError as exc:
                                raise DataError(f"cannot write FSDD into {dest} ({_one_line(exc)})") from exc
                count += 1
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DataError(f"FSDD archive from {url} is not a valid tar.gz ({_one_line(exc)})") from exc
    return count


def ensure_fsdd(
    home: Path | None = None, url: str = FSDD_URL, digest: str = FSDD_DIGEST, quiet: bool = False
) -> Path:
    """Return ``home/fsdd/recordings``, downloading and verifying FSDD first if it holds no *.wav."""
    home = Path(home).expanduser() if home is not None else data_home()
    target = home / "fsdd" / "recordings"
    if _has_wavs(target):
        return target  # present: no network, no digest recomputation
    if target.exists():
        if target.is_dir() and not any(target.iterdir()):
            target.rmdir()
        else:
            raise DataError(
                f"{target} exists but holds no .wav files; remove it, or put the FSDD recordings "
                f"(0_george_0.wav ...) in it, or set {DATA_ENV}."
            )

    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the data home {home} ({_one_line(exc)}); set {DATA_ENV}") from exc
    fd, tmp_name = tempfile.mkstemp(dir=home, prefix=".fsdd-", suffix=".tar.gz.part")
    os.close(fd)
    archive = Path(tmp_name)
    staging = Path(tempfile.mkdtemp(dir=home, prefix=".fsdd-extract-"))
    try:
        _download(url, archive, target, quiet)
        extracted = staging / "recordings"
        extracted.mkdir()
        n = _extract_recordings(archive, extracted, url)
        archive.unlink(missing_ok=True)
        if n == 0:
            raise DataError(f"FSDD archive from {url} holds no */recordings/*.wav files")
        got = recordings_digest(extracted)
        if got != digest:
            raise DataError(
                f"FSDD from {url} failed verification: recordings digest expected {digest}, got {got}"
            )
        (extracted / _MARKER).write_text(digest + "\n")
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(extracted, target)
        except OSError:
            if _has_wavs(target):  # another process finished first
                return target
            raise
        if not quiet:
            log.info(f"FSDD: {n} recordings verified in {target}")
        return target
    finally:
        archive.unlink(missing_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
