"""Shared test setup: where the real recordings live, and a throw-away feature cache.

VOXPRINT_DATA (the shared data folder) is set at import time, before any test module is
collected, because some modules read it at import. VOXPRINT_CACHE points at a temporary
folder for the session so tests never write into the user's cache. Both are left alone
when already set.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from benchmarks.common import (
    DATA as SHARED_DATA,  # one rule for tests and benchmarks: $VOXPRINT_DATA, else ../shared/data
)

if not os.environ.get("VOXPRINT_DATA"):
    os.environ["VOXPRINT_DATA"] = str(SHARED_DATA)


@pytest.fixture(scope="session", autouse=True)
def _voxprint_home(tmp_path_factory):
    """A session-wide VOXPRINT_HOME (profiles of the shipped encoder) in a temporary folder."""
    old = os.environ.get("VOXPRINT_HOME")
    os.environ["VOXPRINT_HOME"] = str(tmp_path_factory.mktemp("voxprint-home"))
    yield Path(os.environ["VOXPRINT_HOME"])
    if old is None:
        os.environ.pop("VOXPRINT_HOME", None)
    else:
        os.environ["VOXPRINT_HOME"] = old


@pytest.fixture(scope="session", autouse=True)
def _voxprint_cache(tmp_path_factory):
    """A session-wide VOXPRINT_CACHE in a temporary folder, unless the caller set one."""
    if os.environ.get("VOXPRINT_CACHE"):
        yield Path(os.environ["VOXPRINT_CACHE"])
        return
    folder = tmp_path_factory.mktemp("voxprint-cache")
    os.environ["VOXPRINT_CACHE"] = str(folder)
    try:
        yield folder
    finally:
        os.environ.pop("VOXPRINT_CACHE", None)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder (fsdd/, speeches5/, noise/); a missing folder fails the test."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"{SHARED_DATA} not found (set VOXPRINT_DATA to the shared data folder)")
    return SHARED_DATA


FSDD = SHARED_DATA / "fsdd" / "recordings"


def shared_file(*parts) -> Path:
    """A path inside the shared data; a missing one fails the test (never a silent skip)."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.fail(f"{path} not found (set VOXPRINT_DATA to the shared data folder)")
    return path

# A small run shared by the end-to-end, ONNX and enrolment tests: 4 FSDD speakers,
# 100 clips each, one CNN on log-Mel. theo and yweweler are never trained on.
TINY_ARGS = [
    "--set", "data.speakers=[george,jackson,lucas,nicolas]", "--set", "data.max_per_speaker=100",
    "--set", "train.max_steps=150", "--set", "train.min_steps=60", "--set", "train.val_every_steps=15",
    "--set", "train.patience=4", "--set", "train.batch_size=32",
    "--set", "eval.snr_db=[10.0]", "--set", "eval.noise=[white]", "--set", "eval.verification=false",
    "--set", "eval.latency_runs=5", "--models", "cnn", "--features", "mel", "--no-progress", "--no-report",
]


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, shared_data):
    from voxprint.cli import main

    out = tmp_path_factory.mktemp("tiny") / "run"
    assert main(["run", "--out", str(out), *TINY_ARGS]) == 0
    return out


@pytest.fixture(scope="session")
def padded(tmp_path_factory, shared_data):
    """Factory for padded copies of FSDD / speeches5 subsets, each built once per session:
    padded(name, kind, seconds=1.0, max_per_speaker=None, speakers=None) -> dataset root.
    See benchmarks/padding.py."""
    from benchmarks.padding import padded_set

    root = tmp_path_factory.mktemp("padded")

    def make(name: str, kind: str, **kw) -> Path:
        return padded_set(root, name, kind, **kw)

    return make


def encode_av(path: Path, y, sr: int, container: str, codec: str, rate: int = 48000) -> Path:
    """Write mono float32 `y` at `sr` as `container`/`codec` (e.g. webm/libopus as browsers' MediaRecorder
    makes it, mp4/aac as phones do) with PyAV's FFmpeg: test input for the decoders, never committed."""
    import av
    import numpy as np

    out = av.open(str(path), "w", format=container)
    stream = out.add_stream(codec, rate=rate)
    stream.layout = "mono"
    frame = av.AudioFrame.from_ndarray((np.clip(y, -1, 1)[None] * 32767).astype(np.int16), format="s16", layout="mono")
    frame.sample_rate = sr
    for f in av.AudioResampler(format=stream.codec_context.format.name, layout="mono", rate=rate).resample(frame):
        for packet in stream.encode(f):
            out.mux(packet)
    for packet in stream.encode(None):
        out.mux(packet)
    out.close()
    return path


# -- PostgreSQL ------------------------------------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def pg_server():
    """The URL of a PostgreSQL server the tests may create databases on: $VOXPRINT_TEST_PG (.ci/run starts a
    throw-away cluster and sets it), else a throw-away cluster started here with .ci/pg.sh and removed at the
    end. Without PostgreSQL on the machine the test skips, except under CI=true, where it fails."""
    import shutil
    import subprocess
    import tempfile

    url = os.environ.get("VOXPRINT_TEST_PG")
    if url:
        yield url
        return
    folder = tempfile.mkdtemp(prefix="voxprint-pg-")  # under /tmp: the postgres user must reach it
    started = subprocess.run(["bash", str(REPO / ".ci" / "pg.sh"), "start", folder], capture_output=True, text=True)
    if started.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        why = f"no PostgreSQL server could be started: {started.stderr.strip()[-300:]}"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why + " (apt-get install postgresql)")
    try:
        yield started.stdout.strip()
    finally:
        subprocess.run(["bash", str(REPO / ".ci" / "pg.sh"), "stop", folder], capture_output=True)


@pytest.fixture
def pg_url(pg_server, request):
    """A fresh, empty database on the test server for one test; dropped afterwards."""
    import re
    import uuid

    import psycopg

    name = "t_" + re.sub(r"\W", "_", request.node.name.lower())[:40] + "_" + uuid.uuid4().hex[:8]
    with psycopg.connect(pg_server, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = pg_server.rpartition("/")
    yield f"{base}/{name}"
    from voxprint import store_pg

    store_pg.release(f"{base}/{name}")
    with psycopg.connect(pg_server, autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def git_work_tree(tmp_path):
    """An empty git work tree with one commit: where results files are written and stamped."""
    root = tmp_path / "repo"
    root.mkdir()
    for args in (["init", "-q"], ["config", "user.email", "t@example.com"], ["config", "user.name", "t"],
                 ["commit", "-q", "--allow-empty", "-m", "start"]):
        subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)
    return root
