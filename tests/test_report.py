"""voxprint.report: synthetic run folders -> report.html, results.json, chart PNGs, and a
real headless-Chromium check that the page renders offline with every image decoded."""

from __future__ import annotations

import json
import math
import re
import shutil
import statistics
import subprocess
from pathlib import Path

import numpy as np
import pytest

from voxprint.io import read_json, write_csv, write_json
from voxprint.report import CHARTS, pick_best, summarize, write_report
from voxprint.report.__main__ import main as report_main

SPEAKERS = ["george", "jackson", "lucas"]
MODELS = ["cnn", "lstm"]
FEATURES = ["mfcc", "mel"]
SEEDS = [0, 1]
# (model, feature) -> accuracy per seed. cnn/mel is best (mean 0.92), best run seed 1.
ACC = {("cnn", "mfcc"): (0.80, 0.84), ("cnn", "mel"): (0.90, 0.94),
       ("lstm", "mfcc"): (0.70, 0.74), ("lstm", "mel"): (0.86, 0.88)}
PARAMS = {"cnn": 52_000, "lstm": 2_100_000}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _write_run(root: Path, optional: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.yaml").write_text("data:\n  path: fsdd\n  clip_seconds: 1.0\nmodel:\n  name: cnn\n")
    write_json(root / "labels.json", SPEAKERS)
    rows = []
    for (model, feat), accs in ACC.items():
        for seed, acc in zip(SEEDS, accs):
            rows.append(dict(model=model, feature=feat, seed=seed, head="softmax", augmented="true",
                             accuracy=acc, macro_f1=acc - 0.02, epochs=10, best_epoch=6 + seed,
                             train_seconds=12.5 if model == "cnn" else 40.0, params=PARAMS[model]))
            run = root / f"{model}-{feat}-s{seed}"
            run.mkdir()
            per = {s: {"precision": acc - 0.01 * i, "recall": acc + 0.01 * i, "f1": acc, "support": 20}
                   for i, s in enumerate(SPEAKERS)}
            write_json(run / "metrics.json", {"accuracy": acc, "macro_f1": acc - 0.02, "best_epoch": 6 + seed,
                                              "epochs": 10, "per_speaker": per})
            conf = ["true\\pred," + ",".join(SPEAKERS)]
            for i, s in enumerate(SPEAKERS):
                counts = [18 if j == i else 1 for j in range(3)]
                conf.append(s + "," + ",".join(map(str, counts)))
            (run / "confusion.csv").write_text("\n".join(conf) + "\n")
            hist = [dict(epoch=e, train_loss=2.0 / e, train_acc=min(0.99, 0.3 + 0.07 * e),
                         val_loss=2.2 / e + 0.01 * e, val_acc=min(0.95, 0.25 + 0.065 * e)) for e in range(1, 11)]
            write_csv(run / "history.csv", hist)
    write_csv(root / "results.csv", rows)
    if not optional:
        return root

    rob = []
    for (model, feat), accs in ACC.items():
        for seed, acc in zip(SEEDS, accs):
            for aug in (True, False):
                rob.append(dict(model=model, feature=feat, seed=seed, augmented=aug, noise="none",
                                snr_db="inf", accuracy=acc, macro_f1=acc - 0.02))
                for noise in ("white", "pink"):
                    for snr in (0, 10, 20):
                        drop = (20 - snr) * (0.012 if aug else 0.025)
                        rob.append(dict(model=model, feature=feat, seed=seed, augmented=aug, noise=noise,
                                        snr_db=snr, accuracy=round(acc - drop - 0.05, 4),
                                        macro_f1=round(acc - drop - 0.07, 4)))
    write_csv(root / "robustness.csv", rob)

    res = [dict(model=m, feature=f, params=PARAMS[m], size_bytes=PARAMS[m] * 4 + 3000,
                onnx_size_bytes=PARAMS[m] * 4 + 1000, latency_ms_b1=1.2 if m == "cnn" else 9.5,
                throughput_clips_s=900 if m == "cnn" else 120, train_seconds=25 if m == "cnn" else 80,
                peak_mem_mb=300) for m in MODELS for f in FEATURES]
    write_csv(root / "resources.csv", res)

    rng = np.random.default_rng(0)
    target, nontarget = rng.normal(2.0, 1.0, 300), rng.normal(0.0, 1.0, 3000)
    th = np.sort(np.concatenate([target, nontarget]))
    fpr = [(nontarget >= t).mean() for t in th]
    fnr = [(target < t).mean() for t in th]
    write_json(root / "verification.json", {
        "eer": 0.16, "min_dcf": 0.41, "threshold": 0.92, "open_set_known_accuracy": 0.88,
        "open_set_unknown_rejection": 0.75, "model": "cnn-mel-s1",
        "det": {"fpr": [float(x) for x in fpr], "fnr": [float(x) for x in fnr]},
        "heads": [{"head": "softmax", "eer": 0.16, "min_dcf": 0.41}, {"head": "aam", "eer": 0.11, "min_dcf": 0.33}],
        "anchors": [{"name": "resemblyzer", "eer": 0.05, "min_dcf": 0.2}],
    })
    return root


@pytest.fixture(scope="module")
def full_report(tmp_path_factory) -> Path:
    run = _write_run(tmp_path_factory.mktemp("report") / "run")
    return write_report(run)


def test_full_report_files_and_summary(full_report: Path):
    run = full_report.parent
    assert full_report == run / "report.html"
    for name in CHARTS.values():
        data = (run / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000, name
    res = read_json(run / "results.json")
    assert sorted(res["charts"]) == sorted(CHARTS.values())
    assert res["dataset"] == "fsdd" and res["speakers"] == SPEAKERS

    assert len(res["summary"]) == 4
    for g in res["summary"]:
        accs = ACC[(g["model"], g["feature"])]
        assert g["n_seeds"] == 2 and sorted(g["seeds"]) == SEEDS
        assert g["accuracy_mean"] == pytest.approx(statistics.fmean(accs))
        assert g["accuracy_std"] == pytest.approx(statistics.stdev(accs))
        assert g["macro_f1_mean"] == pytest.approx(statistics.fmean(accs) - 0.02)
        assert g["macro_f1_std"] == pytest.approx(statistics.stdev(accs))
        assert "head" not in g and "augmented" not in g  # constant columns do not split groups
    best = res["best"]
    assert (best["model"], best["feature"]) == ("cnn", "mel")
    assert best["accuracy_mean"] == pytest.approx(0.92)
    assert best["accuracy_std"] == pytest.approx(math.sqrt(2) * 0.02)
    assert best["run"] == "cnn-mel-s1" and best["seed"] == 1 and best["run_accuracy"] == pytest.approx(0.94)
    assert res["verification"]["eer"] == 0.16 and res["verification"]["anchors"][0]["name"] == "resemblyzer"
    assert len(res["resources"]) == 4 and res["resources"][0]["params"] == PARAMS["cnn"]


def test_full_report_html_self_contained(full_report: Path):
    page = full_report.read_text()
    assert "<script" not in page.lower()
    # No external URLs: every src/href is a data URI or an in-page anchor.
    for attr in re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', page):
        assert attr.startswith(("data:image/png;base64,", "#")), attr[:80]
    assert "http://" not in page and "https://" not in page
    assert page.count("<img ") == len(CHARTS)
    # Content, in order: best line, results table, then the sections.
    order = ["Best model:", 'id="results"', 'id="accuracy"', 'id="confusion"', 'id="per-speaker"',
             'id="robustness"', 'id="training"', 'id="resources"', 'id="verification"', 'id="config"']
    pos = [page.index(s) for s in order]
    assert pos == sorted(pos)
    assert "92.0 ± 2.8" in page  # cnn/mel accuracy mean ± std (%)
    assert "cnn-mel-s1" in page and "jackson" in page and "resemblyzer" in page
    assert "<details>" in page and "clip_seconds: 1.0" in page
    assert 'class="note"' not in page  # nothing skipped


def test_missing_optional_files_still_report(tmp_path: Path):
    run = _write_run(tmp_path / "run", optional=False)
    # An earlier report's chart must not survive as a stale file.
    (run / CHARTS["robustness"]).write_bytes(b"stale")
    out = write_report(run)
    page = out.read_text()
    assert "robustness.csv not found" in page
    assert "resources.csv not found" in page
    assert "verification.json not found" in page
    res = read_json(run / "results.json")
    assert res["verification"] is None and res["resources"] is None
    assert (res["best"]["model"], res["best"]["feature"]) == ("cnn", "mel")
    for key in ("robustness", "resources", "det"):
        assert not (run / CHARTS[key]).exists()
    for key in ("accuracy", "confusion", "training"):
        assert (run / CHARTS[key]).read_bytes().startswith(PNG_MAGIC)


def test_bare_folder_and_cli(tmp_path: Path, capsys):
    """Only results.csv (no config, labels, run folders): still a report; the CLI prints its path."""
    run = tmp_path / "bare"
    run.mkdir()
    write_csv(run / "results.csv", [dict(model="cnn", feature="lpc", seed=0, head="softmax", augmented=False,
                                         accuracy=0.5, macro_f1=0.4, epochs=3, best_epoch=2,
                                         train_seconds=1.0, params=10)])
    assert report_main([str(run)]) == 0
    assert capsys.readouterr().out.strip() == str(run / "report.html")
    page = (run / "report.html").read_text()
    assert "no confusion.csv" in page and "config.yaml not found" in page
    res = json.loads((run / "results.json").read_text())
    assert res["best"]["accuracy_std"] == 0.0 and res["best"]["n_seeds"] == 1
    assert report_main([str(tmp_path / "missing")]) == 2


def test_best_tie_breaks():
    def row(model, seed, acc, f1, params):
        return dict(model=model, feature="mfcc", seed=seed, head="softmax", augmented=True,
                    accuracy=acc, macro_f1=f1, params=params)

    # Equal accuracy: higher macro-F1 wins.
    s = summarize([row("a", 0, 0.9, 0.80, 10), row("b", 0, 0.9, 0.85, 1000)])
    assert pick_best(s)["model"] == "b"
    # Equal accuracy and macro-F1: fewer parameters win.
    s = summarize([row("a", 0, 0.9, 0.8, 500), row("b", 0, 0.9, 0.8, 100)])
    assert pick_best(s)["model"] == "b"
    # Mean over seeds, not the single best seed, decides.
    s = summarize([row("a", 0, 0.99, 0.9, 1), row("a", 1, 0.61, 0.9, 1), row("b", 0, 0.85, 0.9, 1),
                   row("b", 1, 0.85, 0.9, 1)])
    assert pick_best(s)["model"] == "b"
    # A varying augmented column splits groups.
    s = summarize([row("a", 0, 0.9, 0.8, 1), {**row("a", 0, 0.7, 0.6, 1), "augmented": False}])
    assert len(s) == 2 and {g["augmented"] for g in s} == {True, False}
    assert pick_best([]) is None


# --------------------------------------------------------------------------- real browser

_CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                   "--disable-background-networking", "--disable-component-update", "--disable-sync",
                   "--disable-dev-shm-usage", "--hide-scrollbars", "--enable-logging=stderr", "--v=0"]

# Injected at the top of <head> in a copy of the report. The CSP blocks any network load
# (a violation is recorded), errors/console.error are recorded, and on load the images are
# counted into a marker element that --dump-dom then shows.
_PROBE = """<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; \
style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<script>
(function () {
  var errs = [];
  document.addEventListener('securitypolicyviolation', function (e) { errs.push('csp: ' + e.blockedURI); });
  window.addEventListener('error', function (e) {
    errs.push('error: ' + (e.message || (e.target && e.target.tagName) || 'unknown'));
  }, true);
  window.addEventListener('unhandledrejection', function (e) { errs.push('rejection: ' + e.reason); });
  var ce = console.error;
  console.error = function () { errs.push('console.error: ' + Array.prototype.join.call(arguments, ' '));
                                return ce.apply(console, arguments); };
  window.addEventListener('load', function () {
    var imgs = document.images, ok = 0;
    for (var i = 0; i < imgs.length; i++) { if (imgs[i].complete && imgs[i].naturalWidth > 0) ok++; }
    var d = document.createElement('div'); d.id = 'check';
    d.textContent = 'imgs=' + imgs.length + ' ok=' + ok + ' errors=' + errs.length;
    document.body.appendChild(d);
    var p = document.createElement('pre'); p.id = 'errs'; p.textContent = errs.join('\\n');
    document.body.appendChild(p);
  });
})();
</script>
"""


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None and Path("/usr/bin/chromium").exists():
        exe = "/usr/bin/chromium"
    if exe is None:
        pytest.fail("chromium is not installed; this test needs a real headless browser. "
                    "Install it: apt-get update && apt-get install -y chromium")
    return exe


def _run_chromium(exe: str, args: list[str], tmp: Path, name: str) -> subprocess.CompletedProcess:
    cmd = [exe, *_CHROMIUM_FLAGS, f"--user-data-dir={tmp / ('profile-' + name)}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_report_renders_in_headless_chromium(full_report: Path, tmp_path: Path):
    exe = _chromium()
    page = full_report.read_text()
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("<head>", "<head>\n" + _PROBE, 1))

    r = _run_chromium(exe, ["--virtual-time-budget=5000", "--dump-dom", probe.as_uri()], tmp_path, "dom")
    assert r.returncode == 0, r.stderr[-2000:]
    m = re.search(r'<div id="check">imgs=(\d+) ok=(\d+) errors=(\d+)</div>', r.stdout)
    assert m, "load-event marker missing from the dumped DOM:\n" + r.stdout[-1500:] + r.stderr[-1500:]
    errs = re.search(r'<pre id="errs">(.*?)</pre>', r.stdout, re.S)
    n_imgs, n_ok, n_err = map(int, m.groups())
    assert n_imgs == len(CHARTS)
    assert n_ok == n_imgs, "some images did not decode"
    assert n_err == 0, errs.group(1) if errs else ""
    console = [ln for ln in r.stderr.splitlines() if ":CONSOLE" in ln]
    assert not console, "\n".join(console)

    shot = tmp_path / "report.png"
    r = _run_chromium(exe, ["--window-size=1280,2400", f"--screenshot={shot}", full_report.as_uri()],
                      tmp_path, "shot")
    assert r.returncode == 0, r.stderr[-2000:]
    data = shot.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 10_000
