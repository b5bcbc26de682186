"""Clip scoring: the one way a clip is scored (windows -> features -> model -> per-clip average).

Every caller that turns clips into scores - the grid's test and validation, robustness, the
unseen-speaker study, `Recognizer` - goes through `score_clips` / `score_features`. Metrics of
the scores live in `metrics`, accuracy under noise in `robustness`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable

import numpy as np

from . import audio
from .cache import DiskCache, cache_key
from .vectors import unit

# A model as the scorer sees it: features [W, D, T] -> (logits [W, K] or None, embeddings [W, E]).
Model = Callable[[np.ndarray], tuple[np.ndarray | None, np.ndarray]]
BATCH_WINDOWS = 256  # windows per forward pass: bounds memory whatever the number or length of clips


class NoClips(ValueError):
    """score_clips was given no clip at all."""


def torch_model(net) -> Model:
    """A SpeakerNet as a `Model` (no gradients)."""
    import torch  # here, not at the top: the shipped encoder's ONNX route scores clips without torch (cold start)

    @torch.no_grad()
    def run(feats: np.ndarray):
        logits, emb = net(torch.from_numpy(np.ascontiguousarray(feats, dtype=np.float32)))
        return (None if logits is None or logits.shape[-1] == 0 else logits.numpy()), emb.numpy()

    return run


class _Pool:
    """Running per-clip sums of window softmax and L2-normalised window embeddings."""

    def __init__(self):
        self.n = 0
        self.counts: np.ndarray | None = None  # [n, 1] windows per clip
        self.emb: np.ndarray | None = None
        self.probs: np.ndarray | None = None

    @staticmethod
    def _grown(a: np.ndarray | None, n: int, width: int) -> np.ndarray:
        if a is None:
            return np.zeros((max(n, 16), width))
        if n <= len(a):
            return a
        out = np.zeros((max(n, 2 * len(a)), width))
        out[: len(a)] = a
        return out

    def add(self, logits: np.ndarray | None, emb: np.ndarray, owner: np.ndarray) -> None:
        self.n = max(self.n, int(owner.max()) + 1)
        self.emb = self._grown(self.emb, self.n, emb.shape[1])
        self.counts = self._grown(self.counts, self.n, 1)
        np.add.at(self.emb, owner, unit(emb))
        np.add.at(self.counts[:, 0], owner, 1.0)
        if logits is not None:
            z = np.exp(logits - logits.max(axis=1, keepdims=True))
            self.probs = self._grown(self.probs, self.n, logits.shape[1])
            np.add.at(self.probs, owner, z / z.sum(axis=1, keepdims=True))

    def result(self, lengths: int = 1) -> tuple[np.ndarray | None, np.ndarray]:
        """Per clip: the mean window softmax and the L2-normalised mean window embedding. With
        `lengths` > 1, owner clip * lengths + k holds the clip's windows of length k; each length
        heard (windows > 0) is averaged first and counts equally."""
        n = -(-self.n // lengths) * lengths
        counts = self._grown(self.counts, n, 1)[:n]
        heard = counts > 0
        emb = unit(self._grown(self.emb, n, self.emb.shape[1])[:n] / np.maximum(counts, 1))
        probs = None
        if self.probs is not None:
            probs = self._grown(self.probs, n, self.probs.shape[1])[:n] / np.maximum(counts, 1)
        if lengths > 1:  # each length's average, weighted by whether it was heard
            per = heard.reshape(-1, lengths, 1).sum(axis=1)
            emb = unit(emb.reshape(-1, lengths, emb.shape[1]).sum(axis=1) / per)
            if probs is not None:
                probs = probs.reshape(-1, lengths, probs.shape[1]).sum(axis=1) / per
        return (None if probs is None else probs.astype(np.float32)), emb.astype(np.float32)


def listened(y: np.ndarray, window: int, sample_rate: int, vad_cfg=None, speech=None) -> np.ndarray:
    """The part of a clip a model listens to. A clip that fits in one window is heard whole, and so
    is the recording span of a longer one when that fits (vad.Speech.fitted: silence or a quiet room
    around a short recording is left out); otherwise the clip is reduced to its speech (regions
    concatenated), found by the voice activity detector on the clip as given - noisy audio included -
    unless `speech` (a vad.Speech of this very clip) is passed. If the detector finds no speech, the
    clip's audible part (vad.fallback) or else the whole clip is heard."""
    if vad_cfg is None or not vad_cfg.enabled or len(y) <= window:
        return y
    from . import vad

    speech = speech if speech is not None else vad.detect(y, sample_rate, vad_cfg)
    return speech.heard(y, window, vad_cfg.min_speech_seconds)


def answered(probs: np.ndarray | None, emb: np.ndarray) -> np.ndarray:
    """[N] bool: clips whose scores are an answer - finite, and a unit embedding (absurd samples, 1e30,
    overflow the features into a zero vector, which would match nobody and corrupt a profile)."""
    ok = np.isfinite(emb).all(axis=1) & (np.linalg.norm(emb, axis=1) > 0.5)
    return ok if probs is None else ok & np.isfinite(probs).all(axis=1)


def clip_windows(y: np.ndarray, window: int) -> np.ndarray:
    """The windows a clip is scored on -> [W, window]."""
    return audio.windows(y, window)


def _window_batches(parts: Iterable[tuple[int, np.ndarray, int]], batch: int, pad_short: bool = True):
    """(owner, clip, window length) items -> batches (windows [B, n], owner [B]) of at most `batch`
    windows, each batch of one length. A long clip's windows are cut `batch` at a time, never all at
    once. With `pad_short` false a clip shorter than its window is its own batch, at its own length
    (for models that take any length)."""
    open_: dict[int, tuple[list, list, int]] = {}  # window length -> (windows, owners, count) not yet sent
    for i, y, window in parts:
        if not pad_short and len(y) < window:
            # what is open goes first, as it always has: the int8 graph quantises each batch's activations
            # with that batch's range, so which windows share a batch moves an embedding a little
            for buf, owner, _ in open_.values():
                yield np.concatenate(buf), np.concatenate(owner)
            open_.clear()
            yield np.ascontiguousarray(y, dtype=np.float32)[None], np.array([i])
            continue
        starts = audio.window_starts(len(y), window)
        for s in range(0, len(starts), batch):
            part = audio.windows(y, window, starts=starts[s : s + batch])
            buf, owner, size = open_.pop(window, ([], [], 0))
            if size + len(part) > batch and buf:
                yield np.concatenate(buf), np.concatenate(owner)
                buf, owner, size = [], [], 0
            open_[window] = (buf + [part], owner + [np.full(len(part), i)], size + len(part))
    for buf, owner, _ in open_.values():
        yield np.concatenate(buf), np.concatenate(owner)


def _heard_parts(waves: Iterable[np.ndarray], lengths: list[int], sample_rate: int, vad_cfg):
    """(owner, part, window) for each clip and window length: owner clip * len(lengths) + k. A clip
    is heard in an extra window (k > 0) only when it is longer than it - shorter, it would be heard
    whole, as in the main one - and when its recording span does not fit both (then each would hear
    that same span whole: a padded short clip is heard as it would be unpadded). Its speech is found
    once for all lengths."""
    from . import vad

    for c, y in enumerate(waves):
        speech = None
        for k, w in enumerate(lengths):
            if k and len(y) <= w:
                continue
            if speech is None and vad_cfg is not None and vad_cfg.enabled and len(y) > w:
                speech = vad.detect(y, sample_rate, vad_cfg)
            if k and speech is not None and speech.fitted(w) is not None and \
                    speech.fitted(w) == speech.fitted(lengths[0]):
                continue
            yield c * len(lengths) + k, listened(y, w, sample_rate, vad_cfg, speech), w


def window_features(features, windows: np.ndarray, batch: int = BATCH_WINDOWS) -> np.ndarray:
    """Windows [W, n] -> features [W, D, T], through a torch feature module or a numpy extractor
    (`takes_numpy`: voxprint.melspec.NumpyMel, the shipped encoder's ONNX route, which needs no torch)."""
    if getattr(features, "takes_numpy", False):
        return np.concatenate([features(windows[i : i + batch]) for i in range(0, len(windows), batch)])
    import torch

    with torch.no_grad():
        out = [features(torch.from_numpy(windows[i : i + batch])).numpy() for i in range(0, len(windows), batch)]
    return np.concatenate(out)


def score_clips(model: Model, features, waves: Iterable[np.ndarray], window: int, vad_cfg=None,
                batch: int = BATCH_WINDOWS, pad_short: bool = True,
                extra: tuple[int, ...] | list[int] = (), per_clip: bool = False) -> tuple[np.ndarray | None, np.ndarray]:
    """Clips -> (probabilities [N, K] or None, L2-normalised embeddings [N, E]): each clip's
    `listened` part cut into windows, through features and model, softmax and embeddings
    averaged per clip. `waves` may be a generator: only one batch of windows per window length is
    in memory at a time. `vad_cfg` (a VadConfig) turns on speech detection for clips longer than
    a window; `pad_short` false hears a short clip at its own length instead of wrap-padded to a
    window. `extra` window lengths (samples; data.extra_windows): a clip longer than one is also
    heard in it, and each length's average counts equally in the clip's. `per_clip` batches each
    clip's windows apart from other clips': for a model whose output depends on what else is in
    its batch (an int8 graph quantises activations with each batch's range), a clip then scores
    the same alone or among others."""
    sr = features.sample_rate
    lengths = [window, *extra]
    pool = _Pool()
    if per_clip:  # each clip's windows batched on their own (`per_clip`)
        batches = (b for c, y in enumerate(waves)
                   for b in _window_batches(((i + c * len(lengths), part, w) for i, part, w in
                                             _heard_parts([y], lengths, sr, vad_cfg)), batch, pad_short))
    else:
        batches = _window_batches(_heard_parts(waves, lengths, sr, vad_cfg), batch, pad_short)
    for wins, owner in batches:
        logits, emb = model(window_features(features, wins, batch))
        pool.add(logits, emb, owner)
    if pool.n == 0:
        raise NoClips("score_clips: no clips")
    return pool.result(len(lengths))


def score_features(model: Model, feats: np.ndarray, owner: np.ndarray,
                   batch: int = BATCH_WINDOWS) -> tuple[np.ndarray | None, np.ndarray]:
    """Like `score_clips`, for window features computed beforehand ([W, D, T], owner [W])."""
    pool = _Pool()
    for i in range(0, len(feats), batch):
        logits, emb = model(feats[i : i + batch])
        pool.add(logits, emb, owner[i : i + batch])
    return pool.result()


def _heard_digest(wins: list[np.ndarray]) -> str:
    """SHA-256 of the windows themselves, shape and samples: the key follows what is heard, so neither
    another detector version or setting nor another rule for cutting a clip down to its speech (the
    span slack of vad.Speech.fitted, say) can serve features of other windows from the cache."""
    h = hashlib.sha256()
    for w in wins:
        h.update(np.asarray(w.shape, dtype=np.int64).tobytes())
        h.update(np.ascontiguousarray(w, dtype=np.float32).tobytes())
    return h.hexdigest()


def clean_features(features, feature_cfg, sample_rate: int, window: int, paths: list[str],
                   waves: list[np.ndarray], speech: list | None = None,
                   vad_cfg=None) -> tuple[np.ndarray, np.ndarray]:
    """Window features of clean dataset clips (their `listened` parts, with the files' cached
    speech regions), through the on-disk cache -> (feats [W, D, T], owner [W])."""
    speech = speech or [None] * len(waves)
    wins = [clip_windows(listened(y, window, sample_rate, vad_cfg, sp), window) for y, sp in zip(waves, speech)]
    owner = np.concatenate([np.full(len(w), i) for i, w in enumerate(wins)])
    vad_key = vars(vad_cfg) if vad_cfg is not None and vad_cfg.enabled else None
    key = cache_key(paths, feature_cfg, sample_rate=sample_rate, window=window, vad=vad_key,
                    heard=_heard_digest(wins) if vad_key else None)
    feats = DiskCache.named("features").array(key, lambda: window_features(features, np.concatenate(wins)))
    return feats, owner
