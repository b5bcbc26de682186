"""`voxprint run`: the grid of models x features (x heads x augmentation x seeds).

Each grid cell trains in its own subfolder; a cell whose metrics.json exists is finished
and skipped on rerun, so a killed run loses only the cell in progress.
"""

from __future__ import annotations

import copy
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from . import config as C
from .augment import Augmenter, build_sources
from .datasets import Loaded, dataset_rate, discover, prepare, say
from .errors import DataError
from .evaluate import classification_metrics, clean_features, robustness, score_windows, write_metrics
from .features import build_feature
from .io import read_csv, read_json, write_csv, write_json
from .unseen import STUDY_KEYS, calibrate, study_settings

RESULT_COLUMNS = ["model", "feature", "seed", "head", "augmented", "accuracy", "macro_f1", "epochs", "best_epoch",
                  "train_seconds", "params"]
ROBUSTNESS_COLUMNS = ["model", "feature", "seed", "augmented", "noise", "snr_db", "accuracy", "macro_f1", "head"]


@dataclass
class Cell:
    model: str
    feature: str
    head: str
    augment: bool
    seed: int

    @property
    def name(self) -> str:
        return (f"{self.model}-{self.feature}{'-aam' if self.head == 'aam' else ''}"
                f"{'' if self.augment else '-noaug'}-s{self.seed}")


def cells(cfg: C.Config) -> list[Cell]:
    g = cfg.grid
    return [Cell(m, f, h, a, s) for s in range(g.seeds) for a in g.augment for h in g.heads
            for m in g.models for f in g.features]


def cell_config(cfg: C.Config, cell: Cell) -> C.Config:
    c = copy.deepcopy(cfg)
    c.model.name, c.features.name, c.model.head = cell.model, cell.feature, cell.head
    c.augment.enabled = cell.augment
    c.train.seed = cfg.train.seed + cell.seed
    c.grid = C.GridConfig(models=[cell.model], features=[cell.feature], seeds=1, heads=[cell.head],
                          augment=[cell.augment])
    return c


def _check_same_run(out: Path, cfg: C.Config) -> None:
    """Refuse to mix results of two different configs in one folder (the grid may grow)."""
    path = out / "config.yaml"
    if not path.exists():
        return
    old = yaml.safe_load(path.read_text())
    new = C.to_dict(cfg)
    for d in (old, new):
        d.pop("grid", None)
        d.get("train", {}).pop("progress", None)
        for k in STUDY_KEYS:  # the study re-runs by itself when these change
            d.get("eval", {}).pop(k, None)
    if old != new:
        diff = sorted(f"{s}.{k}" for s in new for k in new[s] if old.get(s, {}).get(k) != new[s][k])
        raise DataError(f"{out} holds a run with a different config ({', '.join(diff[:5])}); use another --out")


def setup(cfg: C.Config, out: Path):
    """Discover, resolve the sample rate, load and split; write the run's shared files."""
    ds = discover(cfg.data.path)
    cfg = copy.deepcopy(cfg)
    cfg.data.sample_rate = cfg.data.sample_rate or dataset_rate(ds)
    _check_same_run(out, cfg)
    out.mkdir(parents=True, exist_ok=True)
    parts, labels, skipped = prepare(ds, cfg.data, cfg.train.seed, cfg.data.sample_rate)
    C.save(cfg, out / "config.yaml")
    write_json(out / "labels.json", labels)
    write_csv(out / "split.csv", [{"path": it.path, "speaker": it.speaker, "split": s}
                                  for s, part in parts.items() for it in part.items], ["path", "speaker", "split"])
    write_csv(out / "skipped.csv", [vars(s) for s in skipped], ["path", "reason"])
    sr, frac = cfg.data.sample_rate, cfg.augment.train_fraction
    train_noise = build_sources(cfg.augment.noise, sr, "train", frac, ds.noise_dir, warn=say)
    eval_noise = build_sources(cfg.eval.noise, sr, "eval", frac, ds.noise_dir, warn=say)
    write_json(out / "noise.json", {"train": [r | {"name": s.name} for s in train_noise for r in s.ranges],
                                    "eval": [r | {"name": s.name} for s in eval_noise for r in s.ranges]})
    counts = {s: len(p.items) for s, p in parts.items()}
    say(f"data: {ds.name} ({ds.layout}), {len(labels)} speakers, {sr} Hz, split {counts}, {len(skipped)} skipped")
    return cfg, ds, parts, labels, train_noise, eval_noise


def run_cell(cfg: C.Config, cell: Cell, out: Path, parts: dict[str, Loaded], labels: list[str], augmenter,
             eval_noise) -> dict:
    from .train import train

    d = out / cell.name
    d.mkdir(parents=True, exist_ok=True)
    ccfg = cell_config(cfg, cell)
    C.save(ccfg, d / "config.yaml")
    write_json(d / "labels.json", labels)
    sr = cfg.data.sample_rate
    n = int(round(cfg.data.clip_seconds * sr))
    net, info = train(ccfg, parts, len(labels), sr, d, augmenter)
    features = build_feature(ccfg.features, sr)
    test = parts["test"]
    feats, owner = clean_features(features, ccfg.features, sr, n, [it.path for it in test.items], test.waves)
    probs, _ = score_windows(net, feats, owner, len(test.waves))
    metrics = classification_metrics(test.labels, probs.argmax(1), labels)
    # Accept threshold for verify/identify, from validation clips only.
    val = parts["val"]
    vf, vo = clean_features(features, ccfg.features, sr, n, [it.path for it in val.items], val.waves)
    write_json(d / "calibration.json", calibrate(score_windows(net, vf, vo, len(val.waves))[1], val.labels,
                                                 cfg.eval.far, cfg.train.seed))
    if cfg.eval.robustness and eval_noise:
        rows = robustness(net, features, test.waves, test.labels, n, eval_noise, cfg.eval.snr_db, labels)
        rows = [{"noise": "none", "snr_db": float("inf"), "accuracy": round(metrics["accuracy"], 4),
                 "macro_f1": round(metrics["macro_f1"], 4)}] + rows
        write_csv(d / "robustness.csv", rows, ["noise", "snr_db", "accuracy", "macro_f1"])
    # metrics.json is written last: its presence marks the cell as finished.
    write_metrics(d, metrics, labels, info | {"model": cell.model, "feature": cell.feature, "head": cell.head,
                                              "augmented": cell.augment, "seed": cell.seed})
    return read_json(d / "metrics.json")


def result_row(cell: Cell, m: dict) -> dict:
    return {"model": cell.model, "feature": cell.feature, "seed": cell.seed, "head": cell.head,
            "augmented": cell.augment, "accuracy": round(m["accuracy"], 4), "macro_f1": round(m["macro_f1"], 4),
            "epochs": m["epochs"], "best_epoch": m["best_epoch"], "train_seconds": m["train_seconds"],
            "params": m["params"]}


def run_grid(cfg: C.Config, out: Path) -> list[dict]:
    cfg, ds, parts, labels, train_noise, eval_noise = setup(cfg, out)
    augmenter = Augmenter(train_noise, cfg.augment.prob, cfg.augment.snr_db)
    rows, rob = [], []
    grid = cells(cfg)
    for i, cell in enumerate(grid, 1):
        d = out / cell.name
        if (d / "metrics.json").exists():
            say(f"[{i}/{len(grid)}] {cell.name}: finished earlier, skipped")
            m = read_json(d / "metrics.json")
        else:
            say(f"[{i}/{len(grid)}] {cell.name}: training")
            m = run_cell(cfg, cell, out, parts, labels, augmenter, eval_noise)
        rows.append(result_row(cell, m))
        say(f"[{i}/{len(grid)}] {cell.name}: test accuracy {m['accuracy']:.4f}, macro-F1 {m['macro_f1']:.4f}")
        if (d / "robustness.csv").exists():
            rob += [{"model": cell.model, "feature": cell.feature, "seed": cell.seed, "augmented": cell.augment,
                     "head": cell.head} | r
                    for r in read_csv(d / "robustness.csv")]
    write_csv(out / "results.csv", rows, RESULT_COLUMNS)
    if rob:
        write_csv(out / "robustness.csv", rob, ROBUSTNESS_COLUMNS)
    print_table(rows)
    write_resources(out, [out / run_name(r) for r in rows], cfg.eval.latency_runs)
    if cfg.eval.verification and not _study_done(out, cfg):
        from .unseen import study

        choice = cfg.eval.verification_model
        if choice == "best":
            model, feature = best_row(rows)["model"], best_row(rows)["feature"]
        elif choice.count("-") == 1:
            model, feature = choice.split("-")
        else:
            raise DataError(f"eval.verification_model: expected 'best' or MODEL-FEATURE (e.g. crnn-mel), got {choice!r}")
        study(cfg, out, model, feature)
    return rows


def write_resources(out: Path, dirs: list[Path], runs: int) -> None:
    """resources.csv: one row per model folder (measured once, kept in resources.json)."""
    from .resources import RESOURCE_COLUMNS, measure

    rows = []
    for d in dirs:
        path = d / "resources.json"
        if not path.exists():
            write_json(path, measure(d, runs))
        rows.append(read_json(path))
    write_csv(out / "resources.csv", rows, RESOURCE_COLUMNS)


def _study_done(out: Path, cfg: C.Config) -> bool:
    path = out / "verification.json"
    return path.exists() and read_json(path).get("settings") == study_settings(cfg)


def best_row(rows: list[dict]) -> dict:
    return max(rows, key=lambda r: (float(r["accuracy"]), float(r["macro_f1"]), -int(r["params"])))


def run_name(row: dict) -> str:
    aug = row["augmented"] in (True, "True", "true")
    return Cell(row["model"], row["feature"], row["head"], aug, int(row["seed"])).name


def print_table(rows: list[dict], file=sys.stdout) -> None:
    print(f"{'run':<28} {'accuracy':>9} {'macro-F1':>9} {'epochs':>7} {'train s':>8} {'params':>8}", file=file)
    for r in rows:
        print(f"{run_name(r):<28} {float(r['accuracy']):>9.4f} {float(r['macro_f1']):>9.4f} {r['epochs']:>7} "
              f"{float(r['train_seconds']):>8.1f} {int(r['params']):>8}", file=file)
    b = best_row(rows)
    print(f"best: {run_name(b)} (test accuracy {float(b['accuracy']):.4f}, macro-F1 {float(b['macro_f1']):.4f})",
          file=file)
