"""Speech regions: from frame scores to sample ranges, and what callers do with them.

Units: a region is a half-open sample range [start, end) at the clip's own sample rate;
a region array is int64 [R, 2], sorted and disjoint (R = 0 when no speech was found).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import VadConfig
from ..errors import AudioError
from .backends import SILENCE_DB, Frames, frame_db

EMPTY = np.zeros((0, 2), dtype=np.int64)
# How much longer than a window a recording span may be and still count as fitting it (a share of the
# window). Over digital silence a span is exact; over a room bed its edges can take in the bed's own
# bursts next to the recording (exercise_bike's clicks: up to 55 ms at one edge, 105 ms in all, on the
# 1,500 room-padded speeches5 clips, 61 of them over a 10-ms hop - those were skipped as voiceless
# in padded training though their unpadded slices are kept). The centred window cut from such a span
# loses at most 5 % of the recording at each end.
SPAN_SLACK = 0.10


class NoSpeechError(AudioError):
    """A file in which the detector found (too little) speech: callers skip it with this reason."""


def hysteresis(scores: np.ndarray, on: float, off: float) -> np.ndarray:
    """[F] scores -> [F] bool: speech starts at >= on and lasts while >= off."""
    active = np.zeros(len(scores), dtype=bool)
    state = False
    for i, s in enumerate(scores):
        state = s >= (off if state else on)
        active[i] = state
    return active


def runs(active: np.ndarray) -> np.ndarray:
    """[F] bool -> [R, 2] frame ranges [first, last + 1) of the True runs."""
    edges = np.diff(np.concatenate([[0], active.astype(np.int8), [0]]))
    return np.stack([np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)], axis=1).astype(np.int64)


def merge(regions: np.ndarray, gap: int) -> np.ndarray:
    """Join regions separated by fewer than `gap` samples (gap 0 joins touching/overlapping ones)."""
    if len(regions) == 0:
        return EMPTY
    out = [list(regions[0])]
    for s, e in regions[1:]:
        if s - out[-1][1] < max(gap, 1):
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return np.asarray(out, dtype=np.int64)


def to_regions(frames: Frames, n_samples: int, sample_rate: int, cfg: VadConfig) -> np.ndarray:
    """Frame scores -> speech regions [R, 2] in samples at `sample_rate` (the clip's rate).

    Order: hysteresis threshold, pauses shorter than `min_silence_ms` bridged, bursts
    shorter than `min_speech_ms` dropped, `pad_ms` added on both sides, overlaps joined.
    """
    off = cfg.neg_threshold if cfg.neg_threshold is not None else max(cfg.threshold - 0.15, 0.01)
    fr = runs(hysteresis(frames.scores, cfg.threshold, off))
    if len(fr) == 0:
        return EMPTY
    scale = sample_rate / frames.rate
    ms = sample_rate / 1000.0
    reg = np.stack([fr[:, 0] * frames.hop, (fr[:, 1] - 1) * frames.hop + frames.win], axis=1) * scale
    reg = np.clip(np.round(reg), 0, n_samples).astype(np.int64)
    reg = merge(reg, round(cfg.min_silence_ms * ms))
    reg = reg[(reg[:, 1] - reg[:, 0]) >= cfg.min_speech_ms * ms]
    if len(reg) == 0:
        return EMPTY
    pad = round(cfg.pad_ms * ms)
    reg = np.clip(reg + np.array([-pad, pad]), 0, n_samples)
    return merge(reg, 0)


def audible_span(y: np.ndarray, sample_rate: int, floor_db: float, min_ms: float) -> tuple[int, int] | None:
    """[start, end) of `y` from the first to the last sample that stands out of the clip's quiet bed;
    None for a clip with nothing audible. Not a speech detector (a cough or crowd noise counts too): it
    says where silence or a quiet room before and after a recording ends.

    The bed is the clip's quietest tenth of 25-ms frames (10-ms hop; digital silence counted at
    SILENCE_DB). A bed of digital silence gives exactly the first to the last non-zero sample. Over an
    audible bed the span runs over frames at least `floor_db` above it, in runs of at least `min_ms`
    (a noise bed's own flicker is shorter); its edges are where the first and last such frames stop
    overlapping quieter ones, so they are known to one hop (10 ms) and lean inside the recording - unless
    the bed itself has a burst that stands out of it next to the recording: the span then takes it in."""
    win, hop = round(sample_rate * 0.025), round(sample_rate * 0.010)
    nz = np.flatnonzero(y)
    if len(nz) == 0:
        return None
    hull = int(nz[0]), int(nz[-1]) + 1
    db = np.maximum(frame_db(y, win, hop), SILENCE_DB)
    threshold = np.percentile(db, 10) + floor_db
    if threshold <= SILENCE_DB + floor_db:  # a tenth of the clip or more is digital silence: that is the bed
        return hull
    loud = db > threshold
    if not loud.any():  # level the same throughout: nothing stands out of a bed, so all of it counts
        return hull
    first, last = runs(loud).T  # frame runs [first, last)
    long = (last - first - 1) * hop + win >= min_ms * sample_rate / 1000
    if not long.any():
        long[np.argmax(last - first)] = True  # only short bursts: the longest still marks the recording
    # the frame before the first loud one was quiet although it reached to (first - 1) * hop + win: the
    # recording starts about there; likewise it ends about where the frame after the last loud one starts
    start = max(int(first[long][0]) * hop + win - hop if first[long][0] > 0 else 0, hull[0])
    end = min(int(last[long][-1]) * hop if last[long][-1] < len(db) else len(y), hull[1])
    return (start, end) if end > start else None


def recording_span(audible: tuple[int, int] | None, regions: np.ndarray, pad: int,
                   n_samples: int) -> tuple[int, int] | None:
    """[start, end) of the recording inside a clip: from the first to the last sample that is audible
    (`audible_span`) or voiced (the detector's `regions`, less the `pad` samples they were widened by,
    except at the clip's own edges). A level alone misleads in noise: at 0 dB SNR only a few frames
    stand out of the noise bed, so the audible span is a fragment (median 0.09 s of the 2-s libri-dev
    segments) while the voice runs through the clip; heard as a clip's recording, that fragment cost
    the shipped encoder its 0-dB EER (0.069 -> 0.176). Around a recording padded with silence or a quiet
    room the detector hears no voice, and the span stays the audible one."""
    if audible is None or len(regions) == 0:
        return audible
    first, last = int(regions[0][0]), int(regions[-1][1])
    first += pad if first > 0 else 0
    last -= pad if last < n_samples else 0
    if last <= first:
        return audible
    return min(audible[0], first), max(audible[1], last)


def without_digital_silence(regions: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Each region shrunk to its first and last non-zero sample (a region of zeros dropped): exact zeros
    are never speech, and `pad_ms` or a detector's frame would otherwise carry the digital silence of a
    padded or edited file into what a model hears (measured: silence-padded FSDD validation clips fell
    from 1.00 to 0.83 with it, and stayed at 1.00 without)."""
    out = []
    for s, e in regions:
        nz = np.flatnonzero(y[s:e])
        if len(nz):
            out.append((s + nz[0], s + nz[-1] + 1))
    return np.array(out, dtype=np.int64).reshape(-1, 2)


def regions_mask(regions: np.ndarray, n_samples: int) -> np.ndarray:
    """[R, 2] -> [n_samples] bool, True inside speech."""
    mask = np.zeros(n_samples, dtype=bool)
    for s, e in regions:
        mask[s:e] = True
    return mask


def covered(regions: np.ndarray, start: int, end: int) -> int:
    """Samples of [start, end) that fall inside the regions."""
    if len(regions) == 0:
        return 0
    return int(np.clip(np.minimum(regions[:, 1], end) - np.maximum(regions[:, 0], start), 0, None).sum())


@dataclass(frozen=True)
class Speech:
    """Where a clip of `n_samples` samples at `sample_rate` holds speech."""

    regions: np.ndarray  # [R, 2] int64 sample ranges [start, end), sorted, disjoint
    n_samples: int
    sample_rate: int
    # the fallback detector's regions (vad.fallback; None without one): the clip's audible part, which
    # bounds its `span`, and what `or_all` hears of a clip that cannot be skipped when `regions` hold too
    # little speech; never counted as speech by `require`
    fallback: np.ndarray | None = None
    # [start, end) from the first to the last audible or voiced sample (recording_span; None: nothing
    # audible, or not measured): where silence or a quiet room around the recording ends
    audible: tuple[int, int] | None = None

    @property
    def samples(self) -> int:
        return int((self.regions[:, 1] - self.regions[:, 0]).sum()) if len(self.regions) else 0

    @property
    def seconds(self) -> float:
        return self.samples / self.sample_rate

    @property
    def fraction(self) -> float:
        """Share of the clip that is speech, in [0, 1]."""
        return self.samples / max(self.n_samples, 1)

    def mask(self) -> np.ndarray:
        """[n_samples] bool, True on speech samples."""
        return regions_mask(self.regions, self.n_samples)

    def frame_mask(self, hop: int, n_frames: int) -> np.ndarray:
        """[n_frames] bool for centred frames (frame j centred on sample j * hop, as the feature
        extractors in voxprint/features/ frame a clip): True when that centre is speech."""
        centres = np.minimum(np.arange(n_frames) * hop, max(self.n_samples - 1, 0))
        return self.mask()[centres] if self.n_samples else np.zeros(n_frames, dtype=bool)

    def window_fractions(self, starts, length: int) -> np.ndarray:
        """Speech share of windows [s, s + length) for each start s -> [W] float64.

        Matches audio.windows(y, length): pass the window starts it used to weight or
        choose inference windows by speech.
        """
        return np.array([covered(self.regions, int(s), int(s) + length) / length for s in starts])

    def part(self, y: np.ndarray) -> np.ndarray:
        """The speech of `y` [n_samples] as one array [sum of region lengths] (regions concatenated)."""
        if len(y) != self.n_samples:
            raise ValueError(f"clip has {len(y)} samples, the regions were found on {self.n_samples}")
        if len(self.regions) == 0:
            return y[:0]
        return np.concatenate([y[s:e] for s, e in self.regions])

    def span(self) -> tuple[int, int] | None:
        """[start, end): from the first to the last audible or voiced sample (`audible`, recording_span), or
        None. The speech regions count without their `pad_ms`, which reaches into the silence or room
        around a recording."""
        return self.audible

    def fitted(self, window: int) -> tuple[int, int] | None:
        """The sample range a model hears whole, as one clip that fits in a window: the clip itself when it
        fits, else its recording span when that fits (a short recording padded with silence or a quiet
        room is heard as it would be unpadded), else None (the clip is heard by its speech). Over a room
        bed the span's edges can take in some of the bed, so a span up to SPAN_SLACK (a tenth) longer than
        the window counts as fitting and gives the window's length of it, centred."""
        if self.n_samples <= window:
            return 0, self.n_samples
        span = self.span()
        if span is None or span[1] - span[0] > window + round(SPAN_SLACK * window):
            return None
        start, end = span
        over = max(0, end - start - window)
        return start + over // 2, end - (over - over // 2)

    def heard(self, y: np.ndarray, window: int, min_seconds: float | None = None) -> np.ndarray:
        """What a model hears of clip `y`, in training as in use - the one rule: a clip that fits in one
        window whole, and so does the recording span of one padded with silence (`fitted`); a longer one its
        speech (`part`), or with `min_seconds` the whole clip when less speech than that was found
        (`or_all`: for clips that cannot be skipped)."""
        if len(y) <= window:
            return y
        fit = self.fitted(window)
        if fit is not None:
            return y[fit[0]:fit[1]]
        return (self if min_seconds is None else self.or_all(min_seconds)).part(y)

    def require(self, min_seconds: float, path: str = "<clip>") -> Speech:
        """Self, or NoSpeechError naming `path` when there is less than `min_seconds` of speech."""
        if self.seconds < min_seconds:
            found = "no speech found" if self.samples == 0 else f"only {self.seconds:.2f} s of speech"
            raise NoSpeechError(path, f"{found} by the voice activity detector (needs {min_seconds:g} s)")
        return self

    def or_all(self, min_seconds: float) -> Speech:
        """Self, or when less than `min_seconds` was found the fallback detector's regions (the clip's
        audible part: steady crowd noise that silero hears no voice in, without the digital silence
        or quiet bed around it), or else the whole clip.

        For clips that cannot be skipped (a test clip, a file given to `predict`): a detector
        that hears nothing in heavy noise then costs nothing rather than dropping the clip.
        """
        if self.seconds >= min_seconds or self.n_samples == 0:
            return self
        if self.fallback is not None and len(self.fallback):
            kept = Speech(self.fallback, self.n_samples, self.sample_rate)
            if kept.seconds >= min_seconds:
                return kept
        return Speech(np.array([[0, self.n_samples]], dtype=np.int64), self.n_samples, self.sample_rate)
