"""Awkward input of every class in issue 10, through the real command line.

Each case builds its input in one temporary folder and runs `voxprint` (cli.main in this process, or
a subprocess where the case needs another user). Every case checks: no traceback, the documented exit
status (0 answered, 3 files skipped, 2 usage or data error), and that the good files were still
answered. Unreadable files are only unreadable to a normal user (root ignores permissions), so those
cases run the CLI in a subprocess as `nobody`.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import traceback
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import FSDD

from voxprint.cli import EXIT_ERROR, EXIT_OK, EXIT_SKIPPED, main
from voxprint.io import read_csv, write_csv

GOOD = [FSDD / "2_george_1.wav", FSDD / "7_jackson_3.wav"]
_COPIES = itertools.count()
TRACEBACKS: list[str] = []  # commands that ended in a traceback (the module's own count)
RUNS: list[str] = []  # every command run, for the count the issue asks for


@dataclass
class Result:
    status: int
    out: str
    err: str


def cli(*argv) -> Result:
    """Run `voxprint ARGV` in this process; an exception escaping main is a traceback (a failure)."""
    RUNS.append(" ".join(map(str, argv)))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main([str(a) for a in argv])
        except SystemExit as e:  # argparse's usage errors
            status = e.code
        except BaseException:
            TRACEBACKS.append(" ".join(map(str, argv)))
            raise AssertionError(f"voxprint {' '.join(map(str, argv))} raised:\n{traceback.format_exc()}") from None
    return Result(status, out.getvalue(), err.getvalue())


def check(r: Result, status: int, answered=(), err_has=(), out_has=()) -> None:
    """The documented status, no traceback, one answer line per good file, the expected messages."""
    if "Traceback" in r.err or "Traceback" in r.out:
        TRACEBACKS.append(r.err[-300:])
    assert "Traceback" not in r.err and "Traceback" not in r.out, r.err
    assert r.status == status, (r.status, r.out, r.err)
    for f in answered:
        assert sum(line.startswith(str(f)) for line in r.out.splitlines()) == 1, (f, r.out)
    for text in err_has:
        assert text in r.err, (text, r.err)
    for text in out_has:
        assert text in r.out, (text, r.out)
    skips = [line.split(": ")[0] + ": " + line.split(": ")[1] for line in r.err.splitlines() if line.startswith("skip: ")]
    assert len(skips) == len(set(skips)), f"a skip line printed twice: {r.err}"


# --------------------------------------------------------------------------- the awkward world


def _wav_with_rate(path: Path, rate: int, seconds_of_samples: int = 16000) -> None:
    """A valid PCM WAV whose header claims `rate` Hz (a 1 Hz claim makes 16000 samples 4.4 hours)."""
    rng = np.random.default_rng(0)
    sf.write(path, (0.1 * rng.standard_normal(seconds_of_samples)).astype(np.float32), rate, subtype="PCM_16")


class Evil:
    """A pickle that runs a shell command when unpickled: weights_only loading must refuse it."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _bad_audio(d: Path) -> dict[str, str]:
    """Bad files of every kind -> {name: words of its skip reason}."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "empty.wav").write_bytes(b"")
    (d / "text.wav").write_text("not audio\n" * 50)
    (d / "folder.wav").mkdir()
    (d / "loop.wav").symlink_to(d / "loop2.wav")
    (d / "loop2.wav").symlink_to(d / "loop.wav")
    (d / "broken.wav").symlink_to(d / "nothing-here.wav")
    _wav_with_rate(d / "onehz.wav", 1)
    _wav_with_rate(d / "fast.wav", 500_000)
    y, sr = sf.read(GOOD[0], dtype="float32")
    sf.write(d / "huge.wav", (y / np.abs(y).max() * 1e30).astype(np.float32), sr, subtype="FLOAT")
    nan = y.copy()
    nan[100] = np.nan
    sf.write(d / "nan.wav", nan, sr, subtype="FLOAT")
    sf.write(d / "full.wav", y, sr)
    (d / "cut.wav").write_bytes((d / "full.wav").read_bytes()[:-400])
    return {"empty.wav": "empty file", "text.wav": "not readable as audio", "folder.wav": "is a folder",
            "loop.wav": "symbolic link to nothing", "broken.wav": "symbolic link to nothing",
            "onehz.wav": "implausible sample rate 1 Hz", "fast.wav": "implausible sample rate 500000 Hz",
            "huge.wav": "not finite", "nan.wav": "NaN or infinite", "cut.wav": "truncated"}


@dataclass
class World:
    root: Path  # readable by `nobody` (the unprivileged cases read from it)
    model: Path  # a copy of the tiny run's model folder
    bad: Path
    reasons: dict[str, str] = field(default_factory=dict)

    def model_copy(self, name: str) -> Path:
        d = self.root / name
        shutil.copytree(self.model, d)
        return d


@pytest.fixture(scope="module")
def world(tiny_run):
    root = Path(tempfile.mkdtemp(prefix="voxprint-awkward-"))
    root.chmod(0o755)  # mkdtemp makes 0700; the unprivileged cases must get in
    model = root / "model"
    shutil.copytree(tiny_run / "cnn-mel-s0", model, ignore=shutil.ignore_patterns("profiles.db*"))
    (root / "home").mkdir()
    w = World(root, model, root / "bad")
    w.reasons = _bad_audio(w.bad)
    yield w
    shutil.rmtree(root, ignore_errors=True)


# --------------------------------------------------------------------------- exit status, one bad file


def test_every_bad_file_is_one_skip_line_and_the_good_ones_are_answered(world):
    bad = [world.bad / n for n in world.reasons]
    r = cli("predict", "--run", world.model, GOOD[0], *bad, GOOD[1])
    check(r, EXIT_SKIPPED, answered=GOOD)
    for name, words in world.reasons.items():
        lines = [line for line in r.err.splitlines() if line.startswith(f"skip: {world.bad / name}: ")]
        assert len(lines) == 1 and words in lines[0], (name, r.err)
    assert len(r.err.strip().splitlines()) == len(world.reasons)


def test_predict_all_good_is_status_0(world):
    check(cli("predict", "--run", world.model, *GOOD), EXIT_OK, answered=GOOD)


@pytest.mark.parametrize("engine", ["torch", "onnx"])
def test_predict_with_every_file_rejected_says_so(world, engine):
    r = cli("predict", "--run", world.model, "--engine", engine, world.bad / "empty.wav", world.bad / "huge.wav")
    check(r, EXIT_SKIPPED, err_has=["voxprint: no file answered (2 skipped)"])
    assert r.out == ""


@pytest.fixture(scope="module")
def enrolled(world):
    """A model folder copy with george enrolled, and its db."""
    d = world.model_copy("enrolled")
    db = d / "profiles.db"
    check(cli("enroll", "george", *[FSDD / f"{k}_george_5.wav" for k in range(5)], "--run", d), EXIT_OK)
    return d, db


def test_identify_with_every_file_rejected_says_so(world, enrolled):
    r = cli("identify", world.bad / "empty.wav", world.bad / "text.wav", "--run", enrolled[0])
    check(r, EXIT_SKIPPED, err_has=["no file answered (2 skipped)", "empty.wav: empty file"])
    assert r.out == ""


def test_identify_some_skipped_answers_the_rest(world, enrolled):
    r = cli("identify", GOOD[0], world.bad / "nan.wav", "--run", enrolled[0])
    check(r, EXIT_SKIPPED, answered=[GOOD[0]], err_has=["nan.wav: contains NaN"])


def test_enroll_some_skipped_enrols_the_rest(world):
    d = world.model_copy("enrol-some")
    r = cli("enroll", "ann", GOOD[0], world.bad / "empty.wav", "--run", d)
    check(r, EXIT_SKIPPED, out_has=["enrolled ann: 1 clip(s)"], err_has=["empty.wav: empty file"])


def test_enroll_all_skipped_enrols_nothing(world):
    d = world.model_copy("enrol-none")
    r = cli("enroll", "ann", world.bad / "empty.wav", world.bad / "onehz.wav", "--run", d)
    check(r, EXIT_SKIPPED, err_has=["nothing enrolled"])
    check(cli("speakers", "--run", d), EXIT_OK, out_has=["no enrolled speakers"])


def test_verify_with_a_skipped_file_has_no_score(world, enrolled):
    check(cli("verify", GOOD[0], world.bad / "cut.wav", "--run", enrolled[0]), EXIT_SKIPPED,
          err_has=["cut.wav: truncated", "no score: 1 of 2 file(s) skipped"])
    check(cli("verify", "--claim", "george", world.bad / "folder.wav", "--run", enrolled[0]), EXIT_SKIPPED,
          err_has=["folder.wav: is a folder"])
    check(cli("verify", *GOOD, "--run", enrolled[0]), EXIT_OK, out_has=["score "])


def test_evaluate_with_missing_test_files_scores_the_rest(world):
    run = world.root / "eval-run"
    run.mkdir()
    d = world.model.parent / "eval-run" / "cnn-mel-s0"
    shutil.copytree(world.model, d)
    rows = [{"path": str(FSDD / f"{k}_{s}_0.wav"), "speaker": s, "split": "test"}
            for s in ("george", "jackson") for k in range(4)]
    rows.append({"path": str(world.root / "gone.wav"), "speaker": "george", "split": "test"})
    write_csv(run / "split.csv", rows, ["path", "speaker", "split"])
    r = cli("evaluate", d, "--snr", "10", "--noise", "white")
    check(r, EXIT_SKIPPED, err_has=["gone.wav: file not found"], out_has=["white", "written:"])
    # a short row in split.csv is one line, not a KeyError
    (run / "split.csv").write_text("path,speaker,split\n" + str(GOOD[0]) + ",george\n")
    check(cli("evaluate", d, "--snr", "10"), EXIT_ERROR, err_has=["split.csv:2: expected columns path,speaker,split"])


# --------------------------------------------------------------------------- unreadable files (another user)


def _unprivileged() -> list[str] | None:
    """argv prefix that runs a command as a user without root's blanket read access, or None."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv"):
        return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    return None


def _run_as_user(world: World, *argv) -> subprocess.CompletedProcess:
    prefix = _unprivileged()
    if prefix is None:
        pytest.skip("running as root without setpriv: cannot drop privileges to make a file unreadable")
    home = world.root / "home"
    home.chmod(0o777)
    env = os.environ | {"HOME": str(home), "VOXPRINT_CACHE": str(home / "cache"), "XDG_CACHE_HOME": str(home)}
    RUNS.append(" ".join(map(str, argv)))
    return subprocess.run([*prefix, sys.executable, "-m", "voxprint.cli", *map(str, argv)], capture_output=True,
                          text=True, env=env, cwd=world.root, timeout=300)


def test_unreadable_file_is_a_skip_line_for_a_normal_user(world):
    noread = world.root / "noread.wav"
    shutil.copy(GOOD[1], noread)
    noread.chmod(0o000)
    p = _run_as_user(world, "predict", "--run", world.model, noread, GOOD[0])
    check(Result(p.returncode, p.stdout, p.stderr), EXIT_SKIPPED, answered=[GOOD[0]],
          err_has=[f"skip: {noread}: cannot be read (permission denied)"])


def _numbered_speaker(folder: Path, speaker: str, n: int) -> None:
    folder.mkdir(parents=True)
    for i in range(n):  # consecutive clip numbers, as slices of one recording would be
        (folder / f"{i}.wav").symlink_to(FSDD / f"{i % 10}_{speaker}_{10 + i // 10}.wav")


def test_run_on_a_folder_with_junk_keeps_going_lists_it_and_keeps_the_block_split(world):
    data = world.root / "junkset"
    for spk in ("george", "jackson", "lucas"):
        _numbered_speaker(data / spk, spk, 16)
    junk = data / "george"
    (junk / "empty.wav").write_bytes(b"")
    (junk / "x.wav").mkdir()
    (junk / "loop.wav").symlink_to(junk / "loop.wav")
    shutil.copy(FSDD / "0_george_30.wav", junk / "16.wav")
    (junk / "16.wav").chmod(0o000)  # unreadable to the user running voxprint
    out = world.root / "home" / "junkrun"  # a folder the unprivileged user may write
    p = _run_as_user(world, "run", "--data", data, "--out", out, "--no-progress", "--no-report",
                     "--models", "cnn", "--features", "mel", "--set", "data.block_size=2", "--set", "data.val_fraction=0.3",
                     "--set", "train.max_steps=2", "--set", "train.min_steps=1", "--set", "train.val_every_steps=1",
                     "--set", "train.batch_size=4", "--set", "eval.robustness=false", "--set", "eval.verification=false",
                     "--set", "eval.latency_runs=1", "--set", "vad.enabled=false")
    check(Result(p.returncode, p.stdout, p.stderr), EXIT_OK)
    skipped = {Path(r["path"]).name: r["reason"] for r in read_csv(out / "skipped.csv")}
    assert skipped.keys() == {"empty.wav", "x.wav", "loop.wav", "16.wav"}, skipped
    assert "permission denied" in skipped["16.wav"] and "folder" in skipped["x.wav"]
    assert "symbolic link" in skipped["loop.wav"]
    for name in skipped:  # each printed once
        assert p.stderr.count(f"skip: {junk / name}:") == 1, p.stderr
    assert "split 'block'" in p.stderr  # chosen from the usable files: the junk did not switch it


# --------------------------------------------------------------------------- nothing outside the folder


def _results(run: Path, **changes) -> None:
    row = {"model": "cnn", "feature": "mel", "seed": 0, "head": "softmax", "augmented": True, "accuracy": 0.9,
           "macro_f1": 0.9, "val_accuracy": 0.9, "val_loss": 0.1, "steps": 10, "best_step": 10,
           "train_seconds": 1.0, "params": 100} | changes
    write_csv(run / "results.csv", [row])


def test_results_csv_cannot_point_outside_the_run_folder(world):
    run = world.root / "crafted-run"
    run.mkdir()
    outside = world.model_copy("outside-cnn")
    _results(run, model=f"../{outside.name}")
    check(cli("predict", "--run", run, GOOD[0]), EXIT_ERROR, err_has=["not a model/feature name"])
    _results(run)
    (run / "cnn-mel-s0").symlink_to(outside)  # the cell folder is a link that leaves the run
    for argv in (["predict", GOOD[0]], ["enroll", "ann", GOOD[0]]):
        check(cli(*argv, "--run", run), EXIT_ERROR, err_has=["outside the folder; refused"])
    assert not (outside / "profiles.db").exists()


def test_results_csv_with_text_in_a_number_column(world):
    run = world.root / "text-run"
    run.mkdir()
    _results(run, accuracy="high")
    check(cli("predict", "--run", run, GOOD[0]), EXIT_ERROR, err_has=["results.csv:2: column 'accuracy'"])
    check(cli("report", run), EXIT_ERROR, err_has=["results.csv:2: column 'accuracy'"])


def test_a_model_file_that_is_a_link_out_of_the_folder_is_refused(world):
    d = world.model_copy("linked-labels")
    (world.root / "labels-elsewhere.json").write_text((d / "labels.json").read_text())
    (d / "labels.json").unlink()
    (d / "labels.json").symlink_to(world.root / "labels-elsewhere.json")
    check(cli("predict", "--run", d, GOOD[0]), EXIT_ERROR, err_has=["outside the folder; refused"])


def test_a_profile_db_that_is_a_link_is_refused(world):
    d = world.model_copy("linked-db")
    target = world.root / "elsewhere.db"
    (d / "profiles.db").symlink_to(target)
    check(cli("enroll", "ann", GOOD[0], "--run", d), EXIT_ERROR, err_has=["outside the folder; refused"])
    (d / "profiles.db").unlink()
    (d / "profiles.db").symlink_to(d / "real.db")  # stays inside, but SQLite would keep its -wal by the link
    check(cli("enroll", "ann", GOOD[0], "--run", d), EXIT_ERROR, err_has=["profiles.db: is a symbolic link; refused"])
    check(cli("enroll", "ann", GOOD[0], "--run", d, "--db", d / "profiles.db"), EXIT_ERROR,
          err_has=["is a symbolic link; refused"])
    assert not target.exists() and not (d / "real.db").exists()


# --------------------------------------------------------------------------- crafted model folders


def _crafted(world: World, name: str, file: str, content) -> Path:
    d = world.model_copy(name)
    (d / file).write_bytes(content if isinstance(content, bytes) else content.encode())
    return d


@pytest.mark.parametrize("file, content, message", [
    ("labels.json", json.dumps(["george", "jackson", "lucas"]), "does not match config.yaml and labels.json"),
    ("labels.json", json.dumps(["ann", "ann"]), "two or more distinct speaker names"),
    ("labels.json", json.dumps([f"s{i}" for i in range(1_000_000)]), "[1000000, 128] by the config and labels"),
    ("labels.json", "{not json", "not a readable label list"),
    ("config.yaml", "data: {sample_rate: 8000\n  clip_seconds: [", "not valid YAML"),
    ("config.yaml", "data: {sample_rate: 8000}\nmodel: {embed_dim: 2000000000}\n", "embed_dim = 2000000000 is out of range"),
    ("config.yaml", "just a string", "a config must be a mapping"),
    ("config.yaml", b"\xff\xfe\x00binary", "cannot be read as a text config"),
    ("model.pt", b"not a zip file", "not a voxprint weights file"),
    ("calibration.json", "[]", "not a calibration file"),
])
def test_crafted_model_folder_file_is_one_line(world, file, content, message):
    d = _crafted(world, f"crafted-{next(_COPIES)}", file, content)
    argv = ["identify", GOOD[0], "--run", d] if file == "calibration.json" else ["predict", GOOD[0], "--run", d]
    if file == "calibration.json":
        check(cli("enroll", "ann", GOOD[1], "--run", d), EXIT_OK)
    r = cli(*argv)
    check(r, EXIT_ERROR, err_has=[message])
    assert len(r.err.strip().splitlines()) == 1, r.err


def test_a_malicious_model_pt_is_refused_without_running_it(world):
    marker = world.root / "pwned"
    d = world.model_copy("evil")
    torch.save({"x": Evil(marker)}, d / "model.pt")
    check(cli("predict", GOOD[0], "--run", d), EXIT_ERROR, err_has=["not a voxprint weights file"])
    assert not marker.exists()


def test_a_corrupt_onnx_file_is_one_line(world):
    d = _crafted(world, "bad-onnx", "model.onnx", b"garbage")
    check(cli("predict", GOOD[0], "--run", d, "--engine", "onnx"), EXIT_ERROR, err_has=["not a loadable ONNX model"])


# --------------------------------------------------------------------------- configs and manifests


@pytest.mark.parametrize("override, message", [
    ("train.batch_size=0", "train.batch_size = 0 is out of range; valid: 1 ≤ batch_size ≤ 65536"),
    ("data.clip_seconds=0", "data.clip_seconds = 0 is out of range"),
    ("data.block_size=0", "data.block_size = 0 is out of range; valid: 2 ≤ block_size"),
    ("data.sample_rate=-8000", "data.sample_rate = -8000 is out of range; valid: 1000 ≤ sample_rate ≤ 384000"),
    ("train.max_steps=-1", "train.max_steps = -1 is out of range"),
    ("model.embed_dim=2000000000", "model.embed_dim = 2000000000 is out of range"),
    ("train.lr=.nan", "train.lr = nan is out of range"),
    ("data.val_fraction=0.5", "leaves no training clips"),
])
def test_config_values_out_of_range_are_one_line(world, override, message):
    overrides = ["--set", override] + (["--set", "data.test_fraction=0.5"] if "fraction" in override else [])
    r = cli("run", "--out", world.root / "never", *overrides, "--no-progress")
    check(r, EXIT_ERROR, err_has=[message])
    assert len(r.err.strip().splitlines()) == 1 and not (world.root / "never").exists()


def test_bad_config_files_and_out_are_one_line(world):
    cfgs = world.root / "configs"
    cfgs.mkdir()
    (cfgs / "binary.yaml").write_bytes(bytes(range(256)))
    (cfgs / "string.yaml").write_text("hello\n")
    (cfgs / "folder.yaml").mkdir()
    (world.root / "a-file").write_text("x")
    cases = [(["--config", cfgs / "binary.yaml"], "cannot be read as a text config"),
             (["--config", cfgs / "string.yaml"], "a config must be a mapping"),
             (["--config", cfgs / "folder.yaml"], "no such config file"),
             (["--out", world.root / "a-file"], "exists and is not a folder")]
    for argv, message in cases:
        argv = argv if "--out" in argv else [*argv, "--out", world.root / "never"]
        r = cli("run", *argv, "--no-progress")
        check(r, EXIT_ERROR, err_has=[message])
        assert len(r.err.strip().splitlines()) == 1


def test_bad_manifests_are_one_line(world):
    short = world.root / "short.csv"
    short.write_text(f"path,speaker\n{GOOD[0]},george\n{GOOD[1]}\n")
    latin = world.root / "latin.csv"
    latin.write_bytes(f"path,speaker\n{GOOD[0]},Jos\xe9\n".encode("latin-1"))
    for manifest, message in ((short, "short.csv:3: expected the 2 columns"), (latin, "not UTF-8 text")):
        r = cli("run", "--data", manifest, "--out", world.root / "never", "--no-progress")
        check(r, EXIT_ERROR, err_has=[message])
        assert len(r.err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv", [
    ["evaluate", "RUN", "--snr", "nan"], ["evaluate", "RUN", "--seed", "-1"], ["identify", "x.wav", "--threshold", "5"],
    ["calibrate", "RUN", "--far", "0"],
])
def test_out_of_range_arguments_are_usage_errors(world, argv):
    r = cli(*[world.model if a == "RUN" else a for a in argv])
    check(r, EXIT_ERROR, err_has=["out of range"])


# --------------------------------------------------------------------------- names


def test_names_are_nfc_and_invisible_characters_refused(world):
    d = world.model_copy("names")
    nfc, nfd = "José", unicodedata.normalize("NFD", "José")
    assert nfc != nfd
    check(cli("enroll", nfc, GOOD[0], "--run", d), EXIT_OK)
    check(cli("enroll", nfd, GOOD[1], "--run", d), EXIT_OK, out_has=["enrolled José: 2 clip(s)"])
    r = cli("speakers", "--run", d)
    check(r, EXIT_OK)
    assert [line.split("\t")[0] for line in r.out.splitlines()] == [nfc]
    for name, what in (("juli\u200ba", "invisible format character (U+200B)"),
                       ("\u202eevil", "invisible format character (U+202E)"),
                       ("tab\there", "control character (U+0009)"), (" ann", "leading or trailing")):
        r = cli("enroll", name, GOOD[0], "--run", d)
        check(r, EXIT_ERROR, err_has=[what])
        assert len(r.err.strip().splitlines()) == 1
    check(cli("forget", nfd, "--run", d), EXIT_OK)
    check(cli("speakers", "--run", d), EXIT_OK, out_has=["no enrolled speakers"])


def test_no_case_ended_in_a_traceback():
    """Runs last in this module: the count the issue asks for (each failing case failed already)."""
    print(f"\nawkward inputs: {len(RUNS)} voxprint commands run, {len(TRACEBACKS)} tracebacks")
    assert TRACEBACKS == []
