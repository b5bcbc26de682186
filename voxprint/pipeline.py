"""`voxprint run`: the grid of models x features (x heads x augmentation x seeds).

Each grid cell trains in its own subfolder; a cell whose metrics.json exists is finished and
skipped on rerun, so a killed run loses only the cell in progress. Run-folder names and the
best-model rule live in `rundir`.
"""

from __future__ import annotations

import copy
import logging
import sys
from pathlib import Path

import numpy as np
import yaml

from . import config as C
from . import rundir
from .augment import Augmenter, build_sources
from .clip_scoring import clean_features, score_features, torch_model
from .datasets import Loaded, dataset_rate, describe_split, discover, prepare
from .errors import ConfigError, DataError
from .features import build_feature
from .io import read_csv, read_json, write_csv, write_json
from .log import interactive, skip_once
from .metrics import classification_metrics, nll, write_metrics
from .robustness import COLUMNS, robustness_table
from .rundir import Cell

log = logging.getLogger(__name__)


def _fixed_input(model: str) -> tuple[dict | None, int | None]:
    """(feature settings, sample rate) that a pretrained model's weights fix, or (None, None)."""
    from .models import MODELS

    cls = MODELS.get(model)
    if not hasattr(cls, "fixed_features"):
        return None, None
    return cls.fixed_features(), cls.SAMPLE_RATE


def cells(cfg: C.Config) -> list[Cell]:
    """Every model x feature x head x augmentation x seed; a model whose weights fix its feature
    (the pretrained encoder) gets one cell per head/augmentation/seed, with that feature."""
    g = cfg.grid
    out = []
    for s in range(g.seeds):
        for a in g.augment:
            for h in g.heads:
                for m in g.models:
                    fixed, _ = _fixed_input(m)
                    out += [Cell(m, f, h, a, s) for f in ([fixed["name"]] if fixed else g.features)]
    return out


def cell_config(cfg: C.Config, cell: Cell) -> C.Config:
    """The resolved config of one cell: the grid's choices written into the sections they set."""
    c = copy.deepcopy(cfg)
    c.model.name, c.features.name, c.model.head = cell.model, cell.feature, cell.head
    fixed, rate = _fixed_input(cell.model)
    if fixed:
        c.features = C.from_dict(C.FeatureConfig, dict(fixed), f"model {cell.model}'s features")
        c.data.sample_rate = rate
    c.augment.enabled = cell.augment
    c.train.seed = cfg.train.seed + cell.seed
    c.grid = C.GridConfig(models=[cell.model], features=[cell.feature], seeds=1, heads=[cell.head],
                          augment=[cell.augment])
    return c


def _check_same_run(out: Path, cfg: C.Config) -> None:
    """Refuse to mix results of two different configs in one folder (the grid may grow)."""
    path = out / rundir.CONFIG
    if not path.exists():
        return
    try:
        old = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise DataError(f"{path}: not a readable run config ({e.__class__.__name__}); use another --out") from None
    new = C.to_dict(cfg)
    if not isinstance(old, dict):
        raise DataError(f"{path}: not a run config; use another --out")
    old = C.migrate(old, str(path))  # an older folder kept the runtime settings under train
    if not all(isinstance(v, dict) for v in old.values()):
        raise DataError(f"{path}: not a run config; use another --out")
    for d in (old, new):
        d.pop("grid", None)  # the grid may grow
        d.pop("runtime", None)  # how it runs, not what it trains
        for k in C.STUDY_KEYS:  # the unseen-speaker study re-runs by itself when these change
            d.get("eval", {}).pop(k, None)
    if old != new:
        diff = sorted(f"{s}.{k}" for s in new for k in new[s] if (old.get(s) or {}).get(k) != new[s][k])
        raise DataError(f"{out} holds a run with a different config ({', '.join(diff[:5])}); use another --out")


class GridData:
    """The run's data, loaded once per sample rate: most models train at the dataset's own rate,
    a pretrained one (the general encoder) at the rate its weights expect. The split is the same
    at every rate (it depends on the files and the seed only)."""

    def __init__(self, cfg: C.Config, ds, quiet: bool = False):
        # quiet: skipped files are not reported again (a worker process of side_by_side; the run said it)
        self.cfg, self.ds, self._at, self.quiet = cfg, ds, {}, quiet

    def at(self, rate: int):
        """(parts, labels, augmenter, evaluation noise, skipped, split) at `rate`."""
        if rate not in self._at:
            c = self.cfg
            parts, labels, skipped, split = prepare(self.ds, c.data, c.train.seed, rate, c.vad)
            for sk in [] if self.quiet else skipped:  # once per file, though loaded at a second rate
                skip_once(log, sk.path, sk.reason)
            frac = c.augment.train_fraction
            train_noise = build_sources(c.augment.noise, rate, "train", frac, self.ds.noise_dir)
            eval_noise = build_sources(c.eval.noise, rate, "eval", frac, self.ds.noise_dir)
            augmenter = Augmenter(train_noise, c.augment.prob, c.augment.snr_db)
            self._at[rate] = (parts, labels, augmenter, eval_noise, skipped, split)
        return self._at[rate]


def setup(cfg: C.Config, out: Path) -> tuple[C.Config, GridData]:
    """Discover, resolve the sample rate, load and split; write the run's shared files."""
    ds = discover(cfg.data.path)
    cfg = copy.deepcopy(cfg)
    cfg.data.sample_rate = cfg.data.sample_rate or dataset_rate(ds)
    _check_same_run(out, cfg)
    out.mkdir(parents=True, exist_ok=True)
    data = GridData(cfg, ds)
    sr = cfg.data.sample_rate
    parts, labels, augmenter, eval_noise, skipped, split = data.at(sr)
    C.save(cfg, out / rundir.CONFIG)
    write_json(out / rundir.LABELS, labels)
    write_csv(out / rundir.SPLIT, [{"path": it.path, "speaker": it.speaker, "split": s}
                                   for s, part in parts.items() for it in part.items], ["path", "speaker", "split"])
    write_csv(out / rundir.SKIPPED, [vars(s) for s in skipped], ["path", "reason"])
    write_csv(out / rundir.SPEECH, [{"path": it.path, "split": s, "speech_fraction": round(sp.fraction, 4)}
                                    for s, part in parts.items() for it, sp in zip(part.items, part.speech)],
              ["path", "split", "speech_fraction"])
    write_json(out / rundir.NOISE, {"train": [r | {"name": s.name} for s in augmenter.sources for r in s.ranges],
                                    "eval": [r | {"name": s.name} for s in eval_noise for r in s.ranges]})
    log.info(f"data: {ds.name} ({ds.layout}), {len(labels)} speakers, {sr} Hz, "
             f"{describe_split(parts, split)}, {len(skipped)} skipped")
    return cfg, data


def _scores(net, features, ccfg: C.Config, sr: int, part: Loaded):
    n = int(round(ccfg.data.clip_seconds * sr))
    feats, owner = clean_features(features, ccfg.features, sr, n, [it.path for it in part.items], part.waves,
                                  part.speech, ccfg.vad)
    return score_features(torch_model(net), feats, owner)


def run_cell(cfg: C.Config, cell: Cell, out: Path, data: GridData, bar: bool = False) -> dict:
    """Train and evaluate one cell; metrics.json, written last, marks it finished."""
    from .report.results import RUN_INPUTS, code_version
    from .train import train
    from .verification import calibrate, can_calibrate

    d = out / cell.name
    d.mkdir(parents=True, exist_ok=True)
    ccfg = cell_config(cfg, cell)
    sr = ccfg.data.sample_rate
    parts, labels, augmenter, eval_noise, _, _ = data.at(sr)
    C.save(ccfg, d / rundir.CONFIG)
    write_json(d / rundir.LABELS, labels)
    n = int(round(ccfg.data.clip_seconds * sr))
    # with train.val_noise, clean-trained cells validate on the same noisy copies as augmented ones
    net, info = train(ccfg, parts, len(labels), sr, d, augmenter if cell.augment else None, cell.name, bar,
                      val_noise=augmenter if ccfg.train.val_noise else None)
    if getattr(net.backbone, "from_ge2e", False):  # weights derived from GE2E keep its Apache-2.0 notice
        from .pretrained import write_notice

        write_notice(d, f"the general speaker encoder that ships with voxprint, fine-tuned by `voxprint run` with "
                        f"a classifier head on {cfg.data.path} (config.yaml beside this file)")
    features = build_feature(ccfg.features, sr)
    test, val = parts["test"], parts["val"]
    probs, _ = _scores(net, features, ccfg, sr, test)
    metrics = classification_metrics(test.labels, probs.argmax(1), labels)
    # Validation scores choose the best model (rundir.choose_best); the accept threshold for
    # verify/identify comes from validation clips too. Neither looks at the test split.
    val_probs, val_emb = _scores(net, features, ccfg, sr, val)
    val_scores = {"val_accuracy": float(np.mean(val_probs.argmax(1) == val.labels)),
                  "val_loss": nll(val_probs, val.labels)}
    if can_calibrate(val.labels):
        write_json(d / rundir.CALIBRATION, calibrate(val_emb, val.labels, cfg.eval.far, cfg.train.seed))
    else:  # no threshold guessed: identify/verify with this model say there is no calibration.json
        log.warning(f"{cell.name}: no accept threshold calibrated: the validation split holds no speaker with two "
                    f"clips (no same-speaker trial); `predict` works, `identify`/`verify` need a calibration")
    if cfg.eval.robustness and eval_noise:
        rows = robustness_table(metrics, torch_model(net), features, test.waves, test.labels, n, eval_noise,
                                cfg.eval.snr_db, labels, speech=test.speech, vad_cfg=cfg.vad)
        write_csv(d / rundir.ROBUSTNESS, rows, COLUMNS)
    # the code that trained it: a results file built from this run is stale once that code changes
    code = {"code": code_version(Path(__file__).resolve().parents[1], RUN_INPUTS)}
    write_metrics(d, metrics, labels, info | val_scores | code | {"model": cell.model, "feature": cell.feature,
                                                                  "head": cell.head, "augmented": cell.augment,
                                                                  "seed": cell.seed})
    return read_json(d / rundir.METRICS)


METRIC_KEYS = ("accuracy", "macro_f1", "val_accuracy", "val_loss", "steps", "best_step", "train_seconds", "params")


def _finished(path: Path, numbers: tuple[str, ...]) -> dict:
    """A JSON file of a cell finished earlier (metrics.json, resources.json); one that is not what
    run_cell writes is a DataError naming it (never a crash, never silently retrained over)."""
    try:
        m = read_json(path)
        ok = isinstance(m, dict) and all(isinstance(m.get(k), (int, float)) and not isinstance(m.get(k), bool)
                                         for k in numbers)
    except (OSError, ValueError):
        ok = False
    if not ok:
        raise DataError(f"{path}: not what a finished run writes (needs numbers {', '.join(numbers)}); "
                        f"delete {path.parent} to train that cell again")
    return m


def result_row(cell: Cell, m: dict) -> dict:
    return {"model": cell.model, "feature": cell.feature, "seed": cell.seed, "head": cell.head,
            "augmented": cell.augment, "accuracy": round(m["accuracy"], 4), "macro_f1": round(m["macro_f1"], 4),
            "val_accuracy": round(m["val_accuracy"], 4), "val_loss": round(m["val_loss"], 6), "steps": m["steps"],
            "best_step": m["best_step"], "train_seconds": m["train_seconds"], "params": m["params"]}


def _grid_bar(total: int):
    """An overall progress bar over the grid's cells when stderr is a terminal, else None."""
    if not interactive():
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="grid", position=0, unit="run", dynamic_ncols=True)


def worker_data(cfg: C.Config) -> GridData:
    """A side_by_side worker's grid data: the resolved config's dataset, loaded once per process."""
    return GridData(cfg, discover(cfg.data.path), quiet=True)


def measure_resources(cfg: C.Config, grid: list[Cell], out: Path) -> None:
    """resources.json of every finished cell that lacks one: measured after training, one cell at a time
    (never beside a cell still training, whose load would be in the latency figures)."""
    from .inference import Recognizer
    from .resources import measure

    for cell in grid:
        d = out / cell.name
        if (d / rundir.RESOURCE).exists() or not (d / rundir.METRICS).exists():
            continue
        rec = Recognizer(d, engine="torch")
        m = _finished(d / rundir.METRICS, METRIC_KEYS)
        write_json(d / rundir.RESOURCE, measure(rec.net, rec.features, rec.window, d, cfg.eval.latency_runs)
                   | {"model": cell.model, "feature": cell.feature, "run": cell.name,
                      "train_seconds": m["train_seconds"]})


def _train_grid(cfg: C.Config, grid: list[Cell], out: Path, data: GridData) -> dict[str, dict]:
    """Every cell's metrics by name: finished ones read, the others trained (side by side when
    side_by_side.plan gives more than one worker)."""
    from .side_by_side import plan, train_side_by_side

    found = {c.name: _finished(out / c.name / rundir.METRICS, METRIC_KEYS)
             for c in grid if (out / c.name / rundir.METRICS).exists()}
    for name in found:
        log.info(f"{name}: finished earlier, skipped")
    todo = [c for c in grid if c.name not in found]
    bar = _grid_bar(len(grid)) if cfg.runtime.progress else None
    if bar is not None:
        bar.update(len(found))

    def done(cell: Cell, m: dict) -> None:
        found[cell.name] = m
        log.info(f"[{len(found)}/{len(grid)}] {cell.name}: validation accuracy {m['val_accuracy']:.4f}, "
                 f"test accuracy {m['accuracy']:.4f}, macro-F1 {m['macro_f1']:.4f}")
        if bar is not None:
            bar.update(1)

    workers, threads = plan(cfg, len(todo))
    try:
        if workers > 1:
            train_side_by_side(cfg, todo, out, workers, threads, worker_data, run_cell, done)
        else:
            for cell in todo:
                log.info(f"[{len(found) + 1}/{len(grid)}] {cell.name}: training")
                done(cell, run_cell(cfg, cell, out, data, bar=bar is not None))
    finally:
        if bar is not None:
            bar.close()
    return found


def run_grid(cfg: C.Config, out: Path) -> list[dict]:
    if cfg.data.extra_windows:  # the grid scores cached clip_seconds windows: its figures would not be predict's
        raise ConfigError(f"data.extra_windows = {cfg.data.extra_windows}: a grid evaluates in data.clip_seconds "
                          "windows only; give a trained model folder more windows with `voxprint encoder window`")
    cfg, data = setup(cfg, out)
    grid = cells(cfg)
    metrics = _train_grid(cfg, grid, out, data)
    measure_resources(cfg, grid, out)
    rows, rob = [], []
    for cell in grid:  # the grid's order, whatever order the cells finished in
        rows.append(result_row(cell, metrics[cell.name]))
        if (out / cell.name / rundir.ROBUSTNESS).exists():
            rob += [{"model": cell.model, "feature": cell.feature, "seed": cell.seed, "augmented": cell.augment,
                     "head": cell.head} | r for r in read_csv(out / cell.name / rundir.ROBUSTNESS)]
    write_csv(out / rundir.RESULTS, rows, rundir.RESULT_COLUMNS)
    if rob:
        write_csv(out / rundir.ROBUSTNESS, rob, rundir.ROBUSTNESS_COLUMNS)
    write_csv(out / rundir.RESOURCES, [_finished(out / c.name / rundir.RESOURCE, ("params",)) for c in grid],
              _resource_columns())
    print_table(rows)
    return rows


def _resource_columns() -> list[str]:
    from .resources import RESOURCE_COLUMNS

    return RESOURCE_COLUMNS


def print_table(rows: list[dict], file=sys.stdout) -> None:
    print(f"{'run':<28} {'val acc':>8} {'test acc':>9} {'macro-F1':>9} {'steps':>6} {'train s':>8} {'params':>8}",
          file=file)
    for r in rows:
        print(f"{rundir.cell_of(r).name:<28} {float(r['val_accuracy']):>8.4f} {float(r['accuracy']):>9.4f} "
              f"{float(r['macro_f1']):>9.4f} {r['steps']:>6} {float(r['train_seconds']):>8.1f} {int(r['params']):>8}",
              file=file)
    b = rundir.choose_best(rows)
    print(f"best ({rundir.BEST_RULE.split(';')[0]}): {rundir.cell_of(b).name} "
          f"(test accuracy {float(b['accuracy']):.4f}, macro-F1 {float(b['macro_f1']):.4f})", file=file)
