"""Evaluation: clip-level scores from window-level predictions, classification metrics,
and robustness (accuracy vs SNR) with noise held out from training."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from . import audio
from .augment import NoiseSource, mix_at_snr
from .cache import FeatureCache, cache_key
from .io import atomic_write_text, write_json


def cache_dir() -> Path | None:
    """Feature cache folder: $VOXPRINT_CACHE, else the user cache. 'off' disables it."""
    env = os.environ.get("VOXPRINT_CACHE")
    if env == "off":
        return None
    if env:
        return Path(env)
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "voxprint" / "features"


def clip_windows(waves: list[np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray]:
    """All inference windows of all clips -> ([W, n], owner clip index per window)."""
    wins, owner = [], []
    for i, y in enumerate(waves):
        w = audio.windows(y, n)
        wins.append(w)
        owner.extend([i] * len(w))
    return np.concatenate(wins).astype(np.float32), np.asarray(owner)


@torch.no_grad()
def window_features(features: torch.nn.Module, windows: np.ndarray, batch: int = 512) -> np.ndarray:
    out = [features(torch.from_numpy(windows[i : i + batch])).numpy() for i in range(0, len(windows), batch)]
    return np.concatenate(out)


@torch.no_grad()
def score_windows(net, feats: np.ndarray, owner: np.ndarray, n_clips: int, batch: int = 512):
    """Average window softmax (and L2-normalised embeddings) per clip -> (probs [N,K], emb [N,E])."""
    probs, embs = [], []
    for i in range(0, len(feats), batch):
        logits, emb = net(torch.from_numpy(feats[i : i + batch]))
        probs.append(torch.softmax(logits, -1).numpy())
        embs.append(torch.nn.functional.normalize(emb, dim=-1).numpy())
    return pool_clips(np.concatenate(probs), owner, n_clips), pool_clips(np.concatenate(embs), owner, n_clips, True)


def pool_clips(values: np.ndarray, owner: np.ndarray, n_clips: int, normalise: bool = False) -> np.ndarray:
    out = np.zeros((n_clips, values.shape[1]), dtype=np.float64)
    np.add.at(out, owner, values)
    out /= np.bincount(owner, minlength=n_clips)[:, None]
    if normalise:
        out /= np.linalg.norm(out, axis=1, keepdims=True) + 1e-12
    return out.astype(np.float32)


def clean_features(features, feature_cfg, sample_rate: int, n: int, paths: list[str], waves: list[np.ndarray]):
    """Window features of clean clips, through the on-disk cache -> (feats, owner)."""
    wins, owner = clip_windows(waves, n)
    key = cache_key(paths, feature_cfg, sample_rate=sample_rate, window=n)
    feats = FeatureCache(cache_dir()).get_or_compute(key, lambda: window_features(features, wins))
    return feats, owner


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str]) -> dict:
    # imported here: sklearn costs ~1 s of start-up that `voxprint predict` does not need
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    idx = list(range(len(labels)))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=idx, zero_division=0)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=idx, average="macro", zero_division=0)),
        "n": int(len(y_true)),
        "per_speaker": {labels[i]: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                                    "support": int(s[i])} for i in idx},
        "confusion": confusion_matrix(y_true, y_pred, labels=idx).tolist(),
    }


def write_confusion(path: Path, confusion: list[list[int]], labels: list[str]) -> None:
    lines = ["true\\pred," + ",".join(labels)]
    lines += [f"{labels[i]}," + ",".join(str(c) for c in row) for i, row in enumerate(confusion)]
    atomic_write_text(path, "\n".join(lines) + "\n")


def write_metrics(out_dir: Path, metrics: dict, labels: list[str], extra: dict) -> None:
    write_confusion(out_dir / "confusion.csv", metrics["confusion"], labels)
    write_json(out_dir / "metrics.json", {k: v for k, v in metrics.items() if k != "confusion"} | extra)


def robustness(net, features, waves: list[np.ndarray], y: np.ndarray, n: int, sources: list[NoiseSource],
               snrs: list[float], labels: list[str], seed: int = 1234) -> list[dict]:
    """Accuracy at each SNR for each noise source. Each clip gets one fixed noise draw
    (seeded by clip), reused at every SNR, so the curve differs only by the SNR."""
    rows = []
    for si, src in enumerate(sources):
        noises = [src.sample(len(w), np.random.default_rng([seed, si, i])) for i, w in enumerate(waves)]
        for snr in snrs:
            noisy = [mix_at_snr(w, z, snr) for w, z in zip(waves, noises)]
            wins, owner = clip_windows(noisy, n)
            probs, _ = score_windows(net, window_features(features, wins), owner, len(waves))
            m = classification_metrics(y, probs.argmax(1), labels)
            rows.append({"noise": src.name, "snr_db": float(snr), "accuracy": round(m["accuracy"], 4),
                         "macro_f1": round(m["macro_f1"], 4)})
    return rows
