"""Speakers never seen in training: verification (EER, minDCF, DET) and open-set
identification, plus threshold calibration on validation data.

Protocol (`study`): speakers are split (seeded) into *known* ones, which train the model,
and *held-out* ones, which it never sees. Held-out speakers are split again into
*enrolled* (profiles from a few of their training-split clips) and *unknown* (never
enrolled). Test clips of all held-out speakers give verification trials and open-set
trials. The accept threshold is calibrated on the known speakers' validation clips -
never on test clips.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np

from . import config as C
import logging

from .config import STUDY_KEYS
from .datasets import Loaded, dataset_rate, discover, prepare
from .errors import VoxprintError
from .io import write_csv, write_json
from .verification import calibrate, det_curve, eer, min_dcf, open_set, trial_pairs

log = logging.getLogger(__name__)
say = log.info
MAX_TRIALS = 200_000


def study_settings(cfg: C.Config) -> dict:
    """What the study's result depends on besides the data (recorded in verification.json)."""
    train = {k: v for k, v in C.to_dict(cfg)["train"].items() if k != "progress"}
    return {k: getattr(cfg.eval, k) for k in STUDY_KEYS} | {"train": train}


def _pool(cfg: C.Config, specs: list[str], seed: int) -> tuple[dict[str, Loaded], list[str], int]:
    """Load several datasets at one rate (the highest), each split by its own rules."""
    datasets = []
    for spec in specs:
        try:
            datasets.append(discover(spec))
        except VoxprintError as e:
            say(f"verification: {spec}: skipped ({e})")
    if not datasets:
        raise VoxprintError("verification: no dataset could be loaded")
    sr = max(dataset_rate(ds) for ds in datasets)
    merged = {s: Loaded([], [], np.zeros(0, np.int64)) for s in ("train", "val", "test")}
    names: list[str] = []
    for ds in datasets:
        parts, labels, _, _ = prepare(ds, cfg.data, seed, sr)
        clash = set(labels) & set(names)
        prefix = f"{ds.name}/" if clash else ""
        offset = len(names)
        names += [prefix + lab for lab in labels]
        for s, p in parts.items():
            m = merged[s]
            merged[s] = Loaded(m.items + p.items, m.waves + p.waves, np.concatenate([m.labels, p.labels + offset]))
    return merged, names, sr


def _subset(part: Loaded, keep: dict[int, int]) -> Loaded:
    idx = [k for k, lab in enumerate(part.labels) if int(lab) in keep]
    return Loaded([part.items[k] for k in idx], [part.waves[k] for k in idx],
                  np.array([keep[int(part.labels[k])] for k in idx], dtype=np.int64))


def study(cfg: C.Config, out: Path, model: str, feature: str, heads=("softmax", "aam"),
          specs: list[str] | None = None) -> dict | None:
    """Run the unseen-speaker protocol; writes out/verification.json and returns it."""
    from .train import train
    from .evaluate import clean_features, score_features, torch_model
    from .features import build_feature

    ev = cfg.eval
    specs = specs or [cfg.data.path, *[p for p in ev.verification_pool if p != cfg.data.path]]
    scfg = copy.deepcopy(cfg)
    scfg.data.sample_rate = None
    scfg.data.speakers = None  # a speaker filter names speakers of one dataset, not of the pool
    parts, names, sr = _pool(scfg, specs, cfg.train.seed)
    k = len(names)
    if k < ev.min_speakers:
        say(f"verification: {k} speakers (need {ev.min_speakers}); add datasets to eval.verification_pool")
        return None
    rng = np.random.default_rng(cfg.train.seed)
    order = rng.permutation(k)
    n_held = max(4, int(round(k * ev.heldout_fraction)))
    held, known = sorted(order[:n_held].tolist()), sorted(order[n_held:].tolist())
    enrolled, unknown = held[: (n_held + 1) // 2], held[(n_held + 1) // 2:]
    say(f"verification: {len(known)} training speakers; held out {len(enrolled)} enrolled + {len(unknown)} unknown")
    known_map = {s: i for i, s in enumerate(known)}
    train_parts = {s: _subset(parts[s], known_map) for s in ("train", "val")}
    held_map = {s: i for i, s in enumerate(held)}
    enrol_part = _subset(parts["train"], {s: held_map[s] for s in enrolled})
    test_part = _subset(parts["test"], held_map)

    # The exact test clips of the held-out speakers, so anchors can score the same trials.
    write_csv(out / "verification" / "test_clips.csv",
              [{"path": it.path, "speaker": names[held[lab]], "label": int(lab)}
               for it, lab in zip(test_part.items, test_part.labels)], ["path", "speaker", "label"])
    scfg.data.sample_rate = sr
    n = int(round(scfg.data.clip_seconds * sr))
    result: dict = {"speakers": {"training": [names[s] for s in known], "enrolled": [names[s] for s in enrolled],
                                 "unknown": [names[s] for s in unknown]},
                    "datasets": specs, "sample_rate": sr, "seed": cfg.train.seed, "heads": []}
    for head in heads:
        hcfg = copy.deepcopy(scfg)
        hcfg.model.name, hcfg.features.name, hcfg.model.head = model, feature, head
        hcfg.train.min_steps = max(hcfg.train.min_steps, ev.verification_min_steps)
        hcfg.train.max_steps = max(hcfg.train.max_steps, hcfg.train.min_steps)
        d = out / "verification" / f"{model}-{feature}-{head}"
        d.mkdir(parents=True, exist_ok=True)
        C.save(hcfg, d / "config.yaml")
        write_json(d / "labels.json", [names[s] for s in known])
        augment = True in cfg.grid.augment
        net, info = train(hcfg, train_parts, len(known), sr, d, _augmenter(hcfg, sr) if augment else None,
                          f"study-{model}-{feature}-{head}")
        features = build_feature(hcfg.features, sr)

        def embed(part: Loaded) -> np.ndarray:
            f, owner = clean_features(features, hcfg.features, sr, n, [it.path for it in part.items], part.waves)
            return score_features(torch_model(net), f, owner)[1]

        cal = calibrate(embed(train_parts["val"]), train_parts["val"].labels, ev.far)
        write_json(d / "calibration.json", cal)
        # enrolment: the first `enroll_clips` training-split clips of each enrolled speaker
        enrol_emb, enrol_lab = embed(enrol_part), enrol_part.labels
        profiles, prof_ids = [], []
        for s in sorted(set(enrol_lab.tolist())):
            rows = enrol_emb[enrol_lab == s][: ev.enroll_clips]
            mean = rows.mean(0)
            profiles.append(mean / np.linalg.norm(mean))
            prof_ids.append(s)
        test_emb, test_lab = embed(test_part), test_part.labels
        # verification: all pairs of held-out test clips
        i, j, same = trial_pairs(test_lab, MAX_TRIALS, cfg.train.seed)
        scores = np.sum(test_emb[i] * test_emb[j], axis=1)
        e, _ = eer(scores, same)
        dcf, _ = min_dcf(scores, same, p_target=0.01)
        fpr, fnr, _ = det_curve(scores, same)
        # open set: enrolled speakers' test clips should be named, unknown ones rejected
        mat = np.stack(profiles)
        true_index = np.array([prof_ids.index(lab) if lab in prof_ids else -1 for lab in test_lab])
        os_ = open_set(test_emb @ mat.T, true_index, cal["threshold"])
        keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), 400)).astype(int))
        result["heads"].append({
            "head": head, "model": f"{model}-{feature}", "eer": float(e), "min_dcf": float(dcf),
            "threshold": cal["threshold"], "calibration": cal,
            "open_set_known_accuracy": os_["known_accuracy"], "open_set_unknown_rejection": os_["unknown_rejection"],
            "n_trials": int(len(scores)), "n_target_trials": int(same.sum()),
            "det": {"fpr": fpr[keep].round(5).tolist(), "fnr": fnr[keep].round(5).tolist()},
            "train_seconds": info["train_seconds"],
        })
        say(f"verification [{head}]: EER {e:.4f}, minDCF {dcf:.4f}, open-set known {os_['known_accuracy']:.3f}, "
            f"unknown rejected {os_['unknown_rejection']:.3f}")
    best = min(result["heads"], key=lambda h: h["eer"])
    result.update({k: best[k] for k in ("eer", "min_dcf", "threshold", "open_set_known_accuracy",
                                        "open_set_unknown_rejection", "det")})
    result["model"] = f"{best['model']}-{best['head']}"
    result["settings"] = study_settings(cfg)  # a rerun with other settings redoes the study
    write_json(out / "verification.json", result)
    return result


def _augmenter(cfg: C.Config, sr: int):
    from .augment import Augmenter, build_sources

    return Augmenter(build_sources(cfg.augment.noise, sr, "train", cfg.augment.train_fraction, None),
                     cfg.augment.prob, cfg.augment.snr_db)


def run_study(cfg: C.Config, out: Path, rows: list[dict]) -> dict | None:
    """The study for a finished grid, unless verification.json already holds it with these settings."""
    from . import rundir
    from .io import read_json

    path = out / rundir.VERIFICATION
    if path.exists() and read_json(path).get("settings") == study_settings(cfg):
        return read_json(path)
    choice = cfg.eval.verification_model
    if choice == "best":
        best = rundir.choose_best(rows)
        model, feature = best["model"], best["feature"]
    elif choice.count("-") == 1:
        model, feature = choice.split("-")
    else:
        raise VoxprintError(f"eval.verification_model: expected 'best' or MODEL-FEATURE (e.g. crnn-mel), got {choice!r}")
    return study(cfg, out, model, feature)
