"""What every benchmark and test shares: the repository root and where the shared recordings are."""

from __future__ import annotations

import functools
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# $VOXPRINT_DATA, else the shared data folder beside the checkout (../shared/data), as tests and CI use it
DATA = Path(os.environ.get("VOXPRINT_DATA") or REPO.parent / "shared" / "data")


def _head() -> str | None:
    import subprocess

    out = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True)
    return out.stdout.strip() or None


# the commit a benchmark started at: what it measured, whatever is committed while it runs
START_COMMIT = _head()


def code_key(paths: list[str]) -> str:
    """16 hex digits of SHA-256 over the contents of `paths` (files, or every file under a folder; relative to
    the repository), read once per process. A benchmark's cache of embeddings keyed by the code and weights
    that computed them is never read once one of those changes (a key by name alone could serve entries of
    an encoder or VAD since replaced)."""
    return _code_key(tuple(sorted(paths)))


@functools.cache
def _code_key(paths: tuple[str, ...]) -> str:
    import hashlib

    h = hashlib.sha256()
    for rel in paths:
        p = REPO / rel
        for f in sorted(p.rglob("*")) if p.is_dir() else [p]:
            if f.is_file() and "__pycache__" not in f.parts:
                h.update(f.relative_to(REPO).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def command(module: str) -> str:
    """The command line that ran this benchmark, as it is run: `python -m benchmarks.NAME ARGS`."""
    import shlex
    import sys

    return " ".join(["python -m", module, *map(shlex.quote, sys.argv[1:])])


def publish(name: str, body: str, *, title: str, inputs: list[str], module: str, headline: str = "") -> Path:
    """Write docs/results/NAME.md (voxprint.report.results.write_result): the stamp says this run's command,
    the commit, and `inputs`, the code the figures depend on (stale once one of them changes)."""
    from voxprint.report.results import code_version, write_result

    path = write_result(name, body, title=title, command=command(module), inputs=inputs, headline=headline, root=REPO,
                        code=code_version(REPO, inputs, since=START_COMMIT))
    print(f"wrote {path}")
    return path


# A small, fresh process that starts the measured command and reports that command's own peak: a
# child started straight from this script would count this script's pages too (vfork shares them).
LAUNCH = """
import os, subprocess, sys, time

t = time.perf_counter()
p = subprocess.Popen(sys.argv[1:])
_, status, usage = os.wait4(p.pid, 0)
print(f"@@measured {usage.ru_maxrss} {time.perf_counter() - t} {os.waitstatus_to_exitcode(status)}", file=sys.stderr)
"""


def peak_of(cmd: list[str], env: dict | None = None) -> tuple[float, float, int, str, str]:
    """Run `cmd` -> (peak RSS MB, seconds, exit status, stdout, stderr) of that one process."""
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-c", LAUNCH, *cmd], capture_output=True, text=True, env=env)
    err, _, report = p.stderr.rpartition("@@measured ")
    kb, secs, status = report.split()
    return int(kb) / 1024, float(secs), int(status), p.stdout, err
