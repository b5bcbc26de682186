"""The default `voxprint run`, timed: this tree, and optionally an older commit, side by side.

    python -m benchmarks.grid [--baseline REV] [--data fsdd] [-- extra voxprint run args]

Each variant runs `voxprint run --data D --no-progress` into a fresh temporary folder, in its own
process (an older commit from a temporary `git worktree`, on this environment's packages). Printed
per grid cell: seconds per epoch (an epoch = one pass over the training clips, whatever the
variant's budget unit), epochs trained, training seconds, test accuracy clean and at white 0 dB;
then the wall time of the whole command and the ratio. Run both on the same machine in one call:
timings from different machines or moments are not comparable.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from voxprint.report.results import REPORT_INPUTS, RUN_INPUTS
from voxprint.rundir import choose_best, read_results

# the code these figures depend on: docs/results/ says they are stale once one of these changes
INPUTS = RUN_INPUTS + REPORT_INPUTS + ["benchmarks/grid.py"]

ROOT = Path(__file__).resolve().parents[1]


def _csv(path: Path) -> list[dict]:
    import csv

    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _cell_name(r: dict) -> str:
    aug = r.get("augmented", "True") in ("True", "true")
    return (f"{r['model']}-{r['feature']}{'-aam' if r.get('head') == 'aam' else ''}"
            f"{'' if aug else '-noaug'}-s{r['seed']}")


def summarise(out: Path) -> dict[str, dict]:
    """Per cell: seconds per epoch, epochs, training seconds, clean, white-0-dB and recorded-noise-0-dB
    accuracy, and whether the run's own rule (validation only) chose it as the best model."""
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    n_train = sum(r["split"] == "train" for r in _csv(out / "split.csv"))
    per_epoch = math.ceil(n_train / cfg["train"]["batch_size"])
    rob = {(_cell_name(r), r["noise"], float(r["snr_db"])): float(r["accuracy"])
           for r in _csv(out / "robustness.csv")} if (out / "robustness.csv").exists() else {}
    best = _cell_name({k: str(v) for k, v in choose_best(read_results(out)).items()})
    cells = {}
    for r in _csv(out / "results.csv"):
        name = _cell_name(r)
        hist = _csv(out / name / "history.csv")
        # older runs log one row per epoch; newer ones one row per validation with the step count
        steps = int(r["steps"]) if r.get("steps") else len(hist) * per_epoch
        epochs = steps / per_epoch
        seconds = float(r["train_seconds"])
        cells[name] = {"s_per_epoch": seconds / epochs, "epochs": epochs, "train_s": seconds,
                       "acc": float(r["accuracy"]), "white0": rob.get((name, "white", 0.0), math.nan),
                       # the held-out end of the recorded noise bank (augment.py: training never hears it)
                       "noise0": rob.get((name, "dataset-noise", 0.0), math.nan), "best": name == best}
    return cells


def run_variant(label: str, tree: Path, data: str, extra: list[str], tmp: Path) -> tuple[float, dict, str]:
    out = tmp / label
    # a fresh feature / speech-region cache per variant: neither starts warm
    env = dict(os.environ, PYTHONPATH=str(tree), VOXPRINT_CACHE=str(tmp / f"cache-{label}"))
    cmd = [sys.executable, "-m", "voxprint.cli", "run", "--data", data, "--out", str(out), "--no-progress", *extra]
    print(f"[{label}] {' '.join(cmd[2:])}  (code from {tree})", flush=True)
    start = time.perf_counter()
    log = subprocess.run(cmd, env=env, cwd=tree, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if log.returncode != 0:
        sys.exit(f"[{label}] failed ({log.returncode}):\n{log.stderr[-3000:]}")
    return wall, summarise(out), log.stderr


def compare(variants: dict[str, tuple[float, dict, str]]) -> list[str]:
    """The side-by-side table and totals, as lines."""
    labels = list(variants)
    cells = list(dict.fromkeys(c for _, cs, _ in variants.values() for c in cs))
    cols = ["s/epoch", "epochs", "train s", "acc", "white 0dB", "noise 0dB"]
    # a column is as wide as its header (labels such as "old 126b39b" are long) plus two spaces
    heads = [f"{c} {v}" for c in cols for v in labels]
    width = [max(12, len(h) + 2) for h in heads]
    out = [f"{'cell':<18}" + "".join(f"{h:>{w}}" for h, w in zip(heads, width))]
    for c in cells:
        vals = []
        for key, fmt in (("s_per_epoch", ".2f"), ("epochs", ".1f"), ("train_s", ".0f"), ("acc", ".4f"),
                         ("white0", ".3f"), ("noise0", ".3f")):
            vals += [format(variants[v][1].get(c, {}).get(key, math.nan), fmt) for v in labels]
        out.append(f"{c:<18}" + "".join(f"{x:>{w}}" for x, w in zip(vals, width)))
    for v in labels:
        wall, cs, log = variants[v]
        out.append(f"[{v}] wall {wall / 60:.2f} min; training {sum(x['train_s'] for x in cs.values()) / 60:.2f} min; "
                   f"mean s/epoch {sum(x['s_per_epoch'] for x in cs.values()) / len(cs):.2f}; "
                   f"stderr log {len(log.encode())} bytes")
        for c, x in cs.items():
            if x.get("best"):
                out.append(f"[{v}] best model by validation: {c}: test accuracy {x['acc']:.4f}, white 0 dB "
                           f"{x['white0']:.3f}, recorded noise 0 dB {x['noise0']:.3f}")
    if len(labels) == 2:
        old, new = (variants[v][0] for v in labels)
        out.append(f"speed-up of the whole `voxprint run` ({labels[1]} vs {labels[0]}): {old / new:.2f}x")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", help="an older commit to time first, e.g. 126b39b")
    ap.add_argument("--data", default="fsdd")
    ap.add_argument("--results", action="store_true", help="write docs/results/grid-time.md with the table")
    ap.add_argument("extra", nargs="*", help="more `voxprint run` arguments (after --), given to every variant")
    args = ap.parse_args(argv)
    print(f"cores: {os.cpu_count()}", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="voxprint-grid-"))
    variants = {}
    try:
        if args.baseline:
            old = tmp / "baseline-tree"
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(old), args.baseline],
                           check=True)
            try:
                variants[f"old {args.baseline}"] = run_variant("old", old, args.data, args.extra, tmp)
            finally:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)], check=False)
        variants["new"] = run_variant("new", ROOT, args.data, args.extra, tmp)
        lines = compare(variants)
        print("\n" + "\n".join(lines))
        if args.results:
            from benchmarks.common import publish

            publish("grid-time", f"{os.cpu_count()} cores:\n\n```\n" + "\n".join(lines) + "\n```",
                    title="Time to a first result: the default `voxprint run`", inputs=INPUTS, module=__spec__.name,
                    headline=lines[-1] if lines else "")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
