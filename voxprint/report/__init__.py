"""Run report: `write_report(run_dir)` reads a run folder and writes

* `report.html` — self-contained (inline CSS, PNGs as data URIs, no scripts, no URLs),
* one PNG per chart in the run folder,
* `results.json` — per model×feature mean/std of accuracy and macro-F1 over seeds, the
  best group and run, and the contents of verification.json / resources.csv if present.

Optional inputs (robustness.csv, resources.csv, verification.json, per-run files) that are
absent are skipped with a short note in the HTML. `python -m voxprint.report RUN_DIR`.

Accuracy, macro-F1, precision/recall, EER and open-set rates are fractions in [0, 1] in
the inputs and in results.json (a column written as percentages is recognised and
rescaled); the HTML and charts show percentages. Standard deviations over seeds are
sample standard deviations (ddof=1), 0 for a single seed.
"""

from __future__ import annotations

import csv
import datetime as _dt
import logging
import math
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..io import atomic_write_text, read_csv, read_json, write_json
from . import html as H

__all__ = ["write_report", "summarize", "pick_best", "load_results", "REPORT_NAME", "RESULTS_NAME", "CHARTS"]

log = logging.getLogger(__name__)

REPORT_NAME = "report.html"
RESULTS_NAME = "results.json"
# Chart PNGs written into the run folder.
CHARTS = {
    "accuracy": "chart_accuracy.png",
    "confusion": "chart_confusion_best.png",
    "robustness": "chart_accuracy_vs_snr.png",
    "training": "chart_training_curves.png",
    "resources": "chart_resources.png",
    "det": "chart_det.png",
}
_RATE_KEYS = ("eer", "open_set_known_accuracy", "open_set_unknown_rejection")


# --------------------------------------------------------------------------- parsing


def _num(v):
    """CSV cell -> int, float, bool-ish string kept, '' -> None."""
    if v is None:
        return None
    if not isinstance(v, str):
        return v
    s = v.strip()
    if s == "":
        return None
    try:
        return int(s)
    except ValueError:
        pass
    try:
        return float(s)
    except ValueError:
        return s


def _bool(v) -> bool:
    if isinstance(v, str):
        return v.strip().lower() in ("1", "true", "yes", "y", "t")
    return bool(v)


def _float(v) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _as_fraction(rows: list[dict], keys: Sequence[str]) -> None:
    """In place: a column whose values exceed 1 was written in percent -> divide by 100."""
    for k in keys:
        vals = [_float(r.get(k)) for r in rows]
        if any(v is not None and v > 1.0 for v in vals):
            for r in rows:
                if _float(r.get(k)) is not None:
                    r[k] = float(r[k]) / 100.0


def _read_rows(path: Path) -> list[dict]:
    return [{k: _num(v) for k, v in row.items() if k is not None} for row in read_csv(path)]


def load_results(path: Path) -> list[dict]:
    rows = _read_rows(path)
    for r in rows:
        r["model"], r["feature"] = str(r.get("model")), str(r.get("feature"))
        r["augmented"] = _bool(r.get("augmented"))
        if r.get("head") is not None:
            r["head"] = str(r["head"])
        r["accuracy"] = _float(r.get("accuracy"))
        r["macro_f1"] = _float(r.get("macro_f1"))
    rows = [r for r in rows if r["accuracy"] is not None]
    _as_fraction(rows, ("accuracy", "macro_f1"))
    return rows


def run_name(row: Mapping) -> str:
    """The run's folder name, as the grid names it (head and augmentation included)."""
    from ..pipeline import run_name as grid_name

    return grid_name({"head": "softmax", "augmented": True, "seed": 0, **{k: v for k, v in row.items() if v is not None}})


def _mean_std(vals: Sequence[float]) -> tuple[float | None, float | None]:
    vals = [v for v in vals if v is not None]
    if not vals:
        return None, None
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else 0.0)


def _group_keys(rows: Sequence[Mapping]) -> list[str]:
    """model and feature, plus head / augmented where a results file varies them."""
    extra = [k for k in ("head", "augmented") if len({r.get(k) for r in rows}) > 1]
    return ["model", "feature", *extra]


def summarize(rows: Sequence[Mapping]) -> list[dict]:
    """Per model×feature (×head/augmented when those vary): mean/std over seeds."""
    keys = _group_keys(rows)
    groups: dict[tuple, list[Mapping]] = {}
    for r in rows:
        groups.setdefault(tuple(r.get(k) for k in keys), []).append(r)
    out = []
    for key, rs in groups.items():
        acc_m, acc_s = _mean_std([r["accuracy"] for r in rs])
        f1_m, f1_s = _mean_std([r.get("macro_f1") for r in rs])
        params = [_float(r.get("params")) for r in rs]
        params = [p for p in params if p is not None]
        train_m, _ = _mean_std([_float(r.get("train_seconds")) for r in rs])
        g = dict(zip(keys, key))
        g.update(
            n_seeds=len(rs),
            seeds=[r.get("seed") for r in rs],
            accuracy_mean=acc_m,
            accuracy_std=acc_s,
            macro_f1_mean=f1_m,
            macro_f1_std=f1_s,
            params=int(round(statistics.fmean(params))) if params else None,
            train_seconds_mean=train_m,
            runs=[run_name(r) for r in rs],
        )
        out.append(g)
    return out


def pick_best(summary: Sequence[Mapping]) -> Mapping | None:
    """Highest mean accuracy; ties -> higher mean macro-F1, then fewer parameters."""
    if not summary:
        return None

    def key(g):
        p = g.get("params")
        return (-round(g["accuracy_mean"], 9), -round(g.get("macro_f1_mean") or 0.0, 9),
                p if p is not None else math.inf)

    return min(summary, key=key)


def _best_run(rows: Sequence[Mapping], group: Mapping) -> Mapping:
    keys = [k for k in ("model", "feature", "head", "augmented") if k in group]
    mine = [r for r in rows if all(r.get(k) == group[k] for k in keys)]
    return min(mine, key=lambda r: (-r["accuracy"], -(r.get("macro_f1") or 0.0),
                                    r.get("seed") if isinstance(r.get("seed"), int) else 0))


def _read_confusion(path: Path, names: Sequence[str] | None) -> tuple[list[str], list[list[float]]]:
    with open(path, newline="") as f:
        rows = [r for r in csv.reader(f) if r]
    cols = [c.strip() for c in rows[0][1:]]
    body = {r[0].strip(): [float(x) for x in r[1:]] for r in rows[1:]}
    order = cols if set(body) == set(cols) else list(body)
    matrix = [body[k] for k in order]
    labels = list(order)
    # Numeric class indices in the file: show speaker names from labels.json instead.
    if names and all(x.isdigit() for x in labels) and max(int(x) for x in labels) < len(names):
        labels = [names[int(x)] for x in labels]
    return labels, matrix


def _read_history(path: Path) -> list[dict]:
    rows = _read_rows(path)
    rows = [r for r in rows if _float(r.get("epoch")) is not None]
    for r in rows:
        for k in ("train_loss", "train_acc", "val_loss", "val_acc"):
            r[k] = _float(r.get(k))
    _as_fraction(rows, ("train_acc", "val_acc"))
    return rows


def _json_safe(obj):
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


def _dataset_name(config_text: str | None) -> str | None:
    if not config_text:
        return None
    try:
        import yaml

        cfg = yaml.safe_load(config_text)
        return str(cfg["data"]["path"])
    except Exception:  # noqa: BLE001 - a config we cannot read only loses the dataset name
        return None


# --------------------------------------------------------------------------- formatting


def _pct(v, digits: int = 1) -> str:
    return "–" if v is None else f"{100 * v:.{digits}f}"


def _pm(mean, std) -> str:
    return "–" if mean is None else f"{100 * mean:.1f} ± {100 * (std or 0.0):.1f}"


def _int(v) -> str:
    f = _float(v)
    return "–" if f is None else f"{f:,.0f}"


def _fnum(v, fmt: str = ".3g") -> str:
    f = _float(v)
    return "–" if f is None else format(f, fmt)


def _kb(v) -> str:
    f = _float(v)
    return "–" if f is None else f"{f / 1024:,.1f}"


def _series_label(g: Mapping) -> str:
    s = str(g["model"])
    if "head" in g:
        s += f" [{g['head']}]"
    if "augmented" in g:
        s += " +aug" if g["augmented"] else " no-aug"
    return s


# --------------------------------------------------------------------------- report


def write_report(run_dir: Path) -> Path:
    """Write report.html, results.json and the chart PNGs into `run_dir`; return the HTML path."""
    from . import charts  # matplotlib is only needed here

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run folder not found: {run_dir}")
    written: list[str] = []

    def chart(name: str, fn, *args, alt: str, caption: str | None = None, kw: dict | None = None) -> str:
        out = run_dir / CHARTS[name]
        try:
            fn(*args, out=out, **(kw or {}))
        except Exception as e:  # noqa: BLE001 - one bad input must not lose the whole report
            log.warning("report: chart %s not drawn: %s", name, e, exc_info=not isinstance(e, ValueError))
            out.unlink(missing_ok=True)
            return H.note(f"Chart not drawn ({type(e).__name__}: {e}).")
        written.append(out.name)
        return H.figure(out, alt, caption)

    def skipped(name: str, text: str) -> str:
        (run_dir / CHARTS[name]).unlink(missing_ok=True)  # no stale chart from an earlier report
        return H.note(text)

    # ---- inputs
    config_text = (run_dir / "config.yaml").read_text() if (run_dir / "config.yaml").is_file() else None
    names: list[str] = []
    if (run_dir / "labels.json").is_file():
        names = [str(x) for x in read_json(run_dir / "labels.json")]
    rows = load_results(run_dir / "results.csv") if (run_dir / "results.csv").is_file() else []
    summary = summarize(rows)
    best = pick_best(summary)
    best_run = _best_run(rows, best) if best else None
    best_name = run_name(best_run) if best_run else None
    verification = read_json(run_dir / "verification.json") if (run_dir / "verification.json").is_file() else None
    resources = _read_rows(run_dir / "resources.csv") if (run_dir / "resources.csv").is_file() else None
    robustness = None
    if (run_dir / "robustness.csv").is_file():
        robustness = _read_rows(run_dir / "robustness.csv")
        for r in robustness:
            r["model"], r["feature"] = str(r.get("model")), str(r.get("feature"))
            r["augmented"] = _bool(r.get("augmented"))
            r["noise"] = str(r.get("noise") if r.get("noise") is not None else "none")
            r["snr_db"] = float(r["snr_db"]) if r.get("snr_db") is not None else math.inf
        robustness = [r for r in robustness if _float(r.get("accuracy")) is not None]
        _as_fraction(robustness, ("accuracy", "macro_f1"))

    # Run folders in results order, then any others that hold per-run files.
    run_names = list(dict.fromkeys(run_name(r) for r in rows))
    others = sorted(p.name for p in run_dir.iterdir()
                    if p.is_dir() and ((p / "history.csv").is_file() or (p / "metrics.json").is_file()))
    run_names += [n for n in others if n not in run_names]
    best_epoch_from_results = {run_name(r): r.get("best_epoch")
                               for r in rows}

    dataset = _dataset_name(config_text) or "unknown dataset"
    generated = _dt.datetime.now().astimezone()
    sections: list[tuple[str, str, str]] = []

    # ---- header: dataset, date, best model line
    spk = f"{len(names)} speakers" + (f" ({', '.join(names)})" if 0 < len(names) <= 12 else "") if names else ""
    meta = " · ".join(x for x in (f"Dataset: {dataset}", spk, f"run folder: {run_dir.name}",
                                   f"generated {generated:%Y-%m-%d %H:%M %Z}".strip()) if x)
    header = H.para(meta, "meta")
    if best:
        header += (
            '<div class="best"><b>Best model:</b> '
            + H.esc(f"{_series_label(best)} on {best['feature']} — accuracy {_pm(best['accuracy_mean'], best['accuracy_std'])} %, "
                    f"macro-F1 {_pm(best['macro_f1_mean'], best['macro_f1_std'])} % over {best['n_seeds']} seed(s)"
                    + (f", {_int(best['params'])} parameters" if best.get("params") is not None else "")
                    + f". Best single run: {best_name} ({_pct(best_run['accuracy'])} % accuracy).")
            + "</div>\n"
        )
    else:
        header += H.note("No results.csv (or no rows in it): no results, best model or per-run sections.")

    # ---- results table
    if summary:
        extra = [k for k in ("head", "augmented") if k in summary[0]]
        order = sorted(range(len(summary)), key=lambda i: (-summary[i]["accuracy_mean"], i))
        head_row = ["Model", "Feature", *[k.capitalize() for k in extra], "Accuracy (%)", "Macro-F1 (%)",
                    "Seeds (n)", "Parameters", "Train time (s, mean)"]
        body = []
        for i in order:
            g = summary[i]
            body.append([g["model"], g["feature"], *[("yes" if g[k] else "no") if k == "augmented" else g[k] for k in extra],
                         _pm(g["accuracy_mean"], g["accuracy_std"]), _pm(g["macro_f1_mean"], g["macro_f1_std"]),
                         g["n_seeds"], _int(g["params"]), _fnum(g["train_seconds_mean"], ".1f")])
        best_i = order.index(summary.index(best))
        text = H.table(head_row, body, highlight=[best_i], text_cols=range(2 + len(extra)))
        text += H.para("Mean ± sample standard deviation over seeds on the test split, sorted by accuracy; "
                       "the best group is highlighted.", "meta")
        sections.append(("results", "Results", text))
        groups = [{**g, "series": _series_label(g)} for g in summary]
        sections.append(("accuracy", "Accuracy comparison", chart(
            "accuracy", charts.accuracy_bars, groups, alt="Accuracy by model and feature",
            caption="Bars: mean test accuracy over seeds; error bars: ±1 std. The y axis is zoomed to the data.")))
    else:
        sections.append(("results", "Results", H.note("Skipped: results.csv not found or empty.")))
        sections.append(("accuracy", "Accuracy comparison", skipped("accuracy", "Skipped: no results.")))

    # ---- best run: confusion + per-speaker
    best_dir = run_dir / best_name if best_name else None
    if best_dir is not None and (best_dir / "confusion.csv").is_file():
        labels, matrix = _read_confusion(best_dir / "confusion.csv", names)
        conf = chart("confusion", charts.confusion_heatmap, labels, matrix,
                     alt=f"Confusion matrix of {best_name}", kw={"title": f"Confusion matrix — {best_name}"},
                     caption=f"Test-set confusion matrix of the best run, {best_name} (counts of clips).")
    else:
        conf = skipped("confusion", f"Skipped: no confusion.csv for the best run ({best_name or 'none'}).")
    sections.append(("confusion", f"Confusion matrix — best run{f' ({best_name})' if best_name else ''}", conf))

    metrics = None
    if best_dir is not None and (best_dir / "metrics.json").is_file():
        metrics = read_json(best_dir / "metrics.json")
    per = (metrics or {}).get("per_speaker") or {}
    if per:
        per_rows = [dict(v) for v in per.values()]
        _as_fraction(per_rows, ("precision", "recall", "f1"))
        per = dict(zip(per.keys(), per_rows))
        order_names = [n for n in names if n in per] + [n for n in per if n not in names]
        body = [[n, _pct(_float(per[n].get("precision"))), _pct(_float(per[n].get("recall"))),
                 _pct(_float(per[n].get("f1"))), _int(per[n].get("support"))] for n in order_names]
        text = H.table(["Speaker", "Precision (%)", "Recall (%)", "F1 (%)", "Support (test clips)"], body)
    else:
        text = H.note(f"Skipped: no per-speaker metrics (metrics.json) for the best run ({best_name or 'none'}).")
    sections.append(("per-speaker", "Per-speaker precision and recall — best run", text))

    # ---- robustness
    if robustness:
        text = chart("robustness", charts.snr_curves, robustness, alt="Accuracy versus SNR",
                     caption="Mean test accuracy over seeds at each SNR, one panel per noise type; "
                             "'clean' is the accuracy without added noise.")
    else:
        text = skipped("robustness", "Skipped: robustness.csv not found.")
    sections.append(("robustness", "Robustness to noise", text))

    # ---- training curves
    histories, best_epochs = {}, {}
    for n in run_names:
        if (run_dir / n / "history.csv").is_file():
            histories[n] = _read_history(run_dir / n / "history.csv")
            be = None
            if (run_dir / n / "metrics.json").is_file():
                be = read_json(run_dir / n / "metrics.json").get("best_epoch")
            best_epochs[n] = _float(be if be is not None else best_epoch_from_results.get(n))
    if any(histories.values()):
        text = chart("training", charts.training_curves, histories, best_epochs, alt="Training curves",
                     caption="Loss and accuracy per epoch (train solid, validation dashed); "
                             "the dotted vertical line is the early-stopping best epoch.")
    else:
        text = skipped("training", "Skipped: no history.csv in any run folder.")
    sections.append(("training", "Training curves", text))

    # ---- resources
    if resources:
        body = [[r.get("run") or f"{r.get('model')}-{r.get('feature')}", _int(r.get("params")),
                 _kb(r.get("size_bytes")), _kb(r.get("onnx_size_bytes")), _fnum(r.get("latency_ms_b1")),
                 _fnum(r.get("latency_ms_b1_onnx")), _fnum(r.get("throughput_clips_s"), ",.0f"),
                 _fnum(r.get("train_seconds"), ",.1f"), _fnum(r.get("peak_mem_mb"), ",.0f")] for r in resources]
        text = H.table(["Run", "Parameters", "PyTorch size (KB)", "ONNX size (KB)",
                        "Latency, batch 1, PyTorch (ms)", "Latency, batch 1, onnxruntime (ms)",
                        "Throughput (clips/s)", "Train time (s)", "Training-step memory (MB)"],
                       body, text_cols=(0,))
        data = [{"name": r.get("run") or f"{r.get('model')}-{r.get('feature')}", **{k: _float(r.get(k)) for k in
                 ("params", "size_bytes", "onnx_size_bytes", "latency_ms_b1", "train_seconds")}}
                for r in resources]
        text += chart("resources", charts.resources_chart, data, alt="Model resources",
                      caption="Parameters, file size, batch-1 latency and training time per model "
                              "(log scale where values span a wide range).")
    else:
        text = skipped("resources", "Skipped: resources.csv not found.")
    sections.append(("resources", "Resources", text))

    # ---- verification
    if verification:
        v = dict(verification)
        for k in _RATE_KEYS:
            if _float(v.get(k)) is not None and float(v[k]) > 1.0:
                v[k] = float(v[k]) / 100.0
        cols = [("Model", lambda: v.get("model", "–")),
                ("EER (%)", lambda: _pct(_float(v.get("eer")), 2)),
                ("minDCF", lambda: _fnum(v.get("min_dcf"), ".3f")),
                ("Threshold", lambda: _fnum(v.get("threshold"), ".3f")),
                ("Open-set: known accuracy (%)", lambda: _pct(_float(v.get("open_set_known_accuracy")))),
                ("Open-set: unknown rejection (%)", lambda: _pct(_float(v.get("open_set_unknown_rejection"))))]
        text = H.table([c for c, _ in cols], [[f() for _, f in cols]])
        curves = []
        det = v.get("det") or {}
        if det.get("fpr") and det.get("fnr"):
            curves.append({"label": str(v.get("model", "model")), "fpr": det["fpr"], "fnr": det["fnr"],
                           "eer": _float(v.get("eer"))})
        for h in v.get("heads") or []:
            hd = h.get("det") or {}
            if hd.get("fpr") and hd.get("fnr"):
                curves.append({"label": f"head: {h.get('head')}", "fpr": hd["fpr"], "fnr": hd["fnr"],
                               "eer": _float(h.get("eer"))})
        if curves:
            text += chart("det", charts.det_curve, curves, alt="DET curve",
                          kw={"title": f"DET curve — {v.get('model', 'verification')}"},
                          caption="Detection error trade-off (false rejections vs false acceptances) on "
                                  "normal-deviate axes; the dot marks the EER.")
        else:
            text += skipped("det", "DET curve skipped: verification.json has no det points.")
        if v.get("heads"):
            def _r(x):
                e = _float(x.get("eer"))
                return _pct(e / 100.0 if e is not None and e > 1 else e, 2)
            text += "<h3>Classification heads</h3>\n" + H.table(
                ["Head", "EER (%)", "minDCF"],
                [[h.get("head"), _r(h), _fnum(h.get("min_dcf"), ".3f")] for h in v["heads"]])
        if v.get("anchors"):
            def _r(x):
                e = _float(x.get("eer"))
                return _pct(e / 100.0 if e is not None and e > 1 else e, 2)
            own = [[f"voxprint: {v.get('model', 'this run')}", _pct(_float(v.get("eer")), 2),
                    _fnum(v.get("min_dcf"), ".3f")]]
            text += "<h3>Comparison with pretrained anchors</h3>\n" + H.table(
                ["System", "EER (%)", "minDCF"],
                own + [[a.get("name"), _r(a), _fnum(a.get("min_dcf"), ".3f")] for a in v["anchors"]],
                highlight=[0])
    else:
        text = skipped("det", "Skipped: verification.json not found.")
    sections.append(("verification", "Speaker verification", text))

    # ---- config
    if config_text is not None:
        text = H.details("Resolved config (config.yaml)", config_text)
    else:
        text = H.note("Skipped: config.yaml not found.")
    sections.append(("config", "Configuration", text))

    # ---- outputs
    results = {
        "run_dir": run_dir.name,
        "dataset": dataset,
        "generated": generated.isoformat(timespec="seconds"),
        "speakers": names,
        "std": "sample standard deviation over seeds (ddof=1); 0 for a single seed",
        "summary": summary,
        "best": None if best is None else {**best, "run": best_name, "seed": best_run.get("seed"),
                                          "run_accuracy": best_run["accuracy"],
                                          "run_macro_f1": best_run.get("macro_f1")},
        "verification": verification,
        "resources": resources,
        "charts": written,
    }
    write_json(run_dir / RESULTS_NAME, _json_safe(results))
    page = H.document(f"voxprint report — {run_dir.name}", header, sections)
    out = run_dir / REPORT_NAME
    atomic_write_text(out, page)
    return out
