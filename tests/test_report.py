"""voxprint.report: synthetic run folders -> report.html, results.json, chart PNGs, the README block,
and a real headless-Chromium check that the page renders offline with every image decoded and the
best model's name on screen."""

from __future__ import annotations

import re
import shutil
import statistics
import subprocess
from pathlib import Path

import numpy as np
import pytest

from voxprint import rundir
from voxprint.io import read_json, write_csv, write_json
from voxprint.report import CHARTS, write_report
from voxprint.report.readme import update_results

SPEAKERS = ["george", "jackson", "lucas"]
# (model, feature) -> (test accuracy, validation accuracy) per seed. cnn-mel has the best TEST
# accuracy, but lstm-mel the best VALIDATION accuracy: the report must name lstm-mel.
SCORES = {("cnn", "mfcc"): ((0.80, 0.84), (0.90, 0.91)), ("cnn", "mel"): ((0.96, 0.98), (0.93, 0.94)),
          ("lstm", "mfcc"): ((0.70, 0.74), (0.85, 0.86)), ("lstm", "mel"): ((0.86, 0.88), (0.97, 0.99))}
PARAMS = {"cnn": 52_000, "lstm": 2_100_000}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _model_folder(d: Path, acc: float) -> None:
    d.mkdir()
    per = {s: {"precision": acc - 0.01 * i, "recall": acc + 0.01 * i, "f1": acc, "support": 20}
           for i, s in enumerate(SPEAKERS)}
    write_json(d / "metrics.json", {"accuracy": acc, "macro_f1": acc - 0.02, "per_speaker": per})
    conf = ["true\\pred," + ",".join(SPEAKERS)]
    conf += [s + "," + ",".join("18" if j == i else "1" for j in range(3)) for i, s in enumerate(SPEAKERS)]
    (d / "confusion.csv").write_text("\n".join(conf) + "\n")
    write_csv(d / "history.csv", [dict(step=50 * e, epoch=e, train_loss=2.0 / e, train_acc=min(0.99, 0.3 + 0.07 * e),
                                       val_loss=2.2 / e + 0.01 * e, val_acc=min(0.95, 0.25 + 0.065 * e))
                                  for e in range(1, 11)])


def _write_run(root: Path, optional: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.yaml").write_text("data:\n  path: fsdd\n  clip_seconds: 1.0\neval:\n  latency_runs: 37\n")
    write_json(root / "labels.json", SPEAKERS)
    rows = []
    for (model, feat), (tests, vals) in SCORES.items():
        for seed, (acc, val) in enumerate(zip(tests, vals)):
            rows.append(dict(model=model, feature=feat, seed=seed, head="softmax", augmented="True", accuracy=acc,
                             macro_f1=acc - 0.02, val_accuracy=val, val_loss=1 - val, steps=500, best_step=300,
                             train_seconds=12.5 if model == "cnn" else 40.0, params=PARAMS[model]))
            _model_folder(root / f"{model}-{feat}-s{seed}", acc)
    write_csv(root / "results.csv", rows, rundir.RESULT_COLUMNS)
    if not optional:
        return root
    rob = []
    for r in rows:
        base = {k: r[k] for k in ("model", "feature", "seed", "augmented", "head")}
        rob.append(base | dict(noise="none", snr_db="inf", accuracy=r["accuracy"], macro_f1=r["macro_f1"]))
        rob += [base | dict(noise=n, snr_db=snr, accuracy=round(r["accuracy"] - (20 - snr) * 0.012, 4),
                            macro_f1=0.5) for n in ("white", "pink") for snr in (0, 10, 20)]
    write_csv(root / "robustness.csv", rob, rundir.ROBUSTNESS_COLUMNS)
    write_json(root / "noise.json", {"train": [{"source": "white", "kind": "synthetic", "name": "white"}],
                                     "eval": [{"source": "white", "kind": "synthetic", "name": "white"},
                                              {"source": "pink", "kind": "synthetic", "name": "pink"}]})
    write_csv(root / "resources.csv", [dict(model=m, feature=f, run=f"{m}-{f}-s0", params=PARAMS[m],
                                            size_bytes=PARAMS[m] * 4, onnx_size_bytes=PARAMS[m] * 4 - 100,
                                            latency_ms_b1=1.2, latency_ms_b1_onnx=0.3, throughput_clips_s_b64=900,
                                            train_seconds=25, train_step_rss_mb=300)
                                       for m in ("cnn", "lstm") for f in ("mfcc", "mel")])
    write_json(root / "anchors.json", {
        "protocol": "an anchors protocol sentence.", "conditions": [{"noise": "white", "snr_db": 10.0}],
        "systems": [{"system": "resemblyzer+LR", "clean": 0.99, "noisy": [0.67], "ms_per_clip": 8.4,
                     "size_bytes": 17 * 1024 * 1024, "params": 1423616, "noise_trained": False},
                    {"system": "voxprint lstm-mel-s1 [onnx]", "clean": 1.0, "noisy": [0.993], "ms_per_clip": 0.25,
                     "size_bytes": 166 * 1024, "params": 40694, "noise_trained": True}]})
    rng = np.random.default_rng(0)
    target, nontarget = rng.normal(2.0, 1.0, 300), rng.normal(0.0, 1.0, 3000)
    th = np.sort(np.concatenate([target, nontarget]))
    det = {"fpr": [float((nontarget >= t).mean()) for t in th], "fnr": [float((target < t).mean()) for t in th]}
    write_json(root / "verification.json", {
        "protocol": "Unseen-speaker trials: a protocol sentence written by the study.",
        "systems": [{"name": "voxprint encoder", "dataset": "libri-dev", "condition": "clean", "eer": [0.04, 0.06],
                     "min_dcf": [0.3, 0.35], "known_accuracy": [0.9, 0.92], "unknown_rejection": [0.8, 0.84],
                     "n_target": 90, "n_nontarget": 2610, "det": det}]})
    return root


@pytest.fixture(scope="module")
def full_report(tmp_path_factory) -> Path:
    return write_report(_write_run(tmp_path_factory.mktemp("report") / "run"))


def test_full_report_files_and_summary(full_report: Path):
    run = full_report.parent
    for name in CHARTS.values():
        data = (run / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000, name
    res = read_json(run / "results.json")
    assert sorted(res["charts"]) == sorted(CHARTS.values())
    assert res["dataset"] == "fsdd" and res["speakers"] == SPEAKERS
    assert len(res["summary"]) == 4
    for g in res["summary"]:
        tests, vals = SCORES[(g["model"], g["feature"])]
        assert g["n_seeds"] == 2
        assert g["accuracy_mean"] == pytest.approx(statistics.fmean(tests))
        assert g["accuracy_std"] == pytest.approx(statistics.stdev(tests))
        assert g["val_accuracy_mean"] == pytest.approx(statistics.fmean(vals))
    # chosen on validation accuracy: lstm-mel (test accuracy would have said cnn-mel), its seed 1
    assert res["best"]["run"] == "lstm-mel-s1" and res["best"]["group"]["group"] == "lstm-mel"


def test_full_report_html_self_contained_and_names_the_validation_choice(full_report: Path):
    page = full_report.read_text()
    assert "<script" not in page.lower()
    for attr in re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', page):
        assert attr.startswith(("data:image/png;base64,", "#")), attr[:80]
    assert "http://" not in page and "https://" not in page
    assert page.count("<img ") == len(CHARTS)
    order = ["Best model:", 'id="results"', 'id="confusion"', 'id="robustness"', 'id="training"',
             'id="resources"', 'id="verification"', 'id="config"']
    pos = [page.index(s) for s in order]
    assert pos == sorted(pos)
    best = page[page.index("Best model:"): page.index("</div>", page.index("Best model:"))]
    assert "lstm-mel-s1" in best and "validation" in best and "cnn-mel" not in best
    assert "87.0 ± 1.4" in page  # lstm-mel test accuracy mean ± std (%)
    assert "median of 37" in page  # from eval.latency_runs, not a constant
    assert "fresh draws of a noise type also used in training" in page


def test_missing_optional_files_still_report(tmp_path: Path):
    run = _write_run(tmp_path / "run", optional=False)
    (run / CHARTS["robustness"]).write_bytes(b"stale")  # an earlier report's chart must not survive
    page = write_report(run).read_text()
    assert "No robustness evaluation" in page and "No unseen-speaker study" in page
    for key in ("robustness", "resources", "det"):
        assert not (run / CHARTS[key]).exists()
    for key in ("accuracy", "confusion", "training"):
        assert (run / CHARTS[key]).read_bytes().startswith(PNG_MAGIC)


def test_results_file_is_generated_from_the_run(full_report: Path, git_work_tree: Path):
    run = full_report.parent
    path = update_results(run, "demo", "voxprint report run --results demo", root=git_work_tree)
    block = path.read_text()
    assert block.startswith("<!-- voxprint-results ") and "\n# demo: " in block
    assert "`voxprint predict --run run` loads **lstm-mel-s1**" in block
    assert "0.8700 ± 0.0141" in block  # lstm-mel test accuracy over 2 seeds
    assert "median of 37" in block
    assert "a protocol sentence written by the study" in block
    assert "| voxprint encoder | libri-dev | clean | 0.050 ± 0.014 |" in block
    assert "90 / 2610" in block
    assert "an anchors protocol sentence." in block and "| white 10 dB |" in block
    assert "| resemblyzer+LR | 0.990 | 0.670 | 8.400 | 17408 | 1423616 | no |" in block
    assert "| voxprint lstm-mel-s1 [onnx] | 1.000 | 0.993 | 0.250 | 166 | 40694 | yes |" in block
    for name in CHARTS.values():
        assert (git_work_tree / "docs" / "results" / "demo" / name).read_bytes().startswith(PNG_MAGIC)
        assert f"](demo/{name})" in block


# --------------------------------------------------------------------------- real browser

_CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                   "--disable-background-networking", "--disable-component-update", "--disable-sync",
                   "--disable-dev-shm-usage", "--hide-scrollbars", "--enable-logging=stderr", "--v=0"]

# Injected at the top of <head> in a copy of the report. The CSP blocks any network load
# (a violation is recorded), errors/console.error are recorded, and on load the images are
# counted, and the best-model box's rendered text and position are written into a marker
# element that --dump-dom then shows.
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
    var best = document.querySelector('.best'), r = best.getBoundingClientRect();
    var d = document.createElement('div'); d.id = 'check';
    d.textContent = 'imgs=' + imgs.length + ' ok=' + ok + ' errors=' + errs.length +
                    ' besttop=' + Math.round(r.top) + ' bestheight=' + Math.round(r.height);
    document.body.appendChild(d);
    var b = document.createElement('pre'); b.id = 'besttext'; b.textContent = best.innerText;
    document.body.appendChild(b);
    var p = document.createElement('pre'); p.id = 'errs'; p.textContent = errs.join('\\n');
    document.body.appendChild(p);
  });
})();
</script>
"""


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail("chromium is not installed; this test needs a real headless browser. "
                    "Install it: apt-get update && apt-get install -y chromium")
    return exe


def _run_chromium(exe: str, args: list[str], tmp: Path, name: str) -> subprocess.CompletedProcess:
    cmd = [exe, *_CHROMIUM_FLAGS, f"--user-data-dir={tmp / ('profile-' + name)}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_report_renders_in_headless_chromium(full_report: Path, tmp_path: Path):
    exe = _chromium()
    probe = tmp_path / "probe.html"
    probe.write_text(full_report.read_text().replace("<head>", "<head>\n" + _PROBE, 1))
    r = _run_chromium(exe, ["--window-size=1280,900", "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()],
                      tmp_path, "dom")
    assert r.returncode == 0, r.stderr[-2000:]
    m = re.search(r'<div id="check">imgs=(\d+) ok=(\d+) errors=(\d+) besttop=(-?\d+) bestheight=(\d+)</div>',
                  r.stdout)
    assert m, "load-event marker missing from the dumped DOM:\n" + r.stdout[-1500:] + r.stderr[-1500:]
    n_imgs, n_ok, n_err, top, height = map(int, m.groups())
    assert n_imgs == len(CHARTS) and n_ok == n_imgs, "some images did not decode"
    errs = re.search(r'<pre id="errs">(.*?)</pre>', r.stdout, re.S)
    assert n_err == 0, errs.group(1) if errs else ""
    # the best-model box is rendered in the first screen (what the screenshot below shows)
    assert 0 <= top and top + height <= 900 and height > 0
    best_text = re.search(r'<pre id="besttext">(.*?)</pre>', r.stdout, re.S).group(1)
    assert "lstm-mel-s1" in best_text
    assert not [ln for ln in r.stderr.splitlines() if ":CONSOLE" in ln]

    shot = tmp_path / "report.png"
    r = _run_chromium(exe, ["--window-size=1280,900", f"--screenshot={shot}", full_report.as_uri()], tmp_path, "shot")
    assert r.returncode == 0, r.stderr[-2000:]
    data = shot.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 10_000
