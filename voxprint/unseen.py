"""The unseen-speaker study: verification and open-set identification on speakers that no
system being scored has trained on or been tuned with.

Protocol (per seed, `eval.study_seeds` seeds):
- Datasets: the run's own and `eval.verification_pool`. Each dataset's speakers are split into
  train / dev / test (libri-dev: its fixed encoder split; other datasets: drawn at random from
  the seed). Test speakers are split again at random into enrolled and unknown ones.
- Segments: libri-dev utterances are cut into 2-s segments, enrolment = the first half of each
  speaker's segments; in clip datasets every clip is a segment and `eval.enroll_clips` random
  clips of a speaker enrol it. Trials: every test segment of every test speaker against every
  enrolled speaker (target = same speaker), written to a trials file with the segment list, so
  that every system - voxprint's and the anchors' - scores exactly the same trials.
- A system is scored on a dataset only if none of that dataset's test speakers trained it; its
  accept threshold is the EER point of the dev speakers' trials it never trained on. Nothing is
  chosen on test speakers.
- Conditions: clean and white noise at 5 dB on every segment (the same draw for every system
  and every seed: seeds redraw speakers, not noise).
Results per system x dataset x condition: EER, minDCF (p_target 0.01), open-set accuracy on
enrolled speakers and rejection of unknown ones at the dev threshold; mean and std over seeds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import config as C
from . import protocol as P
from . import rundir
from .datasets import discover
from .errors import AudioError, DataError
from .io import read_csv, read_json, write_csv, write_json
from .log import skip_once

log = logging.getLogger(__name__)

STUDY_RATE = P.SAMPLE_RATE
CONDITIONS = [P.Condition("clean"), P.Condition("white-5dB", "white", 5.0)]
Embed = Callable[[list[np.ndarray]], np.ndarray]


@dataclass
class System:
    name: str
    embed: Embed  # waves at 16 kHz -> [N, E]
    trained_on: set[tuple[str, str]]  # (dataset, speaker) pairs it heard in training

    def __post_init__(self):
        # Seeds redraw speakers, not audio: a segment (and its seeded noise) is embedded once.
        raw, memo = self.embed, {}

        def embed(waves):
            keys = [hashlib.blake2b(np.ascontiguousarray(w).tobytes(), digest_size=16).digest() for w in waves]
            todo = [k for k in dict.fromkeys(keys) if k not in memo]
            if todo:
                first = {k: w for k, w in zip(keys, waves)}
                memo.update(zip(todo, np.asarray(raw([first[k] for k in todo]))))
            return np.stack([memo[k] for k in keys])

        self.embed = embed


def study_settings(cfg: C.Config) -> dict:
    """What the study's result depends on besides the data and the grid (recorded in
    verification.json): its settings and the shipped encoder's weights."""
    from .pretrained import ENCODER_DIR

    encoder = read_json(ENCODER_DIR / "provenance.json")["sha256"]["model.pt"]
    return {k: getattr(cfg.eval, k) for k in C.STUDY_KEYS} | {"seed": cfg.train.seed, "encoder": encoder}


# --------------------------------------------------------------------------- speakers and segments


def _dataset_speakers(spec: str) -> tuple[str, list[str]]:
    if spec == "libri-dev":
        from .dirs import data_home

        if not (data_home() / "libri-dev").is_dir():
            raise DataError(f"{data_home() / 'libri-dev'}: not found")
        split = P.load_split()
        return spec, sorted(split["train"] + split["dev"] + split["test"])
    ds = discover(spec)
    return ds.name, ds.speakers


def partition(name: str, speakers: list[str], seed: int) -> dict[str, list[str]]:
    """train / dev / test speakers of one dataset for one seed."""
    if name == "libri-dev":
        split = P.load_split()
        return {k: list(split[k]) for k in ("train", "dev", "test")}
    order = [speakers[i] for i in np.random.default_rng([seed, len(speakers)]).permutation(len(speakers))]
    n_test = max(2, round(0.4 * len(order)))
    n_dev = 1 if len(order) - n_test >= 2 else 0
    return {"test": sorted(order[:n_test]), "dev": sorted(order[n_test:n_test + n_dev]),
            "train": sorted(order[n_test + n_dev:])}


def _clip_segments(spec: str, speakers: list[str], enroll: int, max_clips: int, seed: int) -> list[P.Segment]:
    """Every clip (at most `max_clips` per speaker, chosen at random) is a segment; `enroll` of
    them, at random, enrol the speaker."""
    from . import audio

    ds = discover(spec)
    rng = np.random.default_rng([seed, 17])
    out = []
    for spk in speakers:
        items = sorted((it for it in ds.items if it.speaker == spk), key=lambda it: it.path)
        pick = sorted(rng.permutation(len(items))[:max_clips].tolist())
        enrol = set(rng.permutation(len(pick))[:enroll].tolist())
        for k, i in enumerate(pick):
            try:
                y = audio.load(items[i].path, STUDY_RATE)[0]
            except AudioError as e:
                skip_once(log, e.path, e.reason)  # once, though every seed reloads the clips
                continue
            out.append(P.Segment(f"{spk}/{i}", spk, i, k in enrol, y, items[i].path, 0.0, len(y) / STUDY_RATE))
    return out


def dataset_segments(spec: str, speakers: list[str], ev: C.EvalConfig, seed: int) -> list[P.Segment]:
    if spec == "libri-dev":
        from .dirs import data_home

        return P.segments(data_home() / "libri-dev", speakers)
    return _clip_segments(spec, speakers, ev.enroll_clips, ev.study_max_clips, seed)


# --------------------------------------------------------------------------- scoring


def score_system(system: System, name: str, segs: list[P.Segment], enrolled: list[str],
                 threshold: float, bank: P.NoiseBank) -> list[dict]:
    """One row per condition: EER, minDCF, open-set figures at `threshold`, DET points."""
    from .verification import det_curve, eer, min_dcf

    rows_t = P.trials(segs, enrolled)
    ids = P.enrolment(segs)
    out = []
    for cond in CONDITIONS:
        emb = P.embed_condition(system.embed, segs, cond, bank)
        scores, labels = P.trial_scores(emb, {s: ids[s] for s in enrolled}, rows_t)
        e, _ = eer(scores, labels)
        dcf, _ = min_dcf(scores, labels, p_target=0.01)
        fpr, fnr, _ = det_curve(scores, labels)
        keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), 300)).astype(int))
        os_ = P.open_set_metrics(emb, segs, enrolled, threshold)
        out.append({"name": system.name, "dataset": name, "condition": cond.name, "eer": e, "min_dcf": dcf,
                    "known_accuracy": os_["known_accuracy"], "unknown_rejection": os_["unknown_rejection"],
                    "threshold": threshold, "n_target": int(labels.sum()), "n_nontarget": int((~labels).sum()),
                    "det": {"fpr": fpr[keep].round(5).tolist(), "fnr": fnr[keep].round(5).tolist()}})
    return out


def dev_threshold(system: System, dev: list[tuple[str, P.Segment]]) -> float | None:
    """EER-point threshold on the dev speakers this system never trained on (None if too few)."""
    # named by dataset too: two datasets' "speaker_1" are two speakers, and their segment ids two segments
    segs = [dataclasses.replace(s, id=f"{name}:{s.id}", speaker=f"{name}:{s.speaker}")
            for name, s in dev if (name, s.speaker) not in system.trained_on]
    if len({s.speaker for s in segs}) < 2:
        return None
    return P.calibrate(system.embed, segs)["threshold"]


def _write_trial_files(folder: Path, name: str, segs: list[P.Segment], enrolled: list[str], dev_segs) -> None:
    d = folder / name
    P.write_trials(d / "trials.txt", P.trials(segs, enrolled))
    write_csv(d / "segments.csv", [{"id": s.id, "speaker": s.speaker, "enrol": s.enrol, "role": role,
                                    "path": s.source, "start_s": s.start_s, "end_s": s.end_s}
                                   for role, group in (("test", segs), ("dev", dev_segs)) for s in group],
              ["id", "speaker", "enrol", "role", "path", "start_s", "end_s"])


# --------------------------------------------------------------------------- the study


def available_specs(cfg: C.Config) -> list[str]:
    """The run's dataset and those of `eval.verification_pool` that this data home holds; each one it
    does not is said once (the study is extra: a fresh install has FSDD only, and its run must finish)."""
    specs = []
    for spec in dict.fromkeys([cfg.data.path, *cfg.eval.verification_pool]):
        try:
            _dataset_speakers(spec)
            specs.append(spec)
        except DataError as e:
            log.warning(f"unseen-speaker study: {spec} left out ({e})")
    return specs


def _one_seed(cfg: C.Config, out: Path, systems_for, seed: int, specs: list[str]) -> list[dict]:
    ev = cfg.eval
    parts, segs = {}, {}
    for spec in specs:
        name, speakers = _dataset_speakers(spec)
        parts[name] = partition(name, speakers, seed)
        segs[name] = {role: dataset_segments(spec, parts[name][role], ev, seed) for role in ("dev", "test")}
    systems = systems_for(parts, seed)
    dev = [(n, s) for n in segs for s in segs[n]["dev"]]
    enrolled = {}
    for name in list(segs):  # once per seed, every dataset: the files any system (an anchor too) scores
        enrolled[name], _ = P.open_set_speakers(sorted({s.speaker for s in segs[name]["test"]}), seed)
        kinds = {label for _, _, label in P.trials(segs[name]["test"], enrolled[name])}
        if kinds != {"target", "nontarget"}:  # nothing to score: a line, and the other datasets go on
            missing = "same-speaker" if "target" not in kinds else "different-speaker"
            log.warning(f"unseen-speaker study, seed {seed}: {name} left out: its test speakers give no {missing} "
                        f"trial (a speaker of a clip dataset needs more than eval.enroll_clips = {ev.enroll_clips} "
                        "clips: those enrol it, the rest are its trials)")
            del segs[name]
            continue
        _write_trial_files(out / "verification" / f"s{seed}", name, segs[name]["test"], enrolled[name],
                           [s for n, s in dev if n == name])
    rows = []
    for system in systems:
        threshold = dev_threshold(system, dev)
        for name in segs:
            test = segs[name]["test"]
            if threshold is None or any((name, s) in system.trained_on for s in parts[name]["test"]):
                continue  # it heard these speakers, or has no dev speakers for a threshold
            rows += score_system(system, name, test, enrolled[name], threshold, P.NoiseBank(P.NOISE_SEED))
            log.info(f"study seed {seed}: {system.name} on {name}: EER clean {rows[-2]['eer']:.3f}, "
                     f"5 dB {rows[-1]['eer']:.3f}")
    return rows


def aggregate(rows: list[dict]) -> list[dict]:
    """Seeds pooled: per system x dataset x condition, lists of per-seed figures (and the first DET)."""
    out: dict[tuple, dict] = {}
    for r in rows:
        key = (r["name"], r["dataset"], r["condition"])
        if key not in out:
            out[key] = {k: r[k] for k in ("name", "dataset", "condition", "n_target", "n_nontarget", "det")}
            out[key] |= {k: [] for k in ("eer", "min_dcf", "known_accuracy", "unknown_rejection", "threshold")}
        for k in ("eer", "min_dcf", "known_accuracy", "unknown_rejection", "threshold"):
            out[key][k].append(float(r[k]))
    return list(out.values())


def protocol_sentence(cfg: C.Config, systems: list[str]) -> str:
    ev = cfg.eval
    return (f"Unseen speakers ({', '.join(systems)}), {ev.study_seeds} seed(s): per dataset, speakers split into "
            f"train/dev/test (libri-dev: its fixed encoder split; others: at random per seed), test speakers split "
            f"at random into enrolled and unknown. Enrolment: libri-dev from the first half of each utterance's 2-s "
            f"segments, other datasets from {ev.enroll_clips} random clips. A system is scored only where no test "
            f"speaker trained it; its threshold is the EER point on dev speakers it never trained on. Trials: every "
            f"test segment against every enrolled speaker; white noise at 5 dB on every segment for the noisy rows.")


def study(cfg: C.Config, out: Path, systems_for) -> dict:
    """Run the study; `systems_for(partitions, seed) -> [System]`. Writes out/verification.json."""
    rows = []
    specs = available_specs(cfg)
    for seed in range(cfg.eval.study_seeds):
        rows += _one_seed(cfg, out, systems_for, cfg.train.seed + seed, specs)
    if not rows:  # the run itself is done: no study is a line, not a failure
        log.warning("unseen-speaker study: nothing to score - every system heard the test speakers of "
                    f"{', '.join(specs)}; add datasets to eval.verification_pool (e.g. speeches5, libri-dev)")
        (out / rundir.VERIFICATION).unlink(missing_ok=True)
        return {}
    names = list(dict.fromkeys(r["name"] for r in rows))
    result = {"protocol": protocol_sentence(cfg, names), "systems": aggregate(rows), "settings": study_settings(cfg)}
    write_json(out / rundir.VERIFICATION, result)
    return result


# --------------------------------------------------------------------------- systems


def recognizer_system(name: str, rec, trained_on: set[tuple[str, str]]) -> System:
    """A voxprint model as a study system: 16-kHz waves resampled to its rate, windows averaged."""
    import soxr

    def embed(waves):
        if rec.sample_rate != STUDY_RATE:
            waves = [soxr.resample(w, STUDY_RATE, rec.sample_rate).astype(np.float32) for w in waves]
        return rec.score_waves(waves)[1]

    return System(name, embed, trained_on)


def encoder_training_speakers(folder: Path) -> set[tuple[str, str]]:
    """(dataset, speaker) pairs whose audio trained an encoder folder, from its provenance.json:
    libri-dev's train speakers, every speaker of a dataset it drew from (its train part is enough
    to make them heard voices), nothing for a big corpus outside the study's datasets."""
    heard = set()
    for src in read_json(folder / "provenance.json")["sources"]:
        if src["source"] == "libri":
            heard |= {("libri-dev", s) for s in P.load_split()["train"]}
        elif not src["source"].startswith("corpus:"):
            name, speakers = _dataset_speakers(src["source"])
            heard |= {(name, s) for s in speakers}
    return heard


def default_systems(cfg: C.Config, out: Path):
    """The run's chosen model and the general encoder (no training: they are scored as they are)."""
    from .inference import Recognizer

    rows = rundir.read_results(out)
    grid = Recognizer(out)
    dataset = discover(cfg.data.path).name
    enc = Recognizer()
    heard = {(dataset, s) for s in grid.labels}
    if grid.cfg.model.name == "encoder":  # it started from the shipped encoder: its voices too
        heard |= encoder_training_speakers(enc.dir)
    systems = [recognizer_system("voxprint encoder (shipped)", enc, encoder_training_speakers(enc.dir)),
               recognizer_system(f"voxprint {rundir.cell_of(rundir.choose_best(rows)).name}", grid, heard)]
    return lambda parts, seed: systems


def run_study(cfg: C.Config, out: Path) -> dict:
    """The study for a finished grid, unless verification.json already holds it with these settings."""
    path = out / rundir.VERIFICATION
    if path.exists() and read_json(path).get("settings") == study_settings(cfg):
        return read_json(path)
    return study(cfg, out, default_systems(cfg, out))


def score_trial_files(run: Path, name: str, embed_one) -> None:
    """Score another system (e.g. an anchor) on a finished study's trial files, exactly the same
    segments, trials and noise; adds it to verification.json (every dataset, as it heard none)."""
    from . import audio

    v = read_json(run / rundir.VERIFICATION)
    cfg = C.load_resolved(run / rundir.CONFIG)
    system = System(name, lambda waves: np.stack([embed_one(w) for w in waves]), set())
    rows = []
    for seed_dir in sorted((run / "verification").glob("s*")):
        files, dev, loaded = {}, [], {}
        for d in sorted(p for p in seed_dir.iterdir() if p.is_dir()):
            segs = {"test": [], "dev": []}
            for r in read_csv(d / "segments.csv"):
                if r["path"] not in loaded:  # an utterance gives several segments: read it once
                    loaded[r["path"]] = audio.load(r["path"], STUDY_RATE)[0]
                # round, not int: 1.9999999 s is sample 32000 (int() dropped the last sample of some segments)
                y = loaded[r["path"]][round(float(r["start_s"]) * STUDY_RATE):round(float(r["end_s"]) * STUDY_RATE)]
                segs[r["role"]].append(P.Segment(r["id"], r["speaker"], 0, r["enrol"] == "True", y, r["path"]))
            files[d.name] = segs["test"]
            dev += [(d.name, s) for s in segs["dev"]]
        threshold = dev_threshold(system, dev)
        if threshold is None:
            raise DataError(f"{seed_dir}: fewer than two dev speakers in its trial files; no threshold to score at")
        for dname, test in files.items():
            enrolled = sorted({e for e, _, _ in P.read_trials(run / "verification" / seed_dir.name / dname / "trials.txt")})
            rows += score_system(system, dname, test, enrolled, threshold, P.NoiseBank(P.NOISE_SEED))
    v["systems"] = [s for s in v["systems"] if s["name"] != name] + aggregate(rows)
    v["protocol"] = protocol_sentence(cfg, list(dict.fromkeys(s["name"] for s in v["systems"])))
    write_json(run / rundir.VERIFICATION, v)
