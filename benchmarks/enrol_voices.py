"""Two voices in one enrolment clip (issue 22, item 3): how often `voxprint enroll` flags a clip of two
voices taking turns (refuses it, or enrols it with a warning), and how often it wrongly flags a clip of one
voice, by clip length; and the turn threshold of the warning for clips of 3-8 s of speech
(voxprint/enrol_check.py).

    python -m benchmarks.enrol_voices [--results] [--write]

--write stores the chosen threshold for the shipped encoder in voxprint/enrol_turn.json, where
`voxprint enroll` reads it (keyed by the encoder's model_id: another model's clips are not cut).

Nothing is trained; the shipped encoder and its enrolment limits, as `voxprint enroll` uses them. Speakers
(benchmarks/profiles.py's `sources`): libri-dev DEV and TEST speakers of the project's split (one read
utterance each), and ocean-train's speakers (children and adults, several utterances each) split there in
DEV and TEST halves. A speaker's recordings are joined end to end; from them, at each length L:
- one voice: the first L seconds;
- two voices, half/half: the first L/2 s of this speaker, then the first L/2 s of the next speaker of the
  same source and group (names in order, the last with the first); 70/30: 0.7 L of this one, 0.3 L of the next.
Every clip is measured once (speech, SNR, the window split, the turn cut). The turn threshold is chosen on
DEV speakers only: the 2nd percentile of `turn_cos` over their one-voice clips of both sources (at most 2 %
of single voices warned about), the least that spares nearly every single voice. Flag rates are then those
of the whole check (enrol_check.judge: refusals, enrol_check.doubt: warnings) with that threshold, per source,
group and length; TEST speakers chose nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.common import DATA, publish
from benchmarks.profiles import sources
from voxprint import audio
from voxprint import protocol as P

# the code these figures depend on: docs/results/enrol-voices.md is stale once one of these changes
INPUTS = ["benchmarks/enrol_voices.py", "benchmarks/profiles.py", "voxprint/enrol_check.py", "voxprint/quality.py",
          "voxprint/decisions.py", "voxprint/inference.py", "voxprint/pretrained", "voxprint/features",
          "voxprint/melspec.py", "voxprint/vad", "voxprint/clip_scoring.py", "voxprint/audio.py",
          "voxprint/protocol.py", "voxprint/encoder/libri_split.json"]

SR = P.SAMPLE_RATE
LENGTHS = (4.0, 6.0, 10.0)  # seconds of audio per clip
KINDS = {"one voice": None, "two voices, half/half": 0.5, "two voices, 70/30": 0.7}
KEEP_SINGLE = 0.98  # the turn threshold spares this share of DEV single voices


@dataclass
class Clip:
    source: str
    group: str  # dev | test
    child: bool
    length: float
    kind: str
    check: object  # enrol_check.ClipCheck (measured, no verdict)


def joined(src: dict, speaker: str) -> np.ndarray:
    return np.concatenate([audio.load(f, SR)[0] for f in src["files"](speaker)])


def make_clips(rec, src_name: str, src: dict, group: str, speakers: list[str]) -> list[Clip]:
    from voxprint.enrol_check import measure_clip

    waves = {s: joined(src, s) for s in speakers}
    out = []
    for i, s in enumerate(speakers):
        nxt = waves[speakers[(i + 1) % len(speakers)]]
        for length in LENGTHS:
            n = int(length * SR)
            for kind, share in KINDS.items():
                k = n if share is None else int(share * n)
                y = waves[s][:k] if share is None else np.concatenate([waves[s][:k], nxt[: n - k]])
                if len(y) < n or (share is not None and len(waves[s]) < k):
                    continue  # a speaker with too little audio for this length
                out.append(Clip(src_name, group, s in src.get("children", ()), length, kind,
                                measure_clip(rec, y, f"{s}-{length:g}s", split=True, turn=True)))
    return out


def fit_turn(clips: list[Clip]) -> float:
    """The turn threshold: the (1 - KEEP_SINGLE) quantile of DEV single voices' turn_cos."""
    v = [c.check.turn_cos for c in clips if c.group == "dev" and c.kind == "one voice" and c.check.turn_cos is not None]
    return float(np.quantile(v, 1 - KEEP_SINGLE))


def flagged(clips: list[Clip], limits, turn_max: float) -> list[bool]:
    """Per clip: does `voxprint enroll` refuse it or warn about it (as enrol_check.check_clip decides)?"""
    from voxprint.enrol_check import doubt, judge

    return [bool(judge(c.check, limits, c.length) or doubt(c.check, turn_max)) for c in clips]


def table(clips: list[Clip], limits, turn_max: float, group: str) -> list[str]:
    rows = ["| source | clip | " + " | ".join(KINDS) + " |", "|---|---|" + "---|" * len(KINDS)]
    for src in sorted({c.source for c in clips}):
        for length in LENGTHS:
            cells = []
            for kind in KINDS:
                sel = [c for c in clips if (c.source, c.group, c.length, c.kind) == (src, group, length, kind)]
                r = flagged(sel, limits, turn_max)
                cells.append(f"{np.mean(r):.2f} ({sum(r)}/{len(r)})" if r else "–")
            rows.append(f"| {src} | {length:g} s | " + " | ".join(cells) + " |")
    return rows


def children_line(clips: list[Clip], limits, turn_max: float) -> str:
    sel = [c for c in clips if c.source == "ocean-train" and c.group == "test" and c.kind == "one voice"]
    parts = []
    for child, label in ((True, "children"), (False, "adults")):
        r = flagged([c for c in sel if c.child == child], limits, turn_max)
        parts.append(f"{label} {np.mean(r):.2f} ({sum(r)}/{len(r)})" if r else f"{label} –")
    return "ocean-train TEST single voices flagged, " + ", ".join(parts) + "."


def markdown(clips: list[Clip], limits, turn_max: float, before: float | None, seconds: float) -> str:
    dev_single = [c.check.turn_cos for c in clips if c.group == "dev" and c.kind == "one voice"
                  and c.check.turn_cos is not None]
    dev_two = [c.check.turn_cos for c in clips if c.group == "dev" and c.kind != "one voice"
               and c.check.turn_cos is not None]
    lines = [
        "The shipped encoder and its enrolment limits, nothing trained. Each cell: the share of clips "
        "`voxprint enroll` flags (flagged / clips); for one voice that is the wrong flags, for two voices the "
        "two-voice clips caught. Clips of 8 s of speech or more are checked by the window split "
        f"(split_max_cos {limits.split_max_cos:.3f} from scoring.json) and refused; clips of 3-8 s by the turn "
        "cut, and enrolled with a warning; under 3 s are not checked for a second voice. A clip with too "
        "little speech or too much noise is refused at any length.", "",
        f"Turn threshold chosen on DEV speakers: **{turn_max:.4f}** (the {1 - KEEP_SINGLE:.0%} quantile of "
        f"{len(dev_single)} single-voice clips' lowest cut cosine; range {min(dev_single):.3f}-{max(dev_single):.3f}; "
        f"two-voice clips {min(dev_two):.3f}-{max(dev_two):.3f}). "
        + ("voxprint/enrol_turn.json held no threshold for this encoder before this run." if before is None else
           f"voxprint/enrol_turn.json held {before:.4f} for this encoder before this run."), "",
        f"**{summary(clips, limits, turn_max)}.**", "",
        "## TEST speakers (chose nothing)", "", *table(clips, limits, turn_max, "test"), "",
        children_line(clips, limits, turn_max), "",
        "## DEV speakers (chose the threshold)", "", *table(clips, limits, turn_max, "dev"), "",
        f"{len(clips)} clips measured in {seconds:.0f} s.",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    from voxprint.decisions import enrol_limits
    from voxprint.enrol_check import turn_thresholds
    from voxprint.inference import Recognizer

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", action="store_true", help="write docs/results/enrol-voices.md")
    ap.add_argument("--write", action="store_true", help="store the threshold in voxprint/enrol_turn.json")
    args = ap.parse_args(argv)
    rec = Recognizer()
    limits = enrol_limits(rec)
    start = time.perf_counter()
    clips = []
    for name, src in sources(Path(DATA)).items():
        for group, speakers in src["groups"].items():
            clips += make_clips(rec, name, src, group, speakers)
            print(f"{name} {group}: {len(speakers)} speakers measured ({time.perf_counter() - start:.0f} s)",
                  file=sys.stderr, flush=True)
    turn_max = fit_turn(clips)
    text = markdown(clips, limits, turn_max, turn_thresholds().get(rec.model_id), time.perf_counter() - start)
    print(text)
    print(f"model_id {rec.model_id}: turn_min_cos {turn_max:.4f}; {summary(clips, limits, turn_max)}")
    if args.results:
        publish("enrol-voices", text, title="Two voices in one enrolment clip", inputs=INPUTS,
                module=__spec__.name)  # no headline: the README's index is full; its enrolment section links here
    if args.write:
        write_threshold(rec.model_id, turn_max)
    return 0


def write_threshold(model_id: str, value: float) -> None:
    from benchmarks.common import START_COMMIT, command
    from voxprint.enrol_check import TURN_FILE
    from voxprint.io import read_json, write_json

    table = read_json(TURN_FILE) if TURN_FILE.exists() else {}
    table[model_id] = {"turn_min_cos": round(value, 4), "command": command(__spec__.name), "commit": START_COMMIT,
                       "chosen_on": "libri-dev and ocean-train DEV speakers' single-voice clips"}
    write_json(TURN_FILE, table)
    print(f"wrote {TURN_FILE}")


def summary(clips: list[Clip], limits, turn_max: float) -> str:
    test = [c for c in clips if c.group == "test" and c.length < 8]
    one = flagged([c for c in test if c.kind == "one voice"], limits, turn_max)
    two = flagged([c for c in test if c.kind != "one voice"], limits, turn_max)
    return (f"TEST clips of 4-6 s: two-voice clips warned about {np.mean(two):.2f}, single voices wrongly "
            f"warned about "
            f"{np.mean(one):.2f} (turn threshold {turn_max:.3f}, chosen on DEV)")


if __name__ == "__main__":
    sys.exit(main())
