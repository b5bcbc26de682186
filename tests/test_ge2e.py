"""The GE2E backbone and its input: the same numbers as resemblyzer's own code, and a
pure-encoder SpeakerNet (no classes) that exports only its embedding."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
from conftest import shared_file

from voxprint import audio
from voxprint.config import FeatureConfig, ModelConfig
from voxprint.errors import ConfigError, VoxprintError
from voxprint.export import export_onnx
from voxprint.features import build_feature
from voxprint.models import build_net
from voxprint.models.ge2e import GE2E_FEATURES, load_ge2e_state, pretrained_ge2e

# Max |ours - resemblyzer| relative to the spectrogram's largest value (measured ~1.5e-7:
# float32 STFT vs numpy's); mel power spans 1e-10..1e2, so the bound is relative to the max.
MEL_REL_TOL = 1e-5
EMB_TOL = 1e-5  # embeddings in [0, 1] (measured ~2e-7)


@pytest.fixture(scope="module")
def wave():
    return audio.load(shared_file("libri-dev", "103", "103-1240-0000.flac"), 16000)[0][:32000]


def test_mel_power_matches_resemblyzer(wave):
    from resemblyzer.audio import wav_to_mel_spectrogram

    ref = wav_to_mel_spectrogram(wave)  # [frames, 40], mel power, not log
    ours = build_feature(FeatureConfig(**GE2E_FEATURES), 16000)(torch.from_numpy(wave)).numpy().T
    assert ours.shape == ref.shape == (201, 40)
    assert np.abs(ours - ref).max() <= MEL_REL_TOL * np.abs(ref).max()


def test_log_switch_gives_the_log_mel_of_the_same_power(wave):
    power = build_feature(FeatureConfig(**GE2E_FEATURES), 16000)(torch.from_numpy(wave))
    log_cfg = FeatureConfig(**{**GE2E_FEATURES, "log": True, "top_db": None})
    db = build_feature(log_cfg, 16000)(torch.from_numpy(wave))
    np.testing.assert_allclose(db.numpy(), 10 * np.log10(np.maximum(power.numpy(), 1e-10)), atol=1e-3)


def test_mfcc_refuses_log_false():
    with pytest.raises(ConfigError, match="log"):
        build_feature(FeatureConfig(name="mfcc", log=False), 16000)


def test_backbone_equals_resemblyzer_voice_encoder(wave):
    from resemblyzer import VoiceEncoder
    from resemblyzer.audio import wav_to_mel_spectrogram

    mel = torch.from_numpy(np.stack([wav_to_mel_spectrogram(wave), wav_to_mel_spectrogram(wave[::-1].copy())]))
    with torch.no_grad():
        ref = VoiceEncoder("cpu", verbose=False)(mel).numpy()
        ours = pretrained_ge2e().embed(mel.transpose(1, 2)).numpy()
    assert ours.shape == (2, 256)
    np.testing.assert_allclose(ours, ref, atol=EMB_TOL)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-6)


def test_bad_weights_file_is_one_clear_line(tmp_path):
    bad = tmp_path / "pretrained.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(VoxprintError, match="pretrained.pt: not a loadable GE2E checkpoint") as e:
        load_ge2e_state(bad)
    assert "\n" not in str(e.value)
    torch.save({"model_state": {"other": torch.zeros(1)}}, bad)
    with pytest.raises(VoxprintError, match="no GE2E weights"):
        load_ge2e_state(bad)


def test_encoder_net_has_no_head_and_exports_only_the_embedding(tmp_path):

    features = build_feature(FeatureConfig(**GE2E_FEATURES), 16000)
    net = build_net(ModelConfig(name="ge2e", embed_dim=256, dropout=0.0), 40, 0).eval()
    assert net.head is None and net.fixed_input and net.embed_dim == 256
    x = torch.rand(3, 40, 57)
    with torch.no_grad():
        logits, emb = net(x)
    assert logits.shape == (3, 0) and emb.shape == (3, 256)
    path = export_onnx(net, features.dim, features.num_frames(16000), tmp_path / "e.onnx")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [o.name for o in sess.get_outputs()] == ["embedding"]
    for batch, frames in ((1, 101), (4, 37)):
        xb = np.random.default_rng(batch).random((batch, 40, frames)).astype(np.float32)
        (out,) = sess.run(None, {"features": xb})
        with torch.no_grad():
            np.testing.assert_allclose(out, net.embed(torch.from_numpy(xb)).numpy(), atol=1e-5)
