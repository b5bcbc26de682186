"""Cost of on-the-fly noise augmentation: the same training epochs with and without it.

    python benchmarks/augment_cost.py [--model cnn] [--feature mel] [--epochs 3]

Both runs use the same data, model and settings; only augment.enabled differs (noise
mixing per example in the loader + SpecAugment on the batch). Prints seconds per epoch
and the ratio augmented / clean.
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
    ap.add_argument("--epochs", type=int, default=3)
    args = ap.parse_args(argv)
    cfg = C.Config()
    cfg.data.path, cfg.model.name, cfg.features.name = args.data, args.model, args.feature
    cfg.train.max_epochs = cfg.train.min_epochs = args.epochs
    cfg.train.progress = False
    ds = discover(cfg.data.path)
    sr = dataset_rate(ds)
    parts, labels, _ = prepare(ds, cfg.data, 0, sr)
    aug = Augmenter(build_sources(cfg.augment.noise, sr, "train", cfg.augment.train_fraction, ds.noise_dir),
                    cfg.augment.prob, cfg.augment.snr_db)
    secs = {}
    for enabled in (False, True, False, True):  # interleaved, so drift on a shared machine hits both
        c = copy.deepcopy(cfg)
        c.augment.enabled = enabled
        with tempfile.TemporaryDirectory() as d:
            _, info = train(c, parts, len(labels), sr, Path(d), aug)
        secs.setdefault(enabled, []).append(info["train_seconds"] / args.epochs)
    clean, noisy = min(secs[False]), min(secs[True])
    print(f"{args.model}/{args.feature} on {ds.name}: {len(parts['train'].items)} training clips")
    print(f"clean epoch     {clean:6.2f} s")
    print(f"augmented epoch {noisy:6.2f} s")
    print(f"ratio           {noisy / clean:6.2f}x  (goal <= 2x)")


if __name__ == "__main__":
    main()
