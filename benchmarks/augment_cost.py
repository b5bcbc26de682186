"""Cost of on-the-fly noise augmentation: the same training steps with and without it.

    python -m benchmarks.augment_cost [--model cnn] [--feature mel] [--steps 100]

Both runs use the same data, model and settings; only the augmenter differs (noise mixing per
example in the loader + SpecAugment on the batch). Prints seconds per 100 steps and the ratio
augmented / clean.
"""

from __future__ import annotations

import argparse
import copy
import tempfile
from pathlib import Path

from voxprint import config as C
from voxprint.augment import Augmenter, build_sources
from voxprint.datasets import dataset_rate, discover, prepare
from voxprint.train import train


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="fsdd")
    ap.add_argument("--model", default="cnn")
    ap.add_argument("--feature", default="mel")
    ap.add_argument("--steps", type=int, default=100)
    args = ap.parse_args(argv)
    cfg = C.Config()
    cfg.data.path, cfg.model.name, cfg.features.name = args.data, args.model, args.feature
    cfg.train.max_steps = cfg.train.min_steps = args.steps
    cfg.train.val_every_steps = args.steps
    ds = discover(cfg.data.path)
    sr = dataset_rate(ds)
    parts, labels, _, _ = prepare(ds, cfg.data, 0, sr)
    aug = Augmenter(build_sources(cfg.augment.noise, sr, "train", cfg.augment.train_fraction, ds.noise_dir),
                    cfg.augment.prob, cfg.augment.snr_db)
    secs = {}
    for enabled in (False, True, False, True):  # interleaved, so drift on a shared machine hits both
        with tempfile.TemporaryDirectory() as d:
            _, info = train(copy.deepcopy(cfg), parts, len(labels), sr, Path(d), aug if enabled else None)
        secs.setdefault(enabled, []).append(info["train_seconds"] * 100 / args.steps)
    clean, noisy = min(secs[False]), min(secs[True])
    print(f"{args.model}/{args.feature} on {ds.name}: {len(parts['train'].items)} training clips")
    print(f"clean, 100 steps     {clean:6.2f} s")
    print(f"augmented, 100 steps {noisy:6.2f} s")
    print(f"ratio           {noisy / clean:6.2f}x  (goal <= 2x)")


if __name__ == "__main__":
    main()
