"""How the general encoder was chosen: the issue's two routes, and a faster variant, on DEV speakers.

    python -m benchmarks.encoder_routes [--out runs/encoder-routes] [--steps 1200] [--results]

Each alternative is trained by `voxprint encoder train` (the same data, noise and seed as the shipped
encoder, whose command its provenance.json records) and judged as the shipped one was: the libri-dev
DEV speakers' EER (clean, white noise at 5 and 0 dB; the step with the lowest mean is kept), beside
the cost of one 1-s clip (waveform to embedding, batch 1, one thread, onnxruntime). Test speakers are
not used here: this is the choice, `benchmarks/encoder.py` the report.

- route 1 (shipped): resemblyzer's GE2E fine-tuned with noise towards the frozen original on clean input;
- route 2: a small CRNN over log-Mel trained from scratch to reproduce the teacher's embedding of the
  clean audio while it hears the noisy audio (distillation);
- route 1 at 20-ms frames: the shipped encoder fine-tuned further with a 20-ms frame hop, half the
  recurrent steps (the teacher keeps 10 ms): the latency candidate.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks.common import DATA, REPO  # noqa: E402
from voxprint import protocol as P  # noqa: E402
from voxprint.cli import main as voxprint  # noqa: E402
from voxprint.inference import Recognizer  # noqa: E402
from voxprint.io import read_json  # noqa: E402
from voxprint.pretrained import ENCODER_DIR  # noqa: E402

# the code these figures depend on: docs/results/ says they are stale once one of these changes
INPUTS = ["benchmarks/encoder_routes.py", "voxprint/encoder", "voxprint/models", "voxprint/features"]

COMMON = ["batch_size=16", "clean_batch=8", "crop_s=[1.0,1.6]", "denoise=2.0", "threads=1"]
ROUTES = {  # name -> (folder under --out, `voxprint encoder train --set` values)
    "route 2: CRNN student (distilled)": ("crnn-student", ["student=crnn", "lr=1e-3"]),
    "route 1 at 20-ms frames": ("ge2e-20ms", ["hop_ms=20", f"init={ENCODER_DIR}", "lr=1.5e-4"]),
}


def dev_row(name: str, folder: Path) -> dict:
    prov = read_json(folder / "provenance.json")
    best = min(prov["dev_history"], key=lambda h: h["mean_eer"])
    rec = Recognizer(folder, engine="onnx")
    return {"route": name, "steps": prov["steps"], "best_step": best["step"], "clean": best["clean"],
            "white-5dB": best["white-5dB"], "white-0dB": best["white-0dB"], "rec": rec,
            "params": sum(p.numel() for p in rec.net.parameters()),
            "onnx_mb": (folder / "model.onnx").stat().st_size / 1e6}


def time_rows(rows: list[dict], runs: int = 100) -> None:
    """ms per 1-s clip of each row's encoder, timed round-robin by benchmarks/encoder.py's `latencies`."""
    from benchmarks.encoder import latencies

    class System:
        def __init__(self, rec):
            self.rec = rec

        def embed_one(self, w):
            return self.rec.score_waves([w])[1][0]

    torch.set_num_threads(1)
    clip = np.random.default_rng(0).standard_normal(P.SAMPLE_RATE).astype(np.float32) * 0.1
    for r, ms in zip(rows, latencies([System(r["rec"]) for r in rows], clip, runs)):
        r["ms"] = ms


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "encoder-routes")
    ap.add_argument("--steps", type=int, default=1200)
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--results", action="store_true", help="write docs/results/encoder-routes.md")
    args = ap.parse_args(argv)
    rows = [dev_row("route 1: GE2E fine-tuned (shipped)", ENCODER_DIR)]
    for name, (sub, sets) in ROUTES.items():
        folder = args.out / sub
        if not (folder / "provenance.json").exists():
            cmd = ["encoder", "train", "--out", str(folder), "--data", args.data, "--set", f"steps={args.steps}",
                   "--set", f"val_every={max(1, args.steps // 12)}"]
            for s in COMMON + sets:
                cmd += ["--set", s]
            if voxprint(cmd) != 0:
                sys.exit(f"{name}: training failed")
        rows.append(dev_row(name, folder))
    time_rows(rows)
    head = f"{'':<40}{'steps':>6}{'best':>6}{'clean':>8}{'5 dB':>8}{'0 dB':>8}{'ms/1s':>8}{'params':>10}{'MB':>6}"
    print("\nlibri-dev DEV speakers' EER at each route's best dev step; ms per 1-s clip (onnx, one thread)\n" + head)
    for r in rows:
        print(f"{r['route']:<40}{r['steps']:>6}{r['best_step']:>6}{r['clean']:>8.4f}{r['white-5dB']:>8.4f}"
              f"{r['white-0dB']:>8.4f}{r['ms']:>8.2f}{r['params']:>10,}{r['onnx_mb']:>6.2f}")
    if args.results:
        from benchmarks.common import publish

        lines = ["Each route trained "
                 "on the shipped encoder's data, noise and seed; libri-dev DEV speakers' EER at its best dev step "
                 "(test speakers untouched); ms per 1-s clip, waveform to embedding, onnxruntime, one thread.", "",
                 "| route | steps (best) | dev EER clean | dev EER white 5 dB | dev EER white 0 dB | ms / 1-s clip "
                 "| params | ONNX MB |", "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['route']} | {r['steps']} ({r['best_step']}) | {r['clean']:.4f} | {r['white-5dB']:.4f} | "
                  f"{r['white-0dB']:.4f} | {r['ms']:.2f} | {r['params']:,} | {r['onnx_mb']:.2f} |" for r in rows]
        best = min(rows, key=lambda r: (r["clean"] + r["white-5dB"] + r["white-0dB"]) / 3)
        fastest = min(rows, key=lambda r: r["ms"])
        lines += ["", f"Lowest mean dev EER: {best['route']}; fastest: {fastest['route']} "
                  f"({rows[0]['ms'] / fastest['ms']:.1f}x the shipped encoder's speed, mean dev EER "
                  f"{(fastest['clean'] + fastest['white-5dB'] + fastest['white-0dB']) / 3:.4f} against "
                  f"{(rows[0]['clean'] + rows[0]['white-5dB'] + rows[0]['white-0dB']) / 3:.4f})."]
        publish("encoder-routes", "\n".join(lines), title="Encoder training routes", inputs=INPUTS,
                module=__spec__.name, headline=f"lowest mean dev EER: {best['route']}")


if __name__ == "__main__":
    main()
