"""An encoder as an ordinary model folder, which `Recognizer` opens like any other:

    config.yaml        resolved config that rebuilds it (model `ge2e`, mel-power features)
    model.pt           state_dict (weights_only=True; stored as float16 when asked, loaded as float32)
    labels.json        []  (a pure encoder: no classes)
    calibration.json   accept threshold chosen on dev speakers
    model.onnx         int8 ONNX of the same weights (`Recognizer(folder, engine="onnx")`)
    provenance.json    command, data, seed, steps, and sha256 of the files above
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from .. import config as C
from ..io import atomic_save_torch, read_json, write_json
from ..models import SpeakerNet, build_net
from ..models.ge2e import GE2E_FEATURES, GE2E_SAMPLE_RATE, load_ge2e_state

FOLDER_FILES = ("config.yaml", "model.pt", "labels.json", "calibration.json", "model.onnx")


def encoder_config(overrides: list[str] | None = None) -> C.Config:
    """The config of a GE2E encoder folder: 16 kHz, mel power, 2-s inference window."""
    data = {
        "data": {"sample_rate": GE2E_SAMPLE_RATE, "clip_seconds": 2.0},
        "features": dict(GE2E_FEATURES),
        "model": {"name": "ge2e", "embed_dim": 256, "dropout": 0.0},
    }
    for item in overrides or []:
        C.apply_override(data, item)
    return C.from_dict(C.Config, data, "encoder config")


def build_encoder(cfg: C.Config) -> SpeakerNet:
    """A SpeakerNet with no classes around the config's backbone (identity normalisation)."""
    return build_net(cfg.model, cfg.features.n_mels, 0)


def original_ge2e(cfg: C.Config | None = None, weights: str | Path | None = None) -> SpeakerNet:
    """The pretrained GE2E from the resemblyzer wheel, unchanged, inside a SpeakerNet."""
    net = build_encoder(cfg or encoder_config())
    net.backbone.load_state_dict(load_ge2e_state(weights))
    return net.eval()


def sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def save_folder(out: str | Path, net: SpeakerNet, cfg: C.Config, calibration: dict, provenance: dict,
                half: bool = False, onnx: bool = False) -> Path:
    """Write the folder; with `half`, floating tensors are stored as float16 (half the size;
    Recognizer's load_state_dict copies them back into float32 parameters); with `onnx`, also
    the int8 model.onnx made from the weights as stored."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: (v.half() if half and v.is_floating_point() else v).clone() for k, v in net.state_dict().items()}
    C.save(cfg, out / "config.yaml")
    atomic_save_torch(state, out / "model.pt")
    write_json(out / "labels.json", [])
    write_json(out / "calibration.json", calibration)
    (out / "model.onnx").unlink(missing_ok=True)  # never a stale graph of other weights
    if onnx:
        from ..inference import Recognizer
        from .quantize import export_int8

        export_int8(Recognizer(out), out / "model.onnx")
    from ..pretrained import write_notice

    write_notice(out, provenance.get("notice", "trained by `voxprint encoder train` from GE2E (or distilled from "
                                     "it); provenance.json beside this file gives the command, data, seed and steps."))
    files = {name: sha256(out / name) for name in FOLDER_FILES if (out / name).exists()}
    write_json(out / "provenance.json", {**provenance, "stored_dtype": "float16" if half else "float32",
                                         "sha256": files})
    return out


def verify_checksums(folder: str | Path) -> dict[str, str]:
    """Files whose sha256 differs from provenance.json's record: {name: problem}; {} if all match."""
    folder = Path(folder)
    recorded = read_json(folder / "provenance.json")["sha256"]
    bad = {}
    for name, digest in recorded.items():
        p = folder / name
        if not p.exists():
            bad[name] = "missing"
        elif sha256(p) != digest:
            bad[name] = "sha256 differs"
    return bad


def load_net(folder: str | Path) -> tuple[C.Config, SpeakerNet]:
    """Config and float32 net of an encoder folder (weights_only=True)."""
    folder = Path(folder)
    cfg = C.load_resolved(folder / "config.yaml")
    net = build_encoder(cfg)
    state = torch.load(folder / "model.pt", map_location="cpu", weights_only=True)
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return cfg, net.eval()


def with_window(src: str | Path, seconds: float, out: str | Path, dev_root: str | Path | None = None,
                extra: list[float] | None = None) -> Path:
    """A copy of encoder folder `src` at `out` that listens in `seconds`-long windows (its config's
    data.clip_seconds: a longer clip is reduced to its speech and heard in windows every half
    window, their embeddings averaged) and, a clip longer than them, in each of the `extra`
    lengths too (data.extra_windows; each length counts equally). The accept threshold was chosen
    for the old windows, so with `dev_root` (libri-dev) it is chosen again on the dev speakers, as
    `encoder train` chooses it; without, calibration.json is left out (identify/verify then say so) rather than kept stale.
    provenance.json gains where the copy came from and the checksums of the files as written."""
    import shutil

    from .. import protocol as P
    from ..errors import DataError

    src, out = Path(src), Path(out)
    if out.exists():
        raise DataError(f"{out}: already exists; give a new folder")
    cfg = C.load_resolved(src / "config.yaml")
    cfg.data.clip_seconds = float(seconds)
    cfg.data.extra_windows = [float(w) for w in extra or []]
    C.check_limits(cfg, f"{out}")
    part = out.with_name(out.name + ".partial")  # renamed when whole: a killed run leaves no half folder at `out`
    shutil.rmtree(part, ignore_errors=True)
    shutil.copytree(src, part)
    C.save(cfg, part / "config.yaml")
    (part / "calibration.json").unlink(missing_ok=True)
    if dev_root is not None:
        from ..inference import Recognizer

        rec = Recognizer(part)
        calibration = P.calibrate(lambda waves: rec.score_waves(waves)[1],
                                  P.segments(dev_root, P.load_split()["dev"]))
        write_json(part / "calibration.json", calibration | {"speakers": "libri-dev dev split"})
    prov = read_json(part / "provenance.json")
    earlier = {"window": prov["window"]} if "window" in prov else {}  # src was itself a copy: keep its story
    prov["window"] = {"from": str(src), "clip_seconds": float(seconds), "extra_windows": cfg.data.extra_windows,
                      "calibrated": dev_root is not None} | earlier
    prov["sha256"] = {name: sha256(part / name) for name in FOLDER_FILES if (part / name).exists()}
    write_json(part / "provenance.json", prov)
    part.rename(out)
    return out
