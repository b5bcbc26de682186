"""Report charts.

Every chart is one function that takes data (never paths to read), writes one PNG to
`out` atomically and returns `out`. Accuracies, rates and F1 are passed as fractions
in [0, 1] and drawn as percentages.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from statistics import NormalDist

import matplotlib

matplotlib.use("Agg")  # before pyplot: headless, no display needed

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from ..io import atomic_write_bytes

DPI = 110
_RC = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "figure.dpi": DPI,
}
# Log scale when the largest value is this many times the smallest one.
WIDE_RANGE = 30.0


def _colors(n: int) -> list:
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(n)]


def _save(fig, out) -> Path:
    out = Path(out)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", facecolor="white")
    plt.close(fig)
    atomic_write_bytes(out, buf.getvalue())
    return out


# --------------------------------------------------------------------------- accuracy


def accuracy_bars(groups: Sequence[Mapping], out) -> Path:
    """Grouped bars: x = feature, one bar per series (model), error bars = std over seeds.

    `groups`: dicts with `series` (usually the model name), `feature`, `accuracy_mean`,
    `accuracy_std` (fractions). The y axis is zoomed to the data; values are annotated.
    """
    if not groups:
        raise ValueError("no results to plot")
    features = list(dict.fromkeys(g["feature"] for g in groups))
    series = list(dict.fromkeys(g["series"] for g in groups))
    by_key = {(g["series"], g["feature"]): g for g in groups}
    means = [100 * g["accuracy_mean"] for g in groups]
    stds = [100 * (g.get("accuracy_std") or 0.0) for g in groups]
    lo = min(m - s for m, s in zip(means, stds))
    hi = max(m + s for m, s in zip(means, stds))
    span = max(hi - lo, 5.0)
    ymin = max(0.0, math.floor((lo - 0.6 * span) / 5) * 5)
    ymax = hi + 0.25 * span

    width = 0.8 / len(series)
    x = np.arange(len(features))
    with plt.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(max(5.0, 1.1 + 0.55 * len(features) * len(series) + 1.5), 3.8))
        for i, (name, color) in enumerate(zip(series, _colors(len(series)))):
            xs, ms, ss = [], [], []
            for j, feat in enumerate(features):
                g = by_key.get((name, feat))
                if g is None:
                    continue
                xs.append(x[j] + (i - (len(series) - 1) / 2) * width)
                ms.append(100 * g["accuracy_mean"])
                ss.append(100 * (g.get("accuracy_std") or 0.0))
            bars = ax.bar(xs, ms, width * 0.92, yerr=ss, capsize=3, color=color, label=name,
                          error_kw={"elinewidth": 1, "ecolor": "#333"}, zorder=3)
            for b, m, s in zip(bars, ms, ss):
                ax.annotate(f"{m:.1f}", (b.get_x() + b.get_width() / 2, m + s),
                            xytext=(0, 2), textcoords="offset points", ha="center", va="bottom",
                            fontsize=7)
        ax.set_xticks(x, features)
        ax.set_ylim(ymin, ymax)
        ax.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 5, 10]))
        ax.set_yticks([t for t in ax.get_yticks() if ymin <= t <= 100])
        ax.set_xlabel("Feature")
        ax.set_ylabel("Test accuracy (%)" + (f" — axis starts at {ymin:g}" if ymin > 0 else ""))
        ax.set_title("Test accuracy by model and feature (mean ± std over seeds)")
        ax.grid(axis="x", visible=False)
        ax.legend(title="Model", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        return _save(fig, out)


# --------------------------------------------------------------------------- confusion


def confusion_heatmap(labels: Sequence[str], matrix, out, title: str = "Confusion matrix") -> Path:
    """Seaborn heatmap of counts; rows = true speaker, columns = predicted speaker."""
    import seaborn as sns

    m = np.asarray(matrix, dtype=float)
    n = len(labels)
    if m.shape != (n, n):
        raise ValueError(f"confusion matrix is {m.shape}, expected {n}x{n} for {n} labels")
    side = float(min(max(4.0, 0.5 * n + 2.2), 18.0))
    annot = n <= 25
    integral = bool(np.all(np.equal(np.mod(m, 1), 0)))
    with plt.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(side + 1.2, side))
        sns.heatmap(m, ax=ax, cmap="Blues", annot=annot, fmt=".0f" if integral else ".2f",
                    square=True, linewidths=0.5, linecolor="white",
                    xticklabels=list(labels), yticklabels=list(labels),
                    cbar_kws={"label": "Test clips (count)", "shrink": 0.8})
        ax.set_xlabel("Predicted speaker")
        ax.set_ylabel("True speaker")
        ax.set_title(title)
        ax.tick_params(axis="x", rotation=45 if n > 4 else 0)
        ax.tick_params(axis="y", rotation=0)
        ax.grid(False)
        return _save(fig, out)


# --------------------------------------------------------------------------- robustness


def _is_clean(row: Mapping) -> bool:
    snr = row.get("snr_db")
    noise = str(row.get("noise") or "").strip().lower()
    return noise in ("", "none", "clean") or snr is None or not math.isfinite(float(snr))


def snr_curves(rows: Sequence[Mapping], out) -> Path:
    """Accuracy vs. SNR: one panel per noise type, one line per model×feature.

    `rows`: dicts with model, feature, augmented (bool), noise, snr_db (float; clean rows
    have noise "none" and snr_db inf), accuracy (fraction). Seeds are averaged (band =
    std). The clean accuracy is drawn as a separate marker at the right ("clean"). When
    both augmented and non-augmented runs exist they are solid and dashed lines.
    """
    noisy = [r for r in rows if not _is_clean(r)]
    clean = [r for r in rows if _is_clean(r)]
    if not noisy:
        raise ValueError("no noisy rows (only clean accuracy) to plot against SNR")
    noises = list(dict.fromkeys(str(r["noise"]) for r in noisy))
    series = list(dict.fromkeys((r["model"], r["feature"]) for r in rows))
    augs = sorted({bool(r.get("augmented")) for r in rows}, reverse=True)
    both = len(augs) > 1
    snrs = sorted({float(r["snr_db"]) for r in noisy})
    step = float(np.median(np.diff(snrs))) if len(snrs) > 1 else 5.0
    x_clean = snrs[-1] + max(step, 1.0) * 1.2
    colors = dict(zip(series, _colors(len(series))))

    def agg(sel):
        vals = [100 * float(r["accuracy"]) for r in sel]
        return float(np.mean(vals)), float(np.std(vals))

    with plt.rc_context(_RC):
        fig, axes = plt.subplots(1, len(noises), figsize=(4.2 * len(noises) + 0.5, 3.8),
                                 sharey=True, squeeze=False)
        for k, (ax, noise) in enumerate(zip(axes[0], noises)):
            for s in series:
                for aug in augs:
                    sel = [r for r in noisy if str(r["noise"]) == noise
                           and (r["model"], r["feature"]) == s and bool(r.get("augmented")) == aug]
                    ls = "--" if (both and not aug) else "-"
                    xs, ys, sd = [], [], []
                    for snr in snrs:
                        at = [r for r in sel if float(r["snr_db"]) == snr]
                        if at:
                            m, d = agg(at)
                            xs.append(snr)
                            ys.append(m)
                            sd.append(d)
                    if xs:
                        ax.plot(xs, ys, ls=ls, marker="o", ms=3.5, color=colors[s], lw=1.4)
                        if any(sd):
                            ax.fill_between(xs, np.subtract(ys, sd), np.add(ys, sd),
                                            color=colors[s], alpha=0.12, lw=0)
                    cl = [r for r in clean if (r["model"], r["feature"]) == s
                          and bool(r.get("augmented")) == aug]
                    if cl:
                        c, _ = agg(cl)
                        ax.plot([x_clean], [c], marker="D" if aug or not both else "s", ms=5,
                                color=colors[s], mfc=colors[s] if (aug or not both) else "white",
                                ls="none")
                        if xs:
                            ax.plot([xs[-1], x_clean], [ys[-1], c], ls=":", lw=0.8,
                                    color=colors[s], alpha=0.6)
            ax.axvline((snrs[-1] + x_clean) / 2, color="#999", lw=0.8, ls=":")
            ax.set_xticks(snrs + [x_clean], [f"{v:g}" for v in snrs] + ["clean"])
            ax.set_xlabel("Signal-to-noise ratio (dB)")
            if k == 0:
                ax.set_ylabel("Test accuracy (%)")
            ax.set_title(f"Noise: {noise}")
        handles = [Line2D([], [], color=colors[s], marker="o", ms=4, label=f"{s[0]} / {s[1]}")
                   for s in series]
        if both:
            handles += [Line2D([], [], color="#444", ls="-", label="trained with augmentation"),
                        Line2D([], [], color="#444", ls="--", label="trained without augmentation")]
        axes[0][-1].legend(handles=handles, title="Model / feature", loc="upper left",
                           bbox_to_anchor=(1.02, 1.0), frameon=False)
        fig.suptitle("Test accuracy vs. SNR (mean over seeds; band = ±1 std)", y=1.02)
        return _save(fig, out)


# --------------------------------------------------------------------------- training


def training_curves(histories: Mapping[str, Sequence[Mapping]], best_steps: Mapping[str, int | None],
                    out) -> Path:
    """Small multiples: per run a loss panel and an accuracy panel (train and val).

    `histories`: run name -> rows with step, train_loss, train_acc, val_loss, val_acc
    (accuracies as fractions; missing values None or NaN). `best_steps`: run name -> the
    step whose weights were kept, marked with a vertical line.
    """
    runs = [r for r in histories if histories[r]]
    if not runs:
        raise ValueError("no training histories")
    per_row = 1 if len(runs) == 1 else 2 if len(runs) <= 8 else 3
    nrows = math.ceil(len(runs) / per_row)
    with plt.rc_context({**_RC, "font.size": 7, "axes.titlesize": 8, "axes.labelsize": 7,
                         "xtick.labelsize": 6.5, "ytick.labelsize": 6.5}):
        fig, axes = plt.subplots(nrows, 2 * per_row, figsize=(2.6 * 2 * per_row, 2.1 * nrows + 0.4),
                                 squeeze=False)
        for i, run in enumerate(runs):
            rows = histories[run]
            ax_l, ax_a = axes[i // per_row][2 * (i % per_row)], axes[i // per_row][2 * (i % per_row) + 1]
            ep = [float(r["step"]) for r in rows]
            for ax, key, scale in ((ax_l, "loss", 1.0), (ax_a, "acc", 100.0)):
                for split, ls, color in (("train", "-", "#1f77b4"), ("val", "--", "#d62728")):
                    pts = [(e, scale * float(r[f"{split}_{key}"])) for e, r in zip(ep, rows)
                           if r.get(f"{split}_{key}") is not None and math.isfinite(float(r[f"{split}_{key}"]))]
                    if pts:
                        ax.plot(*zip(*pts), ls=ls, color=color, lw=1.2)
                best = best_steps.get(run)
                if best is not None:
                    ax.axvline(float(best), color="#2ca02c", ls=":", lw=1.2)
                ax.set_xlabel("Optimizer step")
                ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
            ax_l.set_ylabel("Loss")
            ax_a.set_ylabel("Accuracy (%)")
            ax_l.set_title(f"{run}: loss")
            ax_a.set_title(f"{run}: accuracy")
        for j in range(len(runs), nrows * per_row):
            axes[j // per_row][2 * (j % per_row)].axis("off")
            axes[j // per_row][2 * (j % per_row) + 1].axis("off")
        handles = [Line2D([], [], color="#1f77b4", label="train"),
                   Line2D([], [], color="#d62728", ls="--", label="validation"),
                   Line2D([], [], color="#2ca02c", ls=":", label="weights kept (lowest validation loss)")]
        height = fig.get_figheight()
        fig.suptitle("Training curves per run", y=1 - 0.06 / height, va="top", fontsize=10)
        fig.legend(handles=handles, loc="center", ncol=3, frameon=False,
                   bbox_to_anchor=(0.5, 1 - 0.32 / height), fontsize=8)
        fig.tight_layout(rect=(0, 0, 1, 1 - 0.42 / height))
        return _save(fig, out)


# --------------------------------------------------------------------------- resources


def _hbar_panel(ax, names, series: Mapping[str, Sequence[float | None]], xlabel, title, fmt):
    """Horizontal bars (one group per name, one bar per series); log x when the range is wide."""
    vals = [v for vs in series.values() for v in vs if v is not None and v > 0]
    if not vals:
        ax.set_title(title)
        ax.text(0.5, 0.5, "not recorded", ha="center", va="center", transform=ax.transAxes,
                color="#777")
        ax.set_xticks([])
        ax.set_yticks([])
        return
    log = max(vals) / min(vals) > WIDE_RANGE
    h = 0.8 / len(series)
    y = np.arange(len(names))
    palette = _colors(max(len(series), 2)) if len(series) > 1 else ["#4c72b0"]
    for i, ((label, vs), color) in enumerate(zip(series.items(), palette)):
        ys = [y[k] + (i - (len(series) - 1) / 2) * h for k, v in enumerate(vs) if v is not None]
        xs = [v for v in vs if v is not None]
        bars = ax.barh(ys, xs, h * 0.9, color=color, label=label, zorder=3)
        for b, v in zip(bars, xs):
            ax.annotate(fmt(v), (b.get_width(), b.get_y() + b.get_height() / 2), xytext=(2, 0),
                        textcoords="offset points", va="center", fontsize=6.5)
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    if log:
        ax.set_xscale("log")
        ax.set_xlim(min(vals) / 2, max(vals) * 4)
    else:
        ax.set_xlim(0, max(vals) * 1.25)
    ax.set_xlabel(xlabel + (" — log scale" if log else ""))
    ax.set_title(title)
    ax.grid(axis="y", visible=False)
    if len(series) > 1:
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=7)


def _si(v: float) -> str:
    for div, suf in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:.3g}{suf}"
    return f"{v:.3g}"


def resources_chart(rows: Sequence[Mapping], out) -> Path:
    """Four panels: parameters, model size (PyTorch vs ONNX, KB), batch-1 latency (ms),
    training time (s). `rows`: dicts with `name` and params, size_bytes, onnx_size_bytes,
    latency_ms_b1, train_seconds (None where not recorded)."""
    if not rows:
        raise ValueError("no resource rows")
    names = [str(r["name"]) for r in rows]

    def col(key, scale=1.0):
        out_ = []
        for r in rows:
            v = r.get(key)
            out_.append(float(v) * scale if v is not None and math.isfinite(float(v)) else None)
        return out_

    with plt.rc_context(_RC):
        h = max(2.6, 0.32 * len(names) + 1.2)
        fig, axes = plt.subplots(2, 2, figsize=(10.5, 2 * h + 0.6))
        _hbar_panel(axes[0][0], names, {"parameters": col("params")}, "Trainable parameters (count)",
                    "Model parameters", _si)
        _hbar_panel(axes[0][1], names,
                    {"PyTorch": col("size_bytes", 1 / 1024), "ONNX": col("onnx_size_bytes", 1 / 1024)},
                    "Model file size (KB)", "Model size on disk", lambda v: f"{v:,.0f}")
        _hbar_panel(axes[1][0], names, {"latency": col("latency_ms_b1")}, "Latency per clip, batch 1 (ms)",
                    "Inference latency (batch size 1)", lambda v: f"{v:.3g}")
        _hbar_panel(axes[1][1], names, {"training": col("train_seconds")}, "Training time (s)",
                    "Training time", lambda v: f"{v:,.0f}" if v >= 100 else f"{v:.3g}")
        fig.suptitle("Model resources", y=1.0)
        fig.tight_layout()
        return _save(fig, out)


# --------------------------------------------------------------------------- DET


_DET_TICKS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8]


def det_curve(curves: Sequence[Mapping], out, title: str = "DET curve") -> Path:
    """DET plot on normal-deviate axes. `curves`: dicts with `label`, `fpr`, `fnr`
    (fractions, same length) and optional `eer` (fraction, from voxprint.verification.eer), drawn
    where it lies: on the diagonal, fpr = fnr = eer."""
    curves = [c for c in curves if c.get("fpr") and c.get("fnr")]
    if not curves:
        raise ValueError("no DET points")
    nd = NormalDist()
    eps = 1e-5

    def ppf(p):
        return np.array([nd.inv_cdf(min(max(float(v), eps), 1 - eps)) for v in p])

    all_p = [float(v) for c in curves for v in list(c["fpr"]) + list(c["fnr"]) if float(v) > 0]
    pmin = min([0.01] + all_p)
    lo_tick = max([t for t in _DET_TICKS if t <= pmin] or [_DET_TICKS[0]])
    lo, hi = nd.inv_cdf(lo_tick * 0.8), nd.inv_cdf(0.6)
    ticks = [t for t in _DET_TICKS if lo_tick <= t <= 0.6]
    with plt.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(5.2, 4.8))
        for c, color in zip(curves, _colors(len(curves))):
            fpr, fnr = np.asarray(c["fpr"], float), np.asarray(c["fnr"], float)
            label = str(c.get("label", ""))
            eer = c.get("eer")
            if eer is not None:
                label += f" (EER {100 * float(eer):.1f} %)"
            ax.plot(ppf(fpr), ppf(fnr), color=color, lw=1.6, label=label)
            if eer is not None:
                ax.plot(ppf([eer]), ppf([eer]), "o", color=color, ms=5)
        ax.plot([lo, hi], [lo, hi], color="#999", ls=":", lw=0.8, label="FAR = FRR")
        labels = [f"{100 * t:g}" for t in ticks]
        ax.set_xticks(ppf(ticks), labels)
        ax.set_yticks(ppf(ticks), labels)
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_xlabel("False acceptance rate (%) — normal-deviate scale")
        ax.set_ylabel("False rejection rate (%) — normal-deviate scale")
        ax.set_title(title)
        ax.legend(loc="upper right", frameon=True)
        ax.set_aspect("equal")
        return _save(fig, out)
