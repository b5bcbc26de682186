"""Markdown tables and charts of a run folder, written into the README between markers:

    <!-- results:NAME:start --> ... <!-- results:NAME:end -->

`voxprint report RUN --readme README.md --section NAME` regenerates that block (and copies
the charts into docs/results/NAME/), so the README's numbers always come from a real run.
"""

from __future__ import annotations

import math
import re
import shutil
from collections import defaultdict
from pathlib import Path

from ..errors import VoxprintError
from ..io import atomic_write_text, read_csv, read_json
from . import CHARTS, run_name, write_report


def _f(v, digits=3) -> str:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return "–"
    return "–" if math.isnan(x) else f"{x:.{digits}f}"


def _mean_std(vals: list[float]) -> str:
    if len(vals) == 1:
        return f"{vals[0]:.4f}"
    m = sum(vals) / len(vals)
    s = math.sqrt(sum((v - m) ** 2 for v in vals) / (len(vals) - 1))
    return f"{m:.4f} ± {s:.4f}"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def _label(r: dict) -> str:
    extra = ("-aam" if r.get("head") == "aam" else "") + ("" if str(r.get("augmented")) in ("True", "true") else "-noaug")
    return f"{r['model']}{extra}"


def accuracy_table(results: list[dict]) -> str:
    cells: dict[tuple, list] = defaultdict(list)
    for r in results:
        cells[(_label(r), r["feature"])].append((float(r["accuracy"]), float(r["macro_f1"])))
    models = list(dict.fromkeys(_label(r) for r in results))
    feats = list(dict.fromkeys(r["feature"] for r in results))
    rows = []
    for m in models:
        row = [f"**{m}**"]
        for f in feats:
            v = cells.get((m, f))
            row.append(f"{_mean_std([a for a, _ in v])} / {_mean_std([b for _, b in v])}" if v else "–")
        rows.append(row)
    return _table(["model \\ feature"] + [f"{f} (accuracy / macro-F1)" for f in feats], rows)


def robustness_table(rows: list[dict]) -> str:
    conds = list(dict.fromkeys((r["noise"], r["snr_db"]) for r in rows))
    by: dict[str, dict] = defaultdict(dict)
    for r in rows:
        by[run_name(r)][(r["noise"], r["snr_db"])] = r["accuracy"]
    head = ["run"] + ["clean" if n == "none" else f"{n} {float(s):g} dB" for n, s in conds]
    return _table(head, [[k] + [_f(v.get(c)) for c in conds] for k, v in by.items()])


def resources_table(rows: list[dict]) -> str:
    return _table(
        ["run", "params", "model.pt KB", "ONNX KB", "b1 latency ms (torch)", "b1 latency ms (onnx)",
         "throughput clips/s", "train s", "train-step MB"],
        [[r.get("run") or f"{r['model']}-{r['feature']}", r["params"], f"{int(r['size_bytes']) / 1024:.0f}", f"{int(r['onnx_size_bytes']) / 1024:.0f}",
          _f(r["latency_ms_b1"]), _f(r.get("latency_ms_b1_onnx")), _f(r["throughput_clips_s"], 0),
          _f(r["train_seconds"], 1), _f(r["peak_mem_mb"], 0)] for r in rows])


def verification_md(v: dict) -> str:
    sp = v["speakers"]
    lines = [f"Unseen-speaker study on {' + '.join(v['datasets'])} at {v['sample_rate']} Hz: "
             f"{len(sp['training'])} training speakers; never seen in training: "
             f"{', '.join(sp['enrolled'])} (enrolled from {v.get('enroll_clips', 10)} clips each) and "
             f"{', '.join(sp['unknown'])} (never enrolled). Threshold calibrated on the training speakers' "
             "validation clips.", ""]
    rows = [[f"voxprint {h['model']} ({h['head']})", _f(h["eer"], 4), _f(h["min_dcf"], 4),
             _f(h["open_set_known_accuracy"]), _f(h["open_set_unknown_rejection"]), h["n_trials"]]
            for h in v["heads"]]
    rows += [[a["name"] + " (cosine)", _f(a["eer"], 4), _f(a["min_dcf"], 4), "–", "–", a.get("n_trials", "")]
             for a in v.get("anchors", [])]
    lines.append(_table(["system", "EER", "minDCF (p=0.01)", "open-set known accuracy", "open-set unknown rejection",
                         "trials"], rows))
    return "\n".join(lines)


def section(run: Path, assets: Path, rel: str) -> str:
    write_report(run)  # refreshes the charts and results.json
    results = read_csv(run / "results.csv")
    parts = [accuracy_table(results)]
    best = read_json(run / "results.json").get("best") or {}
    if best:
        parts.append(f"Best: **{best['run']}** (test accuracy {_f(best.get('run_accuracy'), 4)}, "
                     f"macro-F1 {_f(best.get('run_macro_f1'), 4)}).")
    if (run / "robustness.csv").exists():
        parts += ["Accuracy vs SNR (noise held out from training):", robustness_table(read_csv(run / "robustness.csv"))]
    if (run / "resources.csv").exists():
        parts += ["Resources (batch-1 latency = features + model, one thread, median of 100):",
                  resources_table(read_csv(run / "resources.csv"))]
    if (run / "anchors.json").exists():
        parts += ["The alternatives on the same split (`benchmarks/anchors.py`; white noise is test-only for all; "
                  "ms per 1-s clip, batch 1, one thread):", _table(
                      ["system", "clean", "white 10 dB", "white 0 dB", "ms/clip", "size KB", "params"],
                      [[a["system"], _f(a["clean"]), _f(a["white_10db"]), _f(a["white_0db"]), _f(a["ms_per_clip"]),
                        f"{(a['size_bytes'] or 0) / 1024:.0f}", a["params"]] for a in read_json(run / "anchors.json")])]
    if (run / "verification.json").exists():
        parts.append(verification_md(read_json(run / "verification.json")))
    assets.mkdir(parents=True, exist_ok=True)
    images = []
    for key, name in CHARTS.items():
        if (run / name).exists():
            shutil.copyfile(run / name, assets / name)
            images.append(f"![{key}]({rel}/{name})")
    parts.append(" ".join(images))
    return "\n\n".join(parts)


def update_readme(run: Path, readme: Path, name: str) -> Path:
    start, end = f"<!-- results:{name}:start -->", f"<!-- results:{name}:end -->"
    text = readme.read_text()
    if start not in text or end not in text:
        raise VoxprintError(f"{readme}: no '{start}' ... '{end}' markers to fill")
    rel = f"docs/results/{name}"
    body = section(Path(run), readme.parent / rel, rel)
    new = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: f"{start}\n{body}\n{end}", text, flags=re.S)
    atomic_write_text(readme, new)
    return readme
