"""libri-dev few-shot identification: many speakers, a few seconds each to learn from.

    python -m benchmarks.fewshot [--out DIR] [--models cnn crnn tdnn] [--features mel mfcc]
                                 [--steps N] [--ramp 0 300] [--min-steps M ...]
                                 [--set KEY=VALUE ...] [--results]

Each libri-dev utterance is cut into 2.0-s segments (a final piece of 1 s or more kept); the first
half of each speaker's segments train, the rest test; speakers with no test segment are left out.
The set is written once as 16-kHz WAV segments with a manifest (split column train/test;
`voxprint run` carves one validation segment from a speaker's training segments when it has two
or more). Side by side: voxprint models trained by `voxprint run` on the manifest (`--features`,
log-Mel by default; `--steps` sets their train.max_steps), with each augmentation ramp and
early-stopping floor (`--min-steps`, train.min_steps) given, and any other setting of `--set`
(train.monitor=val_acc, say) for all of them; the shipped general encoder used as
`voxprint enroll`/`identify` use it (no training); and the anchors fitted on all training
segments: MFCC mean/std + SVM, and resemblyzer (GE2E) + logistic regression when installed.
For every voxprint model the accuracy on its own (clean) training segments is printed too: a
small set must be fitted before the model is blamed. The general encoder trained on
libri-dev's train speakers, so each system is also scored on the test segments of the encoder's
test speakers alone ("unseen").
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from voxprint import audio, rundir
from voxprint import protocol as P
from voxprint.cli import main as voxprint
from voxprint.dirs import data_home
from voxprint.inference import Recognizer
from voxprint.io import read_csv, read_json, write_csv, write_json
from voxprint.vectors import unit

# the code these figures depend on: docs/results/ says they are stale once one of these changes
INPUTS = ["benchmarks/fewshot.py", "voxprint/unseen.py", "voxprint/protocol.py", "voxprint/models", "voxprint/features",
          "voxprint/train.py", "voxprint/augment.py", "voxprint/schema.py", "voxprint/configs/fewshot.yaml", "voxprint/pretrained"]


def build(out: Path) -> Path:
    """Write the segments and manifest.csv under `out` (once); return the manifest."""
    manifest = out / "manifest.csv"
    if manifest.exists():
        return manifest
    root, rows = data_home() / "libri-dev", []
    for spk in sorted(p.name for p in root.iterdir() if p.is_dir()):
        pieces = P.cut(audio.load(P.utterance(root, spk), P.SAMPLE_RATE)[0])
        if len(pieces) < 2:
            continue  # no test segment
        k = P.enrol_count(len(pieces))
        for i, y in enumerate(pieces):
            path = out / spk / f"{i}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, y, P.SAMPLE_RATE, subtype="PCM_16")
            rows.append({"path": f"{spk}/{i}.wav", "speaker": spk, "split": "train" if i < k else "test"})
    write_csv(manifest, rows, ["path", "speaker", "split"])
    return manifest


def _accuracy(rec: Recognizer, rows: list[dict], base: Path) -> float:
    """Accuracy over every row; a file the model did not answer counts as wrong."""
    truth = {str(base / r["path"]): r["speaker"] for r in rows}
    answered = {p.path: p.speaker for p in rec.predict(list(truth), on_error=lambda e: None)}
    return float(np.mean([answered.get(path) == spk for path, spk in truth.items()]))


# not in folder or row names: how it runs, or (seeds) what the grid may grow in the same folder
UNNAMED = ("runtime.threads=", "train.threads=", "grid.seeds=")
IN_CELL_NAME = ("grid.augment=",)  # the cell's own name says it (a "-noaug" cell): not repeated in the row


def short(setting: str, sep: str) -> str:
    """'model.dropout=0.3' -> 'dropout<sep>0.3': the key's last part and the whole value."""
    key, _, value = setting.partition("=")
    return f"{key.rpartition('.')[2]}{sep}{value}"


def voxprint_rows(manifest: Path, out: Path, models: list[str], ramp: int, steps: int | None,
                  min_steps: int | None = None, settings: list[str] = (), features: list[str] = ("mel",)) -> list[dict]:
    named = [s for s in settings if not s.startswith(UNNAMED)]
    run = out / (f"run-ramp{ramp}" + ("" if steps is None else f"-steps{steps}")
                 + ("" if min_steps is None else f"-min{min_steps}")
                 + "".join(f"-{short(s, '-')}" for s in named))
    budget = ([] if steps is None else ["--set", f"train.max_steps={steps}"]) + \
        ([] if min_steps is None else ["--set", f"train.min_steps={min_steps}"]) + \
        [a for s in settings for a in ("--set", s)]
    variant = ", ".join([f"ramp {ramp}"] + ([] if min_steps is None else [f"min_steps {min_steps}"])
                        + [short(s, " ") for s in named if not s.startswith(IN_CELL_NAME)])
    args = ["run", "--data", str(manifest), "--out", str(run), "--models", *models, "--features", *features, *budget,
            "--set", "eval.robustness=false", "--set", "eval.verification=false", "--set", f"augment.ramp_steps={ramp}",
            # a speaker with 2 segments has 1 to train and 1 to test: every speaker the anchors see is kept
            "--set", "data.min_clips=2", "--no-report", "--no-progress"]
    if voxprint(args) != 0:
        sys.exit("voxprint run failed")
    rows_m, unseen_spk = read_csv(manifest), unseen_speakers()
    speakers = {r["speaker"] for r in rows_m}
    if set(read_json(run / rundir.LABELS)) != speakers:
        sys.exit(f"voxprint run kept {len(read_json(run / rundir.LABELS))} of {len(speakers)} speakers: "
                 "its figures would not compare with the anchors'")
    train = [r for r in rows_m if r["split"] == "train"]
    unseen = [r for r in rows_m if r["split"] == "test" and r["speaker"] in unseen_spk]
    cells: dict[str, list[dict]] = {}
    for r in rundir.read_results(run):
        rec = Recognizer(rundir.model_dir(run, r))
        cells.setdefault(rundir.cell_of(r).group, []).append(
            {"test": float(r["accuracy"]), "unseen": _accuracy(rec, unseen, manifest.parent),
             "val": float(r["val_accuracy"]), "train": _accuracy(rec, train, manifest.parent), "steps": int(r["steps"])})
    # one row per configuration: the mean over its seeds (grid.seeds), the test accuracy's spread beside it
    return [{"system": f"voxprint {group} ({variant})", "seeds": len(seeds),
             **{k: float(np.mean([x[k] for x in seeds])) for k in ("test", "unseen", "val", "train")},
             "test_std": float(np.std([x["test"] for x in seeds])), "steps": round(np.mean([x["steps"] for x in seeds]))}
            for group, seeds in cells.items()]


def named_right(emb: dict[str, np.ndarray], rows: list[dict], keys: list[str]) -> np.ndarray:
    """[N] bool: is each manifest row's segment (embedding emb[key], L2-normalised) named right by the
    nearest speaker enrolled from its training segments (mean of their embeddings, cosine), as
    `enroll` / `identify` do? A key missing from `emb` (an unreadable segment) counts as wrong."""
    labels = sorted({r["speaker"] for r in rows})
    models = P.enrol_models(emb, {s: [k for k, r in zip(keys, rows) if r["speaker"] == s
                                      and r["split"] == "train" and k in emb] for s in labels})
    names, matrix = list(models), np.stack(list(models.values()))
    return np.array([k in emb and names[int(np.argmax(matrix @ emb[k]))] == r["speaker"] for k, r in zip(keys, rows)])


def encoder_rows(manifest: Path) -> list[dict]:
    """The shipped general encoder used as `voxprint enroll` / `identify` use it, no training: each speaker
    enrolled from its training segments (mean of L2-normalised embeddings), each segment named by the
    nearest enrolled speaker (cosine). The encoder trained on libri-dev's TRAIN speakers (these very
    utterances) and its windows were chosen on its DEV speakers (benchmarks/encoder_windows.py), so the
    figure that counts is the one over the segments of its TEST speakers (never heard in training),
    still named among all speakers."""
    from voxprint.pretrained import ENCODER_DIR

    rows, base = read_csv(manifest), manifest.parent
    paths = [str(base / r["path"]) for r in rows]
    unseen = unseen_speakers()
    rec = Recognizer(ENCODER_DIR)
    ok, emb = rec.embed(paths, on_error=lambda e: None)
    right = named_right(dict(zip(ok, unit(emb, dtype=np.float64))), rows, paths)

    def accuracy(keep) -> float:
        return float(np.mean([x for x, r in zip(right, rows) if keep(r)]))

    windows = " + ".join(f"{w:g}" for w in [rec.cfg.data.clip_seconds, *rec.cfg.data.extra_windows])
    return [{"system": f"voxprint general encoder, enrolled (no training on the set; {windows}-s windows)",
             "test": accuracy(lambda r: r["split"] == "test"),
             "unseen": accuracy(lambda r: r["split"] == "test" and r["speaker"] in unseen), "val": None,
             "train": accuracy(lambda r: r["split"] == "train"), "steps": None}]


def unseen_speakers() -> set[str]:
    """libri-dev speakers the general encoder never trained on or was chosen on (its TEST speakers)."""
    return set(P.load_split()["test"])


def anchor_rows(manifest: Path) -> list[dict]:
    from benchmarks.anchors import MfccSvm, Resemblyzer

    rows = read_csv(manifest)
    labels = sorted({r["speaker"] for r in rows})
    data = {s: ([audio.load(manifest.parent / r["path"], P.SAMPLE_RATE)[0] for r in rows if r["split"] == s],
                np.array([labels.index(r["speaker"]) for r in rows if r["split"] == s])) for s in ("train", "test")}
    unseen_spk = unseen_speakers()
    unseen = np.array([r["speaker"] in unseen_spk for r in rows if r["split"] == "test"])
    out = []
    for cls in (MfccSvm, Resemblyzer):
        try:
            system = cls(P.SAMPLE_RATE)
        except ImportError:
            continue
        system.fit(*data["train"])
        right = system.decide(data["test"][0]) == data["test"][1]
        out.append({"system": system.name, "test": float(np.mean(right)), "unseen": float(np.mean(right[unseen])),
                    "val": None, "train": float(np.mean(system.decide(data["train"][0]) == data["train"][1])),
                    "steps": None})
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", help="working folder (default: a new temporary one)")
    ap.add_argument("--models", nargs="+", default=["cnn", "crnn"], help="voxprint models trained on the set")
    ap.add_argument("--features", nargs="+", default=["mel"], help="their features (mfcc, mel, lpc)")
    ap.add_argument("--steps", type=int, help="train.max_steps for them (default: the config's)")
    ap.add_argument("--ramp", type=int, nargs="+", default=[0], help="augment.ramp_steps values to compare")
    ap.add_argument("--min-steps", type=int, nargs="+", default=[None],
                    help="train.min_steps values to compare (default: the config's)")
    ap.add_argument("--set", dest="settings", nargs="+", default=[], metavar="KEY=VALUE",
                    help="more voxprint settings for every model (e.g. train.monitor=val_acc)")
    ap.add_argument("--results", action="store_true", help="write docs/results/fewshot.md")
    args = ap.parse_args(argv)
    out = Path(args.out or tempfile.mkdtemp(prefix="voxprint-fewshot-"))
    manifest = build(out / "set")
    rows = read_csv(manifest)
    n_spk = len({r["speaker"] for r in rows})
    print(f"libri-dev few-shot: {n_spk} speakers, {sum(r['split'] == 'train' for r in rows)} training and "
          f"{sum(r['split'] == 'test' for r in rows)} test segments of 2 s ({out})", flush=True)
    table = anchor_rows(manifest) + encoder_rows(manifest)
    for ramp in args.ramp:
        for floor in args.min_steps:
            table += voxprint_rows(manifest, out, args.models, ramp, args.steps, floor, args.settings, args.features)
    print(f"\n{'system':<60} {'test':>15} {'unseen':>7} {'val':>7} {'train':>7} {'steps':>6}")
    for r in table:
        val = "" if r["val"] is None else f"{r['val']:.3f}"
        print(f"{r['system']:<60} {accuracy_cell(r):>15} {r['unseen']:>7.3f} {val:>7} {r['train']:>7.3f} {r['steps'] or '':>6}")
    best = chosen(table)
    if best:
        print(f"chosen on validation accuracy: {best['system']} (test {accuracy_cell(best)})")
    write_json(out / "fewshot.json", {"speakers": n_spk, "rows": table})
    if args.results:
        from benchmarks.common import publish

        publish("fewshot", markdown(n_spk, rows, table), title="libri-dev few-shot identification", inputs=INPUTS,
                module=__spec__.name, headline=(f"chosen {best['system']}: test accuracy {accuracy_cell(best)}"
                                                if best else ""))


def chosen(table: list[dict]) -> dict | None:
    """The voxprint row of highest validation accuracy: model, feature, augmentation and variant are all
    chosen on validation, never on test (None without voxprint rows)."""
    vox = [r for r in table if r["val"] is not None]
    return max(vox, key=lambda r: r["val"]) if vox else None


def accuracy_cell(r: dict) -> str:
    """Test accuracy, with its spread and seed count where a configuration ran more than one seed."""
    if r.get("seeds", 1) > 1:
        return f"{r['test']:.3f} ± {r['test_std']:.3f} ({r['seeds']} seeds)"
    return f"{r['test']:.3f}"


def markdown(n_spk: int, rows: list[dict], table: list[dict]) -> str:
    n_train = sum(r["split"] == "train" for r in rows)
    lines = [f"libri-dev few-shot identification: {n_spk} speakers, {n_train} training and {len(rows) - n_train} "
             "test segments of 2 s (the first half of each speaker's segments train). voxprint models hold one "
             "training segment per speaker back for validation where a speaker has two or more; the anchors fit "
             "on all of them. `train` is the accuracy on the training segments themselves, `validation` on the "
             "held-back ones (what a choice - the augmentation ramp, say - may look at); a voxprint row is the "
             "mean over its seeds, ± the test accuracy's standard deviation. The general encoder "
             "trained on libri-dev's train speakers (these utterances) and was chosen on its dev speakers, so "
             f"`unseen` scores only the test segments of its {len(unseen_speakers())} test speakers, still named "
             f"among all {n_spk}: the figure that counts for it "
             f"(`python -m benchmarks.fewshot {' '.join(sys.argv[1:])}`).", "",
             "| system | test accuracy | test accuracy, unseen speakers | validation accuracy | train accuracy | steps |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['system']} | {accuracy_cell(r)} | {r['unseen']:.3f} | {'–' if r['val'] is None else format(r['val'], '.3f')} | "
              f"{r['train']:.3f} | {r['steps'] or '–'} |" for r in table]
    best = chosen(table)
    if best:
        lines += ["", f"Chosen on validation accuracy (mean over seeds): **{best['system']}**, test accuracy "
                      f"{accuracy_cell(best)}."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
