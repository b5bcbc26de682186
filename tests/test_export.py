"""Every model exports to ONNX with dynamic batch and time axes and matches PyTorch."""

import numpy as np
import onnxruntime as ort
import pytest
import torch

from voxprint.config import FeatureConfig, ModelConfig
from voxprint.export import export_onnx
from voxprint.features import build_feature
from voxprint.models import MODELS, build_net


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("head", ["softmax", "aam"])
def test_onnx_matches_torch_for_any_batch_and_length(name, head, tmp_path):
    torch.manual_seed(0)
    features = build_feature(FeatureConfig(name="mel"), 8000)
    net = build_net(ModelConfig(name=name, head=head), features.dim, 4).eval()
    path = export_onnx(net, features.dim, features.num_frames(8000), tmp_path / "m.onnx")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["features"]
    for batch, frames in ((1, 101), (5, 101), (3, 37), (2, 260)):
        x = np.random.default_rng(batch).standard_normal((batch, features.dim, frames)).astype(np.float32)
        logits, emb = sess.run(None, {"features": x})
        with torch.no_grad():
            t_logits, t_emb = net(torch.from_numpy(x))
        assert logits.shape == (batch, 4) and emb.shape == (batch, net.embed_dim)
        np.testing.assert_allclose(logits, t_logits.numpy(), atol=1e-4, rtol=1e-4)
        np.testing.assert_allclose(emb, t_emb.numpy(), atol=1e-4, rtol=1e-4)
