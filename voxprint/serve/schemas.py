"""Response shapes, for the OpenAPI docs at /docs and to keep the JSON stable."""

from __future__ import annotations

from pydantic import BaseModel


class Scored(BaseModel):
    name: str
    score: float


class Identify(BaseModel):
    speaker: str  # an enrolled name, or "unknown" when the best score is below the threshold
    score: float  # cosine similarity to the best profile, -1..1
    norm: float | None = None  # AS-normalised score (None when a raw --threshold decides)
    llr: float | None = None  # calibrated log-likelihood ratio, natural log (same speaker vs not)
    far: float | None = None  # target false-accept rate that decided (None: the raw threshold did)
    threshold: float  # raw cosine threshold (used only when far is None)
    top: list[Scored]  # best first, up to 3
    seconds: float  # audio length


class Verify(BaseModel):
    name: str
    score: float
    norm: float | None = None
    llr: float | None = None
    far: float | None = None  # per trial
    threshold: float
    accepted: bool
    seconds: float


class Probability(BaseModel):
    name: str
    probability: float


class Predict(BaseModel):
    speaker: str
    probability: float
    top: list[Probability]
    seconds: float


class ClipQuality(BaseModel):
    file: str
    speech_s: float  # seconds of speech found
    snr_db: float  # SNR estimate


class Enroll(BaseModel):
    name: str
    added: int  # clips added by this request
    clips: int  # clips in the profile now
    enrolled: str  # first enrolment, ISO 8601 UTC
    updated: str
    consistency: float | None = None  # mean pairwise cosine of the profile's clips (None: one clip)
    warnings: list[str] = []  # e.g. the voice already matches another enrolled speaker
    quality: list[ClipQuality] = []  # each clip of this request


class Speaker(BaseModel):
    name: str
    clips: int
    enrolled: str
    updated: str
    consistency: float | None = None


class Speakers(BaseModel):
    speakers: list[Speaker]


class Deleted(BaseModel):
    deleted: str


class Limits(BaseModel):
    max_bytes: int
    max_seconds: float
    max_files: int
    max_name: int


class IndexState(BaseModel):
    kind: str  # "exact", "ivf1000", "empty", or "none" when the store holds another model's profiles
    fresh: bool  # the index matches the store's latest change (any process or replica)


class Health(BaseModel):
    status: str
    model: str
    model_id: str
    sample_rate: int
    engine: str
    threshold: float
    speakers: int
    classifier: bool
    token_required: bool
    store: str  # "sqlite" or "postgresql"
    index: IndexState
    limits: Limits


class DiarizedTurn(BaseModel):
    start: float  # seconds
    end: float
    label: str  # an enrolled name, or speaker-1, speaker-2, ...


class DiarizedSpeaker(BaseModel):
    label: str
    seconds: float  # speech attributed to this speaker
    enrolled: bool | None = None  # None when nobody is enrolled
    best: str | None = None  # best-scoring profile, passing or not
    score: float | None = None  # its cosine score
    llr: float | None = None  # calibrated log-likelihood ratio (None when a raw threshold decides)


class Diarize(BaseModel):
    path: str  # the uploaded file's name
    seconds: float  # audio length
    far: float | None = None  # target false-accept rate that decided each cluster (None: the raw threshold did)
    threshold: float  # raw cosine threshold (used only when far is None)
    turns: list[DiarizedTurn]
    speakers: list[DiarizedSpeaker]
