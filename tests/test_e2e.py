"""A small run end to end: train, test scores, run folder contents, predict from the
folder alone, ONNX agreement, resume after a kill, one-line errors."""

import csv
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import FSDD, TINY_ARGS

from voxprint.cli import main
from voxprint.inference import Recognizer
from voxprint.io import read_csv, read_json


def test_tiny_run_learns_and_writes_the_run_folder(tiny_run):
    rows = read_csv(tiny_run / "results.csv")
    assert len(rows) == 1
    assert {"model", "feature", "seed", "accuracy", "macro_f1", "val_accuracy", "val_loss", "steps",
            "train_seconds"} <= set(rows[0])
    # 4 speakers, 100 clips each, 12 epochs: a model that learns gets well above chance (0.25)
    assert float(rows[0]["accuracy"]) >= 0.85
    d = tiny_run / "cnn-mel-s0"
    for f in ("config.yaml", "labels.json", "model.pt", "metrics.json", "confusion.csv", "history.csv",
              "calibration.json", "robustness.csv", "resources.json", "model.onnx"):
        assert (d / f).exists(), f
    for f in ("config.yaml", "split.csv", "labels.json", "skipped.csv", "noise.json", "resources.csv"):
        assert (tiny_run / f).exists(), f
    assert read_json(d / "labels.json") == ["george", "jackson", "lucas", "nicolas"]
    # it fits its (clean) training clips: the "overfits a small set" check
    train = [r for r in read_csv(tiny_run / "split.csv") if r["split"] == "train"]
    preds = Recognizer(d).predict([r["path"] for r in train])
    assert np.mean([p.speaker == r["speaker"] for p, r in zip(preds, train)]) >= 0.97
    # one history row per validation (every 15 steps), the last at the final step
    history = read_csv(d / "history.csv")
    assert [int(r["step"]) for r in history] == list(range(15, int(rows[0]["steps"]) + 1, 15))
    # the official FSDD split: test = recordings 0-4, never in train/val
    for r in read_csv(tiny_run / "split.csv"):
        idx = int(Path(r["path"]).stem.split("_")[2])
        assert (r["split"] == "test") == (idx <= 4)
    rob = read_csv(d / "robustness.csv")
    assert [r["noise"] for r in rob] == ["none", "white"]
    # every file's speech fraction, found by the detector (FSDD clips are mostly speech, never none; some
    # have silence at an edge)
    speech = read_csv(tiny_run / "speech.csv")
    assert sorted(r["path"] for r in speech) == sorted(r["path"] for r in read_csv(tiny_run / "split.csv"))
    fractions = [float(r["speech_fraction"]) for r in speech]
    assert all(0 < f <= 1 for f in fractions) and np.median(fractions) > 0.5 and min(fractions) < 1.0
    # the step budget: never stopped before train.min_steps (60), never past train.max_steps (150)
    assert 60 <= int(rows[0]["steps"]) <= 150


def test_predict_from_the_model_folder_alone(tiny_run, tmp_path, capsys):
    alone = tmp_path / "model"
    shutil.copytree(tiny_run / "cnn-mel-s0", alone)  # no run folder around it
    clip = FSDD / "4_jackson_3.wav"
    assert main(["predict", "--run", str(alone), str(clip)]) == 0
    _, speaker, prob = capsys.readouterr().out.strip().split("\t")
    assert speaker == "jackson" and 0.25 < float(prob) <= 1.0
    # any length and rate: a 16 kHz, 3.5 s file made of several clips
    import soundfile as sf

    from voxprint import audio

    y = np.concatenate([audio.load(FSDD / f"{d}_jackson_{i}.wav", 16000)[0] for d in range(3) for i in range(3)])
    sf.write(tmp_path / "long.wav", y, 16000)
    rec = Recognizer(alone)
    (p,) = rec.predict([tmp_path / "long.wav"])
    assert p.speaker == "jackson"


def test_every_consumer_names_the_model_chosen_on_validation(tiny_run, tmp_path, git_work_tree):
    """A results table where test and validation disagree, with a tie: predict (Recognizer), report.html,
    the results file and benchmarks/anchors.py all use the same model, chosen without the test split."""
    import importlib.util

    from voxprint import rundir
    from voxprint.io import write_csv
    from voxprint.report import write_report
    from voxprint.report.readme import update_results

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("cnn-mel-s0"))
    base = rundir.read_results(tiny_run)[0]
    rows = []
    # (feature, seed, test accuracy, validation accuracy, validation loss, params)
    for feature, seed, test, val, loss, params in (("mfcc", 0, 1.00, 0.90, 0.20, 40436),   # best on test
                                                   ("lpc", 0, 0.80, 0.95, 0.10, 50000),    # tie on val acc/loss...
                                                   ("mel", 0, 0.85, 0.95, 0.10, 40436)):   # ...fewer params wins
        rows.append(base | {"feature": feature, "seed": seed, "accuracy": test, "val_accuracy": val, "val_loss": loss,
                            "params": params})
        shutil.copytree(tiny_run / "cnn-mel-s0", run / f"cnn-{feature}-s{seed}")
    write_csv(run / "results.csv", rows, rundir.RESULT_COLUMNS)
    (run / "resources.csv").unlink()
    assert Recognizer(run).dir == (run / "cnn-mel-s0").resolve()
    page = write_report(run).read_text()
    best = page[page.index("Best model:"):]
    assert "loads is cnn-mel-s0" in best[:600]
    written = update_results(run, "x", "voxprint report run --results x", root=git_work_tree)
    assert "`voxprint predict --run run` loads **cnn-mel-s0**" in written.read_text()
    spec = importlib.util.spec_from_file_location("anchors", Path(__file__).parents[1] / "benchmarks" / "anchors.py")
    anchors = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(anchors)
    assert anchors.voxprint_model_dir(run) == (run / "cnn-mel-s0").resolve()


def test_onnx_matches_pytorch(tiny_run, capsys):
    d = tiny_run / "cnn-mel-s0"
    assert main(["export", str(d)]) == 0
    import onnx

    model = onnx.load(str(d / "model.onnx"))
    assert [i.name for i in model.graph.input] == ["features"]
    assert [o.name for o in model.graph.output] == ["logits", "embedding"]
    torch_rec, onnx_rec = Recognizer(d), Recognizer(d, engine="onnx")
    for frames in (40, 101, 250):  # the time axis is dynamic
        x = torch.randn(3, torch_rec.features.dim, frames).numpy() * 10 - 40
        p1, e1 = torch_rec.model(x)
        p2, e2 = onnx_rec.model(x)
        assert np.abs(p1 - p2).max() < 1e-4 and np.abs(e1 - e2).max() < 1e-4
    clips = [FSDD / f"{d}_lucas_{d}.wav" for d in range(5)]
    assert [p.speaker for p in torch_rec.predict(clips)] == [p.speaker for p in onnx_rec.predict(clips)]


def test_rerun_skips_finished_runs(tiny_run, capsys):
    before = (tiny_run / "cnn-mel-s0" / "model.pt").stat().st_mtime_ns
    assert main(["run", "--out", str(tiny_run), *TINY_ARGS]) == 0
    assert "finished earlier, skipped" in capsys.readouterr().err
    assert (tiny_run / "cnn-mel-s0" / "model.pt").stat().st_mtime_ns == before


def test_changed_config_is_refused_in_the_same_folder(tiny_run, capsys):
    assert main(["run", "--out", str(tiny_run), *TINY_ARGS, "--set", "features.n_mels=32"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "different config" in err and "features.n_mels" in err


def test_misspelt_config_key_is_one_clear_line(tmp_path, capsys):
    assert main(["run", "--out", str(tmp_path / "x"), "--set", "train.max_step=3"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "unknown key train.max_step; valid keys: max_steps" in err and "max_steps" in err


def test_predict_bad_files_are_one_line_each_and_the_rest_is_used(tiny_run, tmp_path, capsys):
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "text.wav").write_text("not audio")
    assert main(["predict", "--run", str(tiny_run), str(tmp_path / "empty.wav"), str(tmp_path / "missing.wav"),
                 str(tmp_path / "text.wav"), str(FSDD / "2_george_1.wav")]) == 3  # some files skipped
    out, err = capsys.readouterr()
    assert out.count("\n") == 1 and "\tgeorge\t" in out
    lines = err.strip().splitlines()
    assert len(lines) == 3
    assert "empty.wav: empty file" in lines[0] and "missing.wav: file not found" in lines[1]
    assert "text.wav: not readable as audio" in lines[2]
    assert "Traceback" not in err


_PAUSING_GRID = """
import pathlib, sys, time
import voxprint.pipeline as P
real = P.run_cell
def run_cell(cfg, cell, *args, **kw):
    if cell.name == sys.argv[1]:  # the test kills the process while it waits here
        pathlib.Path(sys.argv[2]).write_text("paused")
        time.sleep(600)
    return real(cfg, cell, *args, **kw)
P.run_cell = run_cell
from voxprint.cli import main
sys.exit(main(sys.argv[3:]))
"""


def test_kill_mid_grid_then_resume(tmp_path):
    """A grid killed at a point the test controls (the start of its second cell) keeps its finished
    cell; the rerun trains only the killed one."""
    out, marker = tmp_path / "run", tmp_path / "paused"
    args = ["run", "--out", str(out), "--set", "data.speakers=[george,theo]", "--set", "data.max_per_speaker=30",
            "--set", "train.max_steps=4", "--set", "train.min_steps=1", "--set", "train.val_every_steps=2",
            "--set", "eval.robustness=false", "--set", "eval.verification=false", "--set", "eval.latency_runs=3",
            "--models", "lstm", "cnn", "--features", "mfcc", "--no-progress", "--no-report",
            "--set", "runtime.cells=1"]  # one at a time: the pause is in this process
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.Popen([sys.executable, "-c", _PAUSING_GRID, "cnn-mfcc-s0", str(marker), *args], env=env,
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    deadline = time.time() + 900  # generous: only a machine under heavy load gets near it
    while not marker.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    assert marker.exists(), proc.stderr.read() if proc.poll() is not None else "timeout"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = out / "lstm-mfcc-s0" / "metrics.json"
    assert finished.exists() and not (out / "cnn-mfcc-s0" / "metrics.json").exists()
    assert not (out / "results.csv").exists()
    before = finished.stat().st_mtime_ns, (out / "lstm-mfcc-s0" / "model.pt").stat().st_mtime_ns
    done = subprocess.run([sys.executable, "-m", "voxprint.cli", *args], env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr
    assert "lstm-mfcc-s0: finished earlier, skipped" in done.stderr
    assert "cnn-mfcc-s0: training" in done.stderr
    assert (finished.stat().st_mtime_ns, (out / "lstm-mfcc-s0" / "model.pt").stat().st_mtime_ns) == before
    assert (out / "cnn-mfcc-s0" / "metrics.json").exists()
    with open(out / "results.csv") as f:
        assert [r["model"] for r in csv.DictReader(f)] == ["lstm", "cnn"]


def _children(pid: int) -> list[int]:
    """Live processes whose parent is `pid` (Linux /proc)."""
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            kids.append(int(stat.parent.name))
    return kids


def _alive(pid: int) -> bool:
    """Running or sleeping (a dead process not yet reaped by its new parent is a zombie: not alive)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_kill_during_side_by_side_cells_takes_the_workers_too_and_resumes(tmp_path):
    """kill -9 of a run training two cells in two worker processes: the workers die with it (no orphan
    keeps writing a cell folder), and the rerun finishes both cells."""
    out = tmp_path / "run"
    args = ["run", "--out", str(out), "--set", "data.speakers=[george,theo]", "--set", "data.max_per_speaker=30",
            "--set", "train.max_steps=400", "--set", "train.min_steps=400", "--set", "train.val_every_steps=200",
            "--set", "train.batch_size=8", "--set", "eval.robustness=false", "--set", "eval.verification=false",
            "--set", "eval.latency_runs=3", "--models", "lstm", "cnn", "--features", "mfcc", "--no-progress",
            "--no-report", "--set", "runtime.cells=2", "--set", "runtime.threads=1"]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.Popen([sys.executable, "-m", "voxprint.cli", *args], env=env, stderr=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL)
    deadline = time.time() + 600
    started = [out / c / "config.yaml" for c in ("lstm-mfcc-s0", "cnn-mfcc-s0")]
    while not all(p.exists() for p in started) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    assert all(p.exists() for p in started), "both cells never started"
    workers = [k for k in _children(proc.pid) if b"spawn_main" in Path(f"/proc/{k}/cmdline").read_bytes()]
    assert len(workers) == 2
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 30
    while any(_alive(w) for w in workers) and time.time() < deadline:
        time.sleep(0.1)
    assert not any(_alive(w) for w in workers), "a worker outlived the killed run"
    done = subprocess.run([sys.executable, "-m", "voxprint.cli", *args], env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr
    with open(out / "results.csv") as f:
        assert [(r["model"], r["steps"]) for r in csv.DictReader(f)] == [("lstm", "400"), ("cnn", "400")]


def test_evaluate_with_noise_at_each_snr(tiny_run, capsys, shared_data):
    assert main(["evaluate", str(tiny_run), "--snr", "20", "0", "--noise", "white",
                 str(shared_data / "noise" / "running_tap.wav")]) == 0
    out = capsys.readouterr().out
    assert "running_tap" in out and "white" in out
    rows = read_csv(tiny_run / "cnn-mel-s0" / "evaluate.csv")
    acc = {(r["noise"], r["snr_db"]): float(r["accuracy"]) for r in rows}
    assert set(acc) == {("none", "inf"), ("white", "20.0"), ("white", "0.0"), ("running_tap", "20.0"),
                        ("running_tap", "0.0")}
    assert acc[("white", "0.0")] < acc[("none", "inf")]  # 0 dB white noise costs accuracy
    # the same seed gives the same figures (fixed noise per clip)
    assert main(["evaluate", str(tiny_run), "--snr", "20", "0", "--noise", "white"]) == 0
    again = {(r["noise"], r["snr_db"]): float(r["accuracy"]) for r in read_csv(tiny_run / "cnn-mel-s0" / "evaluate.csv")}
    assert again[("white", "0.0")] == acc[("white", "0.0")]


@pytest.mark.parametrize("min_steps, expect", [(1, lambda s: s == 4), (12, lambda s: s == 12)])
def test_early_stopping_waits_for_min_steps(tmp_path, min_steps, expect):
    """An LSTM (no batch statistics) at a learning rate too small to move a float32 weight: the validation
    loss never improves, so early stopping with patience 0 stops at the second validation (step 4)...
    unless train.min_steps holds it back: then it stops at the first validation past min_steps."""
    out = tmp_path / "run"
    args = ["run", "--out", str(out), "--models", "lstm", "--features", "mfcc", "--no-progress", "--no-report",
            "--set", "data.speakers=[george,jackson]", "--set", "data.max_per_speaker=20",
            "--set", "train.lr=1e-12", "--set", "train.patience=0", "--set", "train.val_every_steps=2",
            "--set", f"train.min_steps={min_steps}", "--set", "train.max_steps=30", "--set", "train.batch_size=8",
            "--set", "eval.robustness=false", "--set", "eval.verification=false", "--set", "eval.latency_runs=2"]
    assert main(args) == 0
    steps = int(read_csv(out / "results.csv")[0]["steps"])
    assert expect(steps), steps


def test_the_augmentation_ramp_grows_linearly_to_full_strength():
    from voxprint import config as C
    from voxprint.train import SpeakerModule

    class Steps(SpeakerModule):
        step = 0

        @property
        def global_step(self):
            return self.step

    for ramp, expected in ((0, [1.0, 1.0, 1.0, 1.0]), (300, [0.0, 0.5, 1.0, 1.0])):
        cfg = C.load(None, [f"augment.ramp_steps={ramp}"])
        m = Steps(torch.nn.Linear(1, 1), torch.nn.Identity(), cfg, augment=True)
        got = []
        for step in (0, 150, 300, 900):
            m.step = step
            got.append(m.strength())
        assert got == pytest.approx(expected)


def test_loader_workers_see_the_ramp_grow(tmp_path):
    """CropDataset in a worker process reads the strength the module writes (shared memory), so
    the ramp works with train.num_workers > 0 too."""
    from voxprint import config as C
    from voxprint.datasets import Loaded
    from voxprint.train import CropDataset, SpeakerModule

    cfg = C.load(None, ["augment.ramp_steps=100"])
    m = SpeakerModule(torch.nn.Linear(1, 1), torch.nn.Identity(), cfg, augment=True)
    assert float(m.shared_strength[0]) == 0.0
    seen = []

    class Spy:  # an augmenter that records the strength the worker saw
        def __call__(self, y, rng):
            return y

    class Probe(CropDataset):
        def __getitem__(self, i):
            return float(self.strength[0])

    part = Loaded([None] * 4, [np.zeros(8000, np.float32)] * 4, np.zeros(4, np.int64))
    dl = torch.utils.data.DataLoader(Probe(part, 8000, Spy(), 0, m.shared_strength), batch_size=1, num_workers=1,
                                     persistent_workers=True)
    it = iter(dl)
    seen.append(float(next(it)))
    m.shared_strength[0] = 0.7  # what on_train_batch_start writes at step 70
    for batch in it:
        seen.append(float(batch))
    assert seen[0] == 0.0 and seen[-1] == pytest.approx(0.7)


def test_the_fewshot_recipe_learns_a_few_seconds_per_speaker(tmp_path, shared_data, capsys):
    """`voxprint run --config fewshot` as a user runs it on their own clips: 8 libri-dev speakers,
    each utterance cut into 2-s segments, the first half to train and the rest to test (a manifest),
    about 4-6 s of speech per speaker to learn from. Both augmentation settings train, validation
    chooses, and `predict` names held-out segments far above chance (1/8)."""
    import soundfile as sf

    from voxprint import audio
    from voxprint import protocol as P
    from voxprint.io import write_csv

    rows = []
    for spk in P.load_split()["test"][:8]:
        pieces = P.cut(audio.load(P.utterance(shared_data / "libri-dev", spk), P.SAMPLE_RATE)[0])
        k = P.enrol_count(len(pieces))
        for i, y in enumerate(pieces):
            path = tmp_path / "set" / spk / f"{i}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, y, P.SAMPLE_RATE)
            rows.append({"path": f"{spk}/{i}.wav", "speaker": spk, "split": "train" if i < k else "test"})
    write_csv(tmp_path / "set" / "manifest.csv", rows, ["path", "speaker", "split"])
    out = tmp_path / "run"
    assert main(["run", "--config", "fewshot", "--data", str(tmp_path / "set" / "manifest.csv"), "--out", str(out),
                 "--set", "eval.verification=false", "--set", "train.threads=2", "--no-progress", "--no-report"]) == 0
    results = read_csv(out / "results.csv")
    assert sorted((r["model"], r["feature"], r["augmented"]) for r in results) == [("stats", "mfcc", "False"),
                                                                                   ("stats", "mfcc", "True")]
    assert all(int(r["steps"]) >= 1200 for r in results)  # the recipe's floor, on a set of a few batches
    test = [r for r in rows if r["split"] == "test"]
    named = Recognizer(out).predict([str(tmp_path / "set" / r["path"]) for r in test])
    assert np.mean([p.speaker == r["speaker"] for p, r in zip(named, test)]) >= 0.6
