"""The one settings schema: every key voxprint reads from a config, with its type and valid values.

Three roots share the field types and rules here:
- `Config`: a `voxprint run` config (voxprint/configs/*.yaml, `--set`), also the config.yaml of
  every run and model folder;
- `EncoderTrainConfig`: `voxprint encoder train --set key=value`;
- `ServeLimits`: the limits of `voxprint serve`.

The sections are pydantic dataclasses: pydantic coerces and checks types and ranges (a range is a
field constraint carrying a `Bounds` that says what the number means), unknown keys are refused,
and rules between fields of one section are its `model_validator`s. Turning a validation error
into one line for the user, and loading YAML, is voxprint/config.py's job.

What a run trains and how it is run are kept apart: threads, data-loading workers, progress bars
and the accelerator live in `runtime`, so a run folder's config matches its re-run whatever those.
"""

import dataclasses
import os
from dataclasses import field
from typing import Annotated, Literal

from pydantic import BeforeValidator, ConfigDict, Field, field_validator, model_validator
from pydantic.dataclasses import dataclass

# extra="forbid": a misspelt key is an error, never silently ignored. No NaN or infinity: a NaN
# passes no range but would switch a limit off. Numbers where text is expected (devices: 1) are
# taken as text.
SECTION = ConfigDict(extra="forbid", allow_inf_nan=False, coerce_numbers_to_str=True)

STEPS = 10_000_000  # ten million optimizer steps: far beyond any run this package makes


@dataclasses.dataclass(frozen=True)
class Bounds:
    """Valid values of a number: lo <= v <= hi (strict where `open_lo` / `open_hi`; None =
    unbounded), and what the number means, for messages."""

    lo: float | None
    hi: float | None
    what: str
    open_lo: bool = False
    open_hi: bool = False

    def text(self, key: str) -> str:
        """`1 ≤ batch_size ≤ 65536`, `0 < val_fraction < 1`, `2 ≤ min_clips`."""
        lo = "" if self.lo is None else f"{_plain(self.lo)} {'<' if self.open_lo else '≤'} "
        hi = "" if self.hi is None else f" {'<' if self.open_hi else '≤'} {_plain(self.hi)}"
        return f"{lo}{key}{hi}"


def _plain(v: float) -> str:
    """10000000 rather than 1e+07, 0.1 as 0.1."""
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def _not_bool(tp: type):
    """A before-validator: pydantic would read `true` as 1, but a number field given a flag is a
    mistake, not a 1."""
    what = "an integer" if tp is int else "a number"

    def check(value):
        if isinstance(value, bool):
            raise ValueError(f"expected {what}, got {str(value).lower()}")
        return value

    return BeforeValidator(check)


def number(tp: type, lo: float | None, hi: float | None, what: str, *, open_lo: bool = False,
           open_hi: bool = False, optional: bool = False):
    """The annotation of a number field in [lo, hi] ((lo, ...) / (..., hi) where open); with
    `optional`, None (not set) is allowed too."""
    limits = {("gt" if open_lo else "ge"): lo, ("lt" if open_hi else "le"): hi}
    constraint = Field(**{k: v for k, v in limits.items() if v is not None}, description=what)
    bounds = Bounds(lo, hi, what, open_lo, open_hi)
    checked = Annotated[tp, _not_bool(tp), constraint, bounds]
    return checked | None if optional else checked  # None (not set) is not held against the bounds


def fraction(what: str, optional: bool = False):
    """A share strictly between 0 and 1."""
    return number(float, 0, 1, what, open_lo=True, open_hi=True, optional=optional)


def _pair(values: list[float], key: str) -> None:
    """A [low, high] range given as a two-item list."""
    if len(values) != 2 or values[0] > values[1]:
        raise ValueError(f"{key} {values}: expected [low, high] with low ≤ high")


SNR = number(float, -60, 100, "dB of speech over noise")
Seed = number(int, 0, 2**31 - 1, "random seed")
Threads = number(int, 1, 1024, "torch threads", optional=True)
Workers = number(int, 0, 256, "data-loading worker processes")
Denoise = number(float, 0, 10, "times each band's noise floor subtracted (0: off)")
Far = fraction("target false-accept rate")


@dataclass(config=SECTION)
class DataConfig:
    path: str = "fsdd"  # dataset name (fsdd), a folder, or a CSV manifest
    # None: the dataset's own (most common) rate. voxprint.audio reads no rate outside these bounds.
    sample_rate: number(int, 1_000, 384_000, "Hz", optional=True) = None
    # training crop and inference window length
    clip_seconds: number(float, 0.1, 60, "seconds of audio per training crop and inference window") = 1.0
    # A model folder's inference only (Recognizer: predict, enroll, identify, verify, serve): a clip
    # longer than one of these windows is also heard in it, and each length's embedding counts
    # equally in the clip's (benchmarks/encoder_windows.py chose [1.4] for the shipped encoder). A
    # grid evaluates in clip_seconds windows only, so `voxprint run` refuses a non-empty list.
    extra_windows: list[number(float, 0.1, 60, "seconds of each further inference window")] = field(
        default_factory=list)
    split: Literal["auto", "official", "block", "random", "manifest"] = "auto"
    val_fraction: fraction("share of each speaker's clips for validation") = 0.1
    test_fraction: fraction("share of each speaker's clips for test") = 0.2
    # clips per contiguous block in the block split; one is dropped at each boundary
    block_size: number(int, 2, 100_000, "clips per contiguous block; one is dropped at each boundary") = 20
    # speakers with fewer usable clips are skipped. 2: one to train, one to test (a manifest's split
    # column); validation is carved out of a speaker's training clips only where it has two or more
    min_clips: number(int, 2, None, "usable clips a speaker needs: one to train and one to test") = 5
    max_per_speaker: number(int, 1, None, "clips kept per speaker", optional=True) = None  # quick runs, tests
    speakers: list[str] | None = None  # keep only these speakers

    @model_validator(mode="after")
    def _leaves_training_clips(self):
        total = self.val_fraction + self.test_fraction
        if total >= 1:
            raise ValueError(f"val_fraction + test_fraction = {total:g} leaves no training clips; "
                             "valid: a sum below 1")
        return self


@dataclass(config=SECTION)
class FeatureConfig:
    name: str = "mfcc"  # mfcc | mel | lpc
    win_ms: number(float, 0, 1000, "analysis window in ms", open_lo=True) = 25.0
    hop_ms: number(float, 0, 1000, "frame hop in ms", open_lo=True) = 10.0
    n_fft: number(int, 8, 65_536, "FFT size in samples", optional=True) = None  # None: next power of two >= the window
    n_mels: number(int, 1, 512, "Mel bands") = 40
    fmin: number(float, 0, 192_000, "lowest Mel frequency in Hz") = 0.0
    fmax: number(float, 0, 192_000, "highest Mel frequency in Hz", open_lo=True, optional=True) = None
    # dynamic-range floor of the dB scale, as librosa
    top_db: number(float, 0, 300, "dB of dynamic range kept", open_lo=True, optional=True) = 80.0
    log: bool = True  # mel: False = mel power itself (no dB, no top_db), the GE2E encoder's input
    # mel/mfcc: spectral subtraction of `denoise` x each band's noise floor (the clip's 10th
    # percentile frame); 0 = off
    denoise: Denoise = 0.0
    n_mfcc: number(int, 1, 512, "MFCC coefficients") = 20
    deltas: bool = False  # append delta and delta-delta
    lpc_order: number(int, 1, 100, "LPC order") = 16
    lpcc: bool = False  # LPC cepstral coefficients instead of raw LPC

    @model_validator(mode="after")
    def _band_not_empty(self):
        if self.fmax is not None and self.fmin >= self.fmax:
            raise ValueError(f"fmin {self.fmin:g} ≥ fmax {self.fmax:g}; valid: fmin < fmax")
        return self


@dataclass(config=SECTION)
class AugmentConfig:
    enabled: bool = True
    prob: number(float, 0, 1, "chance that a training example gets noise") = 0.8
    # Uniform range [low, high], reaching below the 0 dB that runs evaluate at: drawn from 0-20 dB, too few
    # training clips were near 0 dB, and the default run's best model (FSDD) scored 0.957 / 0.853 at white
    # / recorded-noise 0 dB; from -5 dB crnn-mel scored 0.987 / 0.910, and 0.983 / 0.927 with another seed,
    # clean unchanged. Spectral subtraction (features.denoise 1.0) on top raised recorded noise (0.937) but
    # lowered white (0.947), so it stays off. benchmarks/grid.py measures the whole default run.
    snr_db: list[SNR] = field(default_factory=lambda: [-5.0, 20.0])
    # "white", "pink", or noise files/folders. Relative paths are tried against the
    # working directory, then the data home. "auto" = the dataset's own noise folder.
    noise: list[str] = field(default_factory=lambda: ["white", "pink", "auto"])
    # Leading fraction of every noise file that training may draw from; the rest is
    # reserved for robustness evaluation, so the two never share noise.
    train_fraction: fraction("leading share of each noise file that training may use") = 0.8
    specaugment: bool = True  # time and frequency masking of training features
    # Noise probability and SpecAugment mask sizes grow linearly from 0 to full over the first
    # ramp_steps optimizer steps (0: full strength from the start). benchmarks/fewshot.py measures it.
    ramp_steps: number(int, 0, STEPS, "optimizer steps over which noise and masks grow to full strength") = 0

    @model_validator(mode="after")
    def _snr_is_a_range(self):
        _pair(self.snr_db, "snr_db")
        return self


@dataclass(config=SECTION)
class ModelConfig:
    name: str = "cnn"  # cnn | lstm | crnn | tdnn | stats | ge2e | encoder (see voxprint/models/)
    embed_dim: number(int, 1, 4096, "embedding size") = 128
    dropout: number(float, 0, 1, "dropout probability", open_hi=True) = 0.1
    head: Literal["softmax", "aam"] = "softmax"  # aam: additive angular margin
    aam_margin: number(float, 0, 1.5, "angular margin in radians") = 0.2
    aam_scale: number(float, 0, 1000, "logit scale", open_lo=True) = 30.0
    options: dict = field(default_factory=dict)  # model-specific, checked by the model


@dataclass(config=SECTION)
class TrainConfig:
    # The budget is counted in optimizer steps, not epochs: a small dataset makes few batches per
    # epoch, and 30 epochs of 10 batches leave a model far from fitted. Validation runs every
    # `val_every_steps`; early stopping waits `patience` validations without a better `monitor`
    # (validation loss, or accuracy), and never stops before `min_steps`.
    # 800 steps and patience 5 (with val_noise): in the default FSDD grid crnn-mel seeds 0-2 then reach
    # 0.983-0.990 / 0.933-0.943 at white / recorded-noise 0 dB; 600 steps and patience 3 stopped a seed
    # at step 500 before it had learnt the noise (0.890 / 0.890). The LSTM's stacked frames pay for the
    # longer budget: the default run stays under 10 min on 2 cores (docs/results/grid-time.md).
    max_steps: number(int, 1, STEPS, "optimizer steps at most") = 800
    min_steps: number(int, 0, STEPS, "optimizer steps before early stopping may stop") = 200
    val_every_steps: number(int, 1, STEPS, "optimizer steps between validations") = 50
    patience: number(int, 0, 100_000, "validations without improvement before stopping") = 5
    batch_size: number(int, 1, 65_536, "examples per training batch") = 64
    lr: number(float, 0, 10, "learning rate", open_lo=True) = 3e-3
    weight_decay: number(float, 0, 10, "weight decay") = 1e-4
    seed: Seed = 0
    # Validate on every validation clip twice: as it is and with one fixed draw of the TRAINING noise
    # (its sources and SNR range; never the evaluation noise). The clean validation loss of a model
    # trained with noise can bottom out long before it has learnt the noise (fsdd-unseen-noise: by
    # step 250-650 of 1200), and early stopping on it then ends training too soon; this makes early
    # stopping and the kept checkpoint watch robustness as well. The best-model rule still reads
    # clean validation accuracy. On by default: in the default FSDD grid, crnn-mel's seed 1 stopped at
    # step 350 on the clean loss (its best at 200) and scored 0.870 / 0.763 at white / recorded-noise
    # 0 dB; with it all three seeds trained to 600 steps, mean 0.972 / 0.918 (0.932 / 0.853 without),
    # at the same cost (`voxprint run --models crnn cnn --features mel --seeds 3`).
    val_noise: bool = True
    # What early stopping and the kept checkpoint watch. With one validation clip per speaker (few-shot
    # sets) a few confident mistakes can dominate the validation loss while the accuracy still climbs;
    # benchmarks/fewshot.py runs with val_acc.
    monitor: Literal["val_loss", "val_acc"] = "val_loss"

    @model_validator(mode="after")
    def _steps_agree(self):
        if self.max_steps % self.val_every_steps:
            # the best checkpoint is a validated one: steps after the last validation would be thrown away
            raise ValueError(f"max_steps {self.max_steps} is not a multiple of val_every_steps "
                             f"{self.val_every_steps}; valid: max_steps = k × val_every_steps")
        if self.min_steps > self.max_steps:
            raise ValueError(f"min_steps {self.min_steps} > max_steps {self.max_steps}; valid: min_steps ≤ max_steps")
        return self


@dataclass(config=SECTION)
class EvalConfig:
    robustness: bool = True
    snr_db: list[SNR] = field(default_factory=lambda: [20.0, 10.0, 5.0, 0.0])
    noise: list[str] = field(default_factory=lambda: ["white", "pink", "auto"])
    latency_runs: number(int, 1, 100_000, "timed runs per latency figure") = 100
    # Unseen-speaker study (voxprint/unseen.py): the general encoder and the run's chosen model on
    # speakers they never trained on, in the run's dataset and these (per dataset).
    verification: bool = True
    verification_pool: list[str] = field(default_factory=lambda: ["speeches5", "libri-dev"])
    # speaker draws (partition, enrolled/unknown, enrolment clips)
    study_seeds: number(int, 1, 1000, "speaker draws of the unseen-speaker study") = 3
    # clips that enrol a speaker of a clip dataset (libri-dev: half its segments)
    enroll_clips: number(int, 1, 100_000, "clips that enrol a speaker") = 10
    # clips per speaker of a clip dataset in the study (drawn at random)
    study_max_clips: number(int, 1, 1_000_000, "clips per speaker in the study") = 60
    far: fraction("target false-accept rate", optional=True) = None  # grid thresholds at this rate (None: EER point)


# eval keys that only the unseen-speaker study reads: changing them re-runs the study, not the grid
STUDY_KEYS = ("verification", "verification_pool", "study_seeds", "enroll_clips", "study_max_clips")


@dataclass(config=SECTION)
class GridConfig:
    models: Annotated[list[str], Field(min_length=1)] = field(default_factory=lambda: ["cnn", "lstm", "crnn"])
    features: Annotated[list[str], Field(min_length=1)] = field(default_factory=lambda: ["mfcc", "mel", "lpc"])
    seeds: number(int, 1, 1000, "seeds per configuration") = 1
    # add "aam" to compare heads
    heads: Annotated[list[Literal["softmax", "aam"]], Field(min_length=1)] = field(default_factory=lambda: ["softmax"])
    # [true, false]: side by side
    augment: Annotated[list[bool], Field(min_length=1)] = field(default_factory=lambda: [True])


# --- speech activity (voice activity detection; see voxprint/vad/) -------------------
Detector = Literal["silero", "webrtc", "energy"]


@dataclass(config=SECTION)
class VadConfig:
    enabled: bool = True  # find speech before crops, SNR, windows and enrolment
    backend: Detector = "silero"  # chosen by benchmarks/vad.py
    # Where `backend` finds less than min_speech_seconds in a clip that cannot be skipped (a test
    # clip, a file given to predict), this detector's regions are heard before the whole clip. silero
    # hears no voice in steady crowd noise or applause - about a fifth of speeches5's clips, which a
    # model still names by their recording - and without it a padded copy of such a clip was heard
    # whole, silence and all (benchmarks/padded.py). energy keeps the audible part and never calls
    # digital silence or a quiet bed speech. Training clips without speech are still skipped.
    fallback: Detector | None = "energy"
    threshold: fraction("speech probability that starts a region") = 0.5  # silero
    # silero: probability that ends one (None: threshold - 0.15)
    neg_threshold: fraction("speech probability that ends a region", optional=True) = None
    silero_rate: Literal[8000, 16000] = 16000  # silero: 8000 uses the model's 8 kHz mode on 8 kHz clips
    # silero: silence fed before the clip so its state settles
    silero_lead_ms: number(float, 0, 10_000, "ms of silence fed before the clip") = 250.0
    # scale each clip's peak to this dBFS first (at most +30 dB)
    peak_db: number(float, -100, 0, "dBFS of the clip's peak before detection", optional=True) = None
    webrtc_mode: number(int, 0, 3, "webrtc aggressiveness") = 3
    # energy: speech is within this many dB of the clip's loud frames
    energy_db: number(float, 0, 200, "dB below the loud frames that still count as speech", open_lo=True) = 30.0
    # energy: and at least this far above the clip's quiet frames
    energy_floor_db: number(float, 0, 200, "dB above the quiet frames speech must be") = 6.0
    min_speech_ms: number(float, 0, 60_000, "ms: shorter bursts are dropped") = 90.0
    min_silence_ms: number(float, 0, 60_000, "ms: shorter pauses are bridged (hangover)") = 200.0
    pad_ms: number(float, 0, 60_000, "ms kept around each region so word edges are not clipped") = 60.0
    # less speech than this in a file is "no speech found"; FSDD has clips of 0.14 s in all
    min_speech_seconds: number(float, 0, 3600, "seconds of speech a file needs") = 0.1

    @model_validator(mode="after")
    def _thresholds_ordered(self):
        if self.neg_threshold is not None and self.neg_threshold > self.threshold:
            raise ValueError(f"neg_threshold {self.neg_threshold:g} > threshold {self.threshold:g}; "
                             "valid: neg_threshold ≤ threshold")
        return self


# --- accept/reject decisions and enrolment checks (voxprint/scoring.py, voxprint/enrol_check.py) ---
@dataclass(config=SECTION)
class DecisionConfig:
    # target false-accept rate: identify = share of strangers accepted as someone; verify = per trial
    far: Far = 0.01
    # an enrolment clip with less speech is refused (FSDD digits: 0.14 s and up)
    enrol_min_speech_s: number(float, 0, 3600, "seconds of speech an enrolment clip needs") = 0.1
    # ... or with a lower SNR estimate (clips of 1.5 s and longer)
    enrol_min_snr_db: number(float, -100, 100, "dB SNR an enrolment clip needs") = 5.0
    # a profile whose clips agree less (mean pairwise cosine) is warned about; None: the encoder's own
    # value (scoring.json, fitted on dev speakers), or no warning for a folder without one
    min_consistency: number(float, -1, 1, "mean pairwise cosine of a profile's clips", optional=True) = None


@dataclass(config=SECTION)
class RuntimeConfig:
    """How a run is executed, not what it trains or scores: a run folder re-run with other values
    here continues where it stopped (voxprint/pipeline.py compares every other section)."""

    threads: Threads = None  # torch threads; None leaves torch's default
    num_workers: Workers = 0
    # grid cells trained side by side, each in its own process (voxprint/side_by_side.py); 0 = auto: one
    # per CPU core (one torch thread each unless `threads` says), one at a time with a GPU. Each process
    # holds the dataset once: on a big corpus with many cores, a smaller number saves memory.
    cells: number(int, 0, 256, "grid cells trained side by side (0: one per CPU core)") = 0
    progress: bool = True  # progress bars on a terminal
    accelerator: str = "auto"  # Lightning's: cpu, gpu, auto, ...
    devices: str = "auto"  # Lightning's: auto, 1, "0,1", ...
    precision: str = "32-true"  # Lightning's: 32-true, 16-mixed, bf16-mixed, ...


@dataclass(config=SECTION)
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
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)


# --------------------------------------------------------------------------- encoder train

HELD_OUT_NOISE = "running_tap"  # = protocol.HELD_OUT_NOISE (kept here: the schema imports no voxprint module)


@dataclass(config=SECTION)
class EncoderTrainConfig:
    """`voxprint encoder train --set key=value` (voxprint/encoder/train.py)."""

    steps: number(int, 1, STEPS, "optimizer steps") = 600
    batch_size: number(int, 1, 65_536, "examples per training batch") = 32
    lr: number(float, 0, 10, "learning rate", open_lo=True) = 5e-5
    # per-batch crop length in seconds, uniform in [low, high]
    crop_s: list[number(float, 0.1, 60, "seconds per training crop")] = field(default_factory=lambda: [1.0, 2.0])
    snr_db: list[SNR] = field(default_factory=lambda: [-5.0, 20.0])
    # student input level, uniform in [low, high]
    gain_db: list[number(float, -60, 60, "dB of gain on the student's input")] = field(
        default_factory=lambda: [-6.0, 6.0])
    clean_weight: number(float, 0, 1000, "weight of the clean term of the loss") = 1.0
    # examples per batch that also get the clean term (None: all)
    clean_batch: number(int, 1, 65_536, "examples per batch with the clean term", optional=True) = None
    val_every: number(int, 1, STEPS, "optimizer steps between dev checks") = 100
    # first N dev speakers only (quick runs and tests; None = all 20)
    dev_speakers: number(int, 1, 100_000, "dev speakers checked", optional=True) = None
    seed: Seed = 0
    threads: Threads = None
    accelerator: str = "auto"  # Lightning's: cpu, gpu, auto
    num_workers: Workers = 0  # data-loader processes (a big corpus read from disk wants a few)
    half: bool = True  # store float16 weights (loaded as float32)
    # "ge2e": fine-tune the pretrained encoder itself (route 1); "cnn" / "crnn": distil it into a
    # small voxprint model over log-Mel, trained from scratch (route 2)
    student: str = "ge2e"
    student_options: dict = field(default_factory=dict)
    denoise: Denoise = 0.0  # the student's features.denoise (spectral subtraction); the teacher hears plain input
    # the student's frame hop in ms (None: GE2E's 10 ms; the teacher always hears 10 ms frames). 20 ms
    # halves the recurrent steps, the bulk of the cost at batch 1
    hop_ms: number(float, 0, 1000, "the student's frame hop in ms", open_lo=True, optional=True) = None
    init: str | None = None  # a ge2e encoder folder to start from (default: the resemblyzer weights)
    # source -> sampling weight; "libri" = libri-dev train speakers, others are dataset specs/corpora
    sources: Annotated[dict[str, number(float, 0, 1e6, "sampling weight", open_lo=True)], Field(min_length=1)] = field(
        default_factory=lambda: {"libri": 0.5, "speeches5": 0.3, "fsdd": 0.2})
    noise: list[str] = field(default_factory=lambda: ["white", "pink", "noise"])
    exclude_noise: list[str] = field(default_factory=lambda: [HELD_OUT_NOISE])

    @model_validator(mode="after")
    def _ranges_are_pairs(self):
        for key in ("crop_s", "snr_db", "gain_db"):
            _pair(getattr(self, key), key)
        return self


# --------------------------------------------------------------------------- serve


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass(config=SECTION, frozen=True)
class ServeLimits:
    """The limits of `voxprint serve` (one schema so the CLI, the app and the tests agree).
    max_bytes: whole request body (413 while streaming, before any decoding).
    max_seconds: audio per uploaded file (413; read from the header before decoding where it has one).
    max_files: audio files in one enrolment. max_name: characters in a speaker name.
    workers: inference jobs at once (0, the default: the cores this process may use).
    max_queue: requests waiting for a worker before new ones get 503 (bounded memory under overload).
    """

    max_bytes: number(int, 0, 10**11, "bytes of a request body", open_lo=True) = 20_000_000
    max_seconds: number(float, 0, 86_400, "seconds of audio per file", open_lo=True) = 300.0
    max_files: number(int, 1, 100_000, "audio files per enrolment") = 20
    max_name: number(int, 1, 10_000, "characters in a speaker name") = 64
    workers: Annotated[number(int, 0, 1024, "inference jobs at once (0: the cores)"), Field(validate_default=True)] = 0
    max_queue: number(int, 1, 10**6, "requests waiting for a worker") = 256

    @field_validator("workers")
    @classmethod
    def _cores_by_default(cls, v: int) -> int:
        return v or _cores()
