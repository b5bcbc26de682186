"""ensure_fsdd against a local HTTP server: download, safe extraction, verification, offline errors."""

from __future__ import annotations

import functools
import http.server
import io
import socket
import tarfile
import threading
import urllib.request
from pathlib import Path

import pytest
from conftest import FSDD

from voxprint import download
from voxprint.dirs import DATA_ENV
from voxprint.download import (
    FSDD_DIGEST,
    ensure_fsdd,
    recordings_digest,
)
from voxprint.errors import DataError

TOP = "free-spoken-digit-dataset-1.0.10"

@pytest.fixture(scope="module")
def _fsdd_present():
    if not (FSDD.is_dir() and len(list(FSDD.glob("*.wav"))) == 3000):
        pytest.fail(f"the local FSDD copy (3000 recordings) is not at {FSDD}; set VOXPRINT_DATA")


needs_fsdd = pytest.mark.usefixtures("_fsdd_present")


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    # urllib would send 127.0.0.1 requests through a proxy set in the environment.
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _make_archive(path: Path, tamper: str | None = None, extra: dict[str, bytes] | None = None,
                  wavs: list[Path] | None = None) -> Path:
    """A tar.gz laid out like GitHub's tag tarball: TOP/recordings/*.wav plus TOP/README.md."""
    wavs = sorted(FSDD.glob("*.wav")) if wavs is None else wavs
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_600_000_000
            tar.addfile(info, io.BytesIO(data))

        d = tarfile.TarInfo(f"{TOP}/recordings")
        d.type = tarfile.DIRTYPE
        d.mode = 0o755
        tar.addfile(d)
        add(f"{TOP}/README.md", b"# Free Spoken Digit Dataset\n")
        for w in wavs:
            data = w.read_bytes()
            if w.name == tamper:
                data = data[:-1] + bytes([data[-1] ^ 0xFF])
            add(f"{TOP}/recordings/{w.name}", data)
        for name, data in (extra or {}).items():
            add(name, data)
    return path


@pytest.fixture
def server(tmp_path):
    """Serve tmp_path/'www' on 127.0.0.1:<ephemeral>; yields (www folder, base url, request log)."""
    www = tmp_path / "www"
    www.mkdir()
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # keep pytest output clean
            pass

        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(www)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield www, f"http://127.0.0.1:{httpd.server_address[1]}", requests
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def _leftovers(home: Path) -> list[str]:
    return sorted(str(p.relative_to(home)) for p in home.rglob("*")) if home.exists() else []


# --------------------------------------------------------------------------- data_home


def test_ensure_fsdd_defaults_to_data_home(monkeypatch, tmp_path):
    rec = tmp_path / "dh" / "fsdd" / "recordings"
    rec.mkdir(parents=True)
    (rec / "0_george_0.wav").write_bytes(b"RIFF")
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "dh"))
    assert ensure_fsdd(url=f"http://127.0.0.1:{_closed_port()}/x", quiet=True) == rec


# --------------------------------------------------------------------------- digest


def test_recordings_digest_depends_on_names_and_bytes_only(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    for d in (a, b):
        (d / "1_x_0.wav").write_bytes(b"one")
        (d / "0_x_0.wav").write_bytes(b"zero")
    (b / "README.md").write_text("ignored")
    (b / ".verified").write_text("ignored")
    assert recordings_digest(a) == recordings_digest(b)
    (b / "0_x_0.wav").write_bytes(b"zer0")
    assert recordings_digest(a) != recordings_digest(b)
    (b / "0_x_0.wav").rename(b / "0_y_0.wav")
    (b / "0_y_0.wav").write_bytes(b"zero")
    assert recordings_digest(a) != recordings_digest(b)


@needs_fsdd
def test_fsdd_digest_is_the_local_copy():
    assert recordings_digest(FSDD) == FSDD_DIGEST


# --------------------------------------------------------------------------- present: no network


def test_existing_recordings_need_no_network(tmp_path, monkeypatch):
    rec = tmp_path / "home" / "fsdd" / "recordings"
    rec.mkdir(parents=True)
    (rec / "0_george_0.wav").write_bytes(b"RIFF....")

    def no_network(*a, **k):
        raise AssertionError("ensure_fsdd used the network although the recordings are present")

    def no_digest(*a, **k):
        raise AssertionError("ensure_fsdd recomputed the digest although the recordings are present")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setattr(download, "recordings_digest", no_digest)
    got = ensure_fsdd(tmp_path / "home", url="http://127.0.0.1:9/x", digest="0" * 64, quiet=True)
    assert got == rec
    assert (rec / "0_george_0.wav").read_bytes() == b"RIFF...."


def test_non_empty_folder_without_wavs_is_not_clobbered(tmp_path, monkeypatch):
    rec = tmp_path / "home" / "fsdd" / "recordings"
    rec.mkdir(parents=True)
    (rec / "notes.txt").write_text("mine")
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: pytest.fail("network used"))
    with pytest.raises(DataError, match="no .wav"):
        ensure_fsdd(tmp_path / "home", url="http://127.0.0.1:9/x", quiet=True)
    assert (rec / "notes.txt").read_text() == "mine"


# --------------------------------------------------------------------------- real download


@needs_fsdd
def test_download_extract_verify(server, tmp_path, capsys, caplog):
    caplog.set_level("INFO", logger="voxprint")
    www, base, requests = server
    _make_archive(www / "fsdd.tar.gz")
    home = tmp_path / "home"
    got = ensure_fsdd(home, url=f"{base}/fsdd.tar.gz")
    assert requests == ["/fsdd.tar.gz"]
    assert got == home / "fsdd" / "recordings"
    wavs = sorted(p.name for p in got.glob("*.wav"))
    assert len(wavs) == 3000 and wavs == sorted(p.name for p in FSDD.glob("*.wav"))
    assert recordings_digest(got) == FSDD_DIGEST
    assert (got / ".verified").read_text().strip() == FSDD_DIGEST
    assert not (got / "README.md").exists()
    # Only the recordings are left: no archive, no staging folder.
    assert sorted(p.name for p in home.iterdir()) == ["fsdd"]
    assert sorted(p.name for p in (home / "fsdd").iterdir()) == ["recordings"]
    err = capsys.readouterr().err  # the progress bar
    assert "FSDD: 100%" in err and "15.8M/15.8M" in err
    assert "Downloading FSDD" in caplog.text and "3000 recordings verified" in caplog.text

    # A second call finds the recordings and does not download again.
    assert ensure_fsdd(home, url=f"{base}/fsdd.tar.gz", quiet=True) == got
    assert requests == ["/fsdd.tar.gz"]


@needs_fsdd
def test_tampered_archive_is_rejected_and_cleaned_up(server, tmp_path):
    www, base, _ = server
    _make_archive(www / "bad.tar.gz", tamper="3_jackson_7.wav")
    home = tmp_path / "home"
    url = f"{base}/bad.tar.gz"
    with pytest.raises(DataError) as e:
        ensure_fsdd(home, url=url, quiet=True)
    msg = str(e.value)
    assert "digest" in msg and url in msg and FSDD_DIGEST in msg
    got = msg.rsplit("got ", 1)[1].strip()
    assert len(got) == 64 and got != FSDD_DIGEST
    assert not (home / "fsdd" / "recordings").exists()
    assert _leftovers(home) == []


def _small_wavs() -> list[Path]:
    return sorted(FSDD.glob("*.wav"))[:3]


@needs_fsdd
@pytest.mark.parametrize("kind", ["dotdot", "nested-dotdot", "absolute", "symlink", "hardlink"])
def test_unsafe_archive_is_rejected(server, tmp_path, kind):
    www, base, _ = server
    home = tmp_path / "home"
    outside = tmp_path / "evil.wav"
    path = www / "evil.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for w in _small_wavs():
            tar.add(w, arcname=f"{TOP}/recordings/{w.name}")
        if kind in ("dotdot", "nested-dotdot", "absolute"):
            name = {
                "dotdot": "../evil.wav",
                "nested-dotdot": f"{TOP}/recordings/../../../evil.wav",
                "absolute": str(outside),
            }[kind]
            info = tarfile.TarInfo(name)
            info.size = 4
            tar.addfile(info, io.BytesIO(b"evil"))
        else:
            info = tarfile.TarInfo(f"{TOP}/recordings/link.wav")
            info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
            info.linkname = str(outside) if kind == "symlink" else f"{TOP}/recordings/{_small_wavs()[0].name}"
            tar.addfile(info)
    with pytest.raises(DataError, match="rejected"):
        ensure_fsdd(home, url=f"{base}/evil.tar.gz", digest="0" * 64, quiet=True)
    assert not outside.exists()
    assert not (home.parent / "evil.wav").exists() and not (tmp_path.parent / "evil.wav").exists()
    assert _leftovers(home) == []


@needs_fsdd
def test_archive_without_recordings(server, tmp_path):
    www, base, _ = server
    _make_archive(www / "empty.tar.gz", wavs=[])
    with pytest.raises(DataError, match="no \\*/recordings/\\*.wav"):
        ensure_fsdd(tmp_path / "home", url=f"{base}/empty.tar.gz", quiet=True)
    assert _leftovers(tmp_path / "home") == []


def test_not_a_tarball(server, tmp_path):
    www, base, _ = server
    (www / "junk.tar.gz").write_bytes(b"<html>not found</html>" * 100)
    with pytest.raises(DataError, match="not a valid tar.gz"):
        ensure_fsdd(tmp_path / "home", url=f"{base}/junk.tar.gz", quiet=True)
    assert _leftovers(tmp_path / "home") == []


# --------------------------------------------------------------------------- offline


def _assert_offline_message(msg: str, home: Path, url: str) -> None:
    assert "\n" not in msg
    assert str(home / "fsdd" / "recordings") in msg
    assert url in msg
    assert DATA_ENV in msg and "0_george_0.wav" in msg


def test_offline_connection_refused(tmp_path):
    home = tmp_path / "home"
    url = f"http://127.0.0.1:{_closed_port()}/fsdd.tar.gz"
    with pytest.raises(DataError) as e:
        ensure_fsdd(home, url=url, quiet=True)
    msg = str(e.value)
    _assert_offline_message(msg, home, url)
    assert "refused" in msg.lower()
    assert _leftovers(home) == []


def test_http_error_is_one_line(server, tmp_path):
    _, base, _ = server
    home = tmp_path / "home"
    url = f"{base}/missing.tar.gz"
    with pytest.raises(DataError) as e:
        ensure_fsdd(home, url=url, quiet=True)
    _assert_offline_message(str(e.value), home, url)
    assert "HTTP 404" in str(e.value)
    assert _leftovers(home) == []


def test_timeout_is_one_line(tmp_path, monkeypatch):
    # A socket that listens but never answers: the connection opens, the response never comes.
    monkeypatch.setattr(download, "TIMEOUT_S", 0.5)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        url = f"http://127.0.0.1:{s.getsockname()[1]}/fsdd.tar.gz"
        home = tmp_path / "home"
        with pytest.raises(DataError) as e:
            ensure_fsdd(home, url=url, quiet=True)
    _assert_offline_message(str(e.value), home, url)
    assert "timed out" in str(e.value)
    assert _leftovers(home) == []
