"""ONNX export: named input `features` [batch, dim, frames] with dynamic batch and frames;
outputs `logits` [batch, speakers] and `embedding` [batch, embed_dim] (a pure encoder,
n_classes = 0, has only `embedding`). Features are computed outside the graph
(voxprint.features), the training-set normalisation is inside it."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

from .io import atomic_write_bytes


def _embedding_only(net):
    """A pure encoder's graph: features -> embedding (an empty logits output would be a zero-sized
    tensor that some runtimes reject)."""
    import torch

    class EmbeddingOnly(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, feats):
            return self.net.embed(feats)

    return EmbeddingOnly()


def export_onnx(net, feature_dim: int, frames: int, path: str | Path, opset: int = 17) -> Path:
    """Write `net` (a SpeakerNet) as ONNX to `path`; `frames` only shapes the example input."""
    import torch  # here, not at the top: onnx_session's callers (the ONNX route) run without torch

    net = net.eval()
    # A batch > 1 example, or the LSTM's batch size would be frozen at 1.
    example = torch.randn(2, feature_dim, frames)
    encoder = getattr(net, "n_classes", 1) == 0
    module = _embedding_only(net).eval() if encoder else net
    outputs = ["embedding"] if encoder else ["logits", "embedding"]
    axes = {"features": {0: "batch", 2: "frames"}, "embedding": {0: "batch"}}
    if not encoder:
        axes["logits"] = {0: "batch"}
    buf = io.BytesIO()
    # The TorchScript-based exporter (dynamo=False) is deprecated, but it needs no onnxscript
    # and matches PyTorch to ~1e-6. Its tracer notices (deprecation; an LSTM batch-size caveat
    # that the batch-2 example avoids, see tests/test_export.py) are silenced.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module, (example,), buf, input_names=["features"], output_names=outputs, dynamic_axes=axes,
            opset_version=opset, dynamo=False,
        )
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)


def onnx_session(path: str | Path):
    """An onnxruntime session of a voxprint export on one intra-op and one inter-op thread (a call scores
    one small batch; callers run as many of them at once as there are cores)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
