"""`voxprint serve` as a user meets it: a real server process on a free 127.0.0.1 port, driven over
HTTP with httpx, on the tiny model and real FSDD recordings. Nothing of voxprint is mocked.

The tests share one server (start-up is the slow part) and run in file order; each removes the
speakers it enrolled, so none depends on another's leftovers.
"""

from __future__ import annotations

import io
import os
import secrets
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import numpy as np
import pytest
import soundfile as sf
from conftest import shared_file

from voxprint.cli import main

TOKEN = "test-" + secrets.token_hex(12)
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MAX_MB, MAX_SECONDS = 2, 20


def clip(speaker: str, digit: int, index: int) -> Path:
    return shared_file("fsdd", "recordings", f"{digit}_{speaker}_{index}.wav")


def files(*paths: Path, field: str = "audio") -> list:
    return [(field, (p.name, p.read_bytes(), "audio/wav")) for p in paths]


def wav_bytes(y: np.ndarray, sr: int = 8000) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(run: Path, db: Path, log: Path, *extra: str):
    """`python -m voxprint.cli serve` on a free port, its log in `log` (not a pipe: unread, it would fill up
    and block the server); returns (process, base URL) once /v1/health answers."""
    port = free_port()
    cmd = [sys.executable, "-m", "voxprint.cli", "serve", "--run", str(run), "--db", str(db), "--port", str(port),
           *extra]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url + "/v1/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    pytest.fail("server did not answer /v1/health within 90 s")


@pytest.fixture(scope="module")
def model(tiny_run, tmp_path_factory) -> Path:
    """A copy of the tiny model folder with its own EER threshold (calibrated on validation clips):
    other tests re-calibrate tiny_run in place, and the page test should not depend on their order."""
    run = tmp_path_factory.mktemp("model")
    shutil.copytree(tiny_run / "cnn-mel-s0", run / "cnn-mel-s0", ignore=shutil.ignore_patterns("profiles.db*"))
    shutil.copy(tiny_run / "split.csv", run / "split.csv")
    assert main(["calibrate", str(run / "cnn-mel-s0")]) == 0
    return run / "cnn-mel-s0"


@pytest.fixture(scope="module")
def server(model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve")
    db = folder / "profiles.db"
    proc, url = start_server(model, db, folder / "server.log", "--token", TOKEN, "--max-upload-mb", str(MAX_MB),
                             "--max-seconds", str(MAX_SECONDS))
    with httpx.Client(base_url=url, timeout=60) as client:
        yield SimpleNamespace(url=url, db=db, run=model, http=client, proc=proc, log=folder / "server.log")
    proc.terminate()
    assert proc.wait(timeout=30) in (0, -15)  # uvicorn shuts down, then re-raises SIGTERM
    log = (folder / "server.log").read_text()
    assert "Traceback" not in log and "stopped; upload folder removed" in log, log[-3000:]
    assert log.count("stopped; upload folder removed") == 1  # each line once (no second, root handler)


def error(r: httpx.Response, status: int, code: str) -> str:
    """Assert a JSON error with this status and code; return its message."""
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"error", "message"} and body["error"] == code, body
    assert body["message"] and "\n" not in body["message"]
    return body["message"]


def enrol(http, name: str, *paths: Path, **kw) -> httpx.Response:
    return http.post("/v1/enroll", data={"name": name}, files=files(*paths), headers=AUTH, **kw)


# ------------------------------------------------------------------------------------------- endpoints


def test_health_page_static_and_docs(server):
    h = server.http.get("/v1/health").json()
    assert h["status"] == "ok" and h["sample_rate"] == 8000 and h["token_required"] is True
    assert h["model"] == "cnn-mel-s0" and h["classifier"] is True and h["engine"] in ("onnx", "torch")
    assert -1 <= h["threshold"] <= 1 and h["limits"]["max_bytes"] == MAX_MB * 1_000_000

    page = server.http.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "Who is speaking?" in page.text and "Enrol a new speaker" in page.text
    for asset in ("/static/app.js", "/static/style.css", "/static/recorder-worklet.js"):
        r = server.http.get(asset)
        assert r.status_code == 200 and len(r.text) > 200, asset
        # Everything the page needs comes from this server: no CDN, no other origin.
        assert "http://" not in r.text and "https://" not in r.text, asset
    assert "https://" not in page.text and "http://" not in page.text.replace("http://localhost", "").replace(
        "http://127.0.0.1", "")

    spec = server.http.get("/openapi.json").json()
    assert {"/v1/identify", "/v1/verify", "/v1/predict", "/v1/enroll", "/v1/speakers", "/v1/speakers/{name}",
            "/v1/health"} <= set(spec["paths"])
    assert server.http.get("/docs").status_code == 200


def test_identify_with_nobody_enrolled_is_409(server):
    r = server.http.post("/v1/identify", files=files(clip("george", 0, 0)))
    assert "enrol" in error(r, 409, "no_speakers")


def test_enrol_identify_verify_predict_list_forget(server):
    http = server.http
    r = enrol(http, "george", *(clip("george", d, 5) for d in range(3)))
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "george" and r.json()["added"] == 3 and r.json()["clips"] == 3
    assert enrol(http, "jackson", *(clip("jackson", d, 5) for d in range(3))).status_code == 200
    assert enrol(http, "george", clip("george", 3, 5)).json()["clips"] == 4  # adds to the profile

    listed = {s["name"]: s for s in http.get("/v1/speakers").json()["speakers"]}
    assert set(listed) == {"george", "jackson"} and listed["george"]["clips"] == 4
    assert listed["george"]["enrolled"] < listed["george"]["updated"]

    # Held-out test clips (index 0-4): most are named right, top 3 is sorted, names come from the store.
    right = 0
    for speaker in ("george", "jackson"):
        for d in range(4, 9):
            out = http.post("/v1/identify", files=files(clip(speaker, d, d % 5))).json()
            scores = [t["score"] for t in out["top"]]
            assert scores == sorted(scores, reverse=True) and {t["name"] for t in out["top"]} <= {"george", "jackson"}
            assert out["score"] == scores[0] and out["speaker"] in ("george", "jackson", "unknown")
            assert (out["speaker"] != "unknown") == (out["score"] >= out["threshold"])
            right += out["speaker"] == speaker
    assert right >= 8, right

    # verify: the true claim scores above the false one for the same clip
    probe = clip("george", 9, 2)
    true = http.post("/v1/verify", data={"name": "george"}, files=files(probe)).json()
    false = http.post("/v1/verify", data={"name": "jackson"}, files=files(probe)).json()
    assert true["score"] > false["score"] and true["accepted"] == (true["score"] >= true["threshold"])
    assert "no enrolled speaker 'nobody'" in error(
        http.post("/v1/verify", data={"name": "nobody"}, files=files(probe)), 404, "unknown_speaker")

    # predict: the model's own classifier (george and jackson are among its training speakers)
    pred = http.post("/v1/predict", files=files(clip("jackson", 7, 3))).json()
    assert pred["speaker"] == "jackson" and 0 < pred["probability"] <= 1 and len(pred["top"]) == 3

    # forget
    assert http.delete("/v1/speakers/jackson", headers=AUTH).json() == {"deleted": "jackson"}
    error(http.delete("/v1/speakers/jackson", headers=AUTH), 404, "unknown_speaker")
    assert [s["name"] for s in http.get("/v1/speakers").json()["speakers"]] == ["george"]
    assert http.delete("/v1/speakers/george", headers=AUTH).status_code == 200


def test_writes_need_the_token(server):
    http, probe = server.http, clip("lucas", 0, 5)
    no = http.post("/v1/enroll", data={"name": "lucas"}, files=files(probe))
    error(no, 401, "unauthorized")
    assert no.headers["www-authenticate"].startswith("Bearer")
    wrong = {"Authorization": "Bearer " + TOKEN[:-1] + ("x" if TOKEN[-1] != "x" else "y")}
    error(http.post("/v1/enroll", data={"name": "lucas"}, files=files(probe), headers=wrong), 401, "unauthorized")
    error(http.post("/v1/enroll", data={"name": "lucas"}, files=files(probe), headers={"Authorization": TOKEN}),
          401, "unauthorized")  # not a bearer scheme
    assert enrol(http, "lucas", probe).status_code == 200
    error(http.delete("/v1/speakers/lucas"), 401, "unauthorized")
    error(http.delete("/v1/speakers/lucas", headers=wrong), 401, "unauthorized")
    # reads stay open
    assert http.get("/v1/speakers").status_code == 200
    assert http.post("/v1/identify", files=files(clip("lucas", 1, 1))).status_code == 200
    assert http.delete("/v1/speakers/lucas", headers=AUTH).status_code == 200


def test_bad_requests(server):
    http, good = server.http, clip("nicolas", 0, 5)
    assert enrol(http, "nicolas", good).status_code == 200
    msg = error(http.post("/v1/identify", json={"audio": "x"}), 415, "unsupported_media_type")
    assert "multipart/form-data" in msg
    error(http.post("/v1/identify", content=good.read_bytes(), headers={"content-type": "audio/wav"}),
          415, "unsupported_media_type")
    assert "audio" in error(http.post("/v1/identify", data={"name": "x"}, files={"other": ("a.txt", b"x")}),
                            400, "missing_field")
    assert "name" in error(http.post("/v1/verify", files=files(good)), 400, "missing_field")
    assert "name" in error(http.post("/v1/enroll", files=files(good), headers=AUTH), 400, "missing_field")
    assert "audio" in error(http.post("/v1/enroll", data={"name": "nicolas"}, files={"x": ("a", b"1")},
                                      headers=AUTH), 400, "missing_field")
    # a text part where a file belongs
    msg = error(http.post("/v1/predict", files={"audio": (None, "not a file")}), 400, "invalid_field")
    assert msg == "field 'audio': must be a file upload, not text"
    msg = error(http.post("/v1/enroll", files={"audio": (None, "x"), "name": (None, "nicolas")}, headers=AUTH),
                400, "invalid_field")
    assert msg == "field 'audio': must be a file upload, not text"

    # bad audio: one line with the client's file name and the reason, never a server path
    not_audio = http.post("/v1/identify", files={"audio": ("notes.wav", b"these are not samples" * 50, "audio/wav")})
    msg = error(not_audio, 400, "bad_audio")
    assert msg.startswith("notes.wav: not readable as audio") and "voxprint-serve" not in msg and "/tmp" not in msg
    silent = wav_bytes(np.zeros(8000, np.float32))
    assert "silent" in error(http.post("/v1/identify", files={"audio": ("s.wav", silent)}), 400, "bad_audio")
    y, _ = sf.read(good, dtype="float32")
    short = wav_bytes(y[:400])
    assert "too short" in error(http.post("/v1/identify", files={"audio": ("s.wav", short)}), 400, "bad_audio")
    truncated = good.read_bytes()[:-1000]
    assert "truncated" in error(http.post("/v1/identify", files={"audio": ("t.wav", truncated)}), 400, "bad_audio")
    # an enrolment with one bad file is refused whole: nothing is added
    r = http.post("/v1/enroll", data={"name": "nicolas"}, headers=AUTH,
                  files=files(good) + [("audio", ("bad.wav", b"junk" * 100, "audio/wav"))])
    assert error(r, 400, "bad_audio").startswith("bad.wav:")
    assert {s["name"]: s["clips"] for s in http.get("/v1/speakers").json()["speakers"]}["nicolas"] == 1
    assert http.delete("/v1/speakers/nicolas", headers=AUTH).status_code == 200


def test_size_and_length_limits(server):
    http = server.http
    y, sr = sf.read(clip("theo", 0, 5), dtype="float32")
    big = np.tile(y, int(MAX_MB * 1_000_000 / (2 * len(y))) + 2)  # > MAX_MB as 16-bit WAV
    assert "limit" in error(http.post("/v1/identify", files={"audio": ("big.wav", wav_bytes(big))}),
                            413, "payload_too_large")

    # No Content-Length (chunked): counted while streaming and cut off at the limit.
    body = _multipart(wav_bytes(big))

    def chunks():
        for i in range(0, len(body), 65536):
            yield body[i : i + 65536]

    r = http.post("/v1/identify", content=chunks(),
                  headers={"content-type": "multipart/form-data; boundary=BOUNDARY"})
    error(r, 413, "payload_too_large")

    # Small in bytes but long in time: 8 kHz mono is 16 kB/s, so 25 s fits in 2 MB.
    long = np.tile(y, int(25 * sr / len(y)) + 1)
    msg = error(http.post("/v1/predict", files={"audio": ("long.wav", wav_bytes(long))}), 413, "audio_too_long")
    assert msg.startswith("long.wav:") and f"{MAX_SECONDS}" in msg

    many = [("audio", (f"c{i}.wav", wav_bytes(y), "audio/wav")) for i in range(21)]
    error(http.post("/v1/enroll", data={"name": "theo"}, files=many, headers=AUTH), 413, "too_many_files")
    assert http.get("/v1/speakers").json()["speakers"] == []


def _multipart(payload: bytes) -> bytes:
    return (b"--BOUNDARY\r\nContent-Disposition: form-data; name=\"audio\"; filename=\"x.wav\"\r\n"
            b"Content-Type: audio/wav\r\n\r\n" + payload + b"\r\n--BOUNDARY--\r\n")


def test_names_are_validated_and_never_paths(server):
    http, probe = server.http, clip("yweweler", 0, 5)
    before = sorted(os.listdir(server.db.parent)), sorted(os.listdir(server.run))
    for bad, why in [(" ann", "leading or trailing"), ("ann\t", "leading or trailing"), ("a\x07b", "control"),
                     ("a\u200bb", "invisible"), ("a\u202eb", "invisible"), ("x" * 65, "longer than 64"),
                     ("../../etc/passwd", "'/'"), ("..\\..\\win", "'\\\\'"), ("\u2028", "empty"),
                     ("..", "cannot be '..'")]:
        assert why in error(enrol(http, bad, probe), 400, "invalid_name"), bad
    # Path-like and unusual but visible names are just names: stored, listed, and no file appears.
    odd = ["...", "profiles.db", "con", "José", "李雷", "O'Brien; DROP TABLE profiles"]
    for name in odd:
        assert enrol(http, name, probe).status_code == 200, name
    # NFC: 'José' written with a combining accent is the same speaker
    r = enrol(http, "Jose\u0301", probe)
    assert r.json()["name"] == "José" and r.json()["clips"] == 2
    assert sorted(s["name"] for s in http.get("/v1/speakers").json()["speakers"]) == sorted(odd)
    assert (sorted(os.listdir(server.db.parent)), sorted(os.listdir(server.run))) == before
    for name in odd:
        quoted = "".join(f"%{b:02X}" for b in name.encode())  # every byte escaped: nothing for the URL to tidy
        assert http.delete(f"/v1/speakers/{quoted}", headers=AUTH).json() == {"deleted": name}, name
    error(http.delete("/v1/speakers/a%E2%80%8Bb", headers=AUTH), 400, "invalid_name")


def test_routing_host_and_origin(server):
    http = server.http
    error(http.get("/v1/nothing"), 404, "not_found")
    error(http.get("/v1/identify"), 405, "method_not_allowed")
    # DNS rebinding: a page that made evil.example resolve to 127.0.0.1 still cannot talk to the server.
    error(http.get("/v1/speakers", headers={"Host": "evil.example"}), 403, "forbidden_host")
    assert http.get("/v1/health", headers={"Host": "localhost:1234"}).status_code == 200
    # Cross-site form post: refused even with the right token.
    r = http.post("/v1/enroll", data={"name": "x"}, files=files(clip("theo", 0, 5)),
                  headers={**AUTH, "Origin": "http://evil.example"})
    error(r, 403, "forbidden_origin")
    same = {"Origin": server.url}
    assert http.post("/v1/identify", files=files(clip("theo", 0, 5)), headers=same).status_code == 409  # nobody


def test_profiles_of_another_model_are_a_conflict(server):
    from voxprint.store import ProfileStore

    with ProfileStore(server.db, "another-model") as s:
        s.enroll("stranger", np.ones((1, 128)))
    msg = error(server.http.post("/v1/identify", files=files(clip("theo", 1, 1))), 409, "store_conflict")
    assert "made by model another-model" in msg
    assert server.http.get("/v1/health").json()["speakers"] == 1
    assert server.http.delete("/v1/speakers/stranger", headers=AUTH).status_code == 200
    error(server.http.post("/v1/identify", files=files(clip("theo", 1, 1))), 409, "no_speakers")


# ------------------------------------------------------------------------------ shared store, concurrency


def test_cli_and_http_share_the_store(server, capsys):
    run, db, http = str(server.run), str(server.db), server.http
    theo = [str(clip("theo", d, i)) for d in range(10) for i in (5, 6)]
    assert main(["enroll", "theo", *theo, "--run", run, "--db", db]) == 0
    listed = {s["name"]: s["clips"] for s in http.get("/v1/speakers").json()["speakers"]}
    assert listed == {"theo": 20}  # the server saw the CLI's commit without a restart
    assert http.post("/v1/identify", files=files(clip("theo", 3, 3))).json()["top"][0]["name"] == "theo"

    assert enrol(http, "yweweler", *(clip("yweweler", d, 5) for d in range(10))).status_code == 200
    capsys.readouterr()
    assert main(["speakers", "--run", run, "--db", db]) == 0
    assert [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()] == ["theo", "yweweler"]
    probes = [str(clip("yweweler", d, d % 5)) for d in range(6)]
    assert main(["identify", *probes, "--run", run, "--db", db, "--threshold", "-1"]) == 0
    named = [line.split("\t")[1] for line in capsys.readouterr().out.splitlines()]
    assert named.count("yweweler") >= 4, named

    assert main(["forget", "theo", "--run", run, "--db", db]) == 0
    assert [s["name"] for s in http.get("/v1/speakers").json()["speakers"]] == ["yweweler"]
    assert http.delete("/v1/speakers/yweweler", headers=AUTH).status_code == 200


def test_eight_concurrent_enrolments_http_and_cli_lose_nothing(server):
    """4 HTTP enrolments (server process) and 4 CLI enrolments (this process) of the same name at once."""
    run, db = str(server.run), str(server.db)
    jobs = [[clip("lucas", d, 10 + 2 * k), clip("lucas", d, 11 + 2 * k)] for k in range(8) for d in (k % 10,)]
    start = threading.Barrier(8)
    results: list = [None] * 8

    def http_job(k):
        with httpx.Client(base_url=server.url, timeout=120) as c:
            start.wait()
            results[k] = enrol(c, "crowd", *jobs[k]).status_code

    def cli_job(k):
        start.wait()
        results[k] = main(["enroll", "crowd", *map(str, jobs[k]), "--run", run, "--db", db])

    threads = [threading.Thread(target=http_job if k % 2 else cli_job, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    assert results == [0, 200] * 4, results

    assert {s["name"]: s["clips"] for s in server.http.get("/v1/speakers").json()["speakers"]} == {"crowd": 16}
    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        n, rows = con.execute("SELECT SUM(n), COUNT(*) FROM enrollments WHERE name = 'crowd'").fetchone()
        assert (n, rows) == (16, 8)
    finally:
        con.close()
    assert server.http.delete("/v1/speakers/crowd", headers=AUTH).status_code == 200


# ----------------------------------------------------------------------------------------- start-up


def test_a_bad_file_in_an_enrolment_enrols_nothing_and_long_cli_names_stay_reachable(server, tmp_path):
    http = server.http
    huge = tmp_path / "huge.wav"
    sf.write(huge, (0.5e30 * np.sin(np.arange(8000))).astype(np.float32), 8000, subtype="FLOAT")  # finite, absurd
    r = http.post("/v1/enroll", data={"name": "lucas"}, files=files(clip("lucas", 1, 5)) + files(huge),
                  headers=AUTH)
    assert "huge.wav" in error(r, 400, "bad_audio")  # naming the file, and nothing of the request enrolled
    assert "lucas" not in {p["name"] for p in http.get("/v1/speakers").json()["speakers"]}
    long_name = "n" * 100  # the CLI allows 200 characters, the server enrols at most 64
    assert main(["enroll", long_name, str(clip("nicolas", 0, 5)), "--run", str(server.run), "--db", str(server.db)]) == 0
    assert http.post("/v1/verify", data={"name": long_name}, files=files(clip("nicolas", 1, 5))).status_code == 200
    assert http.delete(f"/v1/speakers/{long_name}", headers=AUTH).status_code == 200
    error(http.post("/v1/enroll", data={"name": "m" * 65}, files=files(clip("nicolas", 1, 5)), headers=AUTH), 400,
          "invalid_name")


def test_serve_options_are_checked_before_anything_starts(capsys):
    for args in (["--max-seconds", "nan"], ["--max-upload-mb", "inf"], ["--threshold", "2"], ["--port", "70000"]):
        with pytest.raises(SystemExit) as info:
            main(["serve", *args])
        assert info.value.code == 2, args
        assert "out of range" in capsys.readouterr().err, args


def test_any_format_and_rate_the_cli_reads_is_identified(server, tmp_path):
    """The same recording as WAV at 8 kHz, FLAC at 44.1 kHz, Ogg/Vorbis at 16 kHz and WebM/Opus at 48 kHz
    (what browsers' MediaRecorder sends): every upload is decoded, resampled and scored alike."""
    import soxr
    from conftest import encode_av

    http = server.http
    assert enrol(http, "george", *(clip("george", d, 5) for d in range(3))).status_code == 200
    assert enrol(http, "jackson", *(clip("jackson", d, 5) for d in range(3))).status_code == 200
    src = clip("george", 7, 2)
    y, sr = sf.read(src, dtype="float32")
    flac, ogg = tmp_path / "take.flac", tmp_path / "take.ogg"
    sf.write(flac, soxr.resample(y, sr, 44100), 44100, format="FLAC")
    sf.write(ogg, soxr.resample(y, sr, 16000), 16000, format="OGG", subtype="VORBIS")
    webm = encode_av(tmp_path / "take.webm", y, sr, "webm", "libopus")
    base = http.post("/v1/identify", files=files(src)).json()
    for path, mime in ((flac, "audio/flac"), (ogg, "audio/ogg"), (webm, "audio/webm")):
        r = http.post("/v1/identify", files=[("audio", (path.name, path.read_bytes(), mime))])
        assert r.status_code == 200, (path.name, r.text)
        out = r.json()
        assert out["top"][0]["name"] == base["top"][0]["name"] == "george", (path.name, out)
        assert abs(out["score"] - base["score"]) < 0.05, (path.name, out["score"], base["score"])
    for name in ("george", "jackson"):
        assert http.delete(f"/v1/speakers/{name}", headers=AUTH).status_code == 200


def test_token_from_the_environment_and_a_stranger_below_the_threshold(model, tmp_path):
    """VOXPRINT_TOKEN alone guards writes; --threshold is the accept threshold: a speaker who was
    never enrolled is answered `unknown`, an enrolled one still closest."""
    env_token = "env-" + secrets.token_hex(8)
    os.environ["VOXPRINT_TOKEN"] = env_token
    try:
        proc, url = start_server(model, tmp_path / "p.db", tmp_path / "log", "--threshold", "0.99")
    finally:
        os.environ.pop("VOXPRINT_TOKEN")
    try:
        with httpx.Client(base_url=url, timeout=60) as http:
            assert http.get("/v1/health").json()["token_required"] is True
            error(http.post("/v1/enroll", data={"name": "lucas"}, files=files(clip("lucas", 0, 5))), 401,
                  "unauthorized")
            ok = http.post("/v1/enroll", data={"name": "lucas"}, files=files(*(clip("lucas", d, 5) for d in range(3))),
                           headers={"Authorization": f"Bearer {env_token}"})
            assert ok.status_code == 200, ok.text
            out = http.post("/v1/identify", files=files(clip("nicolas", 4, 1))).json()
            assert out["speaker"] == "unknown" and out["score"] < out["threshold"] == 0.99
            assert out["top"][0]["name"] == "lucas"  # the closest profile is still reported
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_the_shipped_encoder_serves_without_predict(tmp_path):
    """The default model is a pure encoder: identify/verify/enroll work, predict (closed-set classes) is 404."""
    from voxprint.pretrained import ENCODER_DIR

    proc, url = start_server(ENCODER_DIR, tmp_path / "p.db", tmp_path / "log")
    try:
        with httpx.Client(base_url=url, timeout=60) as http:
            h = http.get("/v1/health").json()
            assert h["classifier"] is False and h["sample_rate"] == 16000
            assert "/v1/predict" not in http.get("/openapi.json").json()["paths"]
            error(http.post("/v1/predict", files=files(clip("george", 0, 1))), 404, "not_found")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_refuses_a_public_address_without_a_token(model, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "VOXPRINT_TOKEN"}
    r = subprocess.run([sys.executable, "-m", "voxprint.cli", "serve", "--run", str(model), "--host", "0.0.0.0",
                        "--port", str(free_port()), "--db", str(tmp_path / "p.db")],
                       capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 2
    assert r.stderr.startswith("voxprint: refusing to listen on 0.0.0.0 without a token")
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "p.db").exists()


def test_loopback_and_token_rules():
    from voxprint.serve.server import is_loopback, resolve_token

    assert all(map(is_loopback, ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "192.168.1.4", "example.com", "10.0.0.1"]))
    os.environ.pop("VOXPRINT_TOKEN", None)
    assert resolve_token(None) is None and resolve_token("") is None and resolve_token("abc") == "abc"

    from voxprint.serve.guard import _token_ok

    # Headers arrive as bytes and are read as latin-1; a UTF-8 token still matches, a near miss does not.
    wire = lambda text: text.encode("utf-8").decode("latin-1")
    assert _token_ok(wire("Bearer pässwörd"), "pässwörd") and _token_ok("bearer  abc ", "abc")
    assert not _token_ok(wire("Bearer pässword"), "pässwörd") and not _token_ok("Basic abc", "abc")
    assert not _token_ok("Bearer", "abc") and not _token_ok("", "abc")


def test_requests_beyond_the_queue_get_503(model, tmp_path):
    """Engine.run with one worker and a queue of one: a second request while the first runs is refused."""
    import anyio

    from voxprint.inference import Recognizer
    from voxprint.serve.engine import Engine
    from voxprint.serve.errors import ApiError
    from voxprint.serve.limits import Limits

    engine = Engine(Recognizer(model), tmp_path / "p.db", Limits(workers=1, max_queue=1))
    release = threading.Event()
    outcomes = []

    async def scenario():
        async def first():
            outcomes.append(await engine.run(lambda: release.wait(10) and "done"))

        async with anyio.create_task_group() as tg:
            tg.start_soon(first)
            await anyio.sleep(0.2)
            with pytest.raises(ApiError) as e:
                await engine.run(engine.speakers)
            outcomes.append((e.value.status, e.value.code, e.value.headers.get("Retry-After")))
            release.set()

    try:
        anyio.run(scenario)
    finally:
        engine.close()
    assert sorted(map(str, outcomes)) == sorted(map(str, [(503, "busy", "1"), "done"]))


# ------------------------------------------------------------------------------------------- the page

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--use-fake-ui-for-media-stream",
                  "--use-fake-device-for-media-stream"]


def _microphone(path: Path, speaker: str, index: int) -> Path:
    """One speaker's ten digit recordings (same index) end to end: a few seconds of varied speech for the
    fake microphone, which loops its file."""
    sf.write(path, np.concatenate([sf.read(clip(speaker, d, index), dtype="float32")[0] for d in range(10)]),
             8000, subtype="PCM_16")
    return path


def _open_page(pw, url: str, microphone: Path):
    """Headless Debian Chromium whose microphone plays `microphone` in a loop -> (browser, page, errors)."""
    browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                 args=[*CHROMIUM_FLAGS, f"--use-file-for-fake-audio-capture={microphone}"])
    page = browser.new_page(viewport={"width": 820, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(url + "/")
    page.wait_for_selector("body[data-ready='1']", timeout=20_000)
    return browser, page, errors


def test_page_records_enrols_and_identifies_in_chromium(server, tmp_path):
    """The person's path through the page: record three clips, enrol, record again, see the name."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: this test needs Debian's chromium (apt-get install chromium)")
    # A second voice enrolled over HTTP, so naming the right speaker is a real choice.
    assert enrol(server.http, "jackson", *(clip("jackson", d, 6) for d in range(6))).status_code == 200
    with sync_playwright() as pw:
        browser, page, errors = _open_page(pw, server.url, _microphone(tmp_path / "enrol.wav", "george", 7))
        assert page.is_visible("#token-card")  # the server has a token: the page asks for it
        page.fill("#token", TOKEN)
        page.fill("#en-name", "george")
        for i in range(3):
            page.click(f".clip[data-clip='{i}']")
            page.wait_for_selector(f".clip[data-clip='{i}'].done", timeout=20_000)
        page.click("#en-submit")
        page.wait_for_selector("#speakers tr[data-name='george']", timeout=20_000)
        assert page.text_content("#en-status") == "Enrolled george: 3 clips in the profile."
        assert errors == []
        browser.close()

        # A new browser, other recordings of george (held-out test clips) on the microphone.
        browser, page, errors = _open_page(pw, server.url, _microphone(tmp_path / "probe.wav", "george", 3))
        page.click("#id-record")
        page.wait_for_selector("#id-name[data-speaker]", timeout=20_000)
        assert page.get_attribute("#id-name", "data-speaker") == "george"
        assert page.text_content("#id-name") == "george"
        assert page.text_content("#id-top li:first-child").startswith("george:")
        assert errors == [] and page.text_content("#status") == ""
        shot = tmp_path / "serve.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 10_000
    # VOXPRINT_SCREENSHOTS=docs refreshes the README's picture (kept out of normal runs: no tree changes).
    if os.environ.get("VOXPRINT_SCREENSHOTS"):
        from PIL import Image

        # 64 colours are plenty for a flat page and keep the PNG small for the README.
        Image.open(shot).convert("P", palette=Image.ADAPTIVE, colors=64).save(
            Path(os.environ["VOXPRINT_SCREENSHOTS"]) / "serve.png", optimize=True)

    # enrolled through the page = enrolled for the CLI too
    with sqlite3.connect(server.db) as con:
        assert con.execute("SELECT count FROM profiles WHERE name = 'george'").fetchone() == (3,)
    for name in ("george", "jackson"):
        assert server.http.delete(f"/v1/speakers/{name}", headers=AUTH).status_code == 200


def test_server_pins_torch_and_blas_to_one_thread():
    """serve() pins torch and numpy's BLAS to one thread per request (pin_threads): in a fresh process
    whose BLAS starts with several threads, both report one afterwards."""
    code = ("import numpy, torch\nfrom threadpoolctl import threadpool_info\n"
            "from voxprint.serve.server import pin_threads\n"
            "before = max(p['num_threads'] for p in threadpool_info())\n"
            "pin_threads()\n"
            "after = [p['num_threads'] for p in threadpool_info()]\n"
            "print(before, max(after), torch.get_num_threads())\n")
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "2"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    before, after, torch_threads = map(int, out.stdout.split())
    assert before == 2 and after == 1 and torch_threads == 1
