"""Several `voxprint serve` processes on one PostgreSQL store, as behind a load balancer: what one replica
enrols the next request to another finds; /v1/health says the store is reachable and the index fresh;
kill -9 of a replica mid-enrolment loses no finished profile and leaves no half-written one; SIGTERM lets a
request in flight finish. Real server processes, a real PostgreSQL cluster (conftest's pg_server), the tiny
model and real FSDD recordings; nothing mocked."""

from __future__ import annotations

import shutil
import signal
import threading
import time

import httpx
import pytest
from test_serve import AUTH, TOKEN, clip, files, start_server

from voxprint.cli import main
from voxprint.stores import open_store

SPEAKERS = {"george": 5, "jackson": 5}  # test clips (index < 5) of two speakers the tiny model trained on


@pytest.fixture(scope="module")
def model(tiny_run, tmp_path_factory):
    run = tmp_path_factory.mktemp("replica-model")
    shutil.copytree(tiny_run / "cnn-mel-s0", run / "cnn-mel-s0", ignore=shutil.ignore_patterns("profiles.db*"))
    shutil.copy(tiny_run / "split.csv", run / "split.csv")
    assert main(["calibrate", str(run / "cnn-mel-s0")]) == 0
    return run / "cnn-mel-s0"


@pytest.fixture
def replicas(model, pg_url, tmp_path):
    procs = []
    for name in ("a", "b"):
        proc, url = start_server(model, pg_url, tmp_path / f"{name}.log", "--token", TOKEN)
        procs.append((proc, httpx.Client(base_url=url, timeout=60)))
    yield procs
    for proc, client in procs:
        client.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def test_what_one_replica_enrols_the_other_finds_at_once(replicas):
    (_, a), (_, b) = replicas
    for h in (a.get("/v1/health").json(), b.get("/v1/health").json()):
        assert h["store"] == "postgresql" and h["index"] == {"kind": "empty", "fresh": True}
    for name in SPEAKERS:
        r = a.post("/v1/enroll", data={"name": name}, files=files(*(clip(name, d, 10) for d in range(6))),
                   headers=AUTH)
        assert r.status_code == 200, r.text
        # the very next request to the other replica: no waiting, no restart
        ans = b.post("/v1/identify", files=files(clip(name, 7, 2))).json()
        assert ans["top"][0]["name"] == name, ans
    h = b.get("/v1/health").json()
    assert h["speakers"] == 2 and h["index"] == {"kind": "exact", "fresh": True}
    assert a.delete("/v1/speakers/george", headers=AUTH).status_code == 200
    assert [t["name"] for t in b.post("/v1/identify", files=files(clip("george", 7, 2))).json()["top"]] == ["jackson"]


def test_health_is_503_when_the_store_goes_away(model, pg_server, tmp_path):
    import psycopg

    base = pg_server.rpartition("/")[0]
    with psycopg.connect(pg_server, autocommit=True) as c:
        c.execute('CREATE DATABASE "t_gone"')
    proc, url = start_server(model, f"{base}/t_gone", tmp_path / "gone.log")
    try:
        assert httpx.get(url + "/v1/health").status_code == 200
        with psycopg.connect(pg_server, autocommit=True) as c:
            c.execute('DROP DATABASE "t_gone" WITH (FORCE)')
        r = httpx.get(url + "/v1/health")
        assert r.status_code == 503 and r.json()["error"] == "store_unreachable", r.text
    finally:
        proc.kill()
        proc.wait(timeout=30)


def test_kill_9_mid_enrolment_loses_no_finished_profile(replicas, pg_url, model):
    (victim, a), (_, b) = replicas
    done: list[str] = []

    def enrol_many():
        for k in range(200):
            try:
                r = a.post("/v1/enroll", data={"name": f"p{k}"}, headers=AUTH,
                           files=files(*(clip("lucas", d, 10 + k % 30) for d in range(3))))
            except httpx.TransportError:
                return  # the replica is gone
            if r.status_code == 200:
                done.append(f"p{k}")

    t = threading.Thread(target=enrol_many)
    t.start()
    deadline = time.monotonic() + 60
    while len(done) < 5 and time.monotonic() < deadline and t.is_alive():
        time.sleep(0.01)
    assert len(done) >= 5, "enrolments through replica a did not succeed"
    victim.send_signal(signal.SIGKILL)
    t.join(timeout=60)
    assert victim.wait(timeout=30) == -signal.SIGKILL
    listed = {s["name"]: s["clips"] for s in b.get("/v1/speakers").json()["speakers"]}
    assert set(done) <= set(listed)  # every answered enrolment is there
    assert set(listed) - set(done) <= {f"p{len(done)}"}  # at most the one committed but not yet answered
    assert all(n == 3 for n in listed.values())  # and none half-written
    from voxprint.inference import Recognizer

    with open_store(pg_url, Recognizer(model, engine="torch").model_id) as st:
        assert len(st.matrix()[0]) == len(listed)


def test_sigterm_lets_a_request_in_flight_finish(replicas):
    (proc, a), _ = replicas
    body = files(clip("nicolas", 3, 1))
    sent = threading.Event()
    r = {}

    def slow_upload():
        req = a.build_request("POST", "/v1/enroll", data={"name": "late"}, files=body, headers=AUTH)
        payload = req.read()

        def chunks():
            yield payload[: len(payload) // 2]
            sent.set()
            time.sleep(1.0)  # SIGTERM lands while the request is half received
            yield payload[len(payload) // 2:]

        headers = {k: v for k, v in req.headers.items() if k.lower() != "content-length"}
        r["resp"] = a.post("/v1/enroll", content=chunks(), headers=headers)

    t = threading.Thread(target=slow_upload)
    t.start()
    assert sent.wait(timeout=30)
    time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    t.join(timeout=60)
    assert r["resp"].status_code == 200, r["resp"].text
    assert r["resp"].json()["name"] == "late"
    assert proc.wait(timeout=40) in (0, -signal.SIGTERM)
