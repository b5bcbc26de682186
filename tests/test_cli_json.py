"""`--json` on predict, identify, verify and speakers: one JSON document on stdout with the fields of
the lines the command prints without it; skips stay one line each on stderr, with the same exit status.
Real audio: libri-dev test speakers with the shipped encoder, FSDD with the tiny run."""

from __future__ import annotations

import json

import pytest
import soundfile as sf
from conftest import FSDD, shared_file

from voxprint import protocol as P
from voxprint.cli import main
from voxprint.inference import Recognizer


@pytest.fixture(scope="module")
def enrolled(tmp_path_factory):
    """Two libri-dev test speakers enrolled with the shipped encoder in a fresh store -> (db, {speaker:
    their held-out segment files}, a stranger's segment files)."""
    tmp = tmp_path_factory.mktemp("json")
    segs = P.segments(shared_file("libri-dev"), P.load_split()["test"][:8])
    count = {s.speaker: sum(x.speaker == s.speaker for x in segs) for s in segs}
    a, b, stranger = sorted(count, key=lambda spk: (-count[spk], spk))[:3]  # enough segments to enrol and test
    files: dict[str, list[str]] = {}
    enrol: dict[str, list[str]] = {}
    for s in (s for s in segs if s.speaker in (a, b, stranger)):
        path = str(tmp / f"{s.speaker}_{s.index}.wav")
        sf.write(path, s.wave, P.SAMPLE_RATE)
        (enrol if s.enrol else files).setdefault(s.speaker, []).append(path)
    db = str(tmp / "profiles.db")
    for spk in (a, b):
        assert main(["enroll", spk, *enrol[spk], "--db", db]) == 0
    return db, {a: files[a], b: files[b]}, files[stranger]


def _json(capsys):
    captured = capsys.readouterr()
    return json.loads(captured.out), captured.err


def test_speakers_json(enrolled, capsys):
    db, held_out, _ = enrolled
    capsys.readouterr()
    assert main(["speakers", "--db", db, "--json"]) == 0
    doc, err = _json(capsys)
    assert err == ""
    assert [s["name"] for s in doc["speakers"]] == sorted(held_out)
    rec = Recognizer(engine="torch")
    for s in doc["speakers"]:
        assert s["model"] == rec.model_id and s["clips"] >= 2 and 0 < s["consistency"] <= 1 and s["updated"]


def test_identify_json_matches_the_lines(enrolled, capsys):
    db, held_out, stranger = enrolled
    a, b = sorted(held_out)
    files = [held_out[a][0], held_out[b][0], stranger[0]]
    capsys.readouterr()
    assert main(["identify", *files, "--db", db]) == 0
    lines = [row.split("\t") for row in capsys.readouterr().out.strip().splitlines()]
    assert main(["identify", *files, "--db", db, "--json"]) == 0
    doc, _ = _json(capsys)
    answers = doc["files"]
    assert [x["path"] for x in answers] == files
    assert [x["speaker"] for x in answers] == [a, b, "unknown"]
    for x, line in zip(answers, lines):
        assert set(x) == {"path", "speaker", "score", "llr"}
        assert line == [x["path"], x["speaker"], f"{x['score']:.3f}", f"llr {x['llr']:+.2f}"]
    assert answers[0]["llr"] > 0 > answers[2]["llr"]


def test_identify_json_with_a_bad_file(enrolled, tmp_path, capsys):
    db, held_out, _ = enrolled
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF not audio")
    good = next(iter(held_out.values()))[0]
    capsys.readouterr()
    assert main(["identify", good, str(bad), "--db", db, "--json"]) == 3
    doc, err = _json(capsys)
    assert [x["path"] for x in doc["files"]] == [good]
    assert err.startswith(f"skip: {bad}:") and len(err.strip().splitlines()) == 1
    assert main(["identify", str(bad), "--db", db, "--json"]) == 3  # nothing answered: still one document
    doc, err = _json(capsys)
    assert doc == {"files": []} and "no file answered" in err


def test_verify_json(enrolled, capsys):
    db, held_out, _ = enrolled
    a, b = sorted(held_out)
    capsys.readouterr()
    assert main(["verify", "--claim", a, held_out[a][0], "--db", db, "--json"]) == 0
    own, _ = _json(capsys)
    assert main(["verify", "--claim", a, held_out[b][0], "--db", db, "--json"]) == 0
    other, _ = _json(capsys)
    assert own["accepted"] is True and other["accepted"] is False
    assert own["llr"] > 0 > other["llr"] and own["far"] == other["far"] == 0.01 and own["threshold"] is None
    assert main(["verify", held_out[a][0], held_out[a][1], "--threshold", "0.5", "--json"]) == 0
    pair, _ = _json(capsys)
    assert pair["threshold"] == 0.5 and pair["llr"] is None and pair["far"] is None
    assert pair["accepted"] is (pair["score"] >= 0.5) and pair["score"] > 0.5


def test_predict_json(tiny_run, capsys):
    files = [str(FSDD / f"{d}_george_{d % 5}.wav") for d in range(4)]
    assert main(["predict", *files, "--run", str(tiny_run)]) == 0
    lines = [row.split("\t") for row in capsys.readouterr().out.strip().splitlines()]
    assert main(["predict", *files, "--run", str(tiny_run), "--json"]) == 0
    doc, _ = _json(capsys)
    assert [x["path"] for x in doc["files"]] == files
    for x, line in zip(doc["files"], lines):
        assert line == [x["path"], x["speaker"], f"{x['probability']:.3f}"] and 0 < x["probability"] <= 1
    assert sum(x["speaker"] == "george" for x in doc["files"]) >= 3
