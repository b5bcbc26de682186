"""POST /v1/diarize and the page's Conversation card, on a real server process with the shipped encoder
and a synthetic conversation of two libri-dev TEST speakers (one of them enrolled over HTTP)."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import httpx
import numpy as np
import pytest
import soundfile as sf
from test_diarize import TWO, _coverage, _test_voices
from test_serve import CHROMIUM, _open_page, error, start_server

from benchmarks import synth
from voxprint.diarize import Turn

SR = 16000


@pytest.fixture(scope="module")
def conversation(tmp_path_factory):
    """(server, enrolled speaker, conversation, its wav path): the first 5 s of the enrolled speaker's
    recording enrol them, the conversation uses only the rest."""
    from voxprint.pretrained import ENCODER_DIR

    folder = tmp_path_factory.mktemp("serve-diarize")
    voices = _test_voices(6)
    names = list(voices)
    enrolled, other = names[0], names[1]
    conv = synth.conversation({enrolled: voices[enrolled][5 * SR :], other: voices[other]}, TWO, seed=2)
    path = folder / "meeting.wav"
    sf.write(path, conv.audio, SR, subtype="PCM_16")
    enrol = io.BytesIO()
    sf.write(enrol, voices[enrolled][: 5 * SR], SR, format="WAV", subtype="PCM_16")
    proc, url = start_server(ENCODER_DIR, folder / "p.db", folder / "server.log")
    with httpx.Client(base_url=url, timeout=120) as http:
        yield SimpleNamespace(http=http, url=url, conv=conv, path=path, enrolled=enrolled, other=other,
                              enrol_wav=enrol.getvalue())
    proc.terminate()
    proc.wait(timeout=30)
    assert "Traceback" not in (folder / "server.log").read_text()


def _turns(body) -> list[Turn]:
    return [Turn(t["start"], t["end"], t["label"]) for t in body["turns"]]


def test_diarize_over_http_before_and_after_enrolling(conversation):
    c = conversation
    audio = {"audio": ("meeting.wav", c.path.read_bytes(), "audio/wav")}
    body = c.http.post("/v1/diarize", files=audio).json()  # nobody enrolled: speaker-N labels
    assert {s["label"] for s in body["speakers"]} >= {"speaker-1", "speaker-2"}
    assert all(not s["enrolled"] for s in body["speakers"] if "enrolled" in s and s["enrolled"] is not None)
    assert abs(body["seconds"] - len(c.conv.audio) / SR) < 0.01
    r = c.http.post("/v1/enroll", data={"name": "alice"}, files={"audio": ("a.wav", c.enrol_wav, "audio/wav")})
    assert r.status_code == 200, r.text
    body = c.http.post("/v1/diarize", files=audio, data={"speakers": "2"}).json()  # naming, with the count known
    alice = next(s for s in body["speakers"] if s["label"] == "alice")
    # decided as identify decides a clip: AS-norm at the target false-accept rate, with an LLR per speaker
    assert body["far"] == 0.01 and alice["enrolled"] and alice["llr"] > 0
    assert all(s["llr"] < 0 and not s["enrolled"] for s in body["speakers"] if s["label"] != "alice")
    hyp = _turns(body)
    cov = _coverage(c.conv.turns, hyp, c.enrolled)
    assert cov.get("alice", 0) / sum(cov.values()) > 0.85
    cov = _coverage(c.conv.turns, hyp, c.other)
    assert cov.get("speaker-1", 0) / sum(cov.values()) > 0.85


def test_diarize_refuses_bad_audio_like_identify(conversation):
    http = conversation.http
    msg = error(http.post("/v1/diarize", files={"audio": ("n.wav", b"not samples" * 100, "audio/wav")}), 400,
                "bad_audio")
    assert "n.wav" in msg or "decoded" in msg or "audio" in msg
    buf = io.BytesIO()
    sf.write(buf, np.zeros(SR, np.float32), SR, format="WAV", subtype="PCM_16")
    assert "silent" in error(http.post("/v1/diarize", files={"audio": ("s.wav", buf.getvalue())}), 400, "bad_audio")
    # noise with no voice in it: refused as identify refuses it, not diarized into a speaker
    buf = io.BytesIO()
    sf.write(buf, np.random.default_rng(0).normal(0, 0.1, 10 * SR).astype(np.float32), SR, format="WAV")
    msg = error(http.post("/v1/diarize", files={"audio": ("hiss.wav", buf.getvalue())}), 400, "no_speech")
    assert "hiss.wav" in msg and "no speech" in msg


def test_conversation_card_draws_named_turns_in_chromium(conversation, tmp_path):
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: this test needs Debian's chromium (apt-get install chromium)")
    c = conversation
    if c.http.get("/v1/speakers").json()["speakers"] == []:  # alone: enrol as the HTTP test does
        c.http.post("/v1/enroll", data={"name": "alice"}, files={"audio": ("a.wav", c.enrol_wav, "audio/wav")})
    mic = tmp_path / "mic.wav"
    sf.write(mic, c.conv.audio[: 3 * SR], SR, subtype="PCM_16")
    with sync_playwright() as pw:
        browser, page, errors = _open_page(pw, c.url, mic)
        page.fill("#conv-speakers", "2")
        page.set_input_files("#conv-file", str(c.path))
        page.wait_for_selector("#conv-timeline .turn", timeout=60_000)
        labels = {page.get_attribute(el, "data-label") for el in ["#conv-legend li:nth-child(1)",
                                                                  "#conv-legend li:nth-child(2)"]}
        assert labels == {"alice", "speaker-1"}
        turns = page.query_selector_all("#conv-timeline .turn")
        # one lane per speaker, in legend order, so turns that overlap in time are both in sight
        order = [li.get_attribute("data-label") for li in page.query_selector_all("#conv-legend li")]
        tops = {}
        for t in turns:
            label, box = t.get_attribute("data-label"), t.bounding_box()
            assert t.get_attribute("data-lane") == str(order.index(label))
            tops.setdefault(label, set()).add(round(box["y"]))
        assert all(len(y) == 1 for y in tops.values()) and len({y.pop() for y in tops.values()}) == len(tops)
        same = c.http.post("/v1/diarize", files={"audio": ("m.wav", c.path.read_bytes())}, data={"speakers": "2"})
        assert len(turns) == len(same.json()["turns"])
        assert page.text_content("#conv-status") == f"2 speakers in {len(c.conv.audio) / SR:.1f} s"
        assert errors == []
        browser.close()
