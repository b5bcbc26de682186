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
from ..io import read_csv, read_json


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
    """Read a finished run folder (results.csv required; the rest optional)."""
    run = Path(run)
    rows = rundir.read_results(run)
    best = rundir.choose_best(rows)
    text = (run / rundir.CONFIG).read_text() if (run / rundir.CONFIG).is_file() else ""
    config = yaml.safe_load(text) or {}
    d = RunData(run=run, dataset=str(config.get("data", {}).get("path", "unknown dataset")), config=config,
                config_text=text, labels=read_json(run / rundir.LABELS) if (run / rundir.LABELS).is_file() else [],
                rows=rows, groups=rundir.summarize(rows), best=best, best_group=rundir.best_group(rows))
    best_dir = rundir.model_dir(run, best)
    if (best_dir / rundir.METRICS).is_file():
        d.best_metrics = read_json(best_dir / rundir.METRICS)
    if (best_dir / rundir.CONFUSION).is_file():
        d.confusion = _confusion(best_dir / rundir.CONFUSION)
    d.robustness = _robustness(run)
    if (run / rundir.RESOURCES).is_file():
        d.resources = read_csv(run / rundir.RESOURCES)
    for r in rows:
        h = rundir.model_dir(run, r) / rundir.HISTORY
        if h.is_file():
            d.histories[rundir.cell_of(r).name] = _history(h)
            d.best_steps[rundir.cell_of(r).name] = r.get("best_step")
    if (run / rundir.VERIFICATION).is_file():
        d.verification = read_json(run / rundir.VERIFICATION)
    if (run / "anchors.json").is_file():
        d.anchors = read_json(run / "anchors.json")
    if (run / rundir.NOISE).is_file():
        d.noise = noise_uses(read_json(run / rundir.NOISE))
    return d
