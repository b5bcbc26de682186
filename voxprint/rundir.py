"""Run-folder conventions: file names, grid-cell names, results rows, and the one rule that
picks the best model.

A run folder (`voxprint run --out RUN`) holds the run's shared files and one subfolder per
grid cell. Everything that reads a run folder goes through this module, so that:
- every path read from a run folder resolves inside it (a crafted results.csv cannot point
  voxprint at another folder);
- `predict`, the report, the README and the benchmarks name the same best model, chosen by
  `choose_best` on validation data only - never on the test split.

This is a leaf module: it imports nothing else from voxprint but errors, io and (for the
default model folder) the pretrained package's path.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from pathlib import Path

from .errors import DataError
from .io import read_csv

# Files of a run folder
CONFIG = "config.yaml"
LABELS = "labels.json"
SPLIT = "split.csv"
SKIPPED = "skipped.csv"
NOISE = "noise.json"
RESULTS = "results.csv"
ROBUSTNESS = "robustness.csv"
RESOURCES = "resources.csv"
VERIFICATION = "verification.json"
SPEECH = "speech.csv"
# Files of a model folder (one grid cell)
WEIGHTS = "model.pt"
ONNX = "model.onnx"
CALIBRATION = "calibration.json"
METRICS = "metrics.json"
HISTORY = "history.csv"
CONFUSION = "confusion.csv"
RESOURCE = "resources.json"
PROFILES = "profiles.db"

RESULT_COLUMNS = ["model", "feature", "seed", "head", "augmented", "accuracy", "macro_f1", "val_accuracy",
                  "val_loss", "steps", "best_step", "train_seconds", "params"]
ROBUSTNESS_COLUMNS = ["model", "feature", "seed", "augmented", "head", "noise", "snr_db", "accuracy", "macro_f1"]

BEST_RULE = ("highest validation accuracy (mean over seeds), then lowest validation loss, then fewest "
             "parameters; the chosen configuration's best seed by the same rule is the model that is loaded")


@dataclass(frozen=True)
class Cell:
    """One grid cell: a model x feature x head x augmentation x seed."""

    model: str
    feature: str
    head: str = "softmax"
    augment: bool = True
    seed: int = 0

    @property
    def group(self) -> str:
        """The configuration without the seed, e.g. `crnn-mel`, `cnn-mel-aam-noaug`."""
        return (f"{self.model}-{self.feature}{'-aam' if self.head == 'aam' else ''}"
                f"{'' if self.augment else '-noaug'}")

    @property
    def name(self) -> str:
        """The cell's folder name, e.g. `crnn-mel-s0`."""
        return f"{self.group}-s{self.seed}"


def cell_of(row: dict) -> Cell:
    return Cell(row["model"], row["feature"], row["head"], row["augmented"], row["seed"])


# --------------------------------------------------------------------------- paths


def inside(root: Path, rel: str | Path) -> Path:
    """`root / rel`, refused unless it resolves inside `root` (no `..`, no absolute paths, no
    symlink that leaves the folder)."""
    root_real = Path(root).resolve()
    target = (root_real / rel).resolve()
    if target != root_real and root_real not in target.parents:
        raise DataError(f"{root}: refers to {rel!s}, which is outside the folder; refused")
    return target


def model_dir(run: Path, row: dict) -> Path:
    """The folder of a results row's model, inside `run`."""
    return inside(run, cell_of(row).name)


def resolve_model_dir(path: str | Path | None) -> Path:
    """A model folder as given, a run folder's best model (by `choose_best`), or with None the
    general speaker encoder that ships with voxprint."""
    if path is None:
        from .pretrained import ENCODER_DIR

        return ENCODER_DIR
    p = Path(path)
    if (p / WEIGHTS).is_file():
        return p
    if (p / RESULTS).is_file():
        rows = read_results(p)
        if rows:
            d = model_dir(p, choose_best(rows))
            if not (d / WEIGHTS).is_file():
                raise DataError(f"{p}: its best model {d.name} has no {WEIGHTS}; rerun `voxprint run --out {p}`")
            return d
    raise DataError(f"{p}: not a run folder (no {WEIGHTS}, no {RESULTS}); train one with `voxprint run`")


# --------------------------------------------------------------------------- results


_BOOL = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _typed(raw: dict, where: str) -> dict:
    """A results.csv row with its numbers and flags parsed; a bad cell is a DataError naming it."""
    row = dict(raw)

    def parse(key, fn, required=True):
        value = (raw.get(key) or "").strip()
        if value == "":
            if required:
                raise DataError(f"{where}: column '{key}' is empty")
            return None
        try:
            return fn(value)
        except (ValueError, KeyError):
            raise DataError(f"{where}: column '{key}' holds {value!r}, not a valid value") from None

    for key in ("model", "feature"):
        if not (raw.get(key) or "").strip() or not str(raw[key]).replace("_", "").isalnum():
            raise DataError(f"{where}: column '{key}' holds {raw.get(key)!r}, not a model/feature name")
    row["head"] = (raw.get("head") or "softmax").strip()
    if row["head"] not in ("softmax", "aam"):
        raise DataError(f"{where}: column 'head' holds {row['head']!r}; valid: aam, softmax")
    row["augmented"] = parse("augmented", lambda v: _BOOL[v.lower()], required=False)
    row["augmented"] = True if row["augmented"] is None else row["augmented"]
    row["seed"] = parse("seed", int)
    for key in ("accuracy", "macro_f1"):
        row[key] = parse(key, float)
    for key in ("val_accuracy", "val_loss", "train_seconds"):
        row[key] = parse(key, float, required=False)
    for key in ("params", "steps", "best_step"):
        row[key] = parse(key, int, required=False)
    return row


def read_results(run: Path) -> list[dict]:
    """results.csv of a run folder as typed rows (see RESULT_COLUMNS)."""
    path = Path(run) / RESULTS
    try:
        raw = read_csv(path)
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot be read ({e.__class__.__name__})") from None
    return [_typed(r, f"{path}:{i}") for i, r in enumerate(raw, start=2)]


def mean_std(values) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for one value) of the finite values."""
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not vals:
        return math.nan, math.nan
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else 0.0)


def format_mean_std(values, digits: int = 3) -> str:
    """`0.987 ± 0.004` over seeds, or just `0.987` for one value."""
    vals = [v for v in values if v is not None]
    m, s = mean_std(vals)
    if math.isnan(m):
        return "–"
    return f"{m:.{digits}f}" if len(vals) == 1 else f"{m:.{digits}f} ± {s:.{digits}f}"


def summarize(rows: list[dict]) -> list[dict]:
    """One entry per configuration (model x feature x head x augmentation), seeds pooled, in
    results order: the rows, and mean/std of test and validation scores."""
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(cell_of(r).group, []).append(r)
    out = []
    for name, rs in groups.items():
        g = {k: rs[0][k] for k in ("model", "feature", "head", "augmented")} | {"group": name, "rows": rs}
        for key in ("accuracy", "macro_f1", "val_accuracy", "val_loss", "train_seconds"):
            g[f"{key}_mean"], g[f"{key}_std"] = mean_std(r.get(key) for r in rs)
        g["params"] = rs[0].get("params")
        g["n_seeds"] = len(rs)
        out.append(g)
    return out


def _selection_key(val_accuracy: float, val_loss: float, params) -> tuple:
    def finite(v, worst):
        return v if v is not None and math.isfinite(v) else worst

    return (-finite(val_accuracy, -math.inf), finite(val_loss, math.inf), params if params is not None else math.inf)


def choose_best(rows: list[dict]) -> dict:
    """The model to use, by BEST_RULE: validation data only (never the test split)."""
    if not rows:
        raise DataError("no results to choose a best model from")
    groups = summarize(rows)
    best = min(groups, key=lambda g: _selection_key(g["val_accuracy_mean"], g["val_loss_mean"], g["params"]))
    return min(best["rows"], key=lambda r: (*_selection_key(r.get("val_accuracy"), r.get("val_loss"), None), r["seed"]))


def best_group(rows: list[dict]) -> dict:
    """The summary entry (see `summarize`) of the chosen configuration."""
    chosen = cell_of(choose_best(rows)).group
    return next(g for g in summarize(rows) if g["group"] == chosen)
