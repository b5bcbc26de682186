"""Peak memory of `voxprint predict` over many files and one very long one (issue 10).

    python -m benchmarks.predict_memory [--run /tmp/q] [--minutes 60] [--files 50] [--rate 44100] [--channels 2]
                                        [--results]

Builds, in a temporary folder, `--files - 1` recordings of 1 to 25 FSDD clips each (8 kHz, 0.4-12 s)
and one `--minutes`-long recording at `--rate` Hz with `--channels` channels (default: CD-rate stereo,
as a phone or podcast recording would be), tiled from one speeches5 speaker's clips (real speech),
mixed to mono and resampled to the model's rate while it is read. Each measurement runs in a fresh
process, started by a small launcher process; its peak resident memory is its own ru_maxrss
(os.wait4 in the launcher). Printed side by side:
  - reading the long file as the loader did before (whole file decoded, then one-shot resample) and as
    audio.load does now (blocks decoded and resampled as a stream);
  - `voxprint predict` on the short files, on the long file alone, and on all files in one call;
  - `voxprint predict` on a file exactly at audio.MAX_SAMPLES at the model's rate (the longest file
    voxprint reads) and on one a second longer (refused from its header: one skip line, status 3).
Goal: every `predict` under 1.5 GB, whatever the number or length of the files. --results writes
docs/results/predict-memory.md with the table.

If --run does not exist, a small model is trained there first with
`voxprint run --config quick --out RUN --no-progress --no-report` (a few minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from benchmarks.common import peak_of

GOAL_MB = 1536
OLD_READ = """
import sys, numpy as np, soundfile as sf, soxr
y, sr = sf.read(sys.argv[1], dtype="float32", always_2d=True)
y = y.mean(axis=1) if y.shape[1] > 1 else y[:, 0]
y = soxr.resample(y, sr, int(sys.argv[2]), quality="HQ").astype(np.float32)
print(len(y))
"""
NEW_READ = """
import sys
from voxprint import audio
print(len(audio.load(sys.argv[1], int(sys.argv[2]))[0]))
"""


def data_home() -> Path:
    from benchmarks.common import DATA

    return DATA


def build_files(folder: Path, n_short: int, minutes: float, rate: int, channels: int) -> tuple[list[Path], Path]:
    """n_short recordings of 1-25 FSDD clips each, and one long recording tiled from speeches5."""
    fsdd = sorted((data_home() / "fsdd" / "recordings").glob("*.wav"))
    rng = np.random.default_rng(0)
    short = []
    for i in range(n_short):
        k = 1 + (i * 24) // max(1, n_short - 1)
        y = np.concatenate([sf.read(fsdd[j], dtype="int16")[0] for j in rng.choice(len(fsdd), k, replace=False)])
        short.append(folder / f"short_{i:02d}.wav")
        sf.write(short[-1], y, 8000, subtype="PCM_16")
    import soxr

    speaker = data_home() / "speeches5" / "audio" / "Nelson_Mandela"
    clips = np.concatenate([sf.read(speaker / f"{i}.wav", dtype="float32")[0] for i in range(300)])  # 300 s
    clips = soxr.resample(clips, 16000, rate) if rate != 16000 else clips
    # channels differ a little (a second microphone further away), as in a real stereo recording
    block = np.stack([clips * (1.0 - 0.2 * c) for c in range(channels)], axis=1)
    block = (np.clip(block, -1, 1) * 32767).astype(np.int16)
    long = folder / f"long_{minutes:g}min.wav"
    total = int(minutes * 60 * rate)
    with sf.SoundFile(long, "w", rate, channels, subtype="PCM_16") as f:
        for start in range(0, total, len(block)):
            f.write(block[: min(len(block), total - start)])
    return short, long


def limit_files(folder: Path, rate: int) -> tuple[Path, Path]:
    """A file of exactly audio.MAX_SAMPLES samples at `rate` (speech tiled), and one a second longer."""
    from voxprint.audio import MAX_SAMPLES

    speaker = data_home() / "speeches5" / "audio" / "Julia_Gillard"
    import soxr

    clips = np.concatenate([sf.read(speaker / f"{i}.wav", dtype="float32")[0] for i in range(300)])
    clips = (soxr.resample(clips, 16000, rate) * 32767).astype(np.int16) if rate != 16000 else \
        (clips * 32767).astype(np.int16)
    out = []
    for name, total in (("at_limit", MAX_SAMPLES), ("over_limit", MAX_SAMPLES + rate)):
        out.append(folder / f"{name}.wav")
        with sf.SoundFile(out[-1], "w", rate, 1, subtype="PCM_16") as f:
            for start in range(0, total, len(clips)):
                f.write(clips[: min(len(clips), total - start)])
    return out[0], out[1]


# the code these figures depend on: docs/results/ says they are stale once one of these changes
INPUTS = ["benchmarks/predict_memory.py", "voxprint/inference.py", "voxprint/audio.py", "voxprint/clip_scoring.py", "voxprint/vad", "voxprint/features"]

def ensure_model(run: Path, env: dict) -> None:
    if run.exists():
        return
    cmd = [sys.executable, "-m", "voxprint.cli", "run", "--config", "quick", "--out", str(run), "--no-progress",
           "--no-report"]
    print("training a small model first:", " ".join(cmd[2:]), flush=True)
    subprocess.run(cmd, env=env, check=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="/tmp/q", help="run or model folder (trained here if missing)")
    ap.add_argument("--minutes", type=float, default=60.0, help="length of the long recording")
    ap.add_argument("--files", type=int, default=50, help="files in all, the long one included")
    ap.add_argument("--rate", type=int, default=44100, help="sample rate of the long recording")
    ap.add_argument("--channels", type=int, default=2, help="channels of the long recording")
    ap.add_argument("--results", action="store_true", help="write docs/results/predict-memory.md")
    args = ap.parse_args(argv)
    env = os.environ | {"VOXPRINT_DATA": str(data_home())}
    run = Path(args.run)
    ensure_model(run, env)
    from voxprint import rundir
    from voxprint.config import load_resolved

    rate = load_resolved(rundir.resolve_model_dir(run) / rundir.CONFIG).data.sample_rate
    with tempfile.TemporaryDirectory(prefix="voxprint-predict-memory-") as tmp:
        env["VOXPRINT_CACHE"] = str(Path(tmp) / "cache")
        short, long = build_files(Path(tmp), args.files - 1, args.minutes, args.rate, args.channels)
        size = sum(p.stat().st_size for p in [*short, long]) / 2**20
        setup = (f"{len(short)} short files ({sum(sf.info(p).duration for p in short):.0f} s in all) + one "
                 f"{args.minutes:g}-minute {args.rate} Hz {args.channels}-channel file; {size:.0f} MB on disk; "
                 f"model at {rate} Hz")
        print(setup + "\n")
        predict = [sys.executable, "-m", "voxprint.cli", "predict", "--run", str(run)]
        rows = [
            ("read long file: whole, then resample (before)", [sys.executable, "-c", OLD_READ, str(long), str(rate)]),
            ("read long file: blocks, streamed (audio.load)", [sys.executable, "-c", NEW_READ, str(long), str(rate)]),
            (f"predict {len(short)} short files", predict + list(map(str, short))),
            ("predict the long file alone", predict + [str(long)]),
            (f"predict all {args.files} files in one call", predict + list(map(str, [*short, long]))),
        ]
        at_limit, over_limit = limit_files(Path(tmp), rate)
        hours = sf.info(at_limit).duration / 3600
        rows += [(f"predict a file at the limit ({hours:.2f} h)", predict + [str(at_limit)]),
                 ("predict a file 1 s over the limit (refused)", predict + [str(over_limit)])]
        print(f"{'measurement':<48} {'peak RSS MB':>11} {'seconds':>8} {'exit':>5} {'answers':>8}")
        worst, table = 0.0, []
        for name, cmd in rows:
            mb, secs, status, out, err = peak_of(cmd, env)
            answers = len(out.splitlines()) if "predict" in name else "-"
            print(f"{name:<48} {mb:>11.0f} {secs:>8.1f} {status:>5} {answers:>8}", flush=True)
            table.append(f"| {name} | {mb:.0f} | {secs:.1f} | {status} | {answers} |")
            if status != 0:
                tail = err.strip().splitlines()[-3:]
                print("   " + "\n   ".join(line if len(line) <= 160 else "..." + line[-157:] for line in tail))
            if name.startswith("predict"):
                worst = max(worst, mb)
        verdict = f"largest predict peak: {worst:.0f} MB (goal < {GOAL_MB} MB: {'met' if worst < GOAL_MB else 'NOT met'})"
        print("\n" + verdict)
    if args.results:
        from benchmarks.common import publish

        body = "\n".join([f"{setup}; each row a fresh process, peak RSS "
                          "= its ru_maxrss):", "", "| measurement | peak RSS MB | seconds | exit | answers |",
                          "|---|---:|---:|---:|---:|", *table, "", verdict + "."])
        publish("predict-memory", body, title="Memory of `voxprint predict`", inputs=INPUTS, module=__spec__.name,
                headline=verdict)


if __name__ == "__main__":
    main()
