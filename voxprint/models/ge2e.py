"""`ge2e`: the GE2E speaker encoder (Wan et al. 2018) as shipped by resemblyzer: a 3-layer
LSTM over 40 mel-power bands (16 kHz, 25 ms windows, 10 ms hop), the last layer's final
hidden state -> linear -> ReLU -> L2 normalisation.

Its input is fixed by the pretrained weights (mel power from `features.log: false`,
`n_fft: 400`), so it is used without the training-set normalisation that other
backbones get (`fixed_input`).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import VoxprintError

# The feature settings that the pretrained weights expect (model.options cannot change them).
GE2E_FEATURES = {"name": "mel", "log": False, "n_mels": 40, "win_ms": 25.0, "hop_ms": 10.0, "n_fft": 400,
                 "fmin": 0.0, "fmax": None}
GE2E_SAMPLE_RATE = 16000


class GE2E(nn.Module):
    """[B, D=40, T] mel power -> L2-normalised embedding [B, embed_dim=256]."""

    fixed_input = True  # SpeakerNet's feat_mean/std stay identity: the weights fix the input scale
    from_ge2e = True  # trained weights descend from resemblyzer's (Apache-2.0): their folders carry its NOTICE

    def __init__(self, in_dim: int = 40, embed_dim: int = 256, dropout: float = 0.0, hidden: int = 256,
                 layers: int = 3):
        super().__init__()
        # dropout is accepted for the registry's common signature; the pretrained LSTM has none
        self.lstm = nn.LSTM(in_dim, hidden, layers, batch_first=True)
        self.linear = nn.Linear(hidden, embed_dim)
        self.embed_dim = embed_dim

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        _, (h, _) = self.lstm(x.transpose(1, 2))  # h [layers, B, hidden]
        return F.normalize(F.relu(self.linear(h[-1])), dim=-1)


def resemblyzer_weights_path() -> Path:
    """Where the resemblyzer wheel keeps pretrained.pt (found without importing the package,
    whose import pulls in webrtcvad)."""
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or spec.origin is None:
        raise VoxprintError("the GE2E weights come from the resemblyzer package, which is not installed; "
                            "pip install -e '.[anchors]'")
    path = Path(spec.origin).parent / "pretrained.pt"
    if not path.exists():
        raise VoxprintError(f"{path}: resemblyzer is installed but its pretrained.pt is missing")
    return path


def load_ge2e_state(path: str | Path | None = None) -> dict[str, torch.Tensor]:
    """The LSTM and linear weights of a resemblyzer checkpoint as a GE2E state_dict (the
    checkpoint's GE2E-loss similarity scale/bias are training-only and dropped)."""
    path = Path(path) if path else resemblyzer_weights_path()
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise VoxprintError(f"{path}: not a loadable GE2E checkpoint ({str(e).splitlines()[0]})") from None
    state = ckpt.get("model_state", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or "linear.weight" not in state:
        raise VoxprintError(f"{path}: no GE2E weights (expected model_state with lstm.* and linear.*)")
    return {k: v.float() for k, v in state.items() if k.startswith(("lstm.", "linear."))}


def pretrained_ge2e(path: str | Path | None = None) -> GE2E:
    net = GE2E()
    net.load_state_dict(load_ge2e_state(path))
    return net.eval()
