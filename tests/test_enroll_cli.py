"""Enrolment without retraining, on real audio, through the CLI: theo and yweweler were
never in the tiny model's training data."""

import numpy as np
from conftest import FSDD

from voxprint.cli import main
from voxprint.inference import Recognizer


def _lines(capsys):
    return [line.split("\t") for line in capsys.readouterr().out.strip().splitlines()]


def test_enrol_two_identify_unknown_and_known(tiny_run, tmp_path, capsys):
    run, db = str(tiny_run), str(tmp_path / "profiles.db")
    # Enrol from training-split recordings (index >= 5) of two speakers the model never saw.
    for name in ("theo", "yweweler"):
        files = [str(FSDD / f"{d}_{name}_{i}.wav") for d in range(10) for i in (5, 6, 7)]
        assert main(["enroll", name, *files, "--run", run, "--db", db]) == 0
    capsys.readouterr()
    assert main(["speakers", "--run", run, "--db", db]) == 0
    assert [row[0] for row in _lines(capsys)] == ["theo", "yweweler"]

    # Unseen clips (index 0-4) of an enrolled speaker are named; a third, never-enrolled
    # speaker (lucas) is 'unknown'. Majority over ten clips each: single clips are noisy.
    theo = [str(FSDD / f"{d}_theo_{d % 5}.wav") for d in range(10)]
    lucas = [str(FSDD / f"{d}_lucas_{d % 5}.wav") for d in range(10)]
    assert main(["identify", *theo, *lucas, "--run", run, "--db", db]) == 0
    names = [row[1] for row in _lines(capsys)]
    assert sum(n == "theo" for n in names[:10]) >= 7
    assert sum(n == "unknown" for n in names[10:]) >= 7

    # verify: a claim on the speaker's own clip is accepted, on another speaker's clip rejected (george and
    # jackson are speakers this small model trained on: their embeddings are reliable one clip at a time)
    george = [str(FSDD / f"{d}_george_{i}.wav") for d in range(10) for i in (5, 6)]
    assert main(["enroll", "george", *george, "--run", run, "--db", db]) == 0
    capsys.readouterr()
    assert main(["verify", "--claim", "george", str(FSDD / "3_george_0.wav"), "--run", run, "--db", db]) == 0
    out = capsys.readouterr().out
    assert out.startswith("score ") and out.strip().endswith("accept")
    assert main(["verify", "--claim", "george", str(FSDD / "3_jackson_0.wav"), "--run", run, "--db", db]) == 0
    assert capsys.readouterr().out.strip().endswith("reject")
    assert main(["verify", str(FSDD / "1_george_1.wav"), str(FSDD / "7_george_2.wav"), "--run", run]) == 0
    assert capsys.readouterr().out.strip().endswith("accept")
    assert main(["verify", str(FSDD / "1_george_1.wav"), str(FSDD / "7_nicolas_2.wav"), "--run", run]) == 0
    assert capsys.readouterr().out.strip().endswith("reject")

    # forget
    assert main(["forget", "theo", "--run", run, "--db", db]) == 0
    capsys.readouterr()
    assert main(["speakers", "--run", run, "--db", db]) == 0
    assert [row[0] for row in _lines(capsys)] == ["george", "yweweler"]
    assert main(["verify", "--claim", "theo", theo[0], "--run", run, "--db", db]) == 2
    assert "no enrolled speaker 'theo'" in capsys.readouterr().err


def test_threshold_is_calibrated_on_validation_only(tiny_run):
    rec = Recognizer(tiny_run)
    cal = rec.calibration()
    assert cal["method"] == "eer" and -1 <= cal["threshold"] <= 1 and cal["n_trials"] > 100
    # the trials came from the validation split: same count as its pairs
    from voxprint.io import read_csv

    n_val = sum(r["split"] == "val" for r in read_csv(tiny_run / "split.csv"))
    assert cal["n_trials"] == n_val * (n_val - 1) // 2
    assert main(["calibrate", str(tiny_run), "--far", "0.01"]) == 0
    far = Recognizer(tiny_run).calibration()
    assert far["method"] == "far" and far["threshold"] >= cal["threshold"] - 1e-6


def test_profile_of_another_model_is_refused(tiny_run, tmp_path, capsys):
    from voxprint.store import ProfileStore

    db = tmp_path / "p.db"
    with ProfileStore(db, "some-other-model") as s:
        s.enroll("ann", np.ones((1, 128)))
    assert main(["identify", str(FSDD / "0_theo_0.wav"), "--run", str(tiny_run), "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert "made by model some-other-model" in err and len(err.strip().splitlines()) == 1


def test_out_of_the_box_enrol_identify_verify_with_the_shipped_encoder(tmp_path, capsys):
    """A fresh install (no `voxprint run`): enrol two libri-dev test speakers with the default model,
    name them on their other segments, answer `unknown` for a third; a claim on the speaker's own
    segment is accepted and on another speaker's segment rejected."""
    import soundfile as sf
    from conftest import shared_file

    from voxprint import protocol as P

    a, b, stranger = P.load_split()["test"][3:6]  # never trained on, never used for a choice
    segs = P.segments(shared_file("libri-dev"), [a, b, stranger])
    path = {}
    for s in segs:
        path[s.id] = str(tmp_path / f"{s.speaker}_{s.index}.wav")
        sf.write(path[s.id], s.wave, P.SAMPLE_RATE)
    for spk in (a, b):  # no --run, no --db: the shipped encoder, profiles in $VOXPRINT_HOME
        assert main(["enroll", spk, *[path[s.id] for s in segs if s.speaker == spk and s.enrol]]) == 0
    capsys.readouterr()
    tests = [s for s in segs if not s.enrol]
    assert main(["identify", *[path[s.id] for s in tests]]) == 0
    answers = [row[1] for row in _lines(capsys)]
    for spk in (a, b):
        named = [n for s, n in zip(tests, answers) if s.speaker == spk]
        assert set(named) <= {spk, "unknown"} and named.count(spk) > len(named) / 2, (spk, named)
    assert all(n == "unknown" for s, n in zip(tests, answers) if s.speaker == stranger)
    own = next(s for s in tests if s.speaker == a)
    other = next(s for s in tests if s.speaker == b)
    assert main(["verify", "--claim", a, path[own.id]]) == 0
    assert capsys.readouterr().out.strip().endswith("accept")
    assert main(["verify", "--claim", a, path[other.id]]) == 0
    assert capsys.readouterr().out.strip().endswith("reject")
