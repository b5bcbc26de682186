"""The encoder's fast inference artefact: its ONNX graph with int8 dynamic quantization of the
LSTM and linear weights (onnxruntime.quantization.quantize_dynamic, QInt8). Activations stay
float32 and are quantized per call, so no calibration data is needed. Written as the folder's
model.onnx, which `Recognizer(folder, engine="onnx")` runs.

The first LSTM layer stays float32: its input is mel POWER, whose dynamic range (1e-10 to 1e2)
a per-tensor 8-bit activation scale flattens to zero (measured: dev EER 0.013 -> 0.30 when it
is quantized too)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from ..io import atomic_write_bytes


def first_recurrent_nodes(path: Path) -> list[str]:
    """Name of the graph's first LSTM node (the one that reads the features)."""
    import onnx

    names = [n.name for n in onnx.load(str(path)).graph.node if n.op_type in ("LSTM", "GRU", "RNN")]
    return names[:1]


def export_int8(rec, path: str | Path) -> Path:
    """Export `rec`'s net to ONNX (fp32), quantize its weights to int8, write `path` atomically."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp:
        fp32, int8 = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        rec.export_onnx(fp32)
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8,
                         nodes_to_exclude=first_recurrent_nodes(fp32))
        atomic_write_bytes(path, int8.read_bytes())
    return Path(path)
