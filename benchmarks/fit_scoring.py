"""Fit what ships beside the encoder for decisions: the AS-norm cohort (cohort.npy) and the
calibration + impostor model (scoring.json), on libri-dev TRAIN (cohort) and DEV (calibration)
speakers only, with white, pink and recorded Speech Commands noise other than running_tap.

    python -m benchmarks.fit_scoring [--out voxprint/pretrained/encoder] [--ocean SHARE]

Cohort: every train segment clean plus two of its noisy versions (seeded), float16, <= 1 MB.
Calibration: a class-balanced logistic regression from (normalised score, quality) to an LLR, on
dev trials in every fitting condition, noise on the test side only and on both sides.
Impostor model: mean and sd of dev non-target normalised scores, pooled over those conditions.
--ocean SHARE: ocean-train voices (children, non-native adults) join the cohort (SHARE of its rows) and
the calibration (fitted() says which speakers); benchmarks/openset.py measures this refit as a candidate.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import hashlib
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from benchmarks import openset_data as D
from benchmarks.common import DATA, REPO
from voxprint import protocol as P
from voxprint.io import read_json, write_json
from voxprint.scoring import (
    COHORT_FILE,
    COHORT_SNR_FILE,
    FEATURES,
    SCORING_FILE,
    Scorer,
    quality_features,
    snr_features,
    tail_gaussian,
)
from voxprint.vectors import unit
from voxprint.verification import eer

MAX_COHORT = 1900  # 1900 x 256 float16 = 0.97 MB
NOISY_PER_SEGMENT = 3
TOP_NS = (100, 200, 400)
WIDTHS = (3.0, 5.0, 8.0)  # dB: cohort rows within this of the other side's SNR


def cohort_rows(system, group: str, segs, noise_dir: Path, rng) -> tuple[np.ndarray, np.ndarray]:
    """([N * (1 + NOISY_PER_SEGMENT), E] embeddings, [..] SNR estimates): each segment clean and in
    NOISY_PER_SEGMENT noisy conditions drawn by `rng`."""
    conds = D.conditions(D.FIT_NOISES, noise_dir)
    embs = [D.cached(system, group, segs, c, P.DEV_NOISE_SEED) for c in conds]
    rows, snrs = [], []
    for i in range(len(segs)):
        picks = [0] + list(1 + rng.choice(len(conds) - 1, NOISY_PER_SEGMENT, replace=False))
        rows += [embs[c][0][i] for c in picks]
        snrs += [embs[c][2][i] for c in picks]
    return np.stack(rows), np.array(snrs)


def make_cohort(system, segs, noise_dir: Path, seed: int = 0, extra=None) -> tuple[np.ndarray, np.ndarray]:
    """([C, E] float16 unit rows, [C] float16 SNR estimates): each libri-dev train segment clean and in
    NOISY_PER_SEGMENT noisy conditions, at most MAX_COHORT rows. `extra` (group, segments, share): another
    source's segments too, drawn the same way, holding `share` of the rows."""
    rng = np.random.default_rng(seed)
    cohort, snrs = cohort_rows(system, "train", segs, noise_dir, rng)
    if len(cohort) > MAX_COHORT:
        keep = np.sort(rng.choice(len(cohort), MAX_COHORT, replace=False))
        cohort, snrs = cohort[keep], snrs[keep]
    if extra is not None:
        group, more, share = extra
        rows, their = cohort_rows(system, group, more, noise_dir, rng)
        n = min(round(MAX_COHORT * share), len(rows))
        pick, keep = np.sort(rng.choice(len(rows), n, replace=False)), np.sort(rng.choice(len(cohort), MAX_COHORT - n, replace=False))
        cohort, snrs = np.concatenate([cohort[keep], rows[pick]]), np.concatenate([snrs[keep], their[pick]])
    return unit(cohort, dtype=np.float64).astype(np.float16), snrs.astype(np.float16)


def enrol_quality(speech, snr, idx) -> dict:
    return {"speech_s": float(speech[idx].sum()), "snr_db": float(snr[idx].sum()), "clips": int(len(idx))}


def dev_trials(system, segs, noise_dir: Path, scorer: Scorer | None, placements=("test", "both"),
               group: str = "dev", seed: int = P.DEV_NOISE_SEED, noises=D.FIT_NOISES):
    """Every dev test segment against every dev speaker, per condition and noise placement.
    Returns (features [N, F], raw [N], norm [N], target [N], condition tag [N]); scorer None: norm = raw."""
    spk = sorted({s.speaker for s in segs})
    enrol_idx = {p: np.array([i for i, s in enumerate(segs) if s.enrol and s.speaker == p]) for p in spk}
    tests = np.array([i for i, s in enumerate(segs) if not s.enrol])
    truth = np.array([[segs[t].speaker == p for p in spk] for t in tests])
    conds = D.conditions(noises, noise_dir)
    clean = D.cached(system, group, segs, conds[0], seed)
    out = []
    for c in conds:
        noisy = D.cached(system, group, segs, c, seed)
        for place in placements if c.noise else ("clean",):
            enr = noisy if place == "both" else clean
            out.append(_trials_of(scorer, enr, noisy, enrol_idx, tests, truth, spk, f"{c.name}/{place}"))
    return [np.concatenate(x) for x in zip(*out)]


def _trials_of(scorer, enr, tst, enrol_idx, tests, truth, spk, tag):
    means = unit(np.stack([unit(enr[0][enrol_idx[p]], dtype=np.float64).mean(0) for p in spk])).astype(np.float32)
    temb = tst[0][tests].astype(np.float32)
    raw = temb @ means.T
    esnr = np.array([enr[2][enrol_idx[p]].mean() for p in spk])
    norm = raw if scorer is None else scorer.normalise(means, esnr, temb, tst[2][tests])
    feats = []
    for j, t in enumerate(tests):
        tq = {"speech_s": float(tst[1][t]), "snr_db": float(tst[2][t]), "clips": 1}
        for k, p in enumerate(spk):
            feats.append(quality_features(norm[j, k], tq, enrol_quality(enr[1], enr[2], enrol_idx[p])))
    return np.stack(feats), raw.ravel(), norm.ravel(), truth.ravel(), np.full(raw.size, tag)


def impostor_snr_model(norm, y, tag, x) -> dict:
    """Linear models of the impostor tail's mean and sd (tail_gaussian per dev condition) on
    scoring.snr_features of the condition's median test and enrolment SNR."""
    rows, mus, sds = [], [], []
    for t in sorted(set(tag.tolist())):
        m = (tag == t) & ~y
        mu, sd = tail_gaussian(norm[m])
        # x columns 2 and 3: test and enrolment SNR (capped, /10), see scoring.quality_features
        rows.append(snr_features(10 * np.median(x[m, 2]), 10 * np.median(x[m, 3])))
        mus.append(mu)
        sds.append(sd)
    a = np.stack(rows)
    return {"mean": np.linalg.lstsq(a, np.array(mus), rcond=None)[0].tolist(),
            "sd": np.linalg.lstsq(a, np.array(sds), rcond=None)[0].tolist(),
            "features": ["1", "test_snr/10", "enrol_snr/10", "|test - enrol|/10"], "conditions": len(rows)}


def fit_logistic(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Class-balanced logistic regression: its log-odds is an LLR (equal effective priors)."""
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(class_weight="balanced", C=10.0, max_iter=5000).fit(x, y)
    return lr.coef_[0], float(lr.intercept_[0])


def two_voice_threshold(rec, root: Path, speakers: list[str]) -> dict:
    """split_max_cos for enrolment: the 2nd percentile of dev speakers' single-voice utterances (clean,
    white and pink at 10 and 5 dB), so about 1 in 50 genuine clips is refused; with the detection rate
    of two-voice clips (first half of one speaker's utterance, second half of the next one's)."""
    from voxprint import audio
    from voxprint.augment import mix_at_snr, pink_noise, white_noise
    from voxprint.enrol_check import voices_split

    rng = np.random.default_rng(0)
    utts = [audio.load(P.utterance(root, s), P.SAMPLE_RATE)[0] for s in speakers]
    single, two = [], []
    for i, y in enumerate(utts):
        z = utts[(i + 1) % len(utts)]
        mixed = np.concatenate([y[: len(y) // 2], z[len(z) // 2 :]])
        for make, snr in ((None, None), (white_noise, 10.0), (white_noise, 5.0), (pink_noise, 10.0), (pink_noise, 5.0)):
            noisy = (lambda x: x) if make is None else (lambda x, make=make, snr=snr: mix_at_snr(x, make(len(x), rng), snr))
            single.append(voices_split(rec, noisy(y)))
            two.append(voices_split(rec, noisy(mixed)))
    single, two = np.array([v for v in single if v is not None]), np.array([v for v in two if v is not None])
    thr = float(np.percentile(single, 2))
    return {"split_max_cos": thr, "two_voice_dev": {"single_refused": float(np.mean(single < thr)),
            "two_refused": float(np.mean(two < thr)), "n_single": int(len(single)), "n_two": int(len(two))}}


def min_consistency(system, segs, noise_dir: Path) -> float:
    """The 2nd percentile of dev speakers' profile consistency (mean pairwise cosine of all their
    segments), clean and in each fitting noise: below it, a profile's clips rarely are one voice."""
    vals = []
    for c in D.conditions(D.FIT_NOISES, noise_dir):
        emb = unit(D.cached(system, "dev", segs, c, P.DEV_NOISE_SEED)[0], dtype=np.float64)
        for spk in sorted({s.speaker for s in segs}):
            idx = [i for i, s in enumerate(segs) if s.speaker == spk]
            total, n = emb[idx].sum(0), len(idx)
            vals.append((total @ total - n) / (n * (n - 1)))
    return float(np.percentile(vals, 2))


def fit(system, cohort: np.ndarray, cohort_snr: np.ndarray, dev_sets, noise_dir: Path) -> dict:
    """scoring.json's decision fields for a cohort: the top-N and SNR width whose normalised dev EER
    (pooled) is lowest, then the calibration and impostor models on those dev trials. dev_sets: [(cache
    group, segments)] of speakers that never trained the encoder or made the cohort."""
    best = None
    for n in TOP_NS:
        for width in WIDTHS:
            sc = Scorer(cohort, cohort_snr, {"top_n": n, "snr_width": width, "weights": [0.0] * len(FEATURES),
                                             "bias": 0.0, "impostor_mean": 0.0, "impostor_sd": 1.0})
            trials = [dev_trials(system, segs, noise_dir, sc, group=g) for g, segs in dev_sets]
            x, raw, norm, y, tag = (np.concatenate(a) for a in zip(*trials))
            e = eer(norm, y)[0]
            print(f"top_n {n} width {width:g}: dev EER normalised {e:.4f} (raw {eer(raw, y)[0]:.4f})", flush=True)
            if best is None or e < best[0]:
                best = (e, n, width, x, norm, y, tag)
    e, n, width, x, norm, y, tag = best
    w, b = fit_logistic(x, y)
    imp_mean, imp_sd = tail_gaussian(norm[~y])
    return {"top_n": n, "snr_width": width, "features": list(FEATURES), "weights": [float(v) for v in w], "bias": b,
            "impostor_mean": imp_mean, "impostor_sd": imp_sd, "impostor_fit": "tail_gaussian (0.9, 0.995 quantiles)",
            "impostor_snr": impostor_snr_model(norm, y, tag, x), "dev_eer_norm": float(e),
            "n_trials": int(len(y)), "conditions": sorted(set(tag.tolist()))}


def fitted(system, noise_dir: Path, ocean_share: float = 0.0) -> tuple[np.ndarray, np.ndarray, dict]:
    """(cohort [C, E], cohort SNRs [C], scoring.json's decision fields with where they were fitted). With
    `ocean_share` > 0, ocean-train voices join (voxprint/encoder/ocean_split.json): its encoder-TRAIN
    speakers as that share of the cohort's rows, its encoder-DEV speakers beside libri-dev's in the
    calibration; its TEST half is never read."""
    split, root = P.load_split(), DATA / "libri-dev"
    dev_sets = [("dev", P.segments(root, split["dev"]))]
    extra, where = None, "libri-dev dev split (calibration, impostor model); train split (cohort)"
    if ocean_share > 0:
        from voxprint.encoder import data as ED

        osp, ocean = ED.ocean_split(), DATA / "ocean-train"
        extra = ("ocean-train", ED.ocean_segments(ocean, osp["train"]), ocean_share)
        dev_sets.append(("ocean-dev", ED.ocean_segments(ocean, osp["dev"])))
        where = (f"libri-dev dev split and ocean-train encoder-DEV speakers (calibration, impostor model); libri-dev "
                 f"train split and ocean-train encoder-TRAIN speakers ({ocean_share:.0%} of the rows; cohort)")
    cohort, cohort_snr = make_cohort(system, P.segments(root, split["train"]), noise_dir, extra=extra)
    info = fit(system, cohort, cohort_snr, dev_sets, noise_dir)
    info.update(cohort={"rows": int(len(cohort)), "dtype": "float16"}, fitted_on=where)
    return cohort, cohort_snr, info


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=REPO / "voxprint" / "pretrained" / "encoder")
    ap.add_argument("--ocean", type=float, default=0.0, metavar="SHARE",
                    help="also fit on ocean-train voices, SHARE of the cohort (benchmarks/openset.py measures 0.4)")
    args = ap.parse_args(argv)
    split, root, noise_dir = P.load_split(), DATA / "libri-dev", DATA / "noise"
    system = D.Voxprint()
    cohort, cohort_snr, info = fitted(system, noise_dir, args.ocean)
    voices = two_voice_threshold(system.rec, root, split["dev"])
    voices["min_consistency"] = min_consistency(system, P.segments(root, split["dev"]), noise_dir)
    print(f"two voices: {voices}", flush=True)
    command = "python -m benchmarks.fit_scoring" + (f" --ocean {args.ocean:g}" if args.ocean else "")
    info.update(voices, command=command, date=datetime.now(UTC).date().isoformat())
    args.out.mkdir(parents=True, exist_ok=True)
    np.save(args.out / COHORT_FILE, cohort, allow_pickle=False)
    np.save(args.out / COHORT_SNR_FILE, cohort_snr, allow_pickle=False)
    write_json(args.out / SCORING_FILE, info)
    _record(args.out, command)
    print(f"top_n {info['top_n']}, width {info['snr_width']:g}, impostor {info['impostor_mean']:.3f} +- "
          f"{info['impostor_sd']:.3f}, weights {np.round(info['weights'], 3)}")


def _record(folder: Path, command: str) -> None:
    """provenance.json: how cohort.npy and scoring.json were made, with their checksums."""
    prov_path = folder / "provenance.json"
    prov = read_json(prov_path) if prov_path.is_file() else {}
    sums = {f: hashlib.sha256((folder / f).read_bytes()).hexdigest() for f in (COHORT_FILE, COHORT_SNR_FILE, SCORING_FILE)}
    prov["scoring"] = {"command": command, "files": sorted(sums)}
    prov.setdefault("sha256", {}).update(sums)  # checked with the weights by encoder.folder.verify_checksums
    write_json(prov_path, prov)


if __name__ == "__main__":
    main()
