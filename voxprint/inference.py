"""`Recognizer`: a trained model rebuilt from its model folder alone.

The folder's config.yaml says how features were made and how the model was built; model.pt
holds the weights (loaded with weights_only=True: nothing in it is executed); labels.json the
speaker names. Its methods are the CLI's subcommands. Files are read and scored one at a
time, windows in bounded batches, so memory does not grow with the number or length of files.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import audio, rundir
from .clip_scoring import NoClips, answered, score_clips, torch_model
from .config import load_resolved
from .errors import AudioError, DataError, NothingAnswered, VoxprintError
from .io import read_json, write_json

# Backbones whose weights fix the input scale (models.ge2e.GE2E.fixed_input, and Encoder, its subclass): a
# short clip is heard at its own length, not padded. Read from the config so that the ONNX route needs no
# torch; tests/test_cold_start.py holds it to the classes.
FIXED_INPUT_MODELS = frozenset({"ge2e", "encoder"})


def _quantized(session) -> bool:
    """Was the graph quantized by onnxruntime (its dynamic int8: each batch's activations quantized
    with that batch's own range, so a clip's scores depend on what shares its batch)? The
    quantization tool marks the model it writes; reading the mark costs nothing at start-up, where
    parsing the graph with the onnx package took half a second."""
    meta = session.get_modelmeta()
    return meta.producer_name == "onnx.quantize" or meta.custom_metadata_map.get("onnx.infer") == "onnxruntime.quant"


@dataclass
class Prediction:
    path: str
    speaker: str
    probability: float


def _load_labels(path: Path) -> list[str]:
    try:
        labels = read_json(path)
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: not a readable label list ({e.__class__.__name__})") from None
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise DataError(f"{path}: expected a JSON list of speaker names")
    if len(labels) == 1 or len(set(labels)) != len(labels):  # [] is a pure encoder's: no classifier
        raise DataError(f"{path}: expected two or more distinct speaker names (or none, for an encoder), "
                        f"got {len(labels)} ({len(set(labels))} distinct)")
    return labels


def _load_state(path: Path) -> dict:
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise DataError(f"{path}: missing") from None
    except Exception as e:
        raise DataError(f"{path}: not a voxprint weights file ({str(e).splitlines()[0][:120]})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise DataError(f"{path}: not a state_dict of tensors")
    return state


def _check_shapes(expected: dict, state: dict, path: Path) -> None:
    """Refuse weights whose tensors are not the ones config.yaml and labels.json describe, naming the
    first difference - before a model of that size is allocated."""
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        which = f"missing {missing[0]}" if missing else f"unexpected {extra[0]}"
        raise DataError(f"{path}: does not match config.yaml ({which})")
    for key, shape in expected.items():
        if tuple(state[key].shape) != shape:
            raise DataError(f"{path}: does not match config.yaml and labels.json ({key} is "
                            f"{list(state[key].shape)} in the weights, {list(shape)} by the config and labels)")


class Recognizer:
    """A model folder as an object whose methods are the CLI's subcommands. `Recognizer()` opens the
    general speaker encoder that ships with voxprint; `Recognizer("runs/fsdd")` a run's best model.
    `engine`: "torch", "onnx", or None for the folder's model.onnx when it has one, else torch.

    The shipped encoder on the ONNX route never imports torch: features by voxprint.melspec, the graph by
    onnxruntime, and the torch net (`net`) only built if asked for - so a cold `voxprint identify` answers
    in well under the 1.5 s that importing torch alone takes here (benchmarks/cold_start.py)."""

    def __init__(self, path: str | Path | None = None, engine: str | None = None):
        if engine not in (None, "torch", "onnx"):
            raise VoxprintError(f"unknown engine '{engine}'; valid: onnx, torch")
        self.dir = rundir.resolve_model_dir(path)
        self.cfg = load_resolved(self.file(rundir.CONFIG))
        self.labels: list[str] = _load_labels(self.file(rundir.LABELS))
        self.sample_rate = self.cfg.data.sample_rate
        if self.sample_rate is None:
            raise DataError(f"{self.file(rundir.CONFIG)}: data.sample_rate is not set; not a trained model's config")
        self.window = int(round(self.cfg.data.clip_seconds * self.sample_rate))
        self.extra_windows = [int(round(w * self.sample_rate)) for w in self.cfg.data.extra_windows]
        if engine is None:  # the folder's ONNX graph when it has one (the shipped encoder's is int8)
            engine = "onnx" if self.file(rundir.ONNX).is_file() else "torch"
        self.engine = engine
        self.per_clip = False  # set by _onnx_model for a quantized graph
        self._onnx_dim: int | None = None  # the graph's embedding size, set by _onnx_model
        if engine == "onnx" and self.cfg.features.name == "mel" and self._shipped():
            from .melspec import NumpyMel

            self.features = NumpyMel(self.cfg.features, self.sample_rate)
            if not self.file(rundir.WEIGHTS).is_file():  # model_id is its digest
                raise DataError(f"{self.file(rundir.WEIGHTS)}: missing")
        else:
            from .features import build_feature

            self.features = build_feature(self.cfg.features, self.sample_rate)
            self.net  # noqa: B018 - weights read and checked now: a bad model.pt is an error at once
        self.model = self._onnx_model() if engine == "onnx" else torch_model(self.net)

    def _shipped(self) -> bool:
        """Is this the encoder folder that ships inside the package? Its files are part of voxprint (checked by
        tests/test_pretrained_encoder.py), so its weights need not be read and checked at every start; any
        other folder may be copied or crafted, and its model.pt is checked against config and labels."""
        from .pretrained import ENCODER_DIR

        return self.dir.resolve() == ENCODER_DIR.resolve()

    @functools.cached_property
    def net(self):
        """The torch SpeakerNet with the folder's weights (built when first needed on the ONNX route)."""
        from .models import build_net, net_shapes

        state = _load_state(self.file(rundir.WEIGHTS))
        # shapes first, on the meta device: weights that do not fit config and labels are one line, and
        # nothing of a crafted size is allocated
        _check_shapes(net_shapes(self.cfg.model, self.features.dim, len(self.labels)), state,
                      self.file(rundir.WEIGHTS))
        net = build_net(self.cfg.model, self.features.dim, len(self.labels))
        net.load_state_dict(state)
        return net.eval()

    @property
    def fixed_input(self) -> bool:
        """Do the weights fix the input scale (then a short clip is heard at its own length)?"""
        return self.cfg.model.name in FIXED_INPUT_MODELS

    @property
    def embed_dim(self) -> int:
        """Size of an embedding."""
        return self._onnx_dim if self._onnx_dim is not None else self.net.embed_dim

    def file(self, name: str) -> Path:
        """A file of the model folder, as named there (a link stays a link, for the profile store to
        refuse); one that is a link leading out of the folder is refused here."""
        rundir.inside(self.dir, name)
        return self.dir / name

    # ------------------------------------------------------------------ identity

    @functools.cached_property
    def model_id(self) -> str:
        """Identifies the embedding: the weights and how a clip reaches them (sample rate, windows,
        features, speech detection). Profiles made by another are refused - a copy of a folder that
        listens in other windows (`voxprint encoder window`) gives other embeddings from the same weights."""
        h = hashlib.sha256(self.file(rundir.WEIGHTS).read_bytes())
        h.update(json.dumps(self.listening, sort_keys=True).encode())
        return h.hexdigest()[:16]

    @property
    def listening(self) -> dict:
        """The settings between a waveform and the weights (part of model_id)."""
        d = self.cfg.data
        return {"sample_rate": self.sample_rate, "clip_seconds": d.clip_seconds, "extra_windows": d.extra_windows,
                "features": dataclasses.asdict(self.cfg.features), "vad": dataclasses.asdict(self.cfg.vad)}

    @property
    def name(self) -> str:
        return self.dir.name

    # ------------------------------------------------------------------ core

    def export_onnx(self, path: str | Path | None = None) -> Path:
        """Write the model as ONNX to `path` (default: model.onnx in the folder) -> the path written."""
        from .export import export_onnx

        path = path or self.file(rundir.ONNX)
        return export_onnx(self.net, self.features.dim, self.features.num_frames(self.window), path)

    def _onnx_model(self):
        from .export import onnx_session

        path = self.file(rundir.ONNX)
        if not path.exists():
            self.export_onnx(path)
        try:
            session = onnx_session(path)
        except Exception as e:
            raise DataError(f"{path}: not a loadable ONNX model ({str(e).splitlines()[0][:120]}); "
                            f"delete it and rerun to export it again") from None
        if [i.name for i in session.get_inputs()] != ["features"] or len(session.get_outputs()) not in (1, 2):
            raise DataError(f"{path}: not a voxprint export (expects input 'features', outputs [logits,] embedding)")

        self.per_clip = _quantized(session)
        dim = session.get_outputs()[-1].shape[-1]
        self._onnx_dim = dim if isinstance(dim, int) else None

        def run(feats):
            outs = session.run(None, {"features": feats.astype(np.float32, copy=False)})
            return (None, outs[0]) if len(outs) == 1 else (outs[0], outs[1])  # a pure encoder: embedding only

        return run

    def score_waves(self, waves) -> tuple[np.ndarray | None, np.ndarray]:
        """Clips -> (probabilities [N, K], L2-normalised embeddings [N, E]); windows averaged. A clip
        longer than the model's window is reduced to its speech first (the folder's vad settings)."""
        return score_clips(self.model, self.features, waves, self.window, self.cfg.vad,
                           pad_short=not self.fixed_input, extra=self.extra_windows, per_clip=self.per_clip)

    def load(self, path: str | Path) -> np.ndarray:
        return audio.load(path, self.sample_rate)[0]

    def load_many(self, paths, on_error=None) -> tuple[list[str], list[np.ndarray]]:
        """Load files into memory (for evaluation on a split); bad ones go to on_error(AudioError)
        (or raise if None)."""
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

    def _score_files(self, paths, on_error=None) -> tuple[list[str], np.ndarray | None, np.ndarray | None]:
        """(paths answered, probabilities, embeddings), files read one at a time. A bad file, or one
        whose scores are not finite, goes to on_error(AudioError) (or raises if None)."""
        ok: list[str] = []

        def fail(e: AudioError):
            if on_error is None:
                raise e
            on_error(e)

        def waves():
            for p in paths:
                try:
                    y = self.load(p)
                except AudioError as e:
                    fail(e)
                    continue
                ok.append(str(p))
                yield y

        try:
            probs, emb = self.score_waves(waves())
        except NoClips:  # no usable file at all
            return [], None, None
        good = answered(probs, emb)
        for k in np.flatnonzero(~good):
            fail(AudioError(ok[k], "the model's scores are not finite (absurd sample values?)"))
        keep = np.flatnonzero(good)
        return [ok[k] for k in keep], (None if probs is None else probs[keep]), emb[keep]

    # ------------------------------------------------------------------ subcommands

    def predict(self, paths, on_error=None) -> list[Prediction]:
        if not self.labels:
            raise VoxprintError(f"{self.dir.name} is a speaker encoder with no classifier: enrol speakers and use "
                                "`identify`, or give --run a run folder trained by `voxprint run`")
        ok, probs, _ = self._score_files(paths, on_error)
        return [Prediction(p, self.labels[int(pr.argmax())], float(pr.max())) for p, pr in zip(ok, probs)] if ok else []

    def embed(self, paths, on_error=None) -> tuple[list[str], np.ndarray]:
        ok, _, emb = self._score_files(paths, on_error)
        if not ok:
            return ok, np.zeros((0, self.embed_dim), np.float32)
        return ok, emb

    # thresholds ----------------------------------------------------------

    def calibration(self) -> dict:
        path = self.file(rundir.CALIBRATION)
        if not path.exists():
            raise VoxprintError(f"{self.dir}: no calibration.json; run `voxprint calibrate {self.dir}`")
        try:
            info = read_json(path)
            float(info["threshold"])
        except (ValueError, KeyError, TypeError, OSError):
            raise DataError(f"{path}: not a calibration file (needs a numeric 'threshold')") from None
        return info

    @property
    def threshold(self) -> float:
        return float(self.calibration()["threshold"])

    def save_calibration(self, info: dict) -> None:
        write_json(self.file(rundir.CALIBRATION), info)

    # enrolment -----------------------------------------------------------

    @property
    def default_db(self) -> str | Path:
        """$VOXPRINT_DB when set (a SQLite file or a postgresql:// URL, for every command and `serve`); else
        profiles.db beside the model; for the shipped encoder (whose package folder may be read-only) in the
        user's voxprint home ($VOXPRINT_HOME, default ~/.local/share/voxprint)."""
        from .dirs import user_home
        from .pretrained import ENCODER_DIR

        if os.environ.get("VOXPRINT_DB"):
            return os.environ["VOXPRINT_DB"]
        if self.dir.resolve() == ENCODER_DIR.resolve():
            return user_home() / rundir.PROFILES
        return self.file(rundir.PROFILES)

    def store(self, db: str | Path | None = None):
        """The profile store at `db` (a SQLite file or a postgresql:// URL; default `default_db`)."""
        from .stores import open_store

        return open_store(db or self.default_db, self.model_id)

    def profiles(self, db: str | Path | None = None) -> list:
        """The enrolled profiles (store.Profile) of the store at `db` (default `default_db`), by name."""
        with self.store(db) as s:
            return s.profiles()

    def forget(self, name: str, db: str | Path | None = None) -> None:
        """Remove the enrolled speaker `name` from the store at `db`; a name not enrolled is a VoxprintError."""
        with self.store(db) as s:
            if not s.forget(name):
                raise VoxprintError(f"no enrolled speaker '{name}'")

    @functools.cached_property
    def scorer(self):
        """AS-norm cohort + calibration (voxprint.scoring.Scorer) shipped in the folder, or None."""
        from .scoring import Scorer

        return Scorer.load(self.dir)

    def enroll(self, name: str, paths, db=None, on_error=None):
        """The profile after enrolling `paths`; each clip checked first (decisions.enroll for the warnings)."""
        return self.enroll_checked(name, paths, db, on_error).profile

    def enroll_checked(self, name: str, paths, db=None, on_error=None):
        """decisions.EnrolResult: the profile, each clip's quality, warnings (duplicate voice, consistency)."""
        from . import decisions

        return decisions.enroll(self, name, paths, db, on_error)

    def identify(self, paths, db=None, threshold: float | None = None, on_error=None,
                 far: float | None = None) -> list[tuple[str, str, float]]:
        """(file, enrolled name or 'unknown', cosine score) per usable file (decisions.identify for the LLR)."""
        return [(p, d.name, d.score) for p, d in self.identify_decisions(paths, db, threshold, on_error, far)]

    def identify_decisions(self, paths, db=None, threshold=None, on_error=None, far=None):
        """(file, scoring.Decision) per usable file: name, raw score, normalised score, LLR, accepted."""
        from . import decisions

        return decisions.identify(self, paths, db, far, threshold, on_error)

    def _embed_all(self, paths: list, on_error) -> np.ndarray:
        """Embeddings of every one of `paths`; a skipped file (reported through on_error) means no answer."""
        ok, emb = self.embed(paths, on_error)
        if len(ok) < len(paths):
            raise NothingAnswered(f"no score: {len(paths) - len(ok)} of {len(paths)} file(s) skipped")
        return emb

    def verify(self, a, b, threshold: float | None = None, on_error=None,
               far: float | None = None) -> tuple[float, bool]:
        """Cosine score of two files and whether they are accepted as one voice (decisions.verify for the LLR)."""
        from . import decisions

        d = decisions.verify(self, a, b, far, threshold, on_error)
        return d.score, d.accepted

    def verify_claim(self, name: str, path, db=None, threshold: float | None = None,
                     on_error=None, far: float | None = None) -> tuple[float, bool]:
        from . import decisions

        d = decisions.verify_claim(self, name, path, db, far, threshold, on_error)
        return d.score, d.accepted

    # diarization ---------------------------------------------------------

    def diarize(self, path, speakers: int | None = None, min_speakers: int = 1, max_speakers: int | None = None,
                identify: bool = False, db=None, threshold: float | None = None, progress=None,
                far: float | None = None):
        """Who spoke when in the file at `path` -> list of Turn (start s, end s, label); labels are
        speaker-1, speaker-2, ... or, with `identify`, the enrolled name of a matching cluster.
        voxprint.diarize.diarize_file gives the clusters' scores as well."""
        from .diarize import DiarizeConfig, diarize_file

        cfg = DiarizeConfig(speakers=speakers, min_speakers=min_speakers, max_speakers=max_speakers)
        return diarize_file(self, path, cfg, identify, db, threshold, progress, far=far).turns
