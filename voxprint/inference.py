"""`Recognizer`: a trained model rebuilt from its run folder alone.

The folder's config.yaml says how features were made and how the model was built;
model.pt holds the weights (loaded with weights_only=True: nothing in it is executed);
labels.json the speaker names. Its methods are the CLI's subcommands.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import audio
from .config import load_resolved
from .errors import AudioError, VoxprintError
from .evaluate import pool_clips
from .features import build_feature
from .io import read_csv, read_json, write_json
from .models import build_net


@dataclass
class Prediction:
    path: str
    speaker: str
    probability: float


def resolve_model_dir(path: str | Path) -> Path:
    """A model folder, or a run folder (then its best model, from results.csv)."""
    p = Path(path)
    if (p / "model.pt").exists():
        return p
    if (p / "results.csv").exists():
        from .pipeline import best_row, run_name

        rows = read_csv(p / "results.csv")
        if rows:
            return p / run_name(best_row(rows))
    raise VoxprintError(f"{p}: not a run folder (no model.pt, no results.csv); train one with `voxprint run`")


class Recognizer:
    def __init__(self, path: str | Path, engine: str = "torch"):
        self.dir = resolve_model_dir(path)
        self.cfg = load_resolved(self.dir / "config.yaml")
        self.labels: list[str] = read_json(self.dir / "labels.json")
        self.sample_rate = self.cfg.data.sample_rate
        self.window = int(round(self.cfg.data.clip_seconds * self.sample_rate))
        self.features = build_feature(self.cfg.features, self.sample_rate)
        self.net = build_net(self.cfg.model, self.features.dim, len(self.labels))
        state = torch.load(self.dir / "model.pt", map_location="cpu", weights_only=True)
        self.net.load_state_dict(state)
        self.net.eval()
        self.engine = engine
        self._ort = None
        if engine == "onnx":
            self._ort = self._onnx_session()
        elif engine != "torch":
            raise VoxprintError(f"unknown engine '{engine}'; valid: onnx, torch")

    # ------------------------------------------------------------------ identity

    @functools.cached_property
    def model_id(self) -> str:
        """Identifies the weights: profiles made by other weights are refused."""
        return hashlib.sha256((self.dir / "model.pt").read_bytes()).hexdigest()[:16]

    @property
    def name(self) -> str:
        return self.dir.name

    # ------------------------------------------------------------------ core

    def _onnx_session(self):
        import onnxruntime as ort

        path = self.dir / "model.onnx"
        if not path.exists():
            from .export import export_onnx

            export_onnx(self, path)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    @torch.no_grad()
    def run_features(self, feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Model on features [W, D, T] -> (probabilities [W, K], embeddings [W, E])."""
        if self._ort is not None:
            outs = self._ort.run(None, {"features": feats.astype(np.float32)})
            emb = torch.from_numpy(outs[-1])  # a pure encoder's graph has only `embedding`
            logits = torch.from_numpy(outs[0]) if len(outs) > 1 else emb.new_zeros((len(emb), 0))
        else:
            logits, emb = self.net(torch.from_numpy(feats))
        return torch.softmax(logits, -1).numpy(), torch.nn.functional.normalize(emb, dim=-1).numpy()

    @torch.no_grad()
    def wave_features(self, y: np.ndarray) -> np.ndarray:
        """Windows of one clip -> features [W, D, T]."""
        return self.features(torch.from_numpy(audio.windows(y, self.window))).numpy()

    def score_waves(self, waves: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Clips -> (probabilities [N, K], L2-normalised embeddings [N, E]); windows averaged."""
        if self.net.n_classes == 0:
            return np.zeros((len(waves), 0), np.float32), self.encode_waves(waves)
        feats = [self.wave_features(y) for y in waves]
        owner = np.concatenate([[i] * len(f) for i, f in enumerate(feats)])
        probs, emb = self.run_features(np.concatenate(feats))
        n = len(waves)
        return pool_clips(probs, owner, n), pool_clips(emb, owner, n, normalise=True)

    def encode_waves(self, waves: list[np.ndarray]) -> np.ndarray:
        """A pure encoder (no classes): each clip whole if it fits the window (no padding: the
        encoder takes any length), longer clips as windows averaged -> L2-normalised [N, E]."""
        out = np.zeros((len(waves), self.net.embed_dim), np.float32)
        for i, y in enumerate(waves):
            w = y[None] if len(y) <= self.window else audio.windows(y, self.window)
            with torch.no_grad():
                feats = self.features(torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32)))
                if self._ort is not None:  # straight to the graph: batch-1 latency is what users feel
                    emb = self._ort.run(None, {"features": feats.numpy()})[-1]
                else:
                    emb = self.net.embed(feats).numpy()
            emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
            mean = emb.mean(axis=0)
            out[i] = mean / max(float(np.linalg.norm(mean)), 1e-12)
        return out

    def load(self, path: str | Path) -> np.ndarray:
        return audio.load(path, self.sample_rate)[0]

    def load_many(self, paths, on_error=None) -> tuple[list[str], list[np.ndarray]]:
        """Load files; bad ones go to on_error(AudioError) (or raise if None)."""
        ok, waves = [], []
        for p in paths:
            try:
                waves.append(self.load(p))
                ok.append(str(p))
            except AudioError as e:
                if on_error is None:
                    raise
                on_error(e)
        return ok, waves

    # ------------------------------------------------------------------ subcommands

    def predict(self, paths, on_error=None) -> list[Prediction]:
        ok, waves = self.load_many(paths, on_error)
        if not waves:
            return []
        probs, _ = self.score_waves(waves)
        return [Prediction(p, self.labels[int(pr.argmax())], float(pr.max())) for p, pr in zip(ok, probs)]

    def embed(self, paths, on_error=None) -> tuple[list[str], np.ndarray]:
        ok, waves = self.load_many(paths, on_error)
        if not waves:
            return ok, np.zeros((0, self.net.embed_dim), np.float32)
        return ok, self.score_waves(waves)[1]

    # thresholds ----------------------------------------------------------

    def calibration(self) -> dict:
        path = self.dir / "calibration.json"
        if not path.exists():
            raise VoxprintError(f"{self.dir}: no calibration.json; run `voxprint calibrate {self.dir}`")
        return read_json(path)

    @property
    def threshold(self) -> float:
        return float(self.calibration()["threshold"])

    def save_calibration(self, info: dict) -> None:
        write_json(self.dir / "calibration.json", info)

    # enrolment -----------------------------------------------------------

    def store(self, db: str | Path | None = None):
        from .store import ProfileStore

        return ProfileStore(db or self.dir / "profiles.db", self.model_id)

    def enroll(self, name: str, paths, db=None, on_error=None):
        ok, emb = self.embed(paths, on_error)
        if not ok:
            raise VoxprintError(f"enroll {name}: no usable audio among the given files")
        with self.store(db) as s:
            return s.enroll(name, emb)

    def identify(self, paths, db=None, threshold: float | None = None, on_error=None) -> list[tuple[str, str, float]]:
        """(file, enrolled name or 'unknown', cosine score) per file."""
        threshold = self.threshold if threshold is None else threshold
        with self.store(db) as s:
            names, mat = s.matrix()
        if not names:
            raise VoxprintError(f"{db or self.dir / 'profiles.db'}: no enrolled speakers; use `voxprint enroll`")
        ok, emb = self.embed(paths, on_error)
        scores = emb @ mat.T.astype(np.float32)
        out = []
        for p, row in zip(ok, scores):
            k = int(row.argmax())
            out.append((p, names[k] if row[k] >= threshold else "unknown", float(row[k])))
        return out

    def verify(self, a, b, threshold: float | None = None) -> tuple[float, bool]:
        """Cosine score of two files and whether it passes the threshold."""
        threshold = self.threshold if threshold is None else threshold
        _, emb = self.embed([a, b])
        score = float(emb[0] @ emb[1])
        return score, score >= threshold

    def verify_claim(self, name: str, path, db=None, threshold: float | None = None) -> tuple[float, bool]:
        threshold = self.threshold if threshold is None else threshold
        with self.store(db) as s:
            prof = s.get(name)
            if prof is None:
                known = ", ".join(p.name for p in s.profiles()) or "none"
                raise VoxprintError(f"no enrolled speaker '{name}' (enrolled: {known})")
            s.matrix()  # refuses profiles made by another model
        _, emb = self.embed([path])
        score = float(emb[0] @ prof.mean.astype(np.float32))
        return score, score >= threshold
