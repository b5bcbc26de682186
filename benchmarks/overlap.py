"""Train the overlapped-speech detector that diarization ships (voxprint/diarize/overlap.onnx).

    python -m benchmarks.overlap --train [--steps 2000] [--seed 0]

Data: synthetic mixtures of libri-dev *train* speakers (benchmarks/synth.py, 8-s crops of short
conversations of 2-4 speakers, where a turn overlaps the previous one with a chance drawn in [0.3, 0.9],
levels +-6 dB), clean or with one of the tuning noises (doing_the_dishes, exercise_bike, white_noise,
pink_noise; never running_tap) at 0-30 dB. A 10-ms frame's label: two or more speakers heard in it (the
conversations' `voiced` reference). The step with the best frame F1 on a fixed set of mixtures of
libri-dev *dev* speakers is kept; its weights are exported to ONNX beside overlap.json (the command, the
data, the settings and the dev figures). Test speakers are never used (benchmarks/diarize.py measures
on them).
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

from benchmarks import conversations as conv
from benchmarks import synth
from benchmarks.common import REPO, command
from voxprint.diarize import overlap

CROP_S = 8.0
MIX = synth.ConversationConfig(min_speakers=2, max_speakers=4, min_seconds=10.0, max_seconds=14.0, level_db=6.0,
                               turn_median_s=2.0)
OVERLAP_CHANCE = (0.3, 0.9)  # per mixture, the chance that a turn starts before the last one ends
DEV_MIXTURES = 256


def build_net(channels: int = 64, dilations=(1, 2, 4, 8, 16, 32)):
    """Log-mel [B, N_MELS, T] -> overlap logits [B, T]: a 5-frame convolution, then residual dilated
    convolutions (each frame hears 0.65 s either side: an overlap is heard against the voices around it)."""
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, d: int):
            super().__init__()
            self.f = nn.Sequential(nn.Conv1d(channels, channels, 3, padding=d, dilation=d),
                                   nn.BatchNorm1d(channels), nn.ReLU())

        def forward(self, h):
            return h + self.f(h)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = nn.Sequential(nn.BatchNorm1d(overlap.N_MELS), nn.Conv1d(overlap.N_MELS, channels, 5, padding=2),
                                     nn.BatchNorm1d(channels), nn.ReLU())
            self.blocks = nn.Sequential(*[Block(d) for d in dilations])
            self.out = nn.Conv1d(channels, 1, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.out(self.blocks(self.inp(x)))[:, 0]

    return Net()


def labels(turns, n_frames: int) -> np.ndarray:
    """[n_frames] 1.0 where two or more of `turns` (voiced reference) cover a 10-ms frame's centre."""
    count = np.zeros(n_frames + 1, np.int32)
    step = overlap.HOP / overlap.SAMPLE_RATE
    for t in turns:
        count[int(round(t.start / step)) : int(round(t.end / step))] += 1
    return (count[:n_frames] >= 2).astype(np.float32)


def mixture(voices: dict, rng: np.random.Generator, noises: dict) -> tuple[np.ndarray, np.ndarray]:
    """One training example: (features [N_MELS, F], labels [F]) of an 8-s crop of a short conversation."""
    cfg = dataclasses.replace(MIX, overlap=float(rng.uniform(*OVERLAP_CHANCE)))
    name = str(rng.choice([*noises, "clean", "clean"]))
    c = synth.conversation(voices, cfg, int(rng.integers(1 << 31)),
                           noises.get(name), float(rng.uniform(0, 30)) if name != "clean" else None)
    n = round(CROP_S * overlap.SAMPLE_RATE)
    a = int(rng.integers(0, max(len(c.audio) - n, 0) + 1))
    y = c.audio[a : a + n]
    if len(y) < n:
        y = np.pad(y, (0, n - len(y)))
    y = y * float(10 ** (rng.uniform(-20, 10) / 20))
    f = overlap.features(y)
    shift = a / overlap.SAMPLE_RATE
    moved = [synth.Turn(t.start - shift, t.end - shift, t.label) for t in c.voiced]
    return f, labels([t for t in moved if t.end > 0], f.shape[1])


def batch(voices, rng, noises, size: int):
    xs, ys = zip(*(mixture(voices, rng, noises) for _ in range(size)))
    return np.stack(xs), np.stack(ys)


def f1(probs: np.ndarray, y: np.ndarray, threshold: float = 0.5) -> dict:
    hit = probs >= threshold
    tp, fp, fn = float((hit & (y > 0)).sum()), float((hit & (y == 0)).sum()), float((~hit & (y > 0)).sum())
    p, r = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    return {"precision": p, "recall": r, "f1": 2 * p * r / max(p + r, 1e-9)}


def split_voices() -> tuple[dict, dict]:
    import json

    s = json.loads((REPO / "voxprint" / "encoder" / "libri_split.json").read_text())
    from benchmarks.common import DATA

    def load(names):
        return synth.load_voices([DATA / "libri-dev" / n for n in names], overlap.SAMPLE_RATE)

    return load(s["train"]), load(s["dev"])


def train(steps: int, seed: int, batch_size: int = 24, lr: float = 2e-3) -> None:
    import torch

    from voxprint.io import write_json

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    train_v, dev_v = split_voices()
    noises = {n: conv.noise(n) for n in conv.TUNE_NOISES}
    dev_x, dev_y = batch(dev_v, np.random.default_rng(10_000 + seed), noises, DEV_MIXTURES)
    net = build_net()
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    best, best_state, t0 = {"f1": -1.0}, None, time.time()
    for step in range(1, steps + 1):
        net.train()
        x, y = batch(train_v, rng, noises, batch_size)
        loss = loss_fn(net(torch.from_numpy(x)), torch.from_numpy(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 250 == 0 or step == steps:
            net.eval()
            with torch.no_grad():
                p = torch.sigmoid(torch.cat([net(torch.from_numpy(dev_x[i : i + 64]))
                                             for i in range(0, len(dev_x), 64)])).numpy()
            m = f1(p, dev_y)
            print(f"step {step} loss {loss.item():.4f} dev {m} {time.time() - t0:.0f} s", flush=True)
            if m["f1"] > best["f1"]:
                best = {**m, "step": step}
                best_state = {k: v.clone() for k, v in net.state_dict().items()}
    net.load_state_dict(best_state)
    net.eval()
    torch.onnx.export(net, torch.zeros(1, overlap.N_MELS, 800), str(overlap.WEIGHTS), input_names=["logmel"],
                      output_names=["logits"], dynamic_axes={"logmel": {0: "batch", 2: "frames"},
                                                             "logits": {0: "batch", 1: "frames"}},
                      opset_version=17, dynamo=False)
    write_json(overlap.WEIGHTS.with_suffix(".json"), {
        "command": command(__spec__.name),
        "data": "libri-dev train speakers (voxprint/encoder/libri_split.json) mixed by benchmarks/synth.py; "
                "noises " + ", ".join(conv.TUNE_NOISES) + " at 0-30 dB; chosen on dev speakers",
        "steps": steps, "seed": seed, "batch": batch_size, "lr": lr, "crop_s": CROP_S,
        "mixtures": {**dataclasses.asdict(MIX), "overlap": list(OVERLAP_CHANCE)}, "dev": best,
        "params": int(sum(p.numel() for p in net.parameters())), "train_seconds": round(time.time() - t0)})
    print(f"wrote {overlap.WEIGHTS}: dev {best}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", action="store_true", help="train and write voxprint/diarize/overlap.onnx")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    import torch

    torch.set_num_threads(a.threads)
    if a.train:
        train(a.steps, a.seed)


if __name__ == "__main__":
    main()
