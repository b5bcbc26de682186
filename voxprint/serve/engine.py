"""The loaded model and the profile store behind the API; every heavy step runs in a worker thread.

One Recognizer is built at start-up and shared. Requests decode and score their audio in a thread
pool bounded by an anyio CapacityLimiter (`limits.workers`, default the number of cores). The serving
process sets torch to one intra-op thread (server.serve; the onnx engine already runs one), so N
concurrent requests use N cores instead of each spawning a thread per core and fighting over them.
Requests beyond `limits.max_queue` get 503.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import numpy as np

from ..clip_scoring import answered
from ..decisions import TOP_K as CANDIDATES
from ..errors import AudioError, VoxprintError
from ..store import MAX_NAME_LENGTH
from ..stores import is_url
from .errors import ApiError
from .limits import Limits
from .names import clean_name
from .profiles import ProfileCache
from .uploads import Spool, decode

log = logging.getLogger(__name__)
TOP_K = 3


class Engine:
    """What the routes call. `files` arguments are lists of (file object, client file name)."""

    def __init__(self, recognizer, db: str | Path | None, limits: Limits, threshold: float | None = None,
                 far: float | None = None):
        self.rec, self.limits = recognizer, limits
        # a raw cosine threshold decides when given, or when the folder ships no cohort (scoring.py)
        no_cohort = recognizer.scorer is None
        self.raw_threshold = recognizer.threshold if threshold is None and no_cohort else threshold
        self.far = float(recognizer.cfg.decision.far if far is None else far)
        self.threshold = float(self.raw_threshold if self.raw_threshold is not None else recognizer.threshold)
        self.db_path = db or recognizer.default_db  # a SQLite file or a postgresql:// URL
        self.cache = ProfileCache(recognizer.store(self.db_path))
        self.spool = Spool()
        self._limiter: anyio.CapacityLimiter | None = None  # made in the event loop, on first use
        self.in_flight = 0
        self.has_classifier = bool(getattr(recognizer, "labels", None))
        log.info("model %s (%s engine), %d Hz, threshold %.3f, db %s, %d worker(s)", recognizer.name,
                 getattr(recognizer, "engine", "torch"), recognizer.sample_rate, self.threshold, self.cache.where,
                 limits.workers)

    def close(self) -> None:
        self.cache.close()
        self.spool.close()
        log.info("stopped; upload folder removed")

    async def run(self, fn: Callable[..., Any], *args) -> Any:
        """fn(*args) in a worker thread once one is free; 503 when too many requests already wait."""
        if self.in_flight >= self.limits.max_queue:
            raise ApiError(503, "busy", "the server is at capacity; retry shortly", {"Retry-After": "1"})
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.limits.workers)
        self.in_flight += 1
        try:
            return await anyio.to_thread.run_sync(fn, *args, limiter=self._limiter)
        finally:
            self.in_flight -= 1

    async def read(self, fn: Callable[..., Any], *args) -> Any:
        """fn(*args) in a thread, not behind inference: health and the speaker list answer under load."""
        return await anyio.to_thread.run_sync(fn, *args)

    def name(self, raw: str) -> str:
        """A name to enrol: the server's own length limit (limits.max_name)."""
        return clean_name(raw, self.limits.max_name)

    def known_name(self, raw: str) -> str:
        """A name to look up (verify, forget): the store's limit, so whatever the CLI enrolled is reachable."""
        return clean_name(raw, MAX_NAME_LENGTH)

    # ---------------------------------------------------------------- worker-thread side

    def _decoded(self, files):
        """The uploads decoded one at a time (a generator: one file's audio in memory at a time)."""
        if not files:
            raise ApiError(400, "missing_field", "no audio file in the request (form field 'audio')")
        for f, fn in files:
            yield decode(self.spool, f, fn, self.rec.load, self.rec.sample_rate, self.limits.max_seconds)

    def _waves(self, files) -> list[np.ndarray]:
        return list(self._decoded(files))

    def _embedding(self, files) -> tuple[np.ndarray | None, np.ndarray, float]:
        """One clip -> (probabilities [K], or None for a pure encoder; unit embedding [E]; seconds)."""
        (y,) = self._waves(files)
        probs, emb = self.rec.score_waves([y])
        if not answered(probs, emb).all():
            raise ApiError(400, "bad_audio", "the model's scores are not finite (absurd sample values?)")
        return (None if probs is None else probs[0]), emb[0], len(y) / self.rec.sample_rate

    def _snapshot(self):
        snap = self.cache.snapshot()
        if not snap.count:
            raise ApiError(409, "no_speakers", "no speakers are enrolled yet; enrol one with POST /v1/enroll")
        return snap

    def _measured(self, files) -> tuple[np.ndarray, dict, float]:
        """One clip -> (unit embedding [E], quality sums, seconds); a clip without a voice raises NoSpeechError."""
        from ..quality import measure, require_speech

        (y,) = self._waves(files)
        q = measure(y, self.rec.sample_rate, self.rec.cfg.vad)
        require_speech(q, self.rec.cfg.vad.min_speech_seconds, files[0][1])  # NoSpeechError: errors.py's 400
        _, emb = self.rec.score_waves([y])
        if not answered(None, emb).all():
            raise ApiError(400, "bad_audio", "the model's scores are not finite (absurd sample values?)")
        return emb[0], q.as_sums(), len(y) / self.rec.sample_rate

    def _decision_rule(self) -> dict:
        """What decides: {"far": target rate, or None when the raw cosine threshold does; "threshold": it}."""
        return {"far": None if self.raw_threshold is not None else self.far, "threshold": self.threshold}

    def _decision(self, d) -> dict:
        """The decision's fields every answer shares (scoring.Decision)."""
        return {"score": d.score, "norm": d.norm, "llr": d.llr, **self._decision_rule()}

    def _nearby(self, mean: np.ndarray) -> list:
        """The stored profiles nearest a voice (unit mean [E]) by the index: a new enrolment's duplicate check."""
        snap = self.cache.snapshot()
        return self.cache.named(snap.nearest(mean.astype(np.float32), 10)[0]) if snap.count else []

    def decide(self, emb: np.ndarray, quality: dict, snap):
        """(candidates, scoring.Decision) of a unit embedding [E] with its quality sums: the index's
        candidates by raw cosine, best first (as many as the CLI's decisions.identify weighs), decided by
        the one rule. identify and the conversation card's clusters come here."""
        from ..scoring import Candidate, decide

        names, _ = snap.nearest(emb, CANDIDATES)
        cands = [Candidate(p.name, p.mean, p.count, p.quality) for p in self.cache.named(names)]
        return cands, decide(self.rec.scorer, emb, quality, cands, self.far, snap.count, self.raw_threshold)

    def identify(self, files) -> dict:
        self._snapshot()  # fail before decoding when nobody is enrolled
        emb, quality, seconds = self._measured(files)
        snap = self._snapshot()  # re-read: an enrolment may have landed while we decoded
        cands, d = self.decide(emb, quality, snap)
        # the raw scores as scoring.decide computes them (one float32 product), so `score` is one of them
        raw = np.stack([c.mean for c in cands]).astype(np.float32) @ np.asarray(emb, dtype=np.float32)
        return {
            "speaker": d.name,
            **self._decision(d),
            "top": [{"name": c.name, "score": float(r)} for c, r in zip(cands[:TOP_K], raw[:TOP_K])],
            "seconds": round(seconds, 3),
        }

    def verify(self, name: str, files) -> dict:
        from ..scoring import Candidate, decide

        if self.cache.snapshot().vector(name) is None:
            raise ApiError(404, "unknown_speaker", f"no enrolled speaker '{name}'")
        emb, quality, seconds = self._measured(files)
        found = self.cache.named([name])
        if not found:  # forgotten while the clip was being decoded
            raise ApiError(404, "unknown_speaker", f"no enrolled speaker '{name}'")
        p = found[0]
        d = decide(self.rec.scorer, emb, quality, [Candidate(p.name, p.mean, p.count, p.quality)], self.far, 1,
                   self.raw_threshold)
        return {"name": name, **self._decision(d), "accepted": d.accepted, "seconds": round(seconds, 3)}

    def predict(self, files) -> dict:
        probs, _, seconds = self._embedding(files)
        order = np.argsort(-probs)[:TOP_K]
        labels = self.rec.labels
        return {"speaker": labels[order[0]], "probability": float(probs[order[0]]),
                "top": [{"name": labels[i], "probability": float(probs[i])} for i in order],
                "seconds": round(seconds, 3)}

    def enroll(self, name: str, files) -> dict:
        from ..decisions import enrol_waves

        if len(files) > self.limits.max_files:
            raise ApiError(413, "too_many_files", f"{len(files)} files; at most {self.limits.max_files} per enrolment")
        waves = self._waves(files)
        with self.rec.store(self.db_path) as store:
            try:  # each clip checked (speech, SNR, one voice): a refused clip refuses the request
                res = enrol_waves(self.rec, name, waves, [fn for _, fn in files], store, nearby=self._nearby)
            except AudioError as e:
                raise ApiError(400, "bad_audio", str(e)) from None
            except VoxprintError as e:
                raise ApiError(400, "refused_clip", str(e)) from None
        prof = res.profile
        log.info("enrolled %r: +%d clip(s), %d in profile", name, len(waves), prof.count)
        return {"name": prof.name, "added": len(waves), "clips": prof.count, "enrolled": prof.created,
                "updated": prof.updated, "consistency": prof.consistency, "warnings": res.warnings,
                "quality": [{"file": c.name, "speech_s": round(c.quality.speech_s, 2),
                             "snr_db": round(c.quality.snr_db, 1)} for c in res.clips]}

    def diarize(self, files, speakers: int | None = None) -> dict:
        from .conversation import diarize_upload

        return diarize_upload(self, files, speakers)

    def forget(self, name: str) -> dict:
        with self.rec.store(self.db_path) as store:
            if not store.forget(name):
                raise ApiError(404, "unknown_speaker", f"no enrolled speaker '{name}'")
        log.info("forgot %r", name)
        return {"deleted": name}

    def speakers(self) -> dict:
        return {"speakers": [{"name": p.name, "clips": p.count, "enrolled": p.created, "updated": p.updated,
                              "consistency": p.consistency} for p in self.cache.profiles()]}

    def health(self) -> dict:
        """For a load balancer's probe too: 503 when the profile store cannot be reached; otherwise the
        profiles' index is brought up to date first, so `index.fresh` says this replica answers with what
        every other replica has enrolled."""
        try:
            self.cache.fresh()
        except VoxprintError as e:
            raise ApiError(503, "store_unreachable", str(e)) from None
        try:
            snap = self.cache.snapshot()
            n, kind = snap.count, snap.kind
        except VoxprintError:  # profiles of another model: still healthy, and the count says why
            n, kind = len(self.cache.profiles()), "none"
        return {"status": "ok", "model": self.rec.name, "model_id": self.rec.model_id,
                "sample_rate": self.rec.sample_rate, "engine": getattr(self.rec, "engine", "torch"),
                "threshold": self.threshold, "speakers": n, "classifier": self.has_classifier,
                "store": "postgresql" if is_url(str(self.db_path)) else "sqlite",
                "index": {"kind": kind, "fresh": kind != "none" and self.cache.fresh()},
                "limits": {"max_bytes": self.limits.max_bytes, "max_seconds": self.limits.max_seconds,
                           "max_files": self.limits.max_files, "max_name": self.limits.max_name}}
