"""Classification metrics of clip scores, and the files a run folder keeps them in
(metrics.json, confusion.csv)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .io import atomic_write_text, write_json


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


def nll(probs: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log-likelihood of the true labels under clip-level probabilities."""
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(y)), y], 1e-12, None))))


def write_confusion(path: Path, confusion: list[list[int]], labels: list[str]) -> None:
    lines = ["true\\pred," + ",".join(labels)]
    lines += [f"{labels[i]}," + ",".join(str(c) for c in row) for i, row in enumerate(confusion)]
    atomic_write_text(path, "\n".join(lines) + "\n")


def write_metrics(out_dir: Path, metrics: dict, labels: list[str], extra: dict) -> None:
    write_confusion(out_dir / "confusion.csv", metrics["confusion"], labels)
    write_json(out_dir / "metrics.json", {k: v for k, v in metrics.items() if k != "confusion"} | extra)
