"""Does training the encoder on another kind of voice help on that kind of voice? (issue 24, item 1)

    python -m benchmarks.encoder_sources [--out runs/encoder-sources] [--steps 400] [--results]
    python -m benchmarks.encoder_sources --write-split   # voxprint/encoder/ocean_split.json, once

The shipped encoder was fine-tuned on LibriSpeech readers, public speeches and spoken digits (its
provenance.json holds the command). Here the same recipe and seed is trained once more with ocean-train
speakers (speechocean762: non-native English, about half of them children) added as a source
(`sources={..., ocean: W}`), and both are measured side by side on DEV speakers of each source:

- ocean-train is split three ways (voxprint/encoder/ocean_split.json, written by `--write-split`). Its
  TEST half (benchmarks/profiles.py's `ocean_split`, the speakers every other benchmark reports on) is
  never read here. Its DEV half is split again, children and adults apart and seeded: two thirds TRAIN
  the encoder, one third (DEV) checks it;
- libri-dev DEV speakers (voxprint/encoder/libri_split.json).

The candidate picks its checkpoint by the trainer's check on both sources' DEV speakers (the mean EER over
sources and conditions; the shipped encoder was picked on libri-dev's alone), then listens through the
shipped folder's windows (`voxprint encoder window`, 2 + 1.6 s); both are scored through
Recognizer, the path `enroll` / `identify` use. Each speaker's recordings are joined in name order and cut
into 2-s segments; the first half enrol, the rest are tested (voxprint/protocol.py's trials), clean and with
white noise at 5 and 0 dB (the dev noise seed). running_tap and every TEST speaker are left for the report
(benchmarks/encoder.py): this is a choice, made on dev speakers.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "2")

import argparse  # noqa: E402
import json  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from benchmarks.common import DATA, REPO, publish  # noqa: E402
from benchmarks.profiles import CHILD_MAX_AGE, age_split, ocean_rows, ocean_split  # noqa: E402
from voxprint import protocol as P  # noqa: E402
from voxprint.encoder import data as D  # noqa: E402
from voxprint.io import read_json, write_json  # noqa: E402
from voxprint.pretrained import ENCODER_DIR  # noqa: E402

# the code these figures depend on: docs/results/ says they are stale once one of these changes
INPUTS = ["benchmarks/encoder_sources.py", "benchmarks/profiles.py", "voxprint/encoder", "voxprint/pretrained",
          "voxprint/features", "voxprint/inference.py", "voxprint/clip_scoring.py", "voxprint/protocol.py",
          "voxprint/augment.py", "voxprint/vad"]

SPLIT_SEED = 24  # the ENC-TRAIN / ENC-DEV split of ocean-train's DEV half
TRAIN_SHARE = 2 / 3
OCEAN_WEIGHT = 0.3  # share of training crops drawn from ocean-train; the shipped weights scaled to the rest
WINDOW = (2.0, [1.6])  # the shipped folder's windows, given to every candidate alike
BOOTSTRAP = 300  # paired resamples of the dev speakers


def enc_split(rows: list[dict], seed: int = SPLIT_SEED) -> dict[str, list[str]]:
    """ocean-train's DEV half (never its TEST half) -> {"train": [...], "dev": [...]}, children and adults
    split apart so both groups are in both parts."""
    train, dev = age_split(rows, seed, lambda n: round(n * TRAIN_SHARE), among=set(ocean_split(rows)["dev"]))
    return {"train": train, "dev": dev}


def write_split(rows: list[dict]) -> dict:
    """voxprint/encoder/ocean_split.json: ENC-TRAIN / ENC-DEV of the DEV half, and the TEST half as it is."""
    split = {"about": f"ocean-train speakers for the encoder: test = benchmarks/profiles.py ocean_split's test half; "
                      f"its dev half split again (children and adults apart, seed {SPLIT_SEED}): train "
                      f"{TRAIN_SHARE:.2f}, dev the rest. Written by python -m benchmarks.encoder_sources --write-split",
             **enc_split(rows), "test": ocean_split(rows)["test"]}
    write_json(D.OCEAN_SPLIT_FILE, split)
    print(f"wrote {D.OCEAN_SPLIT_FILE}")
    return split


def shipped_settings() -> list[str]:
    """The `--set` values of the shipped encoder's training command (its provenance.json)."""
    words = read_json(ENCODER_DIR / "provenance.json")["command"].split()
    return [words[i + 1] for i, w in enumerate(words) if w == "--set"]


def train(out: Path, settings: list[str], sources: dict[str, float], steps: int) -> Path:
    """`voxprint encoder train` into `out` unless it finished there before (provenance.json written last)."""
    from voxprint.cli import main as voxprint

    if not (out / "provenance.json").exists():
        keep = [s for s in settings if not s.startswith(("steps=", "sources="))]
        args = ["encoder", "train", "--out", str(out), "--data", str(DATA), "--set", f"steps={steps}",
                "--set", "sources=" + json.dumps(sources)]
        for s in keep:
            args += ["--set", s]
        print("voxprint " + " ".join(args), flush=True)
        if voxprint(args) != 0:
            raise SystemExit(f"{out}: encoder training failed")
    return out


def windowed(folder: Path) -> Path:
    """The folder listening through the shipped windows (its threshold chosen again on libri-dev DEV)."""
    from voxprint.commands import encoder_window

    dest = folder.parent / f"{folder.name}-window"
    if not (dest / "config.yaml").exists():
        encoder_window(WINDOW[0], dest, src=folder, data=DATA, extra=WINDOW[1])
    return dest


def measure(folder: Path, sets: dict[str, list[P.Segment]]) -> tuple[dict, dict]:
    """({set: [metrics per condition]}, {set: [(scores, target flags, test speakers) per condition]})."""
    from voxprint.inference import Recognizer

    rec = Recognizer(folder, engine="onnx")
    embed = lambda waves: rec.score_waves(waves)[1]
    metrics, trials = {}, {}
    for name, segs in sets.items():
        rows, ids, bank = P.trials(segs), P.enrolment(segs), P.NoiseBank(P.DEV_NOISE_SEED)
        by_id = {s.id: s.speaker for s in segs}
        metrics[name], trials[name] = [], []
        for c in P.DEV_CONDITIONS:
            emb = P.embed_condition(embed, segs, c, bank)
            metrics[name].append({"condition": c.name, **P.score_trials(emb, ids, rows)})
            scores, labels = P.trial_scores(emb, ids, rows)
            trials[name].append((scores, labels, np.array([by_id[t] for _, t, _ in rows])))
    return metrics, trials


def paired_bootstrap(a: list, b: list, n: int = BOOTSTRAP, seed: int = 0) -> tuple[float, float]:
    """90 % interval of (b's mean EER over conditions) - (a's), resampling test speakers with replacement
    (the same draw for both systems and every condition): how far the difference could move with other
    speakers like these. a, b: [(scores, target flags, test speaker per trial)] per condition."""
    from voxprint.verification import eer

    speakers = np.unique(a[0][2])
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        draw = rng.choice(speakers, len(speakers))
        count = dict(zip(*np.unique(draw, return_counts=True)))
        weight = np.array([count.get(s, 0) for s in a[0][2]])
        keep = np.repeat(np.arange(len(weight)), weight)
        diff = [eer(sb[keep], lb[keep])[0] - eer(sa[keep], la[keep])[0] for (sa, la, _), (sb, lb, _) in zip(a, b)]
        out.append(np.mean(diff))
    return float(np.percentile(out, 5)), float(np.percentile(out, 95))


def markdown(doc: dict) -> str:
    conds = [c.name for c in P.DEV_CONDITIONS]
    lines = [
        f"DEV speakers only: libri-dev DEV ({doc['n']['libri-dev']} speakers), ocean-train ENC-DEV "
        f"({doc['n']['ocean-dev']} speakers, {doc['n']['ocean-dev-children']} children); the ocean candidate trained "
        f"on {doc['n']['ocean-train']} other ocean-train DEV-half speakers ({doc['n']['ocean-train-children']} "
        f"children, {doc['ocean_seconds']:.0f} s). The candidate: the shipped recipe and seed, {doc['steps']} steps (the shipped "
        "encoder: 400, its best step 200), checkpoint by the trainer's check on both sources' DEV speakers; then "
        "both through the shipped 2 + 1.6-s windows and ONNX, by Recognizer.", "",
        "| encoder | best step | dev set | " + " | ".join(conds) + " | mean |",
        "|---|---|---|" + "---|" * (len(conds) + 1)]
    for name, r in doc["systems"].items():
        for dev, rows in r["eer"].items():
            e = [row["eer"] for row in rows]
            lines.append(f"| {name} | {r['best_step']} | {dev} | " + " | ".join(f"{x:.4f}" for x in e)
                         + f" | {np.mean(e):.4f} |")
    lines += ["", "Cells: EER of the dev trials (every test segment against every enrolled speaker of that set). The "
              f"verdict's intervals: {BOOTSTRAP} paired resamples of the test speakers (both encoders, every condition, "
              "the same draw).", "",
              "The candidate's training check (whole 2-s segments, no windows): mean EER over clean, white 5 and 0 dB",
              "", "| step | libri-dev DEV | ocean-train DEV | mean (the choice) |", "|---|---|---|---|"]
    lines += [f"| {h['step']} | {np.mean(list(h['sources']['libri'].values())):.4f} | "
              f"{np.mean(list(h['sources']['ocean'].values())):.4f} | {h['mean_eer']:.4f} |" for h in doc["history"]]
    lines += ["",
              f"Sources of the candidate: {doc['sources']}; of the shipped recipe: {doc['shipped_sources']}.", "",
              doc["verdict"]]
    return "\n".join(lines) + "\n"


def verdict(doc: dict) -> str:
    """Shipped against candidate per dev set: the mean EER difference and its paired-bootstrap 90 % interval.
    The candidate is better only where the whole interval is below zero, worse where it is above."""
    parts, better, worse = [], [], []
    for d, rows in doc["systems"]["shipped"]["eer"].items():
        a = float(np.mean([r["eer"] for r in rows]))
        b = float(np.mean([r["eer"] for r in doc["systems"]["with ocean-train"]["eer"][d]]))
        lo, hi = doc["interval"][d]
        parts.append(f"{d} {a:.4f} -> {b:.4f} (90 % interval of the change {lo:+.4f} .. {hi:+.4f})")
        (better if hi < 0 else worse if lo > 0 else []).append(d)
    if worse:
        end = f"Adding ocean-train is worse on {', '.join(worse)}: the shipped sources stay."
    elif better:
        end = f"Adding ocean-train is better on {', '.join(better)} beyond the speakers' chance and no worse elsewhere."
    else:
        end = ("Every change is within what other speakers like these could give: no evidence on these dev "
               "speakers that adding ocean-train helps, and the shipped encoder stays.")
    return f"Mean dev EER over clean, white 5 and 0 dB (shipped -> with ocean-train): {'; '.join(parts)}.\n\n{end}"


def headline(doc: dict) -> str:
    """One line for the results index: each dev set's mean EER, shipped -> candidate, and the verdict's end."""
    means = "; ".join(f"{d} {np.mean([r['eer'] for r in rows]):.4f} -> "
                      f"{np.mean([r['eer'] for r in doc['systems']['with ocean-train']['eer'][d]]):.4f}"
                      for d, rows in doc["systems"]["shipped"]["eer"].items())
    last = doc["verdict"].rsplit("\n", 1)[-1]
    tag = ("within chance: the shipped encoder stays" if last.startswith("Every change") else
           last.split(":")[0].replace("Adding ocean-train is ", "").rstrip("."))
    return f"mean dev EER with ocean-train added: {means} ({tag})"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "encoder-sources")
    ap.add_argument("--steps", type=int, default=400, help="training steps of the candidate (the shipped: 400)")
    ap.add_argument("--write-split", action="store_true", help="write voxprint/encoder/ocean_split.json and stop")
    ap.add_argument("--results", action="store_true", help="write docs/results/encoder-sources.md")
    args = ap.parse_args(argv)

    rows = ocean_rows(DATA / "ocean-train")
    if args.write_split:
        write_split(rows)
        return 0
    split = D.ocean_split()
    children = {r["speaker"] for r in rows if int(r["age"]) <= CHILD_MAX_AGE}
    settings = shipped_settings()
    shipped_sources = {"libri": 0.5, "speeches5": 0.3, "fsdd": 0.2}
    sources = {k: round(v * (1 - OCEAN_WEIGHT), 3) for k, v in shipped_sources.items()} | {"ocean": OCEAN_WEIGHT}
    folders = {"shipped": ENCODER_DIR,
               "with ocean-train": windowed(train(args.out / "with-ocean", settings, sources, args.steps))}
    sets = {"libri-dev": P.segments(DATA / "libri-dev", P.load_split()["dev"]),
            "ocean-dev": D.ocean_segments(DATA / "ocean-train", split["dev"])}
    doc = {"steps": args.steps, "sources": sources,
           "shipped_sources": shipped_sources, "split": split, "systems": {},
           "ocean_seconds": sum(float(r["seconds"]) for r in rows if r["speaker"] in split["train"]),
           "n": {"libri-dev": len(P.load_split()["dev"]), "ocean-dev": len(split["dev"]),
                 "ocean-dev-children": len(children & set(split["dev"])), "ocean-train": len(split["train"]),
                 "ocean-train-children": len(children & set(split["train"]))}}
    trials = {}
    for name, folder in folders.items():
        prov = read_json(folder / "provenance.json")
        metrics, trials[name] = measure(folder, sets)
        doc["systems"][name] = {"best_step": prov["best_step"], "train_seconds": prov["train_seconds"],
                                "steps": prov["steps"], "eer": metrics}
        print(name, {d: [round(r["eer"], 4) for r in v] for d, v in doc["systems"][name]["eer"].items()}, flush=True)
    doc["interval"] = {d: paired_bootstrap(trials["shipped"][d], trials["with ocean-train"][d]) for d in sets}
    doc["history"] = read_json(folders["with ocean-train"].parent / "with-ocean" / "provenance.json")["dev_history"]
    doc["verdict"] = verdict(doc)
    write_json(args.out / "encoder-sources.json", doc)
    print(doc["verdict"])
    if args.results:
        publish("encoder-sources", markdown(doc), title="Training the encoder on more kinds of voices",
                inputs=INPUTS, module="benchmarks.encoder_sources", headline=headline(doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
