"""Markdown tables and charts of a run folder, written to docs/results/NAME.md (results.write_result).

`voxprint report RUN --results NAME` writes that file (and copies the charts into docs/results/NAME/), so
the published numbers and sentences come from a real run: every sentence below is built from the run's
files (`data.collect`). fill_block fills a README block between `<!-- results:NAME:start/end -->` markers
(the README's index of results files).
"""

from __future__ import annotations

import math
import shutil
from collections import defaultdict
from pathlib import Path

from .. import rundir
from ..io import read_json
from . import CHARTS, write_report
from .data import RunData, collect, verification_rows
from .results import fill_block


def _f(v, digits=3) -> str:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return "–"
    return "–" if math.isnan(x) else f"{x:.{digits}f}"


def _table(headers: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def accuracy_table(d: RunData) -> str:
    """Model rows x feature columns: test accuracy / macro-F1, mean ± std over seeds."""
    by = {(_label(g), g["feature"]): g for g in d.groups}
    models = list(dict.fromkeys(_label(g) for g in d.groups))
    feats = list(dict.fromkeys(g["feature"] for g in d.groups))
    rows = []
    for m in models:
        row = [f"**{m}**"]
        for f in feats:
            g = by.get((m, f))
            row.append("–" if g is None else
                       f"{rundir.format_mean_std([r['accuracy'] for r in g['rows']], 4)} / "
                       f"{rundir.format_mean_std([r['macro_f1'] for r in g['rows']], 4)}")
        rows.append(row)
    return _table(["model \\ feature"] + [f"{f} (test accuracy / macro-F1)" for f in feats], rows)


def _label(g: dict) -> str:
    return g["model"] + ("-aam" if g["head"] == "aam" else "") + ("" if g["augmented"] else "-noaug")


def best_sentence(d: RunData) -> str:
    g, b = d.best_group, d.best
    seeds = g["n_seeds"]
    return (f"Best model, chosen by {rundir.BEST_RULE}: **{g['group']}** (test accuracy "
            f"{rundir.format_mean_std([r['accuracy'] for r in g['rows']], 4)}"
            f"{f' over {seeds} seeds' if seeds > 1 else ''}). `voxprint predict --run {d.run.name}` loads "
            f"**{d.best_name}** (validation accuracy {_f(b['val_accuracy'], 4)}, test accuracy {_f(b['accuracy'], 4)}).")


def robustness_table(d: RunData) -> str:
    """Configuration rows (seeds pooled: mean ± std) x condition columns."""
    conds = list(dict.fromkeys((r["noise"], r["snr_db"]) for r in d.robustness))
    by: dict[str, dict] = defaultdict(lambda: defaultdict(list))
    for r in d.robustness:
        row = {"model": r["model"], "feature": r["feature"], "head": r["head"], "augmented": r["augmented"], "seed": 0}
        by[rundir.cell_of(row).group][(r["noise"], r["snr_db"])].append(r["accuracy"])
    head = ["configuration"] + ["clean" if n == "none" else f"{n} {float(s):g} dB" for n, s in conds]
    return _table(head, [[k] + [rundir.format_mean_std(v.get(c, []), 3) for c in conds] for k, v in by.items()])


def noise_sentence(d: RunData) -> str:
    if not d.noise:
        return ""
    parts = [f"`{u.name}` is {u.relation}" for u in d.noise]
    return "Noise in this table: " + "; ".join(parts) + ". SNR is exact, from RMS power."


def resources_table(d: RunData) -> str:
    rows = [[r["run"], f"{int(float(r['params'])):,}", f"{int(r['size_bytes']) / 1024:.0f}",
             f"{int(r['onnx_size_bytes']) / 1024:.0f}", _f(r["latency_ms_b1"]), _f(r["latency_ms_b1_onnx"]), _f(r["throughput_clips_s_b64"], 0),
             _f(r["train_seconds"], 1), _f(r["train_step_rss_mb"], 0)] for r in d.resources]
    return _table(["run", "params", "model.pt KB", "ONNX KB", "latency b1 ms (torch)", "latency b1 ms (onnx)",
                   "throughput b64 clips/s (torch)", "train s", "training-step RSS growth MB"], rows)


def resources_sentence(d: RunData) -> str:
    return (f"Resources. Latency and throughput cover features + model on one thread; latency is the median of "
            f"{d.latency_runs} batch-1 calls on a one-window clip; throughput is batch 64.")


def anchors_md(d: RunData) -> str:
    a = d.anchors
    head = ["system", "clean", *[f"{c['noise']} {c['snr_db']:g} dB" for c in a["conditions"]], "ms per clip",
            "size KB", "params", "trained with noise"]
    rows = [[s["system"], _f(s["clean"]), *[_f(x) for x in s["noisy"]], _f(s["ms_per_clip"]),
             f"{(s['size_bytes'] or 0) / 1024:.0f}", s["params"], "yes" if s["noise_trained"] else "no"]
            for s in a["systems"]]
    return (f"The alternatives on the same test split (`benchmarks/anchors.py`): {a['protocol']}\n\n"
            + _table(head, rows))


def section(d: RunData, assets: Path, rel: str) -> str:
    """The results file's body from the run's data; the charts, already drawn into the run folder
    (write_report), are copied into `assets` and linked as `rel`/NAME."""
    run = d.run
    parts = [accuracy_table(d), best_sentence(d)]
    if d.robustness:
        parts += ["Test accuracy vs SNR (mean ± std over seeds). " + noise_sentence(d), robustness_table(d)]
    if d.resources:
        parts += [resources_sentence(d), resources_table(d)]
    if d.anchors:
        parts.append(anchors_md(d))
    if d.verification:
        parts += [d.verification["protocol"], _table(*verification_rows(d.verification))]
    assets.mkdir(parents=True, exist_ok=True)
    images = []
    for key, name in CHARTS.items():
        if (run / name).exists():
            shutil.copyfile(run / name, assets / name)
            images.append(f"![{key}]({rel}/{name})")
    parts.append(" ".join(images))
    return "\n\n".join(parts)


def update_results(run: Path, name: str, command: str, root: Path | None = None, data: RunData | None = None) -> Path:
    """docs/results/NAME.md from run folder `run` (tables, sentences, charts in docs/results/NAME/), stamped
    with the oldest code that trained one of its models (results.oldest_code, for RUN_INPUTS) and
    with HEAD's, which formats them now (REPORT_INPUTS). `data`: the run's collected data, when its report
    (charts included) was just written from it (commands.report); without it the run is collected and its
    report written here, once either way."""
    from .results import REPORT_INPUTS, RESULTS_DIR, RUN_INPUTS, oldest_code, repo_root, write_result

    root = repo_root(root)
    d = data
    if d is None:
        d = collect(Path(run))
        write_report(Path(run), d)  # refreshes the charts, report.html and results.json
    body = section(d, root / RESULTS_DIR / name, name)
    codes = []
    for r in d.rows:
        m = rundir.model_dir(d.run, r) / rundir.METRICS
        codes.append(read_json(m).get("code") if m.is_file() else None)
    g = d.best_group
    acc = rundir.format_mean_std([r["accuracy"] for r in g["rows"]], 4)
    return write_result(name, body, title=f"{name}: {d.dataset}, {len(d.rows)} trained models", command=command,
                        inputs=RUN_INPUTS, headline=f"best {g['group']}: test accuracy {acc}", root=root,
                        code=oldest_code(root, codes), report_inputs=REPORT_INPUTS)


__all__ = ["fill_block", "section", "update_results", "verification_rows"]
