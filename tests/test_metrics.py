"""metrics: classification metrics of clip scores and the files a run folder keeps them in."""

from __future__ import annotations

import numpy as np
import pytest

from voxprint.io import read_json
from voxprint.metrics import classification_metrics, nll, write_metrics


def test_classification_metrics_count_per_speaker_and_confusion():
    m = classification_metrics(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), ["ann", "bob"])
    assert m["accuracy"] == 0.75 and m["n"] == 4
    assert m["confusion"] == [[1, 1], [0, 2]]
    assert m["per_speaker"]["ann"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}


def test_nll_is_the_mean_negative_log_likelihood_and_never_infinite():
    probs = np.array([[0.5, 0.5], [0.0, 1.0]])
    assert nll(probs, np.array([0, 1])) == pytest.approx(np.log(2) / 2)
    assert np.isfinite(nll(probs, np.array([0, 0])))


def test_write_metrics_keeps_the_confusion_apart(tmp_path):
    m = classification_metrics(np.array([0, 1]), np.array([0, 0]), ["ann", "bob"])
    write_metrics(tmp_path, m, ["ann", "bob"], {"model": "cnn"})
    assert (tmp_path / "confusion.csv").read_text() == "true\\pred,ann,bob\nann,1,0\nbob,1,0\n"
    saved = read_json(tmp_path / "metrics.json")
    assert "confusion" not in saved and saved["model"] == "cnn" and saved["accuracy"] == 0.5
