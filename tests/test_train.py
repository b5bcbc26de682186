"""One training run on synthetic speakers: what train.monitor makes early stopping and the kept weights watch."""

import numpy as np
import pytest

from voxprint import config as C
from voxprint.datasets import Loaded
from voxprint.io import read_csv
from voxprint.train import train


def speakers(sr: int, n_per: int, seed: int) -> Loaded:
    """Three 'voices': harmonic tones at 150/220/330 Hz with jittered pitch and noise, 1.5 s each."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(1.5 * sr)) / sr
    waves, labels = [], []
    for k, f0 in enumerate((150.0, 220.0, 330.0)):
        for _ in range(n_per):
            f = f0 * rng.uniform(0.97, 1.03)
            y = sum(np.sin(2 * np.pi * h * f * t) / h for h in (1, 2, 3)) + 0.3 * rng.standard_normal(len(t))
            waves.append((0.1 * y).astype(np.float32))
            labels.append(k)
    return Loaded([None] * len(waves), waves, np.array(labels))


@pytest.mark.parametrize("monitor", ["val_loss", "val_acc"])
def test_kept_weights_are_those_of_the_best_monitored_validation(tmp_path, monitor):
    import dataclasses

    cfg = C.load(None, ["features.n_mels=20", "train.max_steps=40",
                        "train.min_steps=40", "train.val_every_steps=10", "train.batch_size=8", "runtime.threads=1",
                        "runtime.progress=false", f"train.monitor={monitor}"])
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, name="tdnn"),
                              features=dataclasses.replace(cfg.features, name="mel"))
    parts = {"train": speakers(8000, 4, 0), "val": speakers(8000, 2, 1)}
    net, info = train(cfg, parts, 3, 8000, tmp_path, None)
    rows = read_csv(tmp_path / "history.csv")
    assert [int(r["step"]) for r in rows] == [10, 20, 30, 40] and info["steps"] == 40
    values = [float(r[monitor]) for r in rows]
    best = values.index(min(values) if monitor == "val_loss" else max(values))  # the first best: ties not saved
    assert info["best_step"] == int(rows[best]["step"])
    # the returned net is the kept checkpoint: its validation accuracy is the best row's
    import torch

    from voxprint.features import build_feature
    from voxprint.train import center_windows

    feats = build_feature(cfg.features, 8000)
    with torch.no_grad():
        logits, _ = net(feats(center_windows(parts["val"], 8000)))
    acc = float((logits.argmax(-1).numpy() == parts["val"].labels).mean())
    assert acc == pytest.approx(float(rows[best]["val_acc"]), abs=1e-6)


def test_an_unknown_monitor_is_refused_with_the_valid_ones():
    with pytest.raises(C.ConfigError, match=r"train\.monitor = 'val_f1'; valid: val_loss, val_acc"):
        C.load(None, ["train.monitor=val_f1"])


@pytest.mark.parametrize("model", ["stats", "tdnn"])
def test_the_few_shot_models_learn_voices_from_four_clips_each(tmp_path, model):
    """What the few-shot models are for: a handful of clips per speaker, clean, learnt well enough to
    name new clips of the same voices (chance is 1/3)."""
    import dataclasses

    cfg = C.load(None, ["features.n_mfcc=20", "train.max_steps=60", "train.min_steps=60", "train.val_every_steps=20",
                        "train.batch_size=8", "runtime.threads=1", "runtime.progress=false", "train.monitor=val_acc"])
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, name=model),
                              features=dataclasses.replace(cfg.features, name="mfcc"))
    parts = {"train": speakers(8000, 4, 0), "val": speakers(8000, 3, 1)}
    _, info = train(cfg, parts, 3, 8000, tmp_path, None)
    best = max(float(r["val_acc"]) for r in read_csv(tmp_path / "history.csv"))
    assert best >= 0.89 and info["steps"] == 60
