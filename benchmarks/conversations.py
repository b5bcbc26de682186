"""Synthetic conversations for benchmarks/diarize.py: libri-dev speakers by split, seeded, with noise.

    python -m benchmarks.conversations --split test --n 3 --out /tmp/conv   # wav + reference RTTM each

Tuning sets use libri-dev train + dev speakers, with the noises doing_the_dishes, exercise_bike,
white_noise and pink_noise; measuring sets use its test speakers only, clean or with running_tap (never
in anything tuned), and `ocean-test`: the test half of ocean-train's speakers (benchmarks/profiles.py's
split: non-native English, children and adults, recorded unlike LibriSpeech), which neither the shipped
encoder nor anything in diarization was trained or tuned on. The distributions are voxprint.diarize.synth's (documented there); per conversation
the chance that a turn overlaps the previous one is drawn uniform in [0, 0.8], which gives 0-20 % of
speech overlapped (the benchmark reports the share measured).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np

from benchmarks import synth
from benchmarks.common import DATA, REPO
from voxprint import audio

SR = 16000
TUNE_NOISES = ("doing_the_dishes", "exercise_bike", "white_noise", "pink_noise")
TEST_NOISE = "running_tap"


def speakers(split: str) -> list[str]:
    """Speakers of a split: 'tune' = libri-dev train + dev, 'test' = libri-dev test, 'ocean-test' =
    ocean-train's test half."""
    if split == "ocean-test":
        from benchmarks.profiles import ocean_rows, ocean_split

        return ocean_split(ocean_rows(DATA / "ocean-train"))["test"]
    s = json.loads((REPO / "voxprint" / "encoder" / "libri_split.json").read_text())
    return s["train"] + s["dev"] if split == "tune" else s["test"]


def voices(split: str) -> dict[str, np.ndarray]:
    """{speaker: their recordings joined} of a split (speakers())."""
    root = DATA / ("ocean-train" if split == "ocean-test" else "libri-dev")
    return synth.load_voices([root / s for s in speakers(split)], SR)


def noise(name: str) -> np.ndarray:
    return audio.load(DATA / "noise" / f"{name}.wav", SR)[0]


def make(vs: dict, seed: int, cfg: synth.ConversationConfig, noise_name: str | None = None,
         snr_db: float | None = None) -> synth.Conversation:
    """Conversation `seed`: its overlap chance drawn from the seed, noise mixed at `snr_db`."""
    rng = np.random.default_rng(10_000 + seed)
    cfg = dataclasses.replace(cfg, overlap=float(rng.uniform(0.0, 0.8)))
    bed = noise(noise_name) if noise_name else None
    return synth.conversation(vs, cfg, seed, bed, snr_db)


def main() -> None:
    import soundfile as sf

    from voxprint.diarize import write_rttm

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", choices=["tune", "test", "ocean-test"], default="test")
    ap.add_argument("--n", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--noise", help="a noise of noise/ (running_tap only with --split test)")
    ap.add_argument("--snr", type=float, default=10.0)
    ap.add_argument("--min-seconds", type=float, default=60.0)
    ap.add_argument("--max-seconds", type=float, default=180.0)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    if a.noise == TEST_NOISE and a.split != "test":
        raise SystemExit("running_tap is kept out of anything tuned: use it with --split test only")
    vs, out = voices(a.split), Path(a.out)
    cfg = synth.ConversationConfig(min_seconds=a.min_seconds, max_seconds=a.max_seconds)
    for i in range(a.seed, a.seed + a.n):
        c = make(vs, i, cfg, a.noise, a.snr if a.noise else None)
        out.mkdir(parents=True, exist_ok=True)
        sf.write(out / f"conv{i:03d}.wav", c.audio, SR)
        write_rttm(out / f"conv{i:03d}.rttm", c.turns)
        print(f"{out / f'conv{i:03d}.wav'}\t{len(c.speakers)} speakers\t{len(c.audio) / SR:.0f} s\t"
              f"overlap {synth.overlap_share(c.turns):.3f}")


if __name__ == "__main__":
    main()
