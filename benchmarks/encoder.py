"""voxprint's speaker encoder and resemblyzer side by side, in one run, on the libri-dev protocol
(voxprint/encoder/protocol.py) of the TEST speakers: EER, minDCF (p_target 0.01) and top-1
per condition; ms per 1-s clip (waveform to embedding, batch 1, one thread, the same number
of calls for every system); size; parameters.

    python -m benchmarks.encoder [--model DIR ...] [--original] [--mfcc] [--json PATH] [--results]

  --model DIR   an encoder model folder (default: the shipped voxprint/pretrained/encoder);
                scored with PyTorch and, when the folder has model.onnx, with onnxruntime
  --original    also the un-fine-tuned GE2E inside voxprint (whole segments, no VAD)
  --mfcc        also the MFCC mean/std + cosine baseline
  --speakers    test (default) or dev
  --ocean       also ocean-train's TEST speakers (voxprint/encoder/ocean_split.json: non-native English,
                children and adults; never trained on or used for a choice), the same protocol
  --results     write docs/results/encoder.md
Needs the anchors extra for resemblyzer: pip install -e '.[anchors]'.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_v] = "1"  # one thread for every system, set before numpy/torch are imported

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks.anchors import MfccSvm  # noqa: E402  (one copy of each system's embedding)
from benchmarks.anchors import Resemblyzer as _Resemblyzer  # noqa: E402
from benchmarks.common import DATA, REPO  # noqa: E402
from voxprint import audio  # noqa: E402
from voxprint import protocol as P  # noqa: E402
from voxprint.io import write_json  # noqa: E402

# the code these figures depend on: docs/results/ says they are stale once one of these changes
INPUTS = ["benchmarks/encoder.py", "benchmarks/profiles.py", "voxprint/encoder", "voxprint/pretrained", "voxprint/features", "voxprint/inference.py", "voxprint/clip_scoring.py", "voxprint/protocol.py", "voxprint/verification.py", "voxprint/vad"]

SHIPPED = REPO / "voxprint" / "pretrained" / "encoder"
LATENCY_RUNS = 100


class Resemblyzer(_Resemblyzer):
    """Standard usage: preprocess_wav (volume to -30 dBFS, webrtcvad silence trimming) +
    embed_utterance (1.6-s partials averaged): benchmarks/anchors.py's, at 16 kHz."""

    name = "resemblyzer 0.1.4"

    def __init__(self):
        super().__init__(P.SAMPLE_RATE)


class Voxprint:
    """An encoder folder through Recognizer (the code path enrol/identify/verify use)."""

    def __init__(self, folder: Path, engine: str, label: str | None = None):
        from voxprint.inference import Recognizer

        self.rec = Recognizer(folder, engine=engine)
        self.name = f"voxprint {label or folder.name} [{engine}]"
        self.size = (self.rec.dir / ("model.pt" if engine == "torch" else "model.onnx")).stat().st_size
        self.params = sum(p.numel() for p in self.rec.net.parameters())

    def embed_one(self, w):
        return self.rec.score_waves([w])[1][0]

    def embed(self, waves):
        return self.rec.score_waves(waves)[1]


class Mfcc(MfccSvm):
    """MFCC (20, librosa defaults) mean and std over the clip (anchors.MfccSvm's), scored by cosine."""

    name = "MFCC mean/std"

    def __init__(self):
        super().__init__(P.SAMPLE_RATE)
        self.size = self.params = 0

    def embed_one(self, w):
        return self.embed([w])[0]


def original_folder(tmp: Path) -> Path:
    from voxprint.encoder.folder import encoder_config, original_ge2e, save_folder

    return save_folder(tmp / "ge2e-original", original_ge2e(), encoder_config(), {"threshold": 0.0},
                       {"what": "resemblyzer's GE2E weights, unchanged"})


def systems(args, tmp: Path) -> list:
    out = []
    try:
        out.append(Resemblyzer())
    except ImportError as e:
        print(f"resemblyzer: not installed ({e}); pip install -e '.[anchors]'")
    folders = [(Path(m), None) for m in args.model] or ([(SHIPPED, "encoder (shipped)")] if SHIPPED.exists() else [])
    if args.original:
        folders.append((original_folder(tmp), "ge2e-original"))
    for folder, label in folders:
        out.append(Voxprint(folder, "torch", label))
        if (folder / "model.onnx").exists():
            out.append(Voxprint(folder, "onnx", label))
    if args.mfcc:
        out.append(Mfcc())
    return out


OPEN_SET_CONDITIONS = ("clean", "white-5dB")


def ocean_test(home: Path) -> tuple[list, list, int]:
    """(segments, trials, children among them) of ocean-train's TEST speakers."""
    from benchmarks.profiles import CHILD_MAX_AGE, ocean_rows
    from voxprint.encoder import data as D

    speakers = D.ocean_split()["test"]
    segs = D.ocean_segments(home / "ocean-train", speakers)
    kids = sum(int(r["age"]) <= CHILD_MAX_AGE for r in ocean_rows(home / "ocean-train") if r["speaker"] in speakers)
    print(f"ocean-train test speakers: {len(speakers)} ({kids} children), {len(segs)} segments", flush=True)
    return segs, P.trials(segs), kids


def open_set(system, dev_segs, segs, conds) -> dict:
    """Accept threshold from DEV speakers (every system the same way: EER point of the pooled
    clean / 5 dB / 0 dB dev trials); then half of the test speakers (seeded) enrolled, the
    other half strangers: known accuracy and stranger rejection per condition."""
    cal = P.calibrate(system.embed, dev_segs)
    enrolled, strangers = P.open_set_speakers(sorted({s.speaker for s in segs}))
    out = {"threshold": cal["threshold"], "dev_eer": cal["dev_eer"], "enrolled": len(enrolled),
           "strangers": len(strangers)}
    bank = P.NoiseBank()
    for c in conds:
        if c.name in OPEN_SET_CONDITIONS:
            out[c.name] = P.open_set_metrics(P.embed_condition(system.embed, segs, c, bank), segs, enrolled,
                                             cal["threshold"])
    return out


def latencies(systems: list, clip: np.ndarray, runs: int, warmup: int = 10) -> list[float]:
    """Median ms per call of each system's embed_one(clip), timed round-robin (resources.round_robin_ms)."""
    from voxprint.resources import round_robin_ms

    return round_robin_ms([lambda s=s: s.embed_one(clip) for s in systems], runs, warmup)


def print_open_set(results: list[dict]) -> None:
    rows = [r for r in results if r.get("open_set")]
    if not rows:
        return
    o = rows[0]["open_set"]
    print(f"\nopen set: {o['enrolled']} test speakers enrolled, {o['strangers']} strangers; threshold from dev speakers")
    print(f"{'system':<40}{'threshold':>10}" + "".join(f"{c + ' known/rejected':>28}" for c in OPEN_SET_CONDITIONS))
    for r in rows:
        o = r["open_set"]
        cells = "".join(f"{o[c]['known_accuracy']:.3f} / {o[c]['unknown_rejection']:.3f}".rjust(28)
                        for c in OPEN_SET_CONDITIONS)
        print(f"{r['system']:<40}{o['threshold']:>10.3f}{cells}")


def print_table(results: list[dict], conds: list[str]) -> None:
    first = results[0]["conditions"][conds[0]]
    print(f"\ntrials per condition: {first['n_target']} target / {first['n_nontarget']} non-target, "
          f"{first['n_enrolled']} enrolled speakers")
    head = f"{'system':<40}" + "".join(f"{c:>18}" for c in conds) + f"{'ms/1s':>8}{'MB':>7}{'params':>10}"
    print(head + "\n" + " " * 40 + "".join(f"{'EER/minDCF/top1':>18}" for _ in conds))
    for r in results:
        cells = "".join(f"{m['eer']:>6.3f}/{m['min_dcf']:.2f}/{m['top1']:.2f}".rjust(18)
                        for m in (r["conditions"][c] for c in conds))
        print(f"{r['system']:<40}{cells}{r['ms_per_1s_clip']:>8.2f}{r['size_bytes'] / 1e6:>7.2f}{r['params']:>10}")


def markdown(doc: dict) -> str:
    """The README block: protocol, then one table of EER / minDCF / top-1 per condition."""
    res, proto = doc["results"], doc["protocol"]
    conds = list(res[0]["conditions"])
    first = res[0]["conditions"][conds[0]]
    lines = [
        f"libri-dev {proto['speakers']} speakers ({first['n_enrolled']}, never used to train or choose anything; "
        f"split seed {proto['split_seed']}, voxprint/encoder/libri_split.json). Each utterance is cut into "
        f"{proto['segment_s']:g}-s segments (a last piece of >= 1 s kept); a speaker is enrolled from the first half "
        "of its segments (mean of L2-normalised embeddings) and every other segment is scored against every enrolled "
        f"speaker by cosine: {first['n_target']} target / {first['n_nontarget']} non-target trials per condition. "
        "Noise is mixed into every segment (enrolment and test) at an exact SNR, drawn from seed "
        f"{proto['noise_seed']} and the segment id, the same for every system; running_tap is never used in "
        f"encoder training. Latency: median ms per 1-s clip, waveform to embedding, batch 1, one thread, "
        f"{proto['latency_runs']} calls per system taken in turn. ",
        "",
        "| system | " + " | ".join(conds) + " | ms / 1-s clip | MB | params |",
        "|---|" + "---|" * (len(conds) + 3),
    ]
    for r in res:
        cells = [f"{m['eer']:.3f} / {m['min_dcf']:.2f} / {m['top1']:.2f}" for m in (r["conditions"][c] for c in conds)]
        lines.append(f"| {r['system']} | " + " | ".join(cells) +
                     f" | {r['ms_per_1s_clip']:.2f} | {r['size_bytes'] / 1e6:.2f} | {r['params']:,} |")
    lines.append("\nCells: EER / minDCF (p_target 0.01) / top-1 identification among the enrolled speakers.")
    if res[0].get("ocean"):
        o = res[0]["ocean"][conds[0]]
        lines += ["", f"ocean-train TEST speakers ({o['n_enrolled']}, {doc['protocol']['ocean_children']} of them "
                  "children; voxprint/encoder/ocean_split.json, never trained on or used for a choice): each speaker's "
                  "recordings joined in name order and cut the same way; "
                  f"{o['n_target']} target / {o['n_nontarget']} non-target trials per condition.", "",
                  "| system | " + " | ".join(conds) + " |", "|---|" + "---|" * len(conds)]
        for r in res:
            lines.append(f"| {r['system']} | " + " | ".join(
                f"{m['eer']:.3f} / {m['min_dcf']:.2f} / {m['top1']:.2f}" for m in (r["ocean"][c] for c in conds)) + " |")
    bars = bar_lines(doc)
    if bars:
        lines += ["", "The encoder issue's bars, for the shipped encoder as `enroll` / `identify` run it (ONNX):", ""] + bars
    opened = [r for r in res if r.get("open_set")]
    if opened:
        o = opened[0]["open_set"]
        lines += ["", f"Open set: {o['enrolled']} test speakers enrolled (seeded), {o['strangers']} strangers; "
                  "each system's accept threshold is the EER point of its own DEV-speaker trials (clean, white 5 "
                  "and 0 dB pooled). Cells: enrolled speakers named correctly / strangers answered unknown.", "",
                  "| system | threshold | " + " | ".join(OPEN_SET_CONDITIONS) + " |",
                  "|---|---|" + "---|" * len(OPEN_SET_CONDITIONS)]
        for r in opened:
            o = r["open_set"]
            lines.append(f"| {r['system']} | {o['threshold']:.3f} | " + " | ".join(
                f"{o[c]['known_accuracy']:.3f} / {o[c]['unknown_rejection']:.3f}" for c in OPEN_SET_CONDITIONS) + " |")
    return "\n".join(lines)


# the issue's bars on test speakers: (corpus key in a result, condition, most EER)
EER_BARS = [("conditions", "clean", 0.016), ("conditions", "white-5dB", 0.035), ("conditions", "running_tap-5dB", 0.040),
            ("ocean", "clean", 0.030), ("ocean", "white-5dB", 0.060)]
CORPUS = {"conditions": "libri-dev", "ocean": "ocean-train"}
LATENCY_SHARE = 1 / 5  # of resemblyzer's ms per 1-s clip, in the same run
MOST_MB = 5.0


def shipped_row(doc: dict) -> dict | None:
    return next((r for r in doc["results"] if r["system"] == "voxprint encoder (shipped) [onnx]"), None)


def bar_lines(doc: dict) -> list[str]:
    """One line per bar of the encoder issue: its figure for the shipped ONNX encoder, met or NOT met."""
    me, rz = shipped_row(doc), next((r for r in doc["results"] if r["system"].startswith("resemblyzer")), None)
    if me is None:
        return []
    out = []
    for key, cond, most in EER_BARS:
        if me.get(key):
            e = me[key][cond]["eer"]
            out.append(f"- {CORPUS[key]} TEST EER {cond} <= {most}: {e:.3f} -> {'met' if e <= most else 'NOT met'}")
    if rz:
        share = me["ms_per_1s_clip"] / rz["ms_per_1s_clip"]
        out.append(f"- latency <= 1/5 of resemblyzer's: {me['ms_per_1s_clip']:.2f} / {rz['ms_per_1s_clip']:.2f} ms = "
                   f"1/{1 / share:.1f} -> {'met' if share <= LATENCY_SHARE else 'NOT met'}")
    sizes = {f.name: f.stat().st_size / 1e6 for f in sorted(SHIPPED.iterdir()) if f.suffix in (".pt", ".onnx", ".npy")}
    weights = {k: v for k, v in sizes.items() if k.startswith("model.")}
    out.append(f"- shipped weights <= {MOST_MB:g} MB: " + ", ".join(f"{k} {v:.2f} MB" for k, v in weights.items())
               + f" (the same weights twice: PyTorch and int8 ONNX) -> {'met' if max(weights.values()) <= MOST_MB else 'NOT met'}"
               f"; the whole folder with its AS-norm cohort {sum(sizes.values()):.2f} MB")
    return out


def headline(doc: dict) -> str:
    me = shipped_row(doc)
    if me is None:
        return ""
    text = (f"shipped encoder (onnx): libri-dev test EER clean {me['conditions']['clean']['eer']:.3f}, white 5 dB "
            f"{me['conditions']['white-5dB']['eer']:.3f}")
    if me.get("ocean"):
        text += (f"; ocean-train test clean {me['ocean']['clean']['eer']:.3f}, white 5 dB "
                 f"{me['ocean']['white-5dB']['eer']:.3f}")
    return text


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", default=[], help="encoder model folder (repeatable)")
    ap.add_argument("--original", action="store_true", help="also the un-fine-tuned GE2E in voxprint")
    ap.add_argument("--mfcc", action="store_true", help="also the MFCC mean/std baseline")
    ap.add_argument("--speakers", choices=["test", "dev"], default="test")
    ap.add_argument("--ocean", action="store_true", help="also ocean-train's TEST speakers")
    ap.add_argument("--runs", type=int, default=LATENCY_RUNS, help="timed calls per system")
    ap.add_argument("--no-open-set", action="store_true", help="skip the open-set figures (and dev calibration)")
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("--results", action="store_true", help="write docs/results/encoder.md")
    ap.add_argument("--data", type=Path, help="data home with libri-dev/ and noise/ "
                    "(default: $VOXPRINT_DATA, else ../shared/data beside the checkout)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    home = args.data or DATA
    root = home / "libri-dev"
    split = P.load_split()
    segs = P.segments(root, split[args.speakers])
    conds = P.conditions(home / "noise")
    rows = P.trials(segs)
    print(f"libri-dev {args.speakers} speakers: {len(split[args.speakers])}, {len(segs)} segments, "
          f"{len(rows)} trials; split seed {split['seed']}", flush=True)
    one = audio.wrap_pad(segs[0].wave, P.SAMPLE_RATE)  # a 1-s clip
    dev_segs = None if args.no_open_set or args.speakers == "dev" else P.segments(root, split["dev"])
    ocean = ocean_test(home) if args.ocean else None
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        chosen = systems(args, Path(tmp))
        for s in chosen:
            t = time.perf_counter()
            metrics = P.evaluate(s.embed, segs, conds, rows=rows)
            results.append({"system": s.name, "conditions": {m["condition"]: m for m in metrics},
                            "open_set": open_set(s, dev_segs, segs, conds) if dev_segs else None,
                            "size_bytes": int(s.size), "params": int(s.params)})
            if ocean:
                results[-1]["ocean"] = {m["condition"]: m for m in P.evaluate(s.embed, ocean[0], conds, rows=ocean[1])}
            print(f"{s.name}: scored in {time.perf_counter() - t:.0f} s", flush=True)
        for r, ms in zip(results, latencies(chosen, one, args.runs)):
            r["ms_per_1s_clip"] = round(ms, 3)
    print_table(results, [c.name for c in conds])
    print_open_set(results)
    doc = {"protocol": {"speakers": args.speakers, "split_seed": split["seed"], "segment_s": P.SEGMENT_S,
                        "noise_seed": P.NOISE_SEED, "latency_runs": args.runs, "threads": 1,
                        "ocean_children": ocean[2] if ocean else None},
           "results": results}
    if args.json:
        write_json(args.json, doc)
        print(f"wrote {args.json}")
    if args.results:
        from benchmarks.common import publish

        publish("encoder", markdown(doc), title="The general speaker encoder", inputs=INPUTS, module=__spec__.name,
                headline=headline(doc))


if __name__ == "__main__":
    main()
