"""`collect(run)`: everything the HTML report and the README generator show, read once from a
run folder. Both renderers take this object, so they cannot disagree on the numbers or on
which model is best (`rundir.choose_best`, validation data only)."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .. import rundir
from ..errors import DataError
from ..io import read_csv, read_json

RESOURCE_NUMBERS = ("params", "size_bytes", "onnx_size_bytes", "latency_ms_b1", "latency_ms_b1_onnx",
                    "throughput_clips_s_b64", "train_seconds", "train_step_rss_mb")


@dataclass
class NoiseUse:
    """How one evaluation noise relates to the training noise (for sentences the README states)."""

    name: str
    kind: str  # synthetic | recorded
    relation: str  # fresh draws of a trained type | held-out time range of a trained file | never trained on


@dataclass
class RunData:
    run: Path
    dataset: str
    config: dict
    config_text: str
    labels: list[str]
    rows: list[dict]  # typed results.csv rows
    groups: list[dict]  # rundir.summarize(rows)
    best: dict  # the chosen row (rundir.choose_best)
    best_group: dict  # its configuration's summary
    best_metrics: dict = field(default_factory=dict)
    confusion: tuple[list[str], list[list[int]]] | None = None
    robustness: list[dict] = field(default_factory=list)
    resources: list[dict] = field(default_factory=list)
    histories: dict[str, list[dict]] = field(default_factory=dict)
    best_steps: dict[str, int] = field(default_factory=dict)
    verification: dict | None = None
    anchors: list[dict] | None = None
    noise: list[NoiseUse] = field(default_factory=list)

    @property
    def best_name(self) -> str:
        return rundir.cell_of(self.best).name

    @property
    def latency_runs(self) -> int:
        return int(self.config.get("eval", {}).get("latency_runs", 100))


def _float(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def _read(path: Path, parse, kind=None):
    """parse(path), with any sign that the file is not what voxprint writes (bad text, bad numbers,
    missing columns, another JSON type than `kind`) turned into one DataError naming the file."""
    try:
        value = parse(path)
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, IndexError, yaml.YAMLError) as e:
        raise DataError(f"{path}: not in the format voxprint writes ({e.__class__.__name__}: "
                        f"{str(e).splitlines()[0][:100] if str(e) else ''})") from None
    if kind is not None and not isinstance(value, kind):
        raise DataError(f"{path}: not in the format voxprint writes (expected a JSON {kind.__name__})")
    return value


def _resources(path: Path) -> list[dict]:
    return [r | {"run": str(r["run"])} | {k: _float(r.get(k)) for k in RESOURCE_NUMBERS} for r in read_csv(path)]


def _confusion(path: Path) -> tuple[list[str], list[list[int]]]:
    with open(path, newline="") as f:
        rows = [r for r in csv.reader(f) if r]
    return [c.strip() for c in rows[0][1:]], [[int(x) for x in r[1:]] for r in rows[1:]]


def _robustness(run: Path) -> list[dict]:
    if not (run / rundir.ROBUSTNESS).is_file():
        return []
    out = []
    for r in read_csv(run / rundir.ROBUSTNESS):
        out.append(r | {"seed": int(r["seed"]), "augmented": r["augmented"] in ("True", "true"),
                        "snr_db": _float(r["snr_db"]), "accuracy": _float(r["accuracy"]),
                        "macro_f1": _float(r["macro_f1"])})
    return out


def _history(path: Path) -> list[dict]:
    return [{k: _float(v) for k, v in r.items()} for r in read_csv(path)]


def noise_uses(noise: dict) -> list[NoiseUse]:
    """Relate each evaluation noise of noise.json to the training noise."""
    trained_files = {r.get("file") for r in noise.get("train", []) if r.get("file")}
    trained_types = {r.get("source") for r in noise.get("train", []) if r.get("kind") == "synthetic"}
    uses: dict[str, NoiseUse] = {}
    for r in noise.get("eval", []):
        if r.get("kind") == "synthetic":
            rel = ("fresh draws of a noise type also used in training" if r.get("source") in trained_types
                   else "a noise type never used in training")
            uses[r["name"]] = NoiseUse(r["name"], "synthetic", rel)
        elif r["name"] not in uses:
            rel = ("the held-out end of recordings whose beginning training used" if r.get("file") in trained_files
                   else "recordings never used in training")
            uses[r["name"]] = NoiseUse(r["name"], "recorded", rel)
    return list(uses.values())


def collect(run: Path) -> RunData:
    """Read a finished run folder (results.csv required; the rest optional). A file that is not in
    the format voxprint writes is one DataError naming it."""
    run = Path(run)
    rows = rundir.read_results(run)
    best = rundir.choose_best(rows)
    text = _read(run / rundir.CONFIG, lambda p: p.read_text(encoding="utf-8")) if (run / rundir.CONFIG).is_file() else ""
    config = _read(run / rundir.CONFIG, lambda p: yaml.safe_load(text) or {}, dict) if text else {}
    labels = _read(run / rundir.LABELS, read_json, list) if (run / rundir.LABELS).is_file() else []
    d = RunData(run=run, dataset=str((config.get("data") or {}).get("path", "unknown dataset")), config=config,
                config_text=text, labels=labels, rows=rows, groups=rundir.summarize(rows), best=best,
                best_group=rundir.best_group(rows))
    best_dir = rundir.model_dir(run, best)
    if (best_dir / rundir.METRICS).is_file():
        d.best_metrics = _read(best_dir / rundir.METRICS, read_json, dict)
    if (best_dir / rundir.CONFUSION).is_file():
        d.confusion = _read(best_dir / rundir.CONFUSION, _confusion)
    if (run / rundir.ROBUSTNESS).is_file():
        d.robustness = _read(run / rundir.ROBUSTNESS, lambda p: _robustness(run))
    if (run / rundir.RESOURCES).is_file():
        d.resources = _read(run / rundir.RESOURCES, _resources)
    for r in rows:
        h = rundir.model_dir(run, r) / rundir.HISTORY
        if h.is_file():
            d.histories[rundir.cell_of(r).name] = _read(h, _history)
            d.best_steps[rundir.cell_of(r).name] = r.get("best_step")
    if (run / rundir.VERIFICATION).is_file():
        d.verification = _read(run / rundir.VERIFICATION, read_json, dict)
    if (run / "anchors.json").is_file():
        d.anchors = _read(run / "anchors.json", read_json, dict)
    if (run / rundir.NOISE).is_file():
        d.noise = _read(run / rundir.NOISE, lambda p: noise_uses(read_json(p)))
    return d


def verification_rows(v: dict) -> tuple[list[str], list[list]]:
    """The unseen-speaker table of a verification.json: one row per system x dataset x condition."""
    head = ["system", "dataset", "condition", "EER", "minDCF (p=0.01)", "open-set: enrolled named",
            "open-set: unknown rejected", "seeds", "trials (target / non-target)"]
    rows = [[s["name"], s["dataset"], s["condition"], rundir.format_mean_std(s["eer"], 3),
             rundir.format_mean_std(s["min_dcf"], 3), rundir.format_mean_std(s.get("known_accuracy", []), 3),
             rundir.format_mean_std(s.get("unknown_rejection", []), 3), len(s["eer"]),
             f"{s['n_target']} / {s['n_nontarget']}"] for s in v.get("systems", [])]
    return head, rows
