"""Run report: `write_report(run)` writes into the run folder

* `report.html` - self-contained (inline CSS, PNGs as data URIs, no scripts, no URLs),
* one PNG per chart,
* `results.json` - per configuration mean/std over seeds, the chosen best model and how it was
  chosen, and the verification and resources figures.

The numbers come from `data.collect(run)`, which the README generator (`readme.py`) uses too.
Scores are fractions in [0, 1] in the files; the HTML shows percentages.
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
from pathlib import Path

from .. import rundir
from ..errors import DataError
from ..io import atomic_write_text, write_json
from . import html as H
from .data import RunData, collect, verification_rows

__all__ = ["CHARTS", "REPORT_NAME", "RESULTS_NAME", "collect", "draw_charts", "write_report"]

log = logging.getLogger(__name__)

REPORT_NAME = "report.html"
RESULTS_NAME = "results.json"
CHARTS = {
    "accuracy": "chart_accuracy.png",
    "confusion": "chart_confusion_best.png",
    "robustness": "chart_accuracy_vs_snr.png",
    "training": "chart_training_curves.png",
    "resources": "chart_resources.png",
    "det": "chart_det.png",
}


def _pct(v, digits: int = 1) -> str:
    return "–" if v is None or not math.isfinite(float(v)) else f"{100 * float(v):.{digits}f}"


def _pm(mean, std) -> str:
    return "–" if not math.isfinite(mean) else f"{100 * mean:.1f} ± {100 * (std or 0.0):.1f}"


def _num(v, fmt: str = ".3g") -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "–"
    return "–" if not math.isfinite(f) else format(f, fmt)


# --------------------------------------------------------------------------- charts


def _det_curves(v: dict) -> list[dict]:
    """One DET curve per system x dataset x condition that kept its points (those of its first seed)."""
    return [{"label": f"{s['name']}, {s['dataset']}, {s['condition']}", "fpr": s["det"]["fpr"],
             "fnr": s["det"]["fnr"], "eer": s["eer"][0]} for s in v.get("systems", []) if s.get("det")]


def _series(g: dict) -> str:
    return g["model"] + (" aam" if g["head"] == "aam" else "") + ("" if g["augmented"] else " no-aug")


def _chart_jobs(d: RunData) -> dict:
    """name -> (chart function, args, keyword args), or None where the run has no such data."""
    from . import charts

    resources = [{"name": r["run"], **{k: _float_or_none(r.get(k)) for k in (
        "params", "size_bytes", "onnx_size_bytes", "latency_ms_b1", "train_seconds")}} for r in d.resources]
    det = _det_curves(d.verification) if d.verification else []
    return {
        "accuracy": (charts.accuracy_bars, ([g | {"series": _series(g)} for g in d.groups],), {}),
        "confusion": (charts.confusion_heatmap, d.confusion, {"title": f"Confusion matrix — {d.best_name}"})
        if d.confusion else None,
        "robustness": (charts.snr_curves, (d.robustness,), {}) if d.robustness else None,
        "training": (charts.training_curves, (d.histories, d.best_steps), {}) if d.histories else None,
        "resources": (charts.resources_chart, (resources,), {}) if resources else None,
        "det": (charts.det_curve, (det,), {"title": "DET curve — unseen speakers"}) if det else None,
    }


def draw_charts(d: RunData) -> dict[str, Path]:
    """Draw every chart the data allows; a chart that fails is logged and left out."""
    drawn = {}
    for name, job in _chart_jobs(d).items():
        out = d.run / CHARTS[name]
        if job is None:
            out.unlink(missing_ok=True)  # no stale chart from an earlier report
            continue
        fn, args, kw = job
        try:
            drawn[name] = fn(*args, out=out, **kw)
        except ValueError as e:
            log.warning(f"report: chart {name} not drawn: {e}")
            out.unlink(missing_ok=True)
    return drawn


def _float_or_none(v):
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


# --------------------------------------------------------------------------- sections


def _figure(charts: dict, name: str, alt: str, caption: str) -> str:
    return H.figure(charts[name], alt, caption) if name in charts else H.note(f"Chart not drawn: no {name} data.")


def header(d: RunData) -> str:
    g, b = d.best_group, d.best
    spk = f"{len(d.labels)} speakers" + (f" ({', '.join(d.labels)})" if 0 < len(d.labels) <= 12 else "")
    meta = " · ".join([f"Dataset: {d.dataset}", spk, f"run folder: {d.run.name}",
                       f"generated {_dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}"])
    text = (f"{g['group']} — test accuracy {_pm(g['accuracy_mean'], g['accuracy_std'])} %, macro-F1 "
            f"{_pm(g['macro_f1_mean'], g['macro_f1_std'])} % over {g['n_seeds']} seed(s). The model that "
            f"voxprint predict --run {d.run.name} loads is {d.best_name} (validation accuracy "
            f"{_pct(b['val_accuracy'])} %, test accuracy {_pct(b['accuracy'])} %). Chosen by {rundir.BEST_RULE}.")
    return H.para(meta, "meta") + f'<div class="best"><b>Best model:</b> {H.esc(text)}</div>\n'


def results_section(d: RunData, charts: dict) -> str:
    order = sorted(d.groups, key=lambda g: -g["accuracy_mean"])
    body = [[g["group"], _pm(g["accuracy_mean"], g["accuracy_std"]), _pm(g["macro_f1_mean"], g["macro_f1_std"]),
             _pm(g["val_accuracy_mean"], g["val_accuracy_std"]), g["n_seeds"], _num(g["params"], ",.0f"),
             _num(g["train_seconds_mean"], ".1f")] for g in order]
    best = [i for i, g in enumerate(order) if g["group"] == d.best_group["group"]]
    text = H.table(["Configuration", "Test accuracy (%)", "Test macro-F1 (%)", "Validation accuracy (%)", "Seeds",
                    "Parameters", "Train time (s, mean)"], body, highlight=best)
    text += H.para("Mean ± sample standard deviation over seeds; test columns from the test split, which no "
                   "choice looked at. The highlighted row is the chosen configuration.", "meta")
    return text + _figure(charts, "accuracy", "Accuracy by model and feature",
                          "Bars: mean test accuracy over seeds; error bars: ±1 std. The y axis is zoomed to the data.")


def confusion_section(d: RunData, charts: dict) -> str:
    text = _figure(charts, "confusion", f"Confusion matrix of {d.best_name}",
                   f"Test-split confusion matrix of {d.best_name} (counts of clips).")
    per = d.best_metrics.get("per_speaker") or {}
    if per:
        text += H.table(["Speaker", "Precision (%)", "Recall (%)", "F1 (%)", "Support (test clips)"],
                        [[n, _pct(v["precision"]), _pct(v["recall"]), _pct(v["f1"]), v["support"]]
                         for n, v in per.items()])
    return text


def robustness_section(d: RunData, charts: dict) -> str:
    if not d.robustness:
        return H.note("No robustness evaluation in this run (eval.robustness is off or no noise was found).")
    uses = "; ".join(f"{u.name}: {u.relation}" for u in d.noise)
    return _figure(charts, "robustness", "Accuracy versus SNR",
                   f"Mean test accuracy over seeds at each SNR (exact, from RMS power), one panel per noise. {uses}.")


def training_section(d: RunData, charts: dict) -> str:
    return _figure(charts, "training", "Training curves",
                   "Loss and accuracy at each validation (train solid: the steps since the previous validation; "
                   "validation dashed); the dotted line is the step whose weights were kept.")


def resources_section(d: RunData, charts: dict) -> str:
    if not d.resources:
        return H.note("No resources.csv in this run.")
    body = [[r["run"], _num(r["params"], ",.0f"), _num(float(r["size_bytes"]) / 1024, ",.1f"),
             _num(float(r["onnx_size_bytes"]) / 1024, ",.1f"), _num(r["latency_ms_b1"]), _num(r["latency_ms_b1_onnx"]),
             _num(r["throughput_clips_s_b64"], ",.0f"), _num(r["train_seconds"], ",.1f"),
             _num(r["train_step_rss_mb"], ",.0f")] for r in d.resources]
    text = H.table(["Run", "Parameters", "PyTorch size (KB)", "ONNX size (KB)", "Latency b1, PyTorch (ms)",
                    "Latency b1, onnxruntime (ms)", "Throughput b64, PyTorch (clips/s)", "Train time (s)",
                    "RSS growth of one training step (MB)"], body)
    text += H.para(f"Latency and throughput: features + model, one thread; latency is the median of "
                   f"{d.latency_runs} batch-1 calls on a one-window clip.", "meta")
    return text + _figure(charts, "resources", "Model resources",
                          "Parameters, file size, batch-1 latency and training time per model.")


def verification_section(d: RunData, charts: dict) -> str:

    if not d.verification:
        return H.note("No unseen-speaker study in this run (eval.verification is off, or no dataset of "
                      "eval.verification_pool was there to run it on).")
    head, rows = verification_rows(d.verification)
    return (H.para(d.verification.get("protocol", ""), "meta") + H.table(head, rows)
            + _figure(charts, "det", "DET curve", "Detection error trade-off on normal-deviate axes; "
                                                  "the dot marks the EER."))


SECTIONS = [("results", "Results", results_section), ("confusion", "Confusion matrix of the best model",
            confusion_section), ("robustness", "Robustness to noise", robustness_section),
            ("training", "Training curves", training_section), ("resources", "Resources", resources_section),
            ("verification", "Unseen speakers", verification_section)]


def results_json(d: RunData, charts: dict) -> dict:
    g = {k: v for k, v in d.best_group.items() if k != "rows"}
    return {"run_dir": d.run.name, "dataset": d.dataset, "speakers": d.labels, "best_rule": rundir.BEST_RULE,
            "best": {"run": d.best_name, "group": g, "row": d.best},
            "summary": [{k: v for k, v in x.items() if k != "rows"} for x in d.groups],
            "std": "sample standard deviation over seeds (ddof=1); 0 for a single seed",
            "verification": d.verification, "charts": sorted(p.name for p in charts.values())}


def _json_safe(obj):
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


def write_report(run: Path, d: RunData | None = None) -> Path:
    """Write report.html, results.json and the chart PNGs into `run`; return the HTML path."""
    run = Path(run)
    if not (run / rundir.RESULTS).is_file():
        raise DataError(f"{run}: no {rundir.RESULTS}; run `voxprint run --out {run}` first")
    d = d or collect(run)
    charts = draw_charts(d)
    sections = [(a, t, fn(d, charts)) for a, t, fn in SECTIONS]
    sections.append(("config", "Configuration", H.details("Resolved config (config.yaml)", d.config_text)))
    write_json(run / RESULTS_NAME, _json_safe(results_json(d, charts)))
    out = run / REPORT_NAME
    atomic_write_text(out, H.document(f"voxprint report — {run.name}", header(d), sections))
    return out
