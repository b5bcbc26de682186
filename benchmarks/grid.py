"""Time the whole grid and the batch-1 latency of every model, in one run.

    python benchmarks/grid.py [--data fsdd] [--out DIR] [--no-augment] [-- extra voxprint run args]

Prints wall minutes for `voxprint run` (training, test, robustness, resources, the
unseen-speaker study when the data allows, the report), each run's training seconds, and
batch-1 latency (features + model, one thread) in PyTorch and onnxruntime.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from voxprint.cli import main as voxprint
from voxprint.io import read_csv


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="fsdd")
    ap.add_argument("--out", help="run folder (default: a fresh temporary one, removed afterwards)")
    ap.add_argument("--no-augment", action="store_true")
    ap.add_argument("extra", nargs="*", help="more `voxprint run` arguments (after --)")
    args = ap.parse_args(argv)
    tmp = None
    out = Path(args.out) if args.out else Path(tmp := tempfile.mkdtemp(prefix="voxprint-grid-")) / "run"
    if (out / "results.csv").exists():
        sys.exit(f"{out} already holds a finished run: timing it would measure nothing; use a new --out")
    cmd = ["run", "--data", args.data, "--out", str(out), "--no-progress", *args.extra]
    if args.no_augment:
        cmd.append("--no-augment")
    print(f"cores: {os.cpu_count()}, command: voxprint {' '.join(cmd)}", flush=True)
    start = time.perf_counter()
    rc = voxprint(cmd)
    wall = time.perf_counter() - start
    if rc != 0:
        sys.exit(rc)
    results = {(r["model"], r["feature"], r["seed"]): r for r in read_csv(out / "results.csv")}
    res = read_csv(out / "resources.csv")
    print(f"\n{'run':<20} {'accuracy':>9} {'train s':>8} {'params':>8} {'KB':>6} {'b1 torch ms':>12} {'b1 onnx ms':>11}")
    for r in res:
        row = next(v for k, v in results.items() if r["run"].startswith(f"{k[0]}-{k[1]}"))
        print(f"{r['run']:<20} {float(row['accuracy']):>9.4f} {float(r['train_seconds']):>8.1f} {int(r['params']):>8} "
              f"{int(r['size_bytes']) / 1024:>6.0f} {float(r['latency_ms_b1']):>12.3f} {float(r['latency_ms_b1_onnx']):>11.3f}")
    train_total = sum(float(r["train_seconds"]) for r in results.values())
    # results.csv is written when the last grid cell (train + test + robustness) is done;
    # the rest is resources, the unseen-speaker study and the report.
    t0 = (out / "config.yaml").stat().st_mtime
    grid = (out / "results.csv").stat().st_mtime - t0
    print(f"\ngrid: {grid / 60:.2f} min for {len(results)} runs (train + test + robustness; "
          f"{train_total / 60:.2f} min of it training)")
    for name in ("resources.csv", "verification.json", "report.html"):
        if (out / name).exists():
            print(f"  then {name:<18} done at {((out / name).stat().st_mtime - t0) / 60:.2f} min")
    print(f"voxprint run wall time: {wall / 60:.2f} min")
    if tmp:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
