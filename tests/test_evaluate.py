"""score_clips, the one clip scorer: extra window lengths (data.extra_windows) and per-clip batches,
on synthetic signals with models whose outputs say what they were given."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from voxprint.clip_scoring import score_clips

SR = 100  # samples per second: windows of 2 s = 200 samples


class Frames(torch.nn.Module):
    """[W, n] -> [W, 1, n]: the samples themselves as one feature row."""

    sample_rate = SR

    def forward(self, x):
        return x[:, None, :]


def by_length(main: int):
    """A model that answers [1, 0] for a window of `main` samples and [0, 1] for any other length."""

    def run(feats):
        emb = np.zeros((len(feats), 2))
        emb[:, 0 if feats.shape[2] == main else 1] = 1.0
        return None, emb

    return run


def test_each_window_length_counts_equally_and_a_clip_that_fits_is_heard_once():
    rng = np.random.default_rng(0)
    long_, mid, short = rng.standard_normal(500), rng.standard_normal(180), rng.standard_normal(100)
    _, emb = score_clips(by_length(200), Frames(), [long_, mid, short], 200, extra=[140])
    # 5 s: four 2-s windows and six 1.4-s ones, each length averaged apart, then the two equally
    np.testing.assert_allclose(emb[0], [2 ** -0.5, 2 ** -0.5], atol=1e-6)
    # 1.8 s: one (wrap-padded) 2-s window, and two 1.4-s ones since it is longer than them
    np.testing.assert_allclose(emb[1], [2 ** -0.5, 2 ** -0.5], atol=1e-6)
    # 1 s fits both: the extra length, which would hear it whole as the main one does, adds nothing
    np.testing.assert_allclose(emb[2], [1.0, 0.0], atol=1e-6)
    _, alone = score_clips(by_length(200), Frames(), [long_, mid, short], 200)
    np.testing.assert_allclose(alone, [[1.0, 0.0]] * 3, atol=1e-6)  # without extra: the 2-s windows alone


def test_probabilities_are_averaged_per_length_too():
    def run(feats):
        logits = np.zeros((len(feats), 2))
        logits[:, 0 if feats.shape[2] == 200 else 1] = 50.0
        return logits, np.ones((len(feats), 2))

    probs, _ = score_clips(run, Frames(), [np.random.default_rng(1).standard_normal(500)], 200, extra=[140])
    np.testing.assert_allclose(probs[0], [0.5, 0.5], atol=1e-6)


def batch_dependent(feats):
    """Like an int8 graph that quantises each batch with its own range: the batch's largest value
    moves every output in it."""
    x = feats[:, 0, :]
    return None, np.stack([x.mean(axis=1), np.full(len(x), np.abs(x).max()), np.ones(len(x))], axis=1)


def test_per_clip_batches_score_a_clip_the_same_alone_or_among_others():
    rng = np.random.default_rng(2)
    quiet, loud = 0.1 * rng.standard_normal(300), 10 * rng.standard_normal(300)
    _, alone = score_clips(batch_dependent, Frames(), [quiet], 200, per_clip=True)
    _, among = score_clips(batch_dependent, Frames(), [quiet, loud], 200, per_clip=True)
    np.testing.assert_allclose(among[0], alone[0], atol=1e-7)
    _, shared = score_clips(batch_dependent, Frames(), [quiet, loud], 200)  # one batch: the loud clip leaks in
    assert not np.allclose(shared[0], alone[0], atol=1e-3)


def test_the_shipped_int8_encoder_scores_a_clip_the_same_alone_or_among_others(shared_data):
    from voxprint import protocol as P
    from voxprint.inference import Recognizer

    rec = Recognizer()
    assert rec.engine == "onnx" and rec.per_clip  # its model.onnx is quantised
    segs = P.segments(shared_data / "libri-dev", P.load_split()["test"][:3])
    waves = [s.wave for s in segs[:6]]
    _, alone = rec.score_waves(waves[:1])
    _, among = rec.score_waves(waves)
    np.testing.assert_array_equal(among[0], alone[0])


def test_a_grid_refuses_extra_windows(tmp_path):
    from voxprint import config as C
    from voxprint.errors import ConfigError
    from voxprint.pipeline import run_grid

    cfg = C.load(None, ["data.extra_windows=[0.5]"])
    with pytest.raises(ConfigError, match="data.extra_windows"):
        run_grid(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_a_padded_short_clip_is_heard_once_as_the_unpadded_one(shared_data):
    """With extra windows, a one-second slice padded to three seconds is longer than both lengths, but its
    recording span fits both: it is heard once, in the main window, as the slice itself - what the unpadded
    slice gets - rather than by its speech regions in each length."""
    from conftest import shared_file

    from benchmarks.padding import pad_clip
    from voxprint import audio
    from voxprint.clip_scoring import _heard_parts
    from voxprint.vad import VadConfig

    y, sr = audio.load(shared_file("speeches5", "audio", "Nelson_Mandela", "0.wav"), None)
    lengths = [2 * sr, int(1.4 * sr)]
    for clip in (y, pad_clip(y, sr)):
        parts = list(_heard_parts([clip], lengths, sr, VadConfig()))
        assert [(owner, w) for owner, _, w in parts] == [(0, 2 * sr)]
        np.testing.assert_array_equal(parts[0][1], y)
    # a long recording is still heard in both lengths, by its speech
    long_ = np.concatenate([y] * 4)
    assert [w for _, _, w in _heard_parts([long_], lengths, sr, VadConfig())] == lengths
