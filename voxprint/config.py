"""Dataclass configs, loaded from YAML with unknown keys rejected.

One `Config` describes a whole run: data, features, augmentation, model, training,
evaluation and the grid. The resolved config is written into every run folder so
that inference rebuilds the exact model from the folder alone.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .errors import ConfigError

CONFIG_DIR = Path(__file__).parent / "configs"
SCIENTIFIC = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


@dataclass
class DataConfig:
    path: str = "fsdd"  # dataset name (fsdd), a folder, or a CSV manifest
    sample_rate: int | None = None  # None: the dataset's own (most common) rate
    clip_seconds: float = 1.0  # training crop and inference window length
    # A model folder's inference only (Recognizer: predict, enroll, identify, verify, serve): a clip
    # longer than one of these windows is also heard in it, and each length's embedding counts
    # equally in the clip's (benchmarks/encoder_windows.py chose [1.4] for the shipped encoder). A
    # grid evaluates in clip_seconds windows only, so `voxprint run` refuses a non-empty list.
    extra_windows: list[float] = field(default_factory=list)
    split: str = "auto"  # auto | official | block | random | manifest
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    block_size: int = 20  # clips per contiguous block in the block split
    min_clips: int = 5  # speakers with fewer usable clips are skipped
    max_per_speaker: int | None = None  # cap clips per speaker (quick runs, tests)
    speakers: list[str] | None = None  # keep only these speakers


@dataclass
class FeatureConfig:
    name: str = "mfcc"  # mfcc | mel | lpc
    win_ms: float = 25.0
    hop_ms: float = 10.0
    n_fft: int | None = None  # None: next power of two >= the window
    n_mels: int = 40
    fmin: float = 0.0
    fmax: float | None = None
    top_db: float | None = 80.0  # dynamic-range floor of the dB scale, as librosa
    log: bool = True  # mel: False = mel power itself (no dB, no top_db), the GE2E encoder's input
    # mel/mfcc: spectral subtraction of `denoise` x each band's noise floor (the clip's 10th
    # percentile frame); 0 = off
    denoise: float = 0.0
    n_mfcc: int = 20
    deltas: bool = False  # append delta and delta-delta
    lpc_order: int = 16
    lpcc: bool = False  # LPC cepstral coefficients instead of raw LPC


@dataclass
class AugmentConfig:
    enabled: bool = True
    prob: float = 0.8  # chance that a training example gets noise
    snr_db: list[float] = field(default_factory=lambda: [0.0, 20.0])  # uniform range
    # "white", "pink", or noise files/folders. Relative paths are tried against the
    # working directory, then the data home. "auto" = the dataset's own noise folder.
    noise: list[str] = field(default_factory=lambda: ["white", "pink", "auto"])
    # Leading fraction of every noise file that training may draw from; the rest is
    # reserved for robustness evaluation, so the two never share noise.
    train_fraction: float = 0.8
    specaugment: bool = True  # time and frequency masking of training features
    # Noise probability and SpecAugment mask sizes grow linearly from 0 to full over the first
    # ramp_steps optimizer steps (0: full strength from the start). benchmarks/fewshot.py measures it.
    ramp_steps: int = 0


@dataclass
class ModelConfig:
    name: str = "cnn"  # cnn | lstm | crnn | tdnn | stats | ge2e | encoder (see voxprint/models/)
    embed_dim: int = 128
    dropout: float = 0.1
    head: str = "softmax"  # softmax | aam (additive angular margin)
    aam_margin: float = 0.2
    aam_scale: float = 30.0
    options: dict = field(default_factory=dict)  # model-specific, checked by the model


@dataclass
class TrainConfig:
    # The budget is counted in optimizer steps, not epochs: a small dataset makes few batches per
    # epoch, and 30 epochs of 10 batches leave a model far from fitted. Validation runs every
    # `val_every_steps`; early stopping waits `patience` validations without a better `monitor`
    # (validation loss, or accuracy), and never stops before `min_steps`.
    max_steps: int = 600
    min_steps: int = 200
    val_every_steps: int = 50
    patience: int = 3
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0
    num_workers: int = 0
    accelerator: str = "auto"
    devices: str = "auto"
    precision: str = "32-true"
    progress: bool = True
    threads: int | None = None  # torch threads; None leaves torch's default
    # Validate on every validation clip twice: as it is and with one fixed draw of the TRAINING noise
    # (its sources and SNR range; never the evaluation noise). The clean validation loss of a model
    # trained with noise can bottom out long before it has learnt the noise (fsdd-unseen-noise: by
    # step 250-650 of 1200), and early stopping on it then ends training too soon; this makes early
    # stopping and the kept checkpoint watch robustness as well. The best-model rule still reads
    # clean validation accuracy.
    val_noise: bool = False
    # What early stopping and the kept checkpoint watch. With one validation clip per speaker (few-shot
    # sets) a few confident mistakes can dominate the validation loss while the accuracy still climbs;
    # benchmarks/fewshot.py runs with val_acc.
    monitor: str = "val_loss"  # val_loss | val_acc


@dataclass
class EvalConfig:
    robustness: bool = True
    snr_db: list[float] = field(default_factory=lambda: [20.0, 10.0, 5.0, 0.0])
    noise: list[str] = field(default_factory=lambda: ["white", "pink", "auto"])
    latency_runs: int = 100
    # Unseen-speaker study (voxprint/unseen.py): the general encoder and the run's chosen model on
    # speakers they never trained on, in the run's dataset and these (per dataset).
    verification: bool = True
    verification_pool: list[str] = field(default_factory=lambda: ["speeches5", "libri-dev"])
    study_seeds: int = 3  # speaker draws (partition, enrolled/unknown, enrolment clips)
    enroll_clips: int = 10  # clips that enrol a speaker of a clip dataset (libri-dev: half its segments)
    study_max_clips: int = 60  # clips per speaker of a clip dataset in the study (drawn at random)
    far: float | None = None  # calibrate grid thresholds at this false-accept rate (None: EER point)


# eval keys that only the unseen-speaker study reads: changing them re-runs the study, not the grid
STUDY_KEYS = ("verification", "verification_pool", "study_seeds", "enroll_clips", "study_max_clips")


@dataclass
class GridConfig:
    models: list[str] = field(default_factory=lambda: ["cnn", "lstm", "crnn"])
    features: list[str] = field(default_factory=lambda: ["mfcc", "mel", "lpc"])
    seeds: int = 1
    heads: list[str] = field(default_factory=lambda: ["softmax"])  # add "aam" to compare heads
    augment: list[bool] = field(default_factory=lambda: [True])  # [true, false]: side by side


# --- speech activity (voice activity detection; see voxprint/vad/) -------------------
@dataclass
class VadConfig:
    enabled: bool = True  # find speech before crops, SNR, windows and enrolment
    backend: str = "silero"  # silero | webrtc | energy (chosen by benchmarks/vad.py)
    # Where `backend` finds less than min_speech_seconds in a clip that cannot be skipped (a test
    # clip, a file given to predict), this detector's regions are heard before the whole clip. silero
    # hears no voice in steady crowd noise or applause - about a fifth of speeches5's clips, which a
    # model still names by their recording - and without it a padded copy of such a clip was heard
    # whole, silence and all (benchmarks/padded.py). energy keeps the audible part and never calls
    # digital silence or a quiet bed speech. Training clips without speech are still skipped.
    fallback: str | None = "energy"  # silero | webrtc | energy | null
    threshold: float = 0.5  # silero: speech probability that starts a region
    neg_threshold: float | None = None  # silero: probability that ends one (None: threshold - 0.15)
    silero_rate: int = 16000  # silero: 8000 uses the model's 8 kHz mode on 8 kHz clips
    silero_lead_ms: float = 250.0  # silero: silence fed before the clip so its state settles
    peak_db: float | None = None  # scale each clip's peak to this dBFS first (at most +30 dB)
    webrtc_mode: int = 3  # webrtc aggressiveness 0-3
    energy_db: float = 30.0  # energy: speech is within this many dB of the clip's loud frames
    energy_floor_db: float = 6.0  # energy: and at least this far above the clip's quiet frames
    min_speech_ms: float = 90.0  # shorter bursts are dropped
    min_silence_ms: float = 200.0  # shorter pauses are bridged (hangover)
    pad_ms: float = 60.0  # kept around each region so word edges are not clipped
    # less speech than this in a file is "no speech found"; FSDD has clips of 0.14 s in all
    min_speech_seconds: float = 0.1


# --- accept/reject decisions and enrolment checks (voxprint/scoring.py, voxprint/enrol_check.py) ---
@dataclass
class DecisionConfig:
    # target false-accept rate: identify = share of strangers accepted as someone; verify = per trial
    far: float = 0.01
    enrol_min_speech_s: float = 0.1  # an enrolment clip with less speech is refused (FSDD digits: 0.14 s and up)
    enrol_min_snr_db: float = 5.0  # ... or with a lower SNR estimate (clips of 1.5 s and longer)
    # a profile whose clips agree less (mean pairwise cosine) is warned about; None: the encoder's own
    # value (scoring.json, fitted on dev speakers), or no warning for a folder without one
    min_consistency: float | None = None


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    grid: GridConfig = field(default_factory=GridConfig)
    vad: VadConfig = field(default_factory=VadConfig)
    decision: DecisionConfig = field(default_factory=DecisionConfig)


# --------------------------------------------------------------------------- valid ranges


@dataclass(frozen=True)
class Range:
    """Valid values of a numeric field: lo <= v <= hi (strict where `open_lo` / `open_hi`); None =
    unbounded. `what` says what the number means, for the message. A list field is checked item
    by item; None in an optional field means "not set" and is not checked."""

    lo: float | None
    hi: float | None
    what: str
    open_lo: bool = False
    open_hi: bool = False

    def holds(self, v: float) -> bool:
        if v != v:  # NaN
            return False
        lo_ok = self.lo is None or (v > self.lo if self.open_lo else v >= self.lo)
        hi_ok = self.hi is None or (v < self.hi if self.open_hi else v <= self.hi)
        return lo_ok and hi_ok

    def text(self, key: str) -> str:
        lo = "" if self.lo is None else f"{self.lo:g} {'<' if self.open_lo else '≤'} "
        hi = "" if self.hi is None else f" {'<' if self.open_hi else '≤'} {self.hi:g}"
        return f"{lo}{key}{hi}"


def _fraction(what: str) -> Range:
    return Range(0, 1, what, open_lo=True, open_hi=True)


STEPS = 10_000_000  # ten million optimizer steps: far beyond any run this package makes
SNR = Range(-60, 100, "dB of speech over noise")

# Every numeric field of every section, with its meaning (tests/test_config.py checks none is missing).
LIMITS: dict[type, dict[str, Range]] = {
    DataConfig: {
        "sample_rate": Range(1_000, 384_000, "Hz"),
        "clip_seconds": Range(0.1, 60, "seconds of audio per training crop and inference window"),
        "extra_windows": Range(0.1, 60, "seconds of each further inference window"),
        "val_fraction": _fraction("share of each speaker's clips for validation"),
        "test_fraction": _fraction("share of each speaker's clips for test"),
        "block_size": Range(2, 100_000, "clips per contiguous block; one is dropped at each boundary"),
        # 2: one to train, one to test (a manifest's split column); validation is carved out of a speaker's
        # training clips only where it has two or more
        "min_clips": Range(2, None, "usable clips a speaker needs: one to train and one to test"),
        "max_per_speaker": Range(1, None, "clips kept per speaker"),
    },
    FeatureConfig: {
        "win_ms": Range(0, 1000, "analysis window in ms", open_lo=True),
        "hop_ms": Range(0, 1000, "frame hop in ms", open_lo=True),
        "n_fft": Range(8, 65_536, "FFT size in samples"),
        "n_mels": Range(1, 512, "Mel bands"),
        "fmin": Range(0, 192_000, "lowest Mel frequency in Hz"),
        "fmax": Range(0, 192_000, "highest Mel frequency in Hz", open_lo=True),
        "top_db": Range(0, 300, "dB of dynamic range kept", open_lo=True),
        "denoise": Range(0, 10, "times each band's noise floor subtracted (0: off)"),
        "n_mfcc": Range(1, 512, "MFCC coefficients"),
        "lpc_order": Range(1, 100, "LPC order"),
    },
    AugmentConfig: {
        "prob": Range(0, 1, "chance that a training example gets noise"),
        "snr_db": SNR,
        "train_fraction": _fraction("leading share of each noise file that training may use"),
        "ramp_steps": Range(0, STEPS, "optimizer steps over which noise and masks grow to full strength"),
    },
    ModelConfig: {
        "embed_dim": Range(1, 4096, "embedding size"),
        "dropout": Range(0, 1, "dropout probability", open_hi=True),
        "aam_margin": Range(0, 1.5, "angular margin in radians"),
        "aam_scale": Range(0, 1000, "logit scale", open_lo=True),
    },
    TrainConfig: {
        "max_steps": Range(1, STEPS, "optimizer steps at most"),
        "min_steps": Range(0, STEPS, "optimizer steps before early stopping may stop"),
        "val_every_steps": Range(1, STEPS, "optimizer steps between validations"),
        "patience": Range(0, 100_000, "validations without improvement before stopping"),
        "batch_size": Range(1, 65_536, "examples per training batch"),
        "lr": Range(0, 10, "learning rate", open_lo=True),
        "weight_decay": Range(0, 10, "weight decay"),
        "seed": Range(0, 2**31 - 1, "random seed"),
        "num_workers": Range(0, 256, "data-loading worker processes"),
        "threads": Range(1, 1024, "torch threads"),
    },
    EvalConfig: {
        "snr_db": SNR,
        "latency_runs": Range(1, 100_000, "timed runs per latency figure"),
        "study_seeds": Range(1, 1000, "speaker draws of the unseen-speaker study"),
        "enroll_clips": Range(1, 100_000, "clips that enrol a speaker"),
        "study_max_clips": Range(1, 1_000_000, "clips per speaker in the study"),
        "far": _fraction("target false-accept rate"),
    },
    GridConfig: {
        "seeds": Range(1, 1000, "seeds per configuration"),
    },
    DecisionConfig: {
        "far": _fraction("target false-accept rate"),
        "enrol_min_speech_s": Range(0, 3600, "seconds of speech an enrolment clip needs"),
        "enrol_min_snr_db": Range(-100, 100, "dB SNR an enrolment clip needs"),
        "min_consistency": Range(-1, 1, "mean pairwise cosine of a profile's clips"),
    },
    VadConfig: {
        "threshold": _fraction("speech probability that starts a region"),
        "neg_threshold": _fraction("speech probability that ends a region"),
        "silero_rate": Range(8000, 16000, "Hz of the silero model: 8000 or 16000"),
        "silero_lead_ms": Range(0, 10_000, "ms of silence fed before the clip"),
        "peak_db": Range(-100, 0, "dBFS of the clip's peak before detection"),
        "webrtc_mode": Range(0, 3, "webrtc aggressiveness"),
        "energy_db": Range(0, 200, "dB below the loud frames that still count as speech", open_lo=True),
        "energy_floor_db": Range(0, 200, "dB above the quiet frames speech must be"),
        "min_speech_ms": Range(0, 60_000, "ms: shorter bursts are dropped"),
        "min_silence_ms": Range(0, 60_000, "ms: shorter pauses are bridged"),
        "pad_ms": Range(0, 60_000, "ms kept around each region"),
        "min_speech_seconds": Range(0, 3600, "seconds of speech a file needs"),
    },
}

CHOICES: dict[type, dict[str, tuple]] = {
    DataConfig: {"split": ("auto", "official", "block", "random", "manifest")},
    ModelConfig: {"head": ("softmax", "aam")},
    TrainConfig: {"monitor": ("val_loss", "val_acc")},
    VadConfig: {"backend": ("silero", "webrtc", "energy"), "fallback": ("silero", "webrtc", "energy", None),
                "silero_rate": (8000, 16000)},
}


def _cross_checks(obj) -> list[str]:
    """Constraints between fields of one section -> messages for the ones broken."""
    bad = []
    if isinstance(obj, DataConfig) and obj.val_fraction + obj.test_fraction >= 1:
        bad.append(f"val_fraction + test_fraction = {obj.val_fraction + obj.test_fraction:g} leaves no "
                   "training clips; valid: a sum below 1")
    if isinstance(obj, VadConfig) and obj.neg_threshold is not None and obj.neg_threshold > obj.threshold:
        bad.append(f"neg_threshold {obj.neg_threshold:g} > threshold {obj.threshold:g}; valid: neg_threshold ≤ threshold")
    if isinstance(obj, FeatureConfig) and obj.fmax is not None and obj.fmin >= obj.fmax:
        bad.append(f"fmin {obj.fmin:g} ≥ fmax {obj.fmax:g}; valid: fmin < fmax")
    if isinstance(obj, AugmentConfig) and (len(obj.snr_db) != 2 or obj.snr_db[0] > obj.snr_db[1]):
        bad.append(f"snr_db {obj.snr_db}: expected [low, high] with low ≤ high")
    if isinstance(obj, TrainConfig):
        if obj.max_steps % obj.val_every_steps:
            # the best checkpoint is a validated one: steps after the last validation would be thrown away
            bad.append(f"max_steps {obj.max_steps} is not a multiple of val_every_steps {obj.val_every_steps}; "
                       "valid: max_steps = k × val_every_steps")
        if obj.min_steps > obj.max_steps:
            bad.append(f"min_steps {obj.min_steps} > max_steps {obj.max_steps}; valid: min_steps ≤ max_steps")
    if isinstance(obj, GridConfig):
        bad += [f"{k}: empty list; valid: at least one entry" for k in ("models", "features", "heads", "augment")
                if not getattr(obj, k)]
        bad += [f"heads: {h!r} is not a head; valid: aam, softmax" for h in obj.heads if h not in ("softmax", "aam")]
    return bad


def check_limits(obj, where: str) -> None:
    """Refuse a section whose numbers are outside LIMITS, or whose choices or cross-field constraints
    are broken: one ConfigError naming the key, the value and the valid range."""
    for key, rng in LIMITS.get(type(obj), {}).items():
        value = getattr(obj, key)
        for v in value if isinstance(value, list) else [value]:
            if v is not None and not rng.holds(v):
                raise ConfigError(f"{where}.{key} = {v!r} is out of range; valid: {rng.text(key)} ({rng.what})")
    for key, valid in CHOICES.get(type(obj), {}).items():
        if getattr(obj, key) not in valid:
            raise ConfigError(f"{where}.{key} = {getattr(obj, key)!r}; valid: {', '.join(map(str, valid))}")
    for message in _cross_checks(obj):
        raise ConfigError(f"{where}.{message}")


# --------------------------------------------------------------------------- loading


def _coerce(value, tp, where: str):
    """Check `value` against the annotation `tp`, converting ints to floats etc."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{where}: bad value {value!r}")
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        (item,) = typing.get_args(tp) or (object,)
        return [_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is float:
        if isinstance(value, str) and SCIENTIFIC.fullmatch(value.strip()):
            value = float(value)  # YAML 1.1 reads "1e-4" (no dot) as a string
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if tp is str:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def from_dict(cls, data, where: str = "config"):
    """Build dataclass `cls` from a mapping; unknown keys are an error listing valid ones."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {', '.join(repr(u) for u in unknown)}; "
            f"valid keys: {', '.join(names)}"
        )
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}") for k, v in data.items()}
    obj = cls(**kwargs)
    check_limits(obj, where)
    return obj


def to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


# Keys that every grid cell sets for itself: a value given in a config would be silently
# replaced, so it is refused with the grid key that does the job.
GRID_OWNED = {
    ("model", "name"): "grid.models (or --models)",
    ("model", "head"): "grid.heads",
    ("features", "name"): "grid.features (or --features)",
    ("augment", "enabled"): "grid.augment (or --augment / --no-augment / --compare-augment)",
}


def _read_yaml(p: Path) -> dict:
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML ({str(e).splitlines()[0]})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: cannot be read as a text config ({e.__class__.__name__})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: a config must be a mapping of sections (data:, train:, ...), got {type(data).__name__}")
    return data


def config_path(name: str | Path) -> Path:
    """A config file path, or the name of a shipped config (voxprint/configs/NAME.yaml)."""
    p = Path(name)
    if not p.exists() and (CONFIG_DIR / f"{name}.yaml").exists():
        p = CONFIG_DIR / f"{name}.yaml"
    if not p.is_file():
        shipped = ", ".join(sorted(q.stem for q in CONFIG_DIR.glob("*.yaml")))
        raise ConfigError(f"{name}: no such config file (shipped configs: {shipped})")
    return p


def load(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Load a YAML config (a path, or the name of a shipped one; None = the shipped `default`)
    and apply `a.b=value` overrides."""
    p = config_path(path if path is not None else "default")
    data = _read_yaml(p)
    for item in overrides or []:
        apply_override(data, item)
    for (section, key), use in GRID_OWNED.items():
        if isinstance(data.get(section), dict) and key in data[section]:
            raise ConfigError(f"{section}.{key} is set by the grid for each run; use {use} instead")
    return from_dict(Config, data, str(p))


def apply_override(data: dict, item: str) -> None:
    """Set `section.key=value` in a nested dict; the value is parsed as YAML."""
    if "=" not in item:
        raise ConfigError(f"override {item!r}: expected section.key=value")
    key, raw = item.split("=", 1)
    parts = key.strip().split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {item!r}: {part} is not a section")
    node[parts[-1]] = yaml.safe_load(raw)


def save(cfg: Config, path: Path) -> None:
    from .io import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(to_dict(cfg), sort_keys=False))


# Sections that do not change how a saved model is rebuilt or fed: a key an older voxprint wrote
# there and this one no longer has is dropped when a run folder is read back.
_HISTORY_SECTIONS = {"train": TrainConfig, "eval": EvalConfig, "grid": GridConfig}


def load_resolved(path: Path) -> Config:
    """Load a config written by `save` (a run folder's config.yaml); grid-owned keys allowed.
    Keys of retired training/evaluation settings (an older version's folder) are ignored; the
    sections that rebuild the model (data, features, model, augment, vad) stay strict."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: missing; a model folder needs the config.yaml it was trained with")
    data = _read_yaml(path)
    for section, cls in _HISTORY_SECTIONS.items():
        if isinstance(data.get(section), dict):
            known = {f.name for f in dataclasses.fields(cls)}
            data[section] = {k: v for k, v in data[section].items() if k in known}
    return from_dict(Config, data, str(path))
