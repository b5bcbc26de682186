"""How the shipped encoder listens: its inference windows chosen on libri-dev DEV speakers only.

    python -m benchmarks.encoder_windows [--work DIR] [--results]

The encoder was trained on crops of 1.0-1.6 s and its folder listened in 2-s windows. Each
candidate below is a main window (data.clip_seconds) and extra lengths (data.extra_windows: a clip
longer than one is also heard in it, each length counting equally), scored the way `enroll` and
`identify` use the folder, on two measures of the 20 dev speakers (none of them a test speaker):
- few-shot identification: the dev speakers' 2-s test segments of benchmarks/fewshot.py, each
  named among all the set's speakers (123), enrolled from their training segments;
- the libri-dev protocol of benchmarks/encoder.py (clean, white 10/5/0 dB, running_tap 5 dB): EER.
The rule: of the candidates whose 0-dB EER is at most 0.10 (the encoder issue's bar) and that name
at least as many few-shot segments as the folder as trained (2 s alone), the lowest mean EER over
the five conditions; a tie goes to fewer windows. Test speakers are never scored here.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.common import DATA
from benchmarks.fewshot import build, named_right  # the few-shot segments, written once; how they are named
from voxprint import protocol as P
from voxprint.clip_scoring import score_clips
from voxprint.inference import Recognizer
from voxprint.io import read_csv, write_json
from voxprint.vectors import unit

# the code these figures depend on: docs/results/ says they are stale once one of these changes
INPUTS = ["benchmarks/encoder_windows.py", "voxprint/encoder", "voxprint/pretrained", "voxprint/inference.py", "voxprint/clip_scoring.py", "voxprint/protocol.py", "voxprint/vad"]

TRAINED = (2.0,)  # the folder as `encoder train` wrote it
CANDIDATES = [TRAINED, (1.6,), (1.4,), (2.0, 1.6), (2.0, 1.4), (2.0, 1.2), (2.0, 1.0), (2.0, 1.4, 1.0), (2.0, 1.6, 1.2)]
MAX_EER_0DB = 0.10


def embedder(rec: Recognizer, windows: tuple[float, ...]):
    """waves -> unit embeddings, as the folder would give them with these windows (Recognizer.score_waves)."""
    main, *extra = (int(round(w * rec.sample_rate)) for w in windows)
    return lambda waves: score_clips(rec.model, rec.features, waves, main, rec.cfg.vad,
                                     pad_short=not rec.net.fixed_input, extra=extra, per_clip=rec.per_clip)[1]


def fewshot_dev(embed, rows: list[dict], waves: list[np.ndarray], dev: set[str]) -> float:
    """Share of the dev speakers' test segments named right among all speakers (fewshot.named_right)."""
    keys = [r["path"] for r in rows]
    right = named_right(dict(zip(keys, unit(embed(waves), dtype=np.float64))), rows, keys)
    return float(np.mean([x for x, r in zip(right, rows) if r["split"] == "test" and r["speaker"] in dev]))


def chosen(results: list[dict]) -> dict:
    trained = next(r for r in results if tuple(r["windows"]) == TRAINED)
    ok = [r for r in results if r["eer"]["white-0dB"] <= MAX_EER_0DB and r["fewshot_dev"] >= trained["fewshot_dev"]]
    return min(ok, key=lambda r: (r["mean_eer"], len(r["windows"])))


def _name(windows) -> str:
    return " + ".join(f"{w:g}" for w in windows)


def markdown(results: list[dict], best: dict, shipped: list[float], conds: list[str], n_fs: int, n_spk: int) -> str:
    """The results table (the rule's choice in bold), then the choice beside what the folder ships."""
    lines = ["Candidates for the shipped encoder's windows, "
             f"on libri-dev DEV speakers only: few-shot = share of their {n_fs} few-shot test segments named right "
             f"among all {n_spk} speakers; EER on the libri-dev protocol's dev trials. Rule: 0-dB EER ≤ "
             f"{MAX_EER_0DB:g} and few-shot ≥ the 2-s window alone (the folder as trained), then the lowest mean EER.",
             "", "| windows (s) | few-shot | " + " | ".join(f"EER {c}" for c in conds) + " | mean EER |",
             "|---|---|" + "---|" * (len(conds) + 1)]
    for r in results:
        mark = "**" if r is best else ""
        lines.append(f"| {mark}{_name(r['windows'])}{mark} | {r['fewshot_dev']:.3f} | "
                     + " | ".join(f"{r['eer'][c]:.3f}" for c in conds) + f" | {r['mean_eer']:.4f} |")
    ships = next((r for r in results if r["windows"] == shipped), None)
    lines.append(f"\nChosen by the rule: **{_name(best['windows'])} s** (mean EER {best['mean_eer']:.4f}). The shipped "
                 f"folder listens in **{_name(shipped)} s** (voxprint/pretrained/encoder/config.yaml: `data.clip_seconds` "
                 "and `data.extra_windows`" + (f"; mean EER {ships['mean_eer']:.4f}" if ships else "") + ").")
    if best["windows"] != shipped:
        lines.append("\nThey differ: the shipped windows were chosen by this rule on earlier code, and its choice has "
                     "moved since. The folder keeps them: new windows change every figure of the shipped encoder "
                     "(open set, enrolment, serving), so they change with its retraining (issue 24), not alone.")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, help="folder for the few-shot segments (default: a temporary one)")
    ap.add_argument("--src", type=Path, help="encoder folder (default: the shipped one)")
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("--results", action="store_true", help="write docs/results/encoder-windows.md")
    args = ap.parse_args(argv)
    from voxprint.pretrained import ENCODER_DIR

    rec = Recognizer(args.src or ENCODER_DIR)
    work = args.work or Path(tempfile.mkdtemp(prefix="voxprint-windows-"))
    manifest = build(work / "set")
    rows = read_csv(manifest)
    fs_waves = [rec.load(manifest.parent / r["path"]) for r in rows]
    dev = set(P.load_split()["dev"])
    segs = P.segments(DATA / "libri-dev", sorted(dev))
    conds = P.conditions(DATA / "noise")
    results = []
    for windows in CANDIDATES:
        embed = embedder(rec, windows)
        eers = {m["condition"]: m["eer"] for m in P.evaluate(embed, segs, conds)}
        results.append({"windows": list(windows), "fewshot_dev": fewshot_dev(embed, rows, fs_waves, dev),
                        "eer": eers, "mean_eer": float(np.mean(list(eers.values())))})
        r = results[-1]
        print(f"{' + '.join(f'{w:g}' for w in windows):<16} few-shot {r['fewshot_dev']:.3f}  "
              + "  ".join(f"{c} {e:.3f}" for c, e in eers.items()) + f"  mean {r['mean_eer']:.4f}", flush=True)
    best = chosen(results)
    shipped = [float(rec.cfg.data.clip_seconds), *map(float, rec.cfg.data.extra_windows)]
    print(f"chosen: {best['windows']}; shipped: {shipped}")
    n_fs = sum(r["split"] == "test" and r["speaker"] in dev for r in rows)
    if args.json:
        write_json(args.json, {"results": results, "chosen": best["windows"]})
    if args.results:
        from benchmarks.common import publish

        publish("encoder-windows", markdown(results, best, shipped, [c.name for c in conds], n_fs,
                                            len({r["speaker"] for r in rows})),
                title="The shipped encoder's windows", inputs=INPUTS, module=__spec__.name)


if __name__ == "__main__":
    main()
