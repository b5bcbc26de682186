"""ONNX export: named input `features` [batch, dim, frames] with dynamic batch and frames;
outputs `logits` [batch, speakers] and `embedding` [batch, embed_dim]. Features are computed
outside the graph (voxprint.features), the training-set normalisation is inside it."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import torch

from .io import atomic_write_bytes


def export_onnx(net, feature_dim: int, frames: int, path: str | Path, opset: int = 17) -> Path:
    """Write `net` (a SpeakerNet) as ONNX to `path`; `frames` only shapes the example input."""
    net = net.eval()
    # A batch > 1 example, or the LSTM's batch size would be frozen at 1.
    example = torch.randn(2, feature_dim, frames)
    buf = io.BytesIO()
    # The TorchScript-based exporter (dynamo=False) is deprecated, but it needs no onnxscript
    # and matches PyTorch to ~1e-6. Its tracer notices (deprecation; an LSTM batch-size caveat
    # that the batch-2 example avoids, see tests/test_export.py) are silenced.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net, (example,), buf, input_names=["features"], output_names=["logits", "embedding"],
            dynamic_axes={"features": {0: "batch", 2: "frames"}, "logits": {0: "batch"},
                          "embedding": {0: "batch"}},
            opset_version=opset, dynamo=False,
        )
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)
