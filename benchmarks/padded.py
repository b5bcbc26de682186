"""Silence around the speech: a run's chosen model on its own test clips, as they are and padded
with 1.0 s of digital silence, or of a quiet room-noise bed, before and after every clip.

    python -m benchmarks.padded RUN [RUN ...] [--seconds 1.0] [--train DIR] [--results]

The same model is scored with the voice activity detector of its model folder (`vad` in its
config.yaml: what `voxprint predict` does) and with the detector switched off (the whole clip
heard, as before speech detection existed), side by side. With --train DIR, the chosen model's
configuration (model, feature, seed and the run's whole config) is also trained again on a
padded copy of the run's dataset - silence in the training clips too, as in ordinary recordings -
and tested on its padded test clips. Each goal is within 0.01 of the unpadded figure. Writes
RUN/padded.json; with --results, docs/results/padded.md (one table for all the runs).
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import numpy as np

from benchmarks.padding import RoomBed, default_room_noise, pad_clip
from voxprint import audio, rundir
from voxprint.inference import Recognizer
from voxprint.io import read_csv, read_json, write_json
from voxprint.report.results import REPORT_INPUTS, RUN_INPUTS

# the code these figures depend on: docs/results/ says they are stale once one of these changes
INPUTS = RUN_INPUTS + REPORT_INPUTS + ["benchmarks/padded.py", "benchmarks/padding.py", "voxprint/vad",
                                     "voxprint/inference.py"]


def padded_waves(waves: list[np.ndarray], sr: int, seconds: float, kind: str) -> list[np.ndarray]:
    if kind == "none":
        return waves
    pad = int(round(seconds * sr))
    bed = RoomBed(default_room_noise(), sr) if kind == "room" else None
    rng = np.random.default_rng(0)
    return [pad_clip(y, pad, None if bed is None else bed(len(y) + 2 * pad, rng)) for y in waves]


OTHER_BACKENDS = ("webrtc", "energy")  # scored beside the model folder's own detector, for the choice


def _variants(rec: Recognizer) -> dict[str, Recognizer]:
    """The model with its own detector, with each other backend in its place, and with none."""
    out = {"with_vad": rec}
    for backend in OTHER_BACKENDS:
        if backend != rec.cfg.vad.backend:
            out[backend] = copy.deepcopy(rec)
            out[backend].cfg.vad.backend = backend
    out["without_vad"] = copy.deepcopy(rec)
    out["without_vad"].cfg.vad.enabled = False
    return out


def _split_clips(run: Path, rec: Recognizer, split: str):
    rows = [r for r in read_csv(run / rundir.SPLIT) if r["split"] == split]
    return [audio.load(r["path"], rec.sample_rate)[0] for r in rows], np.array([rec.labels.index(r["speaker"]) for r in rows])


def measure(run: Path, seconds: float) -> dict:
    """Accuracy of the run's chosen model on clips as they are and padded: on its TEST clips with its own
    detector and with none (the figures); on its VALIDATION clips with each detector in its place (the
    comparison a detector choice may look at: not the test split)."""
    rec = Recognizer(run)
    variants = _variants(rec)
    out = {"run": run.name, "model": rec.name, "seconds": seconds, "backend": rec.cfg.vad.backend, "rows": [],
           "val_rows": []}
    for split, names in (("test", ("with_vad", "without_vad")), ("val", tuple(variants))):
        waves, y = _split_clips(run, rec, split)
        out["n" if split == "test" else "n_val"] = len(y)
        print(f"{rec.name} on {len(y)} {split} clips of {run}, padding {seconds:g} s each side")
        print(f"{'padding':<10}" + "".join(f"{k if k != 'with_vad' else rec.cfg.vad.backend:>12}" for k in names))
        for kind in ("none", "silence", "room"):
            padded = padded_waves(waves, rec.sample_rate, seconds, kind)
            acc = {k: float(np.mean(variants[k].score_waves(padded)[0].argmax(1) == y)) for k in names}
            out["rows" if split == "test" else "val_rows"].append({"padding": kind, **acc})
            print(f"{kind:<10}" + "".join(f"{a:>12.4f}" for a in acc.values()), flush=True)
    write_json(run / "padded.json", out)
    return out


def train_on_padded(run: Path, seconds: float, work: Path) -> list[dict]:
    """The run's chosen cell trained and tested again on padded copies of its dataset: the same config,
    cell and seed (so the same split), only the audio padded."""
    from benchmarks.padding import padded_copy
    from voxprint import config as C
    from voxprint.pipeline import run_cell, setup

    best = rundir.choose_best(rundir.read_results(run))
    cell = rundir.cell_of(best)
    cfg = C.load_resolved(run / rundir.CONFIG)
    out = []
    for kind in ("silence", "room"):
        data = work / f"{run.name}-{kind}-data"
        if not data.exists():
            padded_copy(cfg.data.path, data, kind, seconds, max_per_speaker=cfg.data.max_per_speaker,
                        speakers=cfg.data.speakers, noise_file=default_room_noise(),
                        train_fraction=cfg.augment.train_fraction)
        c = copy.deepcopy(cfg)
        c.data.path = str(data)
        c.eval.robustness = c.eval.verification = False
        folder = work / f"{run.name}-{kind}-run"
        done = folder / cell.name / rundir.METRICS
        if not done.exists():
            c, grid_data = setup(c, folder)
            run_cell(c, cell, folder, grid_data)
        acc = float(read_json(done)["accuracy"])
        # files without speech skipped in training and validation (test files are all kept), padded and not:
        # a padded clip whose recording span fits a window is kept, as its unpadded copy is
        skipped = {"skipped": len(read_csv(folder / rundir.SKIPPED)), "skipped_unpadded": len(read_csv(run / rundir.SKIPPED))}
        out.append({"padding": kind, "cell": cell.name, "accuracy": acc, "unpadded": float(best["accuracy"]),
                    **skipped, **by_voice(run, folder, cell.name, cfg.vad.min_speech_seconds)})
        print(f"{cell.name} trained and tested on {kind}-padded {cfg.data.path}: {acc:.4f} "
              f"(unpadded {float(best['accuracy']):.4f})", flush=True)
    return out


def by_voice(run: Path, folder: Path, cell: str, min_seconds: float) -> dict:
    """Where a padded-trained cell loses: its test accuracy on the padded clips the detector hears a voice
    in (at least `min_seconds`, the speech.csv of the padded run) and on those it hears none in (steady
    crowd noise: heard as their audible span when it fits a window, else through the fallback),
    beside the run's own model on the same clips unpadded. Clips are matched by speaker and file name."""
    import soundfile as sf

    def key(row: dict) -> tuple[str, str]:
        return row["speaker"], Path(row["path"]).stem

    test = [r for r in read_csv(folder / rundir.SPLIT) if r["split"] == "test"]
    frac = {r["path"]: float(r["speech_fraction"]) for r in read_csv(folder / rundir.SPEECH)}
    voice = {key(r): frac[r["path"]] * sf.info(r["path"]).duration >= min_seconds for r in test}
    padded = {key(r): p.speaker == r["speaker"]
              for r, p in zip(test, Recognizer(folder / cell).predict([r["path"] for r in test]))}
    original = [r for r in read_csv(run / rundir.SPLIT) if r["split"] == "test" and key(r) in voice]
    unpadded = {key(r): p.speaker == r["speaker"]
                for r, p in zip(original, Recognizer(run).predict([r["path"] for r in original]))}
    out = {}
    for name, wanted in (("voice", True), ("no_voice", False)):
        keys = [k for k, v in voice.items() if v == wanted]
        out[name] = {"n": len(keys), "padded": float(np.mean([padded[k] for k in keys])) if keys else None,
                     "unpadded": float(np.mean([unpadded[k] for k in keys])) if keys else None}
    return out


def drops(r: dict) -> list[float]:
    """How far each padded figure falls below its unpadded one."""
    acc = {x["padding"]: x for x in r["rows"]}
    out = [acc["none"]["with_vad"] - acc[k]["with_vad"] for k in ("silence", "room")]
    return out + [t["unpadded"] - t["accuracy"] for t in r.get("trained", [])]


def _voice_cell(part: dict | None) -> str:
    if not part or not part["n"]:
        return "none"
    return f"{part['n']} clips: {part['padded']:.4f} / {part['unpadded']:.4f}"


def markdown(results: list[dict]) -> str:
    seconds = results[0]["seconds"]
    lines = [f"Each run's chosen model on its own test clips, as they are and with {seconds:g} s of digital silence, "
             f"or of a room-noise bed (`exercise_bike`'s held-out end at -55 dBFS), before and after every clip; "
             "with the speech detector of the model folder (what `voxprint predict` does) and with none "
             "(`python -m benchmarks.padded RUN ... --results`).", "",
             "| run | model | test clips | padding | with its detector | with none |", "|---|---|---|---|---|---|"]
    for r in results:
        for x in r["rows"]:
            lines.append(f"| {r['run']} | {r['model']} | {r['n']} | {x['padding']} | {r['backend']}: "
                         f"{x['with_vad']:.4f} | {x['without_vad']:.4f} |")
    lines += ["", "The detectors side by side, on the VALIDATION clips (what a choice may look at):", "",
              "| run | validation clips | padding | " + " | ".join(["its own", *OTHER_BACKENDS, "none"]) + " |",
              "|---|---|---|" + "---|" * (len(OTHER_BACKENDS) + 2)]
    for r in results:
        for x in r["val_rows"]:
            cells = [f"{r['backend']}: {x['with_vad']:.4f}"] + [f"{x[b]:.4f}" if b in x else "(its own)"
                                                                 for b in OTHER_BACKENDS] + [f"{x['without_vad']:.4f}"]
            lines.append(f"| {r['run']} | {r['n_val']} | {x['padding']} | " + " | ".join(cells) + " |")
    trained = [(r, t) for r in results for t in r.get("trained", [])]
    if trained:
        lines += ["", "The same configuration trained again on a padded copy of its dataset (silence in the training "
                  "clips too) and tested on the padded test clips; then split by whether the speech detector hears a "
                  "voice in the test clip (at least `vad.min_speech_seconds`), padded-trained against the run's own "
                  "model on the same clips unpadded. A clip with no voice whose audible span fits a window is heard "
                  "and trained on as that span, as its unpadded copy is; a training clip with no voice and a longer "
                  "span is skipped (`skipped.csv`, counted here for training and validation), a test clip with none "
                  "is heard through `vad.fallback`:", "",
                  "| run | cell | padding | test accuracy | unpadded | clips skipped: padded / unpadded | "
                  "clips with a voice: padded / unpadded | clips with none: padded / unpadded |",
                  "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['run']} | {t['cell']} | {t['padding']} | {t['accuracy']:.4f} | {t['unpadded']:.4f} | "
                  f"{t.get('skipped', '?')} / {t.get('skipped_unpadded', '?')} | "
                  f"{_voice_cell(t.get('voice'))} | {_voice_cell(t.get('no_voice'))} |" for r, t in trained]
    worst = max(d for r in results for d in drops(r))
    lines += ["", f"Largest drop below the unpadded figure: {worst:.4f} (goal ≤ 0.01: "
              f"{'met' if worst <= 0.01 + 1e-9 else 'not met'})."]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--train", type=Path, help="also train the chosen configuration on padded copies, here")
    ap.add_argument("--results", action="store_true", help="write docs/results/padded.md")
    args = ap.parse_args(argv)
    results = []
    for r in args.runs:
        results.append(measure(Path(r), args.seconds))
        if args.train:
            results[-1]["trained"] = train_on_padded(Path(r), args.seconds, args.train)
            write_json(Path(r) / "padded.json", results[-1])
    worst = max(d for r in results for d in drops(r))
    print(f"largest drop below the unpadded figure: {worst:.4f} (goal <= 0.01: {'met' if worst <= 0.01 + 1e-9 else 'not met'})")
    if args.results:
        from benchmarks.common import publish

        publish("padded", markdown(results), title="Silence around the speech", inputs=INPUTS, module=__spec__.name,
                headline=f"largest drop from padding {worst:.4f} (goal ≤ 0.01)")


if __name__ == "__main__":
    sys.exit(main())
