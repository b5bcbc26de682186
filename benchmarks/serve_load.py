"""Load test of `voxprint serve`: identify requests/s and latency at 1 / 8 / 32 concurrent clients.

Starts a real server on a free 127.0.0.1 port (its own profile db in a temporary folder), enrols the
speeches5 speakers over HTTP, then for each client count sends 1-s clips (speeches5, 16 kHz: the server
resamples them to the model's rate) to POST /v1/identify for a fixed time, each client on its own
keep-alive connection, one request at a time. Then it enrols more names up to --profiles (1,000) and
runs the same levels again. Beside it, the same machine's `voxprint identify` batch throughput on the
same clips is printed as the ceiling (one process, all files in one call, no HTTP).

The client is a minimal HTTP/1.1 writer/reader on asyncio streams (requests are prebuilt bytes), so the
load generator takes as little of the shared CPU as it can; it runs in this process, the server in another.

    python -m benchmarks.serve_load --run /tmp/serve-run [--seconds 10] [--engine torch|onnx]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from benchmarks.common import DATA

# the code these figures depend on: docs/results/ says they are stale once one of these changes
INPUTS = ["benchmarks/serve_load.py", "voxprint/serve", "voxprint/inference.py", "voxprint/export.py", "voxprint/store.py", "voxprint/scoring.py", "voxprint/quality.py", "voxprint/vad", "voxprint/clip_scoring.py"]

BOUNDARY = "voxprintbench" + uuid.uuid4().hex


def multipart(fields: dict[str, str], files: list[tuple[str, Path]]) -> bytes:
    """A multipart/form-data body with text fields and audio files."""
    out = bytearray()
    for k, v in fields.items():
        out += f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
    for k, path in files:
        out += (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{k}"; filename="{path.name}"\r\n'
                f"Content-Type: audio/wav\r\n\r\n").encode()
        out += path.read_bytes() + b"\r\n"
    out += f"--{BOUNDARY}--\r\n".encode()
    return bytes(out)


def request(path: str, port: int, body: bytes) -> bytes:
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


async def roundtrip(reader, writer, raw: bytes) -> int:
    """Send one prebuilt request on a keep-alive connection, read the whole response -> status."""
    writer.write(raw)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = next(int(v) for k, _, v in (x.partition(":") for x in lines[1:]) if k.lower() == "content-length")
    await reader.readexactly(length)
    return status


async def load(port: int, raws: list[bytes], clients: int, seconds: float) -> tuple[list[float], int, float]:
    """`clients` connections, each sending requests back to back for `seconds`
    -> (latencies s, errors, wall seconds until the last response)."""
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter()
    stop = start + seconds

    async def client(k: int):
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = k
        try:
            while time.perf_counter() < stop:
                t = time.perf_counter()
                try:
                    status = await roundtrip(reader, writer, raws[i % len(raws)])
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    errors += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    continue
                latencies.append(time.perf_counter() - t)
                errors += status != 200
                i += 1
        finally:
            writer.close()

    await asyncio.gather(*(client(k) for k in range(clients)))
    return latencies, errors, time.perf_counter() - start


async def post_all(port: int, raws: list[bytes], concurrency: int = 8) -> list[int]:
    """Send every request (enrolments), `concurrency` at a time -> the statuses that were not 200."""
    queue = list(raws)
    failures: list[int] = []

    async def worker():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while queue:
            status = await roundtrip(reader, writer, queue.pop())
            if status != 200:
                failures.append(status)
        writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return failures


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(args, db: Path, port: int, log: Path) -> subprocess.Popen:
    """The server, its log in a file (a pipe nobody reads would fill up and block it)."""
    run = ["--run", args.run] if args.run else []
    cmd = [sys.executable, "-m", "voxprint.cli", "serve", *run, "--db", str(db), "--port", str(port),
           "--engine", args.engine]
    if args.workers:
        cmd += ["--workers", str(args.workers)]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(f"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode())
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("server did not come up in 120 s")


def clips(run: str | None = None) -> tuple[dict[str, list[Path]], list[Path]]:
    """speeches5: enrolment clips per speaker (those of 0-19 that enrolment's own checks accept: a fifth of
    speeches5's clips are crowd noise or applause in which the detector hears no speech, and enrolment
    refuses them) and query clips (those of 100-139 of every speaker that hold speech: identify skips the
    others, and the server answers them 400 no_speech)."""
    from voxprint.enrol_check import EnrolLimits, check_clip
    from voxprint.inference import Recognizer

    root = DATA / "speeches5" / "audio"
    if not root.is_dir():
        raise SystemExit(f"{root} not found; set VOXPRINT_DATA to the shared data folder")
    speakers = sorted(p.name for p in root.iterdir() if p.is_dir())
    rec = Recognizer(run)
    usable = lambda p: not check_clip(rec, rec.load(p), p.name, EnrolLimits()).problems
    enrol = {s: [p for p in (root / s / f"{i}.wav" for i in range(20)) if usable(p)] for s in speakers}
    return enrol, query_clips(rec)


def query_clips(rec) -> list[Path]:
    """speeches5 clips 100-139 of every speaker that hold speech by rec's detector (identify skips the others,
    and the server answers them 400 no_speech): the queries of this benchmark and of benchmarks/scale.py."""
    from voxprint.quality import measure

    root = DATA / "speeches5" / "audio"
    speakers = sorted(p.name for p in root.iterdir() if p.is_dir())
    heard = lambda p: measure(rec.load(p), rec.sample_rate, rec.cfg.vad).speech_s >= rec.cfg.vad.min_speech_seconds
    return [p for p in (root / s / f"{i}.wav" for i in range(100, 140) for s in speakers) if heard(p)]


def row(profiles: int, clients: int, latencies: list[float], errors: int, seconds: float) -> str:
    ms = np.array(latencies) * 1000 if latencies else np.array([float("nan")])
    return (f"{profiles:>8} {clients:>8} {len(latencies):>9} {len(latencies) / seconds:>8.1f} "
            f"{np.percentile(ms, 50):>7.1f} {np.percentile(ms, 99):>7.1f} {errors:>7}")


def ceiling(args, db: Path, files: list[Path]) -> list[str]:
    """`voxprint identify` on all files in one call (wall, with start-up); then the same Recognizer.identify
    call in this process once the model is loaded: as the CLI runs it (torch, its default threads), and
    with the server's settings (one intra-op thread; torch and onnx)."""
    import torch

    from voxprint.inference import Recognizer

    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "voxprint.cli", "identify", *map(str, files),
                    *(["--run", args.run] if args.run else []),
                    "--db", str(db)], check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    lines = [f"ceiling: `voxprint identify` on {len(files)} files in one call: {wall:.1f} s wall with start-up "
             f"= {len(files) / wall:.0f} files/s"]
    for engine, threads in (("torch", torch.get_num_threads()), ("torch", 1), ("onnx", 1)):
        torch.set_num_threads(threads)
        rec = Recognizer(args.run, engine=engine)
        rec.identify(files[:8], db=db)  # warm-up
        t = time.perf_counter()
        rec.identify(files, db=db)
        batch = time.perf_counter() - t
        lines.append(f"ceiling: the same batch call once loaded, {engine}, {threads} torch thread(s): {batch:.2f} s "
                     f"= {len(files) / batch:.0f} files/s")
    return lines


OUT: list[str] = []  # every printed result line, for the README block


def say(line: str) -> None:
    print(line, flush=True)
    OUT.append(line)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", help="run or model folder (default: the shipped general encoder)")
    ap.add_argument("--results", action="store_true", help="write docs/results/serve.md")
    ap.add_argument("--seconds", type=float, default=10.0, help="seconds per load level and server")
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--profiles", type=int, default=1000, help="enrolled names on the second server")
    ap.add_argument("--slices", type=int, default=4, help="each level alternates between the servers this often")
    ap.add_argument("--engine", choices=["auto", "torch", "onnx"], default="auto")
    ap.add_argument("--workers", type=int, default=0, help="server --workers (default: its own default)")
    args = ap.parse_args()

    enrol, query = clips(args.run)
    with tempfile.TemporaryDirectory(prefix="serve-load-") as tmp:
        folders = [Path(tmp) / "few", Path(tmp) / "many"]
        servers, ports = [], []
        try:
            for folder in folders:
                folder.mkdir()
                ports.append(free_port())
                servers.append(start_server(args, folder / "profiles.db", ports[-1], folder / "server.log"))
            asyncio.run(bench(args, ports, enrol, query))
        finally:
            for server in servers:
                server.terminate()
                server.wait(timeout=30)
        for line in ceiling(args, folders[1] / "profiles.db", query):
            say(line)
    if args.results:
        from benchmarks.common import publish

        publish("serve", "```\n" + "\n".join(OUT) + "\n```", title="The service under load", inputs=INPUTS,
                module=__spec__.name)


async def bench(args, ports: list[int], enrol: dict[str, list[Path]], query: list[Path]) -> None:
    """Two servers, one with the speeches5 speakers, one with --profiles names. Each level runs in slices
    that alternate between them, so a change in the machine's other load hits both alike."""
    counts = [len(enrol), args.profiles]
    for port, n in zip(ports, counts):
        first = [request("/v1/enroll", port, multipart({"name": s}, [("audio", p) for p in ps]))
                 for s, ps in enrol.items()]
        # the extra names enrol the speakers' own enrolment clips, which pass enrolment's checks (some of the
        # query clips do not: see clips())
        pool = [p for ps in enrol.values() for p in ps]
        extra = [request("/v1/enroll", port, multipart({"name": f"bench-{i:05d}"}, [("audio", pool[i % len(pool)])]))
                 for i in range(n - len(enrol))]
        failed = await post_all(port, first + extra)
        assert not failed, f"{len(failed)} enrolment(s) failed, HTTP status {sorted(set(failed))}"
    raws = {port: [request("/v1/identify", port, multipart({}, [("audio", p)])) for p in query] for port in ports}
    for port in ports:
        await load(port, raws[port], 2, 1.0)  # warm-up: first calls pay for lazy initialisation
    say(f"serve_load: {args.run or 'the shipped encoder'} ({args.engine}), {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.2f} at start, {args.seconds:g} s per level and server in {args.slices} "
          f"alternating slices, 1-s 16 kHz clips from speeches5")
    say(f"{'profiles':>8} {'clients':>8} {'requests':>9} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>7}")
    results = {}
    for c in args.clients:
        acc = {port: ([], 0, 0.0) for port in ports}
        for _ in range(args.slices):
            for port in ports:
                lat, err, wall = await load(port, raws[port], c, args.seconds / args.slices)
                old = acc[port]
                acc[port] = (old[0] + lat, old[1] + err, old[2] + wall)
        for port, n in zip(ports, counts):
            results[n, c] = acc[port]
    for n in counts:
        for c in args.clients:
            say(row(n, c, *results[n, c]))
    for c in args.clients:
        p99 = [np.percentile(results[n, c][0], 99) for n in counts]
        say(f"p99 with {counts[1]} profiles / with {counts[0]}, {c} clients: {p99[1] / p99[0]:.2f}x")


if __name__ == "__main__":
    main()
