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
    assert {"model", "feature", "seed", "accuracy", "macro_f1", "epochs", "train_seconds"} <= set(rows[0])
    # 4 speakers, 100 clips each, 12 epochs: a model that learns gets well above chance (0.25)
    assert float(rows[0]["accuracy"]) >= 0.85
    d = tiny_run / "cnn-mel-s0"
    for f in ("config.yaml", "labels.json", "model.pt", "metrics.json", "confusion.csv", "history.csv",
              "calibration.json", "robustness.csv", "resources.json"):
        assert (d / f).exists(), f
    for f in ("config.yaml", "split.csv", "labels.json", "skipped.csv", "noise.json", "resources.csv"):
        assert (tiny_run / f).exists(), f
    assert read_json(d / "labels.json") == ["george", "jackson", "lucas", "nicolas"]
    # it fits its (clean) training clips: the "overfits a small set" check
    train = [r for r in read_csv(tiny_run / "split.csv") if r["split"] == "train"]
    preds = Recognizer(d).predict([r["path"] for r in train])
    assert np.mean([p.speaker == r["speaker"] for p, r in zip(preds, train)]) >= 0.97
    assert len(read_csv(d / "history.csv")) == int(rows[0]["epochs"])
    # the official FSDD split: test = recordings 0-4, never in train/val
    for r in read_csv(tiny_run / "split.csv"):
        idx = int(Path(r["path"]).stem.split("_")[2])
        assert (r["split"] == "test") == (idx <= 4)
    rob = read_csv(d / "robustness.csv")
    assert [r["noise"] for r in rob] == ["none", "white"]


def test_predict_from_the_model_folder_alone(tiny_run, tmp_path, capsys):
    alone = tmp_path / "model"
    shutil.copytree(tiny_run / "cnn-mel-s0", alone)  # no run folder around it
    clip = FSDD / "4_jackson_3.wav"
    assert main(["predict", "--run", str(alone), str(clip)]) == 0
    path, speaker, prob = capsys.readouterr().out.strip().split("\t")
    assert speaker == "jackson" and 0.25 < float(prob) <= 1.0
    # any length and rate: a 16 kHz, 3.5 s file made of several clips
    import soundfile as sf

    from voxprint import audio

    y = np.concatenate([audio.load(FSDD / f"{d}_jackson_{i}.wav", 16000)[0] for d in range(3) for i in range(3)])
    sf.write(tmp_path / "long.wav", y, 16000)
    rec = Recognizer(alone)
    (p,) = rec.predict([tmp_path / "long.wav"])
    assert p.speaker == "jackson"


def test_run_root_resolves_to_the_best_model(tiny_run):
    assert Recognizer(tiny_run).dir == tiny_run / "cnn-mel-s0"


def test_onnx_matches_pytorch(tiny_run, capsys):
    d = tiny_run / "cnn-mel-s0"
    assert main(["export", str(d), "--onnx"]) == 0
    import onnx

    model = onnx.load(str(d / "model.onnx"))
    assert [i.name for i in model.graph.input] == ["features"]
    assert [o.name for o in model.graph.output] == ["logits", "embedding"]
    torch_rec, onnx_rec = Recognizer(d), Recognizer(d, engine="onnx")
    for frames in (40, 101, 250):  # the time axis is dynamic
        x = torch.randn(3, torch_rec.features.dim, frames).numpy() * 10 - 40
        p1, e1 = torch_rec.run_features(x)
        p2, e2 = onnx_rec.run_features(x)
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
    assert main(["run", "--out", str(tmp_path / "x"), "--set", "train.max_epoch=3"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "unknown key 'max_epoch'" in err and "max_epochs" in err


def test_predict_bad_files_are_one_line_each_and_the_rest_is_used(tiny_run, tmp_path, capsys):
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "text.wav").write_text("not audio")
    assert main(["predict", "--run", str(tiny_run), str(tmp_path / "empty.wav"), str(tmp_path / "missing.wav"),
                 str(tmp_path / "text.wav"), str(FSDD / "2_george_1.wav")]) == 0
    out, err = capsys.readouterr()
    assert out.count("\n") == 1 and "\tgeorge\t" in out
    lines = err.strip().splitlines()
    assert len(lines) == 3
    assert "empty.wav: empty file" in lines[0] and "missing.wav: file not found" in lines[1]
    assert "text.wav: not readable as audio" in lines[2]
    assert "Traceback" not in err


def test_kill_mid_grid_then_resume(tmp_path):
    """A killed grid keeps its finished cells; the rerun trains only what is left."""
    out = tmp_path / "run"
    args = [sys.executable, "-m", "voxprint.cli", "run", "--out", str(out),
            "--set", "data.speakers=[george,theo]", "--set", "data.max_per_speaker=30",
            "--set", "train.max_epochs=2", "--set", "train.min_epochs=1", "--set", "eval.robustness=false",
            "--set", "eval.verification=false", "--set", "eval.latency_runs=3",
            "--models", "lstm", "cnn", "--features", "mfcc", "--no-progress", "--no-report"]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.Popen(args, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    deadline = time.time() + 240
    first = out / "lstm-mfcc-s0" / "metrics.json"
    while not first.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert first.exists(), proc.stderr.read() if proc.poll() is not None else "timeout"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "results.csv").exists() or not (out / "cnn-mfcc-s0" / "metrics.json").exists()
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "lstm-mfcc-s0: finished earlier, skipped" in done.stderr
    with open(out / "results.csv") as f:
        assert [r["model"] for r in csv.DictReader(f)] == ["lstm", "cnn"]


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
