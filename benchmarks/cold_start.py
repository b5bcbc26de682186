"""Cold start of `voxprint identify one.wav`: seconds from a new process to the answer.

    python -m benchmarks.cold_start [--runs 7] [--baseline REV] [--results]

Two libri-dev test speakers are enrolled with the shipped encoder into a temporary profile store, then
`python -m voxprint.cli identify CLIP` (a held-out 2-s segment of the first speaker) runs in a new
process `--runs` times, timed from start to exit. With `--baseline REV` the same is done, in the same
run and taking turns with this checkout, for that commit, checked out by `git worktree add` into a
temporary folder and run with PYTHONPATH pointing there (its own store: profiles are tied to the code
that made them). "Cold" is a new interpreter: nothing imported, no feature or speech cache
(VOXPRINT_CACHE=off); the operating system's file cache is warm (one untimed run each first).
With --results the table goes to docs/results/cold-start.md, stamped (voxprint.report.results) with the
command, commit, date and the code it depends on (INPUTS).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import DATA, REPO, publish

TARGET_S = 1.5  # issue 25: a cold `voxprint identify one.wav` answers within this
# What the timing depends on: the modules a cold identify imports and runs (a change to any makes the
# results file stale: python -m voxprint.report.results check)
INPUTS = ["benchmarks/cold_start.py", "voxprint/cli.py", "voxprint/commands.py", "voxprint/inference.py",
          "voxprint/melspec.py", "voxprint/clip_scoring.py", "voxprint/decisions.py", "voxprint/scoring.py",
          "voxprint/store.py", "voxprint/config.py", "voxprint/schema.py", "voxprint/dirs.py", "voxprint/audio.py",
          "voxprint/vad", "voxprint/export.py",
          "voxprint/pretrained"]


def git(*args: str, cwd: Path = REPO) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def commit_of(tree: Path) -> str:
    """Short commit of a checkout, '+' when its tracked files differ from it."""
    sha = git("rev-parse", "--short", "HEAD", cwd=tree)
    return sha + ("+" if git("status", "--porcelain", "--untracked-files=no", cwd=tree) else "")


def clips(folder: Path) -> tuple[dict[str, list[str]], str, str]:
    """Two libri-dev test speakers' segments as WAV files in `folder` -> ({speaker: enrolment files},
    the clip to identify (a held-out segment of the first), its speaker)."""
    import soundfile as sf

    from voxprint import protocol as P

    segs = P.segments(DATA / "libri-dev", P.load_split()["test"][3:5])
    enrol: dict[str, list[str]] = {}
    held_out: list[tuple[str, str]] = []
    for s in segs:
        path = folder / f"{s.speaker}_{s.index}.wav"
        sf.write(path, s.wave, P.SAMPLE_RATE)
        if s.enrol:
            enrol.setdefault(s.speaker, []).append(str(path))
        else:
            held_out.append((s.speaker, str(path)))
    first = next(iter(enrol))
    return enrol, next(p for spk, p in held_out if spk == first), first


class Tree:
    """One checkout of voxprint: its own profile store, and the `voxprint` command run from it."""

    def __init__(self, label: str, root: Path, work: Path):
        self.label, self.root, self.commit = label, root, commit_of(root)
        self.db = work / f"profiles-{self.commit}.db"
        self.env = {**os.environ, "PYTHONPATH": str(root), "VOXPRINT_CACHE": "off", "VOXPRINT_HOME": str(work)}
        self.env.pop("VOXPRINT_DB", None)
        self.seconds: list[float] = []

    def voxprint(self, *args: str) -> str:
        """Run `python -m voxprint.cli ARGS` from this checkout -> its stdout; a failure stops the benchmark."""
        done = subprocess.run([sys.executable, "-m", "voxprint.cli", *args, "--db", str(self.db)], check=False,
                              cwd=self.root, env=self.env, capture_output=True, text=True)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["(nothing on stderr)"])[-1]
            sys.exit(f"cold_start: {self.label} ({self.commit}): voxprint {args[0]} exited {done.returncode}: {last}")
        return done.stdout

    def identify(self, clip: str, speaker: str) -> float:
        """Seconds for one cold identify; its answer must name `speaker`."""
        start = time.perf_counter()
        out = self.voxprint("identify", clip)
        seconds = time.perf_counter() - start
        if out.split("\t")[1:2] != [speaker]:
            sys.exit(f"cold_start: {self.label} answered {out.strip()!r}, not {speaker}")
        return seconds


def measure(trees: list[Tree], runs: int, work: Path) -> str:
    """Enrol, warm the file cache, then `runs` timed identifies per tree, taking turns -> the clip."""
    enrol, clip, speaker = clips(work)
    for tree in trees:
        for name, files in enrol.items():
            tree.voxprint("enroll", name, *files)
        tree.identify(clip, speaker)  # untimed: the OS reads the files once
    for _ in range(runs):
        for tree in trees:
            tree.seconds.append(tree.identify(clip, speaker))
    return clip


def table(trees: list[Tree]) -> list[str]:
    rows = ["| checkout | commit | median s | max s | runs | within 1.5 s |", "|---|---|---:|---:|---:|---|"]
    for t in trees:
        rows.append(f"| {t.label} | {t.commit} | {statistics.median(t.seconds):.2f} | {max(t.seconds):.2f} | "
                    f"{len(t.seconds)} | {'yes' if max(t.seconds) <= TARGET_S else 'no'} |")
    return rows


def publish_table(trees: list[Tree]) -> Path:
    """docs/results/cold-start.md, stamped (benchmarks.common.publish) with this command, commit and INPUTS."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    mine = trees[0]
    headline = (f"cold `voxprint identify one.wav`: {statistics.median(mine.seconds):.2f} s median, "
                f"{max(mine.seconds):.2f} s max (target {TARGET_S} s)")
    if len(trees) > 1:
        headline += f"; {statistics.median(trees[1].seconds):.2f} s at {trees[1].commit}"
    about = (f"Wall seconds from a new `python -m voxprint.cli identify CLIP` process to its exit (answer printed), "
             f"{len(mine.seconds)} runs per checkout taking turns, on {os.cpu_count()} cores (load average "
             f"{load:.2f} at the end). CLIP is a 2-s held-out segment of one of two libri-dev test speakers "
             "enrolled with the shipped encoder; no feature or speech cache (VOXPRINT_CACHE=off), the OS file "
             "cache warm.")
    return publish("cold-start", "\n".join([about, "", *table(trees)]), title="Cold start of `voxprint identify`",
                   inputs=INPUTS, module=__spec__.name, headline=headline)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7, help="timed runs per checkout (default 7)")
    ap.add_argument("--baseline", metavar="REV", help="also time this commit, side by side")
    ap.add_argument("--results", action="store_true", help="also write the table to docs/results/cold-start.md")
    args = ap.parse_args(argv)
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    with tempfile.TemporaryDirectory(prefix="cold-start-") as tmp:
        work = Path(tmp)
        trees = [Tree("this checkout", REPO, work)]
        if args.baseline:
            base = work / "baseline"
            git("worktree", "add", "--detach", str(base), args.baseline)
            trees.append(Tree(f"baseline {args.baseline}", base, work))
        try:
            measure(trees, args.runs, work)
        finally:
            if args.baseline:
                git("worktree", "remove", "--force", str(work / "baseline"))
    print("\n".join(table(trees)))
    if args.results:
        publish_table(trees)


if __name__ == "__main__":
    main()
