"""Window clusters -> turns with frame-level edges (stage 4, resegmentation).

Each frame (DiarizeConfig.frame_s) inside speech is given the speaker whose centroid is closest to the
windows that cover it, weighted towards each window's centre: an edge lands within a frame of where the
evidence changes instead of on the window hop."""

from __future__ import annotations

import itertools

import numpy as np

NONE = -1


def frame_scores(starts: np.ndarray, window: int, sims: np.ndarray, n_frames: int, frame: int) -> np.ndarray:
    """[n_frames, K] weighted mean of window-to-centroid similarities `sims` [W, K] over the windows
    covering each frame; weights a triangle peaking at the window centre (its edges hear half a word)."""
    acc = np.zeros((n_frames, sims.shape[1]))
    wsum = np.zeros(n_frames)
    span = max(window // frame, 1)
    tri = 1.0 - np.abs(np.arange(span) + 0.5 - span / 2) / (span / 2) + 1e-3
    for s, row in zip(starts, sims):
        f0 = int(s) // frame
        f1 = min(f0 + span, n_frames)
        if f1 <= f0:
            continue
        w = tri[: f1 - f0]
        acc[f0:f1] += w[:, None] * row[None, :]
        wsum[f0:f1] += w
    return acc / np.maximum(wsum, 1e-9)[:, None]


def speech_frames(regions: np.ndarray, n_frames: int, frame: int) -> np.ndarray:
    """[n_frames] bool: frames whose centre is in a speech region [R, 2] (samples)."""
    centres = np.arange(n_frames) * frame + frame // 2
    mask = np.zeros(n_frames, bool)
    for a, b in np.asarray(regions).reshape(-1, 2):
        mask |= (centres >= a) & (centres < b)
    return mask


def runs(labels: np.ndarray) -> list[tuple[int, int, int]]:
    """(first frame, end frame, label) for each run of equal labels."""
    if len(labels) == 0:
        return []
    edges = np.flatnonzero(np.diff(labels)) + 1
    bounds = np.concatenate([[0], edges, [len(labels)]])
    return [(int(a), int(b), int(labels[a])) for a, b in itertools.pairwise(bounds)]


def smooth(labels: np.ndarray, min_frames: int) -> np.ndarray:
    """Speaker runs shorter than `min_frames` (between speech frames) take the label of the longer
    neighbouring run; non-speech runs are kept as they are."""
    labels = labels.copy()
    for _ in range(3):  # absorbing one run can leave a neighbour short; a few passes settle it
        rs = runs(labels)
        changed = False
        for i, (a, b, lab) in enumerate(rs):
            if lab == NONE or b - a >= min_frames:
                continue
            left = rs[i - 1] if i > 0 and rs[i - 1][2] != NONE else None
            right = rs[i + 1] if i + 1 < len(rs) and rs[i + 1][2] != NONE else None
            pick = max((r for r in (left, right) if r is not None), key=lambda r: r[1] - r[0], default=None)
            if pick is not None:
                labels[a:b] = pick[2]
                changed = True
        if not changed:
            break
    return labels


def bridge(labels: np.ndarray, max_frames: int, change_frames: int = 0) -> np.ndarray:
    """Pauses (NONE runs) of at most `max_frames` between two runs of the same speaker filled with
    that speaker: a breath inside a turn is not the end of the turn. A pause of at most
    `change_frames` between two speakers is split between them at its middle: the detector trims
    word edges, and who spoke is the neighbours' either way."""
    labels = labels.copy()
    rs = runs(labels)
    for i in range(1, len(rs) - 1):
        a, b, lab = rs[i]
        left, right = rs[i - 1][2], rs[i + 1][2]
        if lab != NONE or left == NONE or right == NONE:
            continue
        if left == right and b - a <= max_frames:
            labels[a:b] = left
        elif left != right and b - a <= change_frames:
            labels[a : (a + b) // 2], labels[(a + b) // 2 : b] = left, right
    return labels


def frame_labels(scores: np.ndarray, speech: np.ndarray) -> np.ndarray:
    """[n_frames] best speaker per speech frame, NONE elsewhere."""
    return np.where(speech, scores.argmax(axis=1), NONE) if scores.shape[1] else np.full(len(speech), NONE)


def second_voice(labels: np.ndarray, overlapped: np.ndarray, min_frames: int) -> np.ndarray:
    """[n_frames] a second speaker for the frames an overlap detector marks (`overlapped` [n_frames]
    bool), else NONE: the other speaker nearest in time (the turn before or after, whichever is
    closer). Two voices at once are mostly a turn change where one starts before the other ends, and
    there the frames' own label is one of the two. Kept only in runs of at least `min_frames`; a
    recording of one speaker gets none."""
    out = np.full(len(labels), NONE)
    rs = [r for r in runs(labels) if r[2] != NONE]
    for i, (a, b, lab) in enumerate(rs):
        marked = np.flatnonzero(overlapped[a:b]) + a
        if len(marked) == 0:
            continue
        prev = next(((e, lb) for _, e, lb in reversed(rs[:i]) if lb != lab), None)
        nxt = next(((s, lb) for s, _, lb in rs[i + 1 :] if lb != lab), None)
        if prev is None and nxt is None:
            continue
        before = marked - prev[0] if prev else np.full(len(marked), np.inf)
        after = nxt[0] - marked if nxt else np.full(len(marked), np.inf)
        out[marked] = np.where(before <= after, prev[1] if prev else NONE, nxt[1] if nxt else NONE)
    for a, b, lab in runs(out):
        if lab != NONE and b - a < min_frames:
            out[a:b] = NONE
    return out
