"""The libri-dev speaker-encoder protocol: one set of trials that every system scores.

- libri-dev (one ~12 s LibriSpeech utterance per speaker) is split once, seeded and saved
  (`libri_split.json` beside this file): train speakers may train an encoder, dev speakers
  make every choice (checkpoint, threshold), test speakers only give the reported figures.
- Each utterance is cut into 2.0 s segments (a final piece of >= 1.0 s is kept). A speaker is
  enrolled from the first half of its segments (mean of the L2-normalised embeddings) and
  tested on the rest; every test segment is scored (cosine) against every enrolled speaker.
- Conditions: clean; white noise at 10/5/0 dB on every segment (enrolment and test); one
  recorded noise that encoder training never uses (`running_tap`) at 5 dB. Noise is drawn from
  a seed and the segment id, so every system hears exactly the same noisy audio; the SNR is
  exact (RMS power over the segment, `augment.mix_at_snr`).
- Metrics: EER, minDCF (p_target 0.01), top-1 identification among the enrolled speakers.

`evaluate(embed, segments, conditions)` takes any `embed(list of waves [T] at 16 kHz) -> [N, E]`.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import audio
from .augment import mix_at_snr, white_noise
from .errors import DataError
from .io import read_json, write_json
from .vectors import unit
from .verification import cosine_scores, eer, min_dcf, open_set

SAMPLE_RATE = 16000
SEGMENT_S = 2.0
MIN_LAST_S = 1.0
SPLIT_FILE = Path(__file__).parent / "encoder" / "libri_split.json"
HELD_OUT_NOISE = "running_tap"  # never mixed into encoder training: the unseen recorded noise
NOISE_SEED = 20240611

Embed = Callable[[list[np.ndarray]], np.ndarray]

# Choices (checkpoint, accept threshold) are made on DEV speakers under these conditions, with
# a noise seed of their own; running_tap is not among them (it measures unseen noise on test).
DEV_NOISE_SEED = 7


@dataclass(frozen=True)
class Segment:
    id: str  # "<speaker>/<index>"
    speaker: str
    index: int
    enrol: bool  # first half of the speaker's segments
    wave: np.ndarray  # [T] float32 at 16 kHz
    source: str = ""  # the file it was cut from, and where (so another program can cut it again)
    start_s: float = 0.0
    end_s: float = 0.0


@dataclass(frozen=True)
class Condition:
    name: str  # "clean", "white-5dB", "running_tap-5dB"
    noise: str | None = None  # None (clean), "white", or a noise file's path
    snr_db: float | None = None


def cut(y: np.ndarray, sr: int = SAMPLE_RATE, seconds: float = SEGMENT_S, min_last: float = MIN_LAST_S) -> list[np.ndarray]:
    """Consecutive `seconds`-long pieces of y; a final shorter piece is kept if >= `min_last` s."""
    n, m = int(round(seconds * sr)), int(round(min_last * sr))
    pieces = [y[s : s + n] for s in range(0, len(y), n)]
    return [p for p in pieces if len(p) == n or len(p) >= m]


def enrol_count(n_segments: int) -> int:
    """Segments used for enrolment: the first half (rounded down), at least one."""
    return max(1, n_segments // 2)


def utterance(root: Path, speaker: str) -> Path:
    files = sorted((Path(root) / speaker).glob("*.flac"))
    if not files:
        raise DataError(f"{Path(root) / speaker}: no .flac utterance")
    return files[0]


def make_split(root: str | Path, seed: int = 0, n_dev: int = 20, n_test: int = 30) -> dict:
    """Seeded speaker-disjoint split. Only speakers with >= 2 segments can be enrolled and
    tested, so dev and test are drawn among those; the rest (and the remainder) train."""
    root = Path(root)
    speakers = sorted(p.name for p in root.iterdir() if p.is_dir())
    usable = [s for s in speakers if len(cut(audio.load(utterance(root, s), SAMPLE_RATE)[0])) >= 2]
    if len(usable) < n_dev + n_test:
        raise DataError(f"{root}: {len(usable)} speakers with >= 2 segments, need {n_dev + n_test}")
    order = [usable[i] for i in np.random.default_rng(seed).permutation(len(usable))]
    test, dev = sorted(order[:n_test]), sorted(order[n_test : n_test + n_dev])
    train = sorted(set(speakers) - set(test) - set(dev))
    return {"seed": seed, "segment_s": SEGMENT_S, "min_last_s": MIN_LAST_S,
            "rule": "dev and test drawn (seeded permutation) among speakers with >= 2 segments; the rest train",
            "train": train, "dev": dev, "test": test}


def save_split(split: dict, path: str | Path = SPLIT_FILE) -> None:
    write_json(path, split)


def load_split(path: str | Path = SPLIT_FILE) -> dict:
    return read_json(path)


def segments(root: str | Path, speakers: list[str]) -> list[Segment]:
    """All segments of the given speakers, enrolment flags set."""
    out = []
    for spk in speakers:
        path = utterance(Path(root), spk)
        pieces = cut(audio.load(path, SAMPLE_RATE)[0])
        k = enrol_count(len(pieces))
        out += [Segment(f"{spk}/{i}", spk, i, i < k, p, str(path), i * SEGMENT_S, i * SEGMENT_S + len(p) / SAMPLE_RATE)
                for i, p in enumerate(pieces)]
    return out


def trials(segs: list[Segment], enrolled: list[str] | None = None) -> list[tuple[str, str, str]]:
    """(enrolment id = speaker, test segment id, "target" | "nontarget"): every test segment
    against every enrolled speaker - by default every speaker with a test segment (one with none is
    not enrolled); in an open-set study, the `enrolled` ones only."""
    tests = [s for s in segs if not s.enrol]
    enrolled = sorted({s.speaker for s in tests}) if enrolled is None else enrolled
    return [(e, t.id, "target" if t.speaker == e else "nontarget") for t in tests for e in enrolled]


def write_trials(path: str | Path, rows: list[tuple[str, str, str]]) -> None:
    """WeSpeaker-style trials file: `enrol_id test_id target|nontarget`, one per line."""
    from .io import atomic_write_text

    atomic_write_text(path, "".join(f"{e} {t} {lab}\n" for e, t, lab in rows))


def read_trials(path: str | Path) -> list[tuple[str, str, str]]:
    rows = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        parts = line.split()
        if len(parts) != 3 or parts[2] not in ("target", "nontarget"):
            raise DataError(f"{path}:{n}: expected 'enrol_id test_id target|nontarget', got {line!r}")
        rows.append((parts[0], parts[1], parts[2]))
    return rows


def conditions(noise_dir: str | Path, held_out: str = HELD_OUT_NOISE) -> list[Condition]:
    out = [Condition("clean")] + [Condition(f"white-{s:g}dB", "white", s) for s in (10.0, 5.0, 0.0)]
    return out + [Condition(f"{held_out}-5dB", str(Path(noise_dir) / f"{held_out}.wav"), 5.0)]


class NoiseBank:
    """Noise for a condition, deterministic per (seed, segment id): the same for every system."""

    def __init__(self, seed: int = NOISE_SEED):
        self.seed, self._files = seed, {}

    def _file(self, path: str) -> np.ndarray:
        if path not in self._files:
            self._files[path] = audio.load(path, SAMPLE_RATE)[0]
        return self._files[path]

    def apply(self, seg: Segment, cond: Condition) -> np.ndarray:
        if cond.noise is None:
            return seg.wave
        rng = np.random.default_rng([self.seed, zlib.crc32(f"{cond.name}|{seg.id}".encode())])
        n = len(seg.wave)
        if cond.noise == "white":
            noise = white_noise(n, rng)
        else:
            y = self._file(cond.noise)
            start = int(rng.integers(0, max(1, len(y) - n)))
            noise = audio.wrap_pad(y[start:], n)
        return mix_at_snr(seg.wave, noise, cond.snr_db)


DEV_CONDITIONS = [Condition("clean"), Condition("white-5dB", "white", 5.0), Condition("white-0dB", "white", 0.0)]


def enrol_models(emb: dict[str, np.ndarray], enrol_ids: dict[str, list[str]]) -> dict[str, np.ndarray]:
    """Speaker -> mean of its L2-normalised enrolment embeddings, L2-normalised."""
    return {spk: unit(np.mean([unit(emb[k], dtype=np.float64) for k in ids], axis=0)) for spk, ids in enrol_ids.items()}


def trial_scores(emb: dict[str, np.ndarray], enrol_ids: dict[str, list[str]],
                 rows: list[tuple[str, str, str]]) -> tuple[np.ndarray, np.ndarray]:
    """Cosine score and target flag of every trial."""
    models = enrol_models(emb, enrol_ids)
    scores = np.array([float(models[e] @ unit(emb[t], dtype=np.float64)) for e, t, _ in rows])
    return scores, np.array([lab == "target" for _, _, lab in rows])


def score_trials(emb: dict[str, np.ndarray], enrol_ids: dict[str, list[str]], rows: list[tuple[str, str, str]]) -> dict:
    """Metrics of one condition. emb: segment id -> embedding [E]; enrol_ids: speaker -> its
    enrolment segment ids; rows: the trials."""
    speakers = sorted({e for e, _, _ in rows})
    models = enrol_models(emb, {s: enrol_ids[s] for s in speakers})
    scores, labels = trial_scores(emb, enrol_ids, rows)
    e, _ = eer(scores, labels)
    dcf, _ = min_dcf(scores, labels, p_target=0.01)
    tests = sorted({t for _, t, _ in rows})
    truth = {t: e for e, t, lab in rows if lab == "target"}
    mat = cosine_scores(np.stack([emb[t] for t in tests]), np.stack([models[s] for s in speakers]))
    top1 = float(np.mean([speakers[int(i)] == truth[t] for i, t in zip(mat.argmax(1), tests)]))
    return {"eer": e, "min_dcf": dcf, "top1": top1, "n_target": int(labels.sum()),
            "n_nontarget": int((~labels).sum()), "n_enrolled": len(speakers)}


def enrolment(segs: list[Segment]) -> dict[str, list[str]]:
    """Speaker -> ids of its enrolment segments."""
    out: dict[str, list[str]] = {}
    for s in segs:
        if s.enrol:
            out.setdefault(s.speaker, []).append(s.id)
    return out


def embed_condition(embed: Embed, segs: list[Segment], cond: Condition, bank: NoiseBank) -> dict[str, np.ndarray]:
    """Segment id -> embedding of the segment under the condition."""
    vecs = np.asarray(embed([bank.apply(s, cond) for s in segs]), dtype=np.float64)
    if vecs.shape[0] != len(segs):
        raise DataError(f"embed returned {vecs.shape[0]} embeddings for {len(segs)} segments")
    return {s.id: v for s, v in zip(segs, vecs)}


def evaluate(embed: Embed, segs: list[Segment], conds: list[Condition], bank: NoiseBank | None = None,
             rows: list[tuple[str, str, str]] | None = None) -> list[dict]:
    """One row of metrics per condition, every system on the same trials and the same noise."""
    bank = bank or NoiseBank()
    rows = rows if rows is not None else trials(segs)
    ids = enrolment(segs)
    return [{"condition": c.name, **score_trials(embed_condition(embed, segs, c, bank), ids, rows)} for c in conds]


def calibrate(embed: Embed, segs: list[Segment], conds: list[Condition] | None = None,
              bank: NoiseBank | None = None) -> dict:
    """Accept threshold at the EER point of the pooled trials of `segs` (dev speakers) under
    every condition (default: clean, white 5 and 0 dB with the dev noise seed)."""
    conds = conds or DEV_CONDITIONS
    bank = bank or NoiseBank(DEV_NOISE_SEED)
    rows, ids = trials(segs), enrolment(segs)
    scores, labels = zip(*(trial_scores(embed_condition(embed, segs, c, bank), ids, rows) for c in conds))
    e, thr = eer(np.concatenate(scores), np.concatenate(labels))
    return {"method": "eer", "threshold": float(thr), "dev_eer": float(e), "n_trials": int(sum(map(len, scores))),
            "conditions": [c.name for c in conds]}


def open_set_speakers(speakers: list[str], seed: int = 0) -> tuple[list[str], list[str]]:
    """Half the speakers (seeded) are enrolled, the others are strangers."""
    order = [speakers[i] for i in np.random.default_rng(seed).permutation(len(speakers))]
    k = len(order) // 2
    return sorted(order[:k]), sorted(order[k:])


def open_set_metrics(emb: dict[str, np.ndarray], segs: list[Segment], enrolled: list[str], threshold: float) -> dict:
    """Known-speaker accuracy (best profile is right and clears the threshold) and stranger
    rejection (no profile clears it) over every test segment, at a fixed threshold."""
    ids = enrolment(segs)
    models = enrol_models(emb, {s: ids[s] for s in enrolled})
    tests = [s for s in segs if not s.enrol]
    scores = cosine_scores(np.stack([emb[t.id] for t in tests]), np.stack([models[s] for s in enrolled]))
    truth = np.array([enrolled.index(t.speaker) if t.speaker in enrolled else -1 for t in tests])
    return open_set(scores, truth, threshold)
