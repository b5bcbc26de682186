"""What every benchmark and test shares: the repository root and where the shared recordings are."""

from __future__ import annotations

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
