"""Embeddings and quality of libri-dev segments under noise conditions, cached on disk.

Shared by benchmarks/openset.py (reports on TEST speakers) and benchmarks/fit_scoring.py (fits the
cohort and the calibration on TRAIN and DEV speakers). One .npz per (system, speaker group, condition)
in the disk cache `openset` (voxprint.cache: $VOXPRINT_CACHE/openset), so a rerun computes nothing again.

    emb, speech_s, snr = cached(system, "test", segs, cond, seed)   # [N, E], [N], [N] in segment order

Warm the cache of the TEST speakers' report conditions ahead of benchmarks/openset.py:

    python -m benchmarks.openset_data [voxprint] [resemblyzer]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.common import code_key
from voxprint import protocol as P
from voxprint.cache import DiskCache
from voxprint.quality import snr_db, speech_seconds

CACHE = "openset"  # the DiskCache these entries live in
# what a cached entry (embeddings, speech seconds, SNR of noisy segments) is computed by: its key hashes them
EMBED_INPUTS = ["voxprint/inference.py", "voxprint/clip_scoring.py", "voxprint/vad", "voxprint/pretrained",
                "voxprint/features", "voxprint/melspec.py", "voxprint/quality.py", "voxprint/protocol.py",
                "voxprint/augment.py", "voxprint/schema.py", "benchmarks/anchors.py", "benchmarks/openset_data.py"]

# Fitting conditions (train/dev speakers): white, pink and the recorded noises other than running_tap.
FIT_NOISES = ("white", "pink_noise", "doing_the_dishes", "exercise_bike", "dude_miaowing")
# Report conditions (test speakers): white and the held-out running_tap.
REPORT_NOISES = ("white", P.HELD_OUT_NOISE)
SNRS = (10.0, 5.0, 0.0)


def condition(noise: str | None, snr: float | None, noise_dir: Path) -> P.Condition:
    if noise is None:
        return P.Condition("clean")
    source = "white" if noise == "white" else str(noise_dir / f"{noise}.wav")
    return P.Condition(f"{noise}-{snr:g}dB", source, snr)


def conditions(noises, noise_dir: Path) -> list[P.Condition]:
    return [condition(None, None, noise_dir)] + [condition(n, s, noise_dir) for n in noises for s in SNRS]


def cached(system, group: str, segs: list[P.Segment], cond: P.Condition, seed: int):
    """(embeddings [N, E] float32, speech seconds [N], SNR estimate dB [N]) of segs under cond."""

    def compute() -> dict[str, np.ndarray]:
        bank = P.NoiseBank(seed)
        waves = [bank.apply(s, cond) for s in segs]
        return {"emb": np.asarray(system.embed(waves), dtype=np.float32),
                "speech_s": np.array([speech_seconds(w, P.SAMPLE_RATE, system.vad) for w in waves]),
                "snr": np.array([snr_db(w, P.SAMPLE_RATE) for w in waves])}

    z = DiskCache.named(CACHE).get_or_compute(f"{system.key}-{group}-{cond.name}-s{seed}-n{len(segs)}", compute)
    return z["emb"], z["speech_s"], z["snr"]


class Voxprint:
    """The shipped encoder through Recognizer.score_waves (the path enrol/identify use)."""

    label = "voxprint"

    def __init__(self):
        from voxprint.inference import Recognizer

        self.rec = Recognizer()
        self.vad = self.rec.cfg.vad
        self.name = "voxprint encoder (shipped)"
        self.key = f"voxprint-{code_key(EMBED_INPUTS)}"  # another encoder or VAD never reads these entries

    def embed(self, waves):
        return self.rec.score_waves(waves)[1]


class Resemblyzer:
    """resemblyzer's standard use (benchmarks/anchors.py)."""

    label = "resemblyzer"

    def __init__(self):
        from importlib.metadata import version

        from benchmarks.anchors import Resemblyzer as R
        from voxprint.config import VadConfig

        self.r = R(P.SAMPLE_RATE)
        self.vad = VadConfig()
        self.name = f"resemblyzer {version('resemblyzer')}"
        self.key = f"resemblyzer-{version('resemblyzer')}-{code_key(EMBED_INPUTS)}"

    def embed(self, waves):
        return self.r.embed(waves)


def warm(system, group: str, segs, noises, noise_dir: Path, seed: int) -> None:
    """Fill the cache for every condition (prints progress)."""
    import time

    for c in conditions(noises, noise_dir):
        t = time.perf_counter()
        cached(system, group, segs, c, seed)
        print(f"{system.label} {group} {c.name}: {time.perf_counter() - t:.0f} s", flush=True)


if __name__ == "__main__":
    import sys

    import torch

    from benchmarks.common import DATA

    torch.set_num_threads(1)

    split = P.load_split()
    root, noise_dir = DATA / "libri-dev", DATA / "noise"
    which = sys.argv[1:] or ["voxprint"]
    for key in which:
        system = Voxprint() if key == "voxprint" else Resemblyzer()
        warm(system, "test", P.segments(root, split["test"]), REPORT_NOISES, noise_dir, P.NOISE_SEED)
        warm(system, "dev", P.segments(root, split["dev"]), FIT_NOISES, noise_dir,
             P.DEV_NOISE_SEED)
        if key == "voxprint":
            warm(system, "train", P.segments(root, split["train"]), FIT_NOISES, noise_dir, P.DEV_NOISE_SEED)
