"""Identify at scale: the profile index at 1k / 100k / 1M profiles, then two `voxprint serve` replicas on one
PostgreSQL store under 8 HTTP clients. Writes docs/results/scale.md (and .json beside it).

Profiles. Real voices first: the shipped encoder embeds every 2-s segment of the 126 libri-dev speakers.
Each synthetic profile is one of those real segment embeddings moved by Gaussian noise and renormalised,
with the spread chosen so that a synthetic profile lies as far from its real segment (cosine) as real
segments lie from their own speaker's mean: a million voices crowded around ~700 real ones, so the nearest
profile is a close call (harder for an approximate index than a population of distinct voices). A query is
a fresh draw around a random profile (a new clip of that voice).

Index (search only). For each size: build seconds, the index's memory, p50/p99 of one identify's search
(the server's own code path, Snapshot.nearest, one query at a time, one thread), recall@1 against exact
search (is the approximate top profile the exact top profile). Exact search is timed beside it at every
size: that comparison set voxprint.index.EXACT_BELOW.

HTTP. A throw-away PostgreSQL cluster (.ci/pg.sh; or --pg URL) is bulk-loaded with --http-profiles
synthetic profiles under the shipped encoder's identity; two replicas start on it; 8 clients (4 per
replica, keep-alive, one request at a time) post 1-s speeches5 clips to /v1/identify for --seconds. Then,
under the same load, a new voice is enrolled through replica A and replica B is asked to identify it: the
time until B names it is printed.

    python -m benchmarks.scale [--sizes 1000 100000 1000000] [--http-profiles 1000000] [--seconds 20]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one search thread, as one request in the server has

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from benchmarks.common import DATA, REPO
from benchmarks.serve_load import free_port, load, multipart, query_clips, request
from voxprint.report.results import write_result
from voxprint.vectors import unit

D = 256
# what the figures depend on (voxprint.report.results: the file is stale once one of these changes)
INPUTS = ["benchmarks/scale.py", "benchmarks/serve_load.py", "voxprint/index.py", "voxprint/serve", "voxprint/store_pg.py", "voxprint/store.py",
          "voxprint/stores.py", "voxprint/scoring.py", "voxprint/quality.py", "voxprint/inference.py", "voxprint/vad"]


def real_voices() -> tuple[np.ndarray, float]:
    """Embeddings [N, 256] of every 2-s segment of libri-dev, and the mean cosine of a segment to its
    speaker's mean (how far real clips of one voice scatter)."""
    from voxprint import audio
    from voxprint.inference import Recognizer

    rec = Recognizer()
    embs, same = [], []
    for spk in sorted(p for p in (DATA / "libri-dev").iterdir() if p.is_dir()):
        y = np.concatenate([audio.load(f, 16000)[0] for f in sorted(spk.glob("*.flac"))])
        segs = [y[i:i + 32000] for i in range(0, len(y) - 32000 + 1, 32000)]
        if len(segs) < 2:
            continue
        e = rec.score_waves(segs)[1]
        m = unit(e.mean(0))
        same.append(float((e @ m).mean()))
        embs.append(e)
    return np.concatenate(embs).astype(np.float32), float(np.mean(same))


def around(centres: np.ndarray, n: int, cos: float, rng) -> np.ndarray:
    """n unit vectors, each around a random centre at about cosine `cos` to it."""
    sigma = np.sqrt(1 / cos**2 - 1)
    x = centres[rng.integers(0, len(centres), n)] + sigma / np.sqrt(D) * rng.standard_normal((n, D), np.float32)
    return unit(x)


def synthetic(real: np.ndarray, cos: float, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([around(real, min(200_000, n - i), cos, rng) for i in range(0, n, 200_000)])


def timed_search(snap, queries: np.ndarray, k: int = 3) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Per-query wall seconds, per-query CPU seconds of this thread, and the top names, one query at a time
    as the server calls it. The machine is shared: the other processes on it stretch wall time (a query
    preempted mid-way), not the CPU time the search itself takes, so both are reported."""
    wall, cpu, top = np.empty(len(queries)), np.empty(len(queries)), []
    for i, q in enumerate(queries):
        c, t = time.thread_time(), time.perf_counter()
        names, _ = snap.nearest(q, k)
        wall[i], cpu[i] = time.perf_counter() - t, time.thread_time() - c
        top.append(names[0])
    return wall, cpu, top


def index_rows(real, cos, sizes, n_queries, probes) -> list[dict]:
    import faiss

    from voxprint import index as I
    from voxprint.serve.profiles import Snapshot

    rows = []
    for n in sizes:
        means = synthetic(real, cos, n, seed=n)
        names = [f"p{i:07d}" for i in range(n)]
        queries = around(means, n_queries, cos, np.random.default_rng(1))
        out = {"profiles": n, "exact_below": I.EXACT_BELOW}
        for label, exact in (("exact", True), ("index", None)):
            faiss.omp_set_num_threads(os.cpu_count())  # building may use every core; a search gets one
            t = time.perf_counter()
            idx = I.ProfileIndex(means, exact=exact)
            build = time.perf_counter() - t
            faiss.omp_set_num_threads(1)
            snap = Snapshot(names, means, idx, 0, rows={})
            m = n_queries if n <= 100_000 else n_queries // 5  # exact at 1M: 1/5 of the queries
            sweep = probes if (label == "index" and not idx.exact) else [None]
            for ef in sweep:
                if ef is not None:
                    idx._index.nprobe = ef
                secs, cpu, top = timed_search(snap, queries[:m] if label == "exact" else queries)
                key = label if ef is None or ef == I.IVF_NPROBE else f"{label}-nprobe{ef}"
                out[key] = {"kind": idx.kind, "build_s": round(build, 2), "memory_mb": round(idx.memory_bytes() / 2**20, 1),
                            "p50_ms": round(1e3 * float(np.percentile(secs, 50)), 3),
                            "p99_ms": round(1e3 * float(np.percentile(secs, 99)), 3),
                            "cpu_p99_ms": round(1e3 * float(np.percentile(cpu, 99)), 3), "top": top}
                if ef is not None:
                    out[key]["nprobe"] = ef
        truth = out["exact"].pop("top")
        for key in [k for k in out if k.startswith("index")]:
            got = out[key].pop("top")
            out[key]["recall_at_1"] = round(float(np.mean([a == b for a, b in zip(got, truth[:len(got)])])), 4)
        print(json.dumps(out), flush=True)
        rows.append(out)
        del means, idx, snap
    return rows


def bulk_load(url: str, model_id: str, means: np.ndarray) -> None:
    """Profiles straight into the store's tables with COPY (an enrolment per profile would take hours)."""
    import psycopg

    from voxprint.stores import open_store

    open_store(url, model_id).close()  # creates the schema
    now = datetime.now(UTC).isoformat()
    with psycopg.connect(url) as c, c.cursor() as cur:
        with cur.copy("COPY voxprint_profiles (name, model_id, dim, sum, count, created, updated, version) "
                      "FROM STDIN") as cp:
            for i, v in enumerate(means):
                cp.write_row((f"p{i:07d}", model_id, D, v.astype("<f8").tobytes(), 1, now, now, 1))
        cur.execute("UPDATE voxprint_meta SET value = '1' WHERE key = 'changes'")


def start_replica(url: str, port: int, log: Path) -> subprocess.Popen:
    """`voxprint serve` on the store; returns once /v1/health is 200 (which builds its index)."""
    import httpx

    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}  # a replica as a user starts it
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "voxprint.cli", "serve", "--db", url, "--port", str(port)],
                                stdout=out, stderr=subprocess.STDOUT, env=env)
    deadline = time.time() + 1800
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"replica exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1800).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(1)
    proc.kill()
    raise SystemExit("replica did not come up")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def freshness(ports, enrol_body: bytes, probe: bytes, name: str) -> float:
    """Enrol through replica A, then ask replica B until it names the voice: seconds from A's answer."""
    ra, wa = await asyncio.open_connection("127.0.0.1", ports[0])
    wa.write(request("/v1/enroll", ports[0], enrol_body))
    await wa.drain()
    head = await ra.readuntil(b"\r\n\r\n")
    length = int(next(x.split(":")[1] for x in head.decode().split("\r\n") if x.lower().startswith("content-length")))
    body = await ra.readexactly(length)
    if not head.startswith(b"HTTP/1.1 200"):
        raise SystemExit(f"enrolment through replica A failed: {head.splitlines()[0].decode()} {body.decode()[:300]}")
    t = time.perf_counter()
    rb, wb = await asyncio.open_connection("127.0.0.1", ports[1])
    while time.perf_counter() - t < 30:
        wb.write(request("/v1/identify", ports[1], probe))
        await wb.drain()
        head = await rb.readuntil(b"\r\n\r\n")
        length = int(next(x.split(":")[1] for x in head.decode().split("\r\n") if x.lower().startswith("content-length")))
        if json.loads(await rb.readexactly(length))["top"][0]["name"] == name:
            return time.perf_counter() - t
    return float("inf")


def http_rows(args, real, cos) -> dict:
    from voxprint.inference import Recognizer

    rec = Recognizer(engine="torch")
    model_id = rec.model_id
    tmp = Path(tempfile.mkdtemp(prefix="voxprint-scale-"))
    pg_dir = Path(tempfile.mkdtemp(prefix="voxprint-scale-pg-"))  # its own, so the postgres user can enter it
    url = args.pg or subprocess.run(["bash", str(REPO / ".ci" / "pg.sh"), "start", str(pg_dir)], check=True,
                                    capture_output=True, text=True).stdout.strip()
    procs = []
    try:
        t = time.perf_counter()
        bulk_load(url, model_id, synthetic(real, cos, args.http_profiles, seed=7))
        load_s = time.perf_counter() - t
        ports = [free_port(), free_port()]
        t = time.perf_counter()
        procs = [start_replica(url, p, tmp / f"replica{i}.log") for i, p in enumerate(ports)]
        ready_s = time.perf_counter() - t
        root = DATA / "speeches5" / "audio"
        speakers = sorted(p.name for p in root.iterdir() if p.is_dir())
        clips = query_clips(rec)  # those that hold speech: the others are answered 400 no_speech
        raws = {p: [request("/v1/identify", p, multipart({}, [("audio", c)])) for c in clips] for p in ports}

        async def run():
            await asyncio.gather(*(load(p, raws[p], 1, 2.0) for p in ports))  # warm-up
            results = await asyncio.gather(*(load(p, raws[p], args.clients // 2, args.seconds) for p in ports))
            loaded = asyncio.gather(*(load(p, raws[p], args.clients // 2, 8.0) for p in ports))
            enrol = multipart({"name": "newcomer"}, [("audio", root / speakers[2] / f"{i}.wav") for i in range(100, 110)])
            probe = multipart({}, [("audio", root / speakers[2] / "160.wav")])
            fresh = await freshness(ports, enrol, probe, "newcomer")
            await loaded
            return results, fresh

        results, fresh = asyncio.run(run())
        lat = np.concatenate([r[0] for r in results]) * 1e3
        return {"profiles": args.http_profiles, "replicas": 2, "clients": args.clients, "seconds": args.seconds,
                "requests": int(lat.size), "errors": int(sum(r[1] for r in results)),
                "req_per_s": round(lat.size / max(r[2] for r in results), 1),
                "p50_ms": round(float(np.percentile(lat, 50)), 1), "p99_ms": round(float(np.percentile(lat, 99)), 1),
                "bulk_load_s": round(load_s, 1), "replicas_ready_s": round(ready_s, 1),
                "replica_rss_mb": [round(rss_mb(p.pid)) for p in procs],
                "enrolled_on_a_found_on_b_s": round(fresh, 3)}
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=60)
        if not args.pg:
            subprocess.run(["bash", str(REPO / ".ci" / "pg.sh"), "stop", str(pg_dir)], capture_output=True)


def markdown(doc: dict, command: str) -> str:
    lines = [f"{doc['machine']}, load average {doc['load_average_at_start']} at start.", "",
             f"Synthetic profiles around {doc['real_segments']} real libri-dev segment embeddings (mean cosine of a "
             f"real segment to its speaker's mean, reproduced by the synthetic spread: {doc['same_speaker_cos']:.3f}); "
             "see the script's docstring for how they are made.", "",
             "## Search only (one identify, one thread)", "",
             "p50/p99: wall time per search; CPU p99: the search thread's own CPU time (the machine is shared, and "
             "other processes stretch wall time, not that).", "",
             "| profiles | index | build s | memory MB | p50 ms | p99 ms | CPU p99 ms | recall@1 vs exact | exact p99 ms |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in doc["index"]:
        i, e = r["index"], r["exact"]
        lines.append(f"| {r['profiles']:,} | {i['kind']} | {i['build_s']} | {i['memory_mb']} | {i['p50_ms']} | "
                     f"{i['p99_ms']} | {i['cpu_p99_ms']} | {i['recall_at_1']} | {e['p99_ms']} |")
    sweep = [(r["profiles"], v) for r in doc["index"] for k, v in r.items() if k.startswith("index-nprobe")]
    if sweep:
        lines += ["", "IVF lists visited (nprobe) swept; the shipped value (voxprint.index.IVF_NPROBE) is the row above:", "", "| profiles | nprobe | p50 ms | p99 ms | CPU p99 ms | recall@1 |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {n:,} | {v['nprobe']} | {v['p50_ms']} | {v['p99_ms']} | {v['cpu_p99_ms']} | {v['recall_at_1']} |"
                  for n, v in sweep]
    if doc.get("http"):
        h = doc["http"]
        lines += ["", f"## HTTP: {h['replicas']} replicas on one PostgreSQL, {h['clients']} clients", "",
                  "| profiles | requests | errors | req/s | p50 ms | p99 ms | replica RSS MB | enrolled on A, found on B |",
                  "|---|---|---|---|---|---|---|---|",
                  f"| {h['profiles']:,} | {h['requests']} | {h['errors']} | {h['req_per_s']} | {h['p50_ms']} | "
                  f"{h['p99_ms']} | {' / '.join(map(str, h['replica_rss_mb']))} | {h['enrolled_on_a_found_on_b_s']} s |",
                  "", f"Bulk load of the store: {h['bulk_load_s']} s; both replicas up (profiles read, index built): "
                      f"{h['replicas_ready_s']} s. 1-s speeches5 clips, {h['seconds']} s of load; the enrol-to-found "
                      "time was measured under the same load."]
    return "\n".join(lines) + "\n"


def main() -> None:
    import signal

    # SIGTERM unwinds like Ctrl-C, so the replicas and the throw-away cluster are stopped on the way out
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000, 1_000_000])
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--nprobe", type=int, nargs="+", default=[8, 16, 32, 64],
                    help="IVF lists visited, swept at sizes that use IVF (the shipped one is the table's row)")
    ap.add_argument("--http-profiles", type=int, default=1_000_000, help="0: skip the HTTP part")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--pg", help="an existing PostgreSQL URL (default: a throw-away cluster)")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "results" / "scale.md")
    args = ap.parse_args()
    command = " ".join(["python -m benchmarks.scale", *sys.argv[1:]])
    real, cos = real_voices()
    doc = {"load_average_at_start": round(os.getloadavg()[0], 2), "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                    cwd=REPO).stdout.strip(),
           "date": datetime.now(UTC).strftime("%Y-%m-%d"), "machine": f"{os.cpu_count()} cores",
           "command": command, "real_segments": len(real), "same_speaker_cos": cos,
           "index": index_rows(real, cos, args.sizes, args.queries, args.nprobe)}
    if args.http_profiles:
        doc["http"] = http_rows(args, real, cos)
        print(json.dumps(doc["http"]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(doc, indent=1) + "\n")
    h = doc.get("http")
    big = doc["index"][-1]
    headline = (f"{big['profiles']:,} profiles: search p99 {big['index']['p99_ms']} ms, recall@1 "
                f"{big['index']['recall_at_1']}" + (f"; HTTP 2 replicas p99 {h['p99_ms']} ms" if h else ""))
    print(f"wrote {write_result('scale', markdown(doc, command), title='Identify at scale', command=command, inputs=INPUTS, headline=headline, path=args.out)}")


if __name__ == "__main__":
    main()
