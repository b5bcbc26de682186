"""Choose the speech-activity backend by measurement: cost and accuracy, side by side.

    python -m benchmarks.vad [--data ../shared/data] [--fsdd 30] [--speeches5 20] [--libri 30]
                             [--variants silero webrtc:webrtc_mode=1 energy ...]

(a) Cost: milliseconds of one CPU thread per second of audio for every detector, beside
    the log-Mel and MFCC extraction (voxprint.features, 1-s windows) of the same audio,
    at 8 kHz (FSDD) and 16 kHz (libri-dev).
(b) Accuracy: FSDD training clips (8 kHz), speeches5 clips (16 kHz) and libri-dev
    utterances of train and dev speakers (16 kHz, natural pauses; never the test speakers), as they are ("unpadded": what the pipeline sees)
    and with 1.0 s of known non-speech before and after: digital silence; a quiet recorded-noise bed (-55 dBFS); or white,
    pink or recorded noise over the whole padded clip at 20/10/5/0 dB SNR, the SNR
    measured on the original clip. Noise comes from the evaluation part of each noise
    file (after augment.train_fraction). Per condition and detector:
      pad%   share of the padding labelled speech, leaving out the 0.25 s next to the
             clip where word edges and vad.pad_ms spill (false alarms; lower is better;
             "-" for unpadded clips)
      keep%  share of the reference speech still labelled speech (higher is better);
             the reference is where at least two of silero / webrtc / energy agree on the
             clip padded with digital silence, so no single detector is its own judge
      lost%  clips left with less than vad.min_speech_seconds of speech: they would be
             skipped as "no speech found"
    FSDD and libri-dev are quiet recordings of speech only, so every clip holds speech and
    the reference is sound: the recommendation is scored on them. speeches5 slices long
    speeches and some slices hold applause or crowd noise instead, so there keep% and lost%
    are not errors per se; the benchmark prints how steady the level of the clips each
    detector rejects is (speech swings by 15 dB and more within a second).
(c) Survey: every FSDD training-index clip, speeches5 clip and libri-dev utterance as it
    is: how many files each detector finds no speech in, and the median speech share.
A variant is a backend name with optional VadConfig fields: `webrtc:webrtc_mode=1`,
`silero:threshold=0.3,silero_rate=8000`. The recommendation ranks variants by the mean of
keep% - pad% - lost% over the scored sets and all conditions; ties within 1 point go to the
cheaper (8 + 16 kHz cost).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from benchmarks.padding import RoomBed, default_room_noise, pad_clip
from voxprint import vad
from voxprint.audio import load
from voxprint.augment import build_sources, pink_noise, power, white_noise
from voxprint.config import FeatureConfig, VadConfig, from_dict
from voxprint.dirs import data_home
from voxprint.features import build_feature
from voxprint.vad.backends import frame_db

# the code these figures depend on: docs/results/ says they are stale once one of these changes
INPUTS = ["benchmarks/vad.py", "benchmarks/padding.py", "voxprint/vad", "voxprint/audio.py", "voxprint/features"]

SNRS = (20.0, 10.0, 5.0, 0.0)
RECORDED = ("doing_the_dishes.wav", "running_tap.wav", "dude_miaowing.wav")  # not the room bed's file
PAD_S = 1.0
REF = ("silero", "webrtc", "energy")
TOL_S = 0.25  # padding this close to the clip is not scored: word edges and pad_ms spill there
SCORED = ("fsdd", "libri-dev")  # quiet recordings of speech only: every clip holds speech


def parse_variant(spec: str) -> VadConfig:
    """'webrtc:webrtc_mode=1' -> VadConfig(backend='webrtc', webrtc_mode=1); fields as in VadConfig."""
    name, _, args = spec.partition(":")
    d = {"backend": name}
    for kv in filter(None, args.split(",")):
        k, _, v = kv.partition("=")
        d[k] = yaml.safe_load(v)
    return from_dict(VadConfig, d, f"variant {spec}")


# --------------------------------------------------------------------------- data


def _libri_choosable(root: Path) -> list[Path]:
    """libri-dev utterances of the encoder split's train and dev speakers: a detector is a choice,
    and choices never look at the test speakers."""
    from voxprint import protocol as P

    split = P.load_split()
    keep = set(split["train"]) | set(split["dev"])
    return [p for p in sorted((root / "libri-dev").glob("*/*.flac")) if p.parent.name in keep]


def load_sets(root: Path, n_fsdd: int, n_s5: int, n_libri: int) -> dict[str, tuple[int, list[np.ndarray]]]:
    """{set: (rate, clips)}. FSDD clips come from the official training indices (5-49): the
    test clips never take part in choosing anything. speeches5 picks are spread over each speaker."""
    sets = {}
    fsdd = sorted((root / "fsdd" / "recordings").glob("*.wav"))
    train = [p for p in fsdd if int(p.stem.split("_")[2]) >= 5]
    by_spk: dict[str, list[Path]] = {}
    for p in train:
        by_spk.setdefault(p.stem.split("_")[1], []).append(p)
    picks = [p for spk in sorted(by_spk) for p in by_spk[spk][:: max(1, len(by_spk[spk]) // n_fsdd)][:n_fsdd]]
    sets["fsdd"] = (8000, [load(p, 8000)[0] for p in picks])
    s5 = []
    for d in sorted((root / "speeches5" / "audio").iterdir()):
        files = sorted(d.glob("*.wav"), key=lambda p: int(p.stem))
        s5 += [load(p, 16000)[0] for p in files[:: max(1, len(files) // n_s5)][:n_s5]]
    sets["speeches5"] = (16000, s5)
    libri = _libri_choosable(root)
    sets["libri-dev"] = (16000, [load(p, 16000)[0] for p in libri[:: max(1, len(libri) // n_libri)][:n_libri]])
    return sets


def conditions(sr: int) -> list[tuple[str, object]]:
    """[(name, fn(y, rng) -> padded clip)]: the clip sits at [pad, pad + len(y)) (pad 0 when unpadded)."""
    pad = round(PAD_S * sr)
    root = data_home() / "noise"
    bed = RoomBed(default_room_noise(), sr)
    recorded = build_sources([str(root / f) for f in RECORDED], sr, "eval", 0.8, )

    def noisy(kind, snr):
        def fn(y, rng):
            n = len(y) + 2 * pad
            if kind == "recorded":
                src = recorded[int(rng.integers(len(recorded)))]
                noise = src.sample(n, rng)
            else:
                noise = white_noise(n, rng) if kind == "white" else pink_noise(n, rng)
            gain = np.sqrt(power(y) / (power(noise) * 10 ** (snr / 10)))
            return pad_clip(y, pad, gain * noise)
        return fn

    out = [("unpadded", lambda y, rng: y),
           ("silence", lambda y, rng: pad_clip(y, pad)),
           ("room -55 dBFS", lambda y, rng: pad_clip(y, pad, bed(len(y) + 2 * pad, rng)))]
    out += [(f"{k} {snr:g} dB", noisy(k, snr)) for k in ("white", "pink", "recorded") for snr in SNRS]
    return out


# --------------------------------------------------------------------------- accuracy


def reference(clips: list[np.ndarray], sr: int) -> list[np.ndarray]:
    """Per clip, [len(y)] bool: speech where >= 2 of the REF backends agree (clip padded with zeros)."""
    pad = round(PAD_S * sr)
    refs = []
    for y in clips:
        z = pad_clip(y, pad)
        votes = sum(vad.detect(z, sr, VadConfig(backend=b)).mask()[pad : pad + len(y)].astype(int) for b in REF)
        refs.append(votes >= 2)
    return refs


def score_set(sr, clips, refs, variants, conds, min_speech, seed=0) -> dict:
    """{(condition, variant): (pad%, keep%, lost%)}, plus per variant and clip whether it was
    lost in the first condition -> {variant: [bool]}."""
    tol = round(TOL_S * sr)
    out, lost_first = {}, {}
    for ci, (cname, make) in enumerate(conds):
        rng = np.random.default_rng([seed, ci])
        padded = [make(y, rng) for y in clips]
        for v in variants:
            cfg = parse_variant(v)
            fa, keep, lost = [], [], []
            for y, z, ref in zip(clips, padded, refs):
                speech = vad.detect(z, sr, cfg)
                m = speech.mask()
                pad = (len(z) - len(y)) // 2
                fa.append(np.concatenate([m[: pad - tol], m[pad + len(y) + tol :]]).mean() if pad else np.nan)
                keep.append(m[pad : pad + len(y)][ref].mean() if ref.any() else 1.0)
                lost.append(speech.seconds < min_speech)
            out[(cname, v)] = (100 * np.mean(fa), 100 * np.mean(keep), 100 * np.mean(lost))
            if ci == 0:
                lost_first[v] = lost
    return out, lost_first


def level_range(y: np.ndarray, sr: int) -> float:
    """p95 - p10 of 25 ms frame levels in dB: speech swings by 15 dB and more within a
    second, applause and other steady noise by a few dB."""
    db = frame_db(y, round(0.025 * sr), round(0.010 * sr))
    return float(np.percentile(db, 95) - np.percentile(db, 10))


def survey_files(root: Path) -> dict[str, tuple[int, list[Path]]]:
    """Whole sets as the pipeline sees them: every FSDD training-index clip, every speeches5
    clip, every libri-dev utterance."""
    fsdd = [p for p in sorted((root / "fsdd" / "recordings").glob("*.wav")) if int(p.stem.split("_")[2]) >= 5]
    return {"fsdd (train idx)": (8000, fsdd),
            "speeches5": (16000, sorted((root / "speeches5" / "audio").glob("*/*.wav"))),
            "libri-dev": (16000, _libri_choosable(root))}


def survey(root: Path, variants: list[str], min_speech: float) -> None:
    """(c) Unpadded whole sets: files with no speech found, and the median speech share."""
    print(f"\n(c) whole sets, unpadded: files with < {min_speech:g} s of speech (would be skipped) "
          "and the median share of a file that is speech")
    print(f"{'set':<18}{'files':>6}  " + "".join(f"{f'[{i + 1}] lost':>12}{'share':>7}" for i in range(len(variants))))
    for name, (sr, files) in survey_files(root).items():
        clips = [load(p, sr)[0] for p in files]
        cells = []
        for v in variants:
            cfg = parse_variant(v)
            found = [vad.detect(y, sr, cfg) for y in clips]
            lost = sum(s.seconds < min_speech for s in found)
            cells.append(f"{lost:>6} {100 * lost / len(clips):4.1f}%{np.median([s.fraction for s in found]):>7.2f}")
        print(f"{name:<18}{len(clips):>6}  " + "".join(cells))


# --------------------------------------------------------------------------- cost


def per_second(fn, seconds: float, repeats: int = 5) -> float:
    """Milliseconds of CPU time per second of audio: the best of `repeats` runs of fn().

    CPU time of this process, not wall time: everything here runs on one thread (torch
    and onnxruntime are set to one), and on a shared machine the wall clock also counts
    other people's work."""
    fn()  # warm-up: session creation, caches
    best = min(_timed(fn) for _ in range(repeats))
    return 1000.0 * best / seconds


def _timed(fn) -> float:
    t = time.process_time()
    fn()
    return time.process_time() - t


def cost_table(sets, variants) -> dict:
    """{row: {rate: ms per s}} for every variant and for log-Mel / MFCC, one thread.

    Detectors run clip by clip, as the pipeline calls them (per-call overheads and silero's
    lead-in count); features run on the same audio cut into 1-s windows, as in training."""
    torch.set_num_threads(1)
    rows: dict[str, dict[int, float]] = {}
    for rate, name in ((8000, "fsdd"), (16000, "libri-dev")):
        sr, clips = sets[name]
        n = int(np.searchsorted(np.cumsum([len(y) for y in clips]), 60 * sr)) + 1
        clips = clips[:n]  # about a minute of real speech
        secs = sum(len(y) for y in clips) / sr
        for v in variants:
            cfg = parse_variant(v)
            rows.setdefault(v, {})[rate] = per_second(lambda: [vad.detect(y, sr, cfg) for y in clips], secs)  # noqa: B023 (timed at once)
        y = np.concatenate(clips)
        wins = torch.from_numpy(y[: len(y) // sr * sr].reshape(-1, sr))
        for feat in ("mel", "mfcc"):
            ext = build_feature(FeatureConfig(name=feat), sr)
            rows.setdefault(f"features: {feat}", {})[rate] = per_second(lambda: ext(wins), len(wins))  # noqa: B023 (timed at once)
    return rows


# --------------------------------------------------------------------------- report


def print_set(name, sr, n, res, variants, conds) -> None:
    w = 7
    print(f"\n{name}: {n} clips at {sr} Hz; padded conditions add {PAD_S:g} s each side")
    head = "".join(f"{f'[{i + 1}]':>{w}}" for i in range(len(variants)))
    titles = ("pad% (lower better)", "keep% (higher better)", "lost% (lower better)")
    print(f"{'':<16}|" + "|".join(f"{t:^{len(head)}}" for t in titles))
    print(f"{'condition':<16}|{head}|{head}|{head}")
    for cname, _ in conds:
        cells = ["".join(f"{res[(cname, v)][k]:>{w}.1f}" if not np.isnan(res[(cname, v)][k]) else f"{'-':>{w}}"
                         for v in variants) for k in range(3)]
        print(f"{cname:<16}|" + "|".join(cells))


def print_steadiness(clips, sr, lost: dict) -> None:
    """Whether the clips a detector finds no speech in look like speech at all."""
    rng_db = np.array([level_range(y, sr) for y in clips])
    print("level range within the clip (p95 - p10 of 25 ms frames, dB; median) of the clips each "
          "detector found no speech in (unpadded) / found speech in:")
    for v, flags in lost.items():
        f = np.asarray(flags)
        none = f"{np.median(rng_db[f]):5.1f} ({f.sum()} clips)" if f.any() else "    - (0 clips)"
        print(f"  {v:<26} no speech {none}   speech {np.median(rng_db[~f]):5.1f} ({(~f).sum()} clips)")


def recommend(all_res: dict, variants: list[str], cost: dict) -> str:
    """all_res: {(set, condition, variant): (pad%, keep%, lost%)} over the SCORED sets.

    The backend of the best-scoring variant is recommended; variants within 1 point of it
    are listed as equals (their differences are within what the sample size resolves)."""
    def mean_score(v, which):
        quiet = ("unpadded", "silence", "room")
        return np.mean([r[1] - np.nan_to_num(r[0]) - r[2] for (s, c, vv), r in all_res.items() if vv == v and
                        (which == "all" or c.startswith(quiet) == (which == "quiet"))])

    score = {v: mean_score(v, "all") for v in variants}
    best = max(variants, key=score.get)
    backend = parse_variant(best).backend
    tied = [f"[{variants.index(v) + 1}]" for v in variants if score[v] >= score[best] - 1.0]
    others = {parse_variant(v).backend: score[v] for v in sorted(variants, key=score.get)
              if parse_variant(v).backend != backend}
    lines = [f"  [{i + 1}] {v:<26} {score[v]:6.1f} {mean_score(v, 'quiet'):8.1f} {mean_score(v, 'noisy'):8.1f}"
             f"{cost[v][8000]:9.2f}{cost[v][16000]:8.2f}" for i, v in enumerate(variants)]
    return "\n".join([f"\nscore = keep% - pad% - lost%, mean over {' and '.join(SCORED)}; cost in ms per s",
                      f"  {'variant':<30} {'all':>6} {'quiet':>8} {'noisy':>8}{'8 kHz':>9}{'16 kHz':>8}", *lines,
                      f"recommendation: vad.backend={backend!r} (best: {best}, score {score[best]:.1f}; within 1 point: "
                      f"{' '.join(tied)}; best of the others: "
                      + ", ".join(f"{k} {v:.1f}" for k, v in others.items()) + ")",
                      f"config default: vad.backend={VadConfig().backend!r}"])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fsdd", type=int, default=30, help="FSDD training clips per speaker (6 speakers)")
    ap.add_argument("--speeches5", type=int, default=20, help="speeches5 clips per speaker (5 speakers)")
    ap.add_argument("--libri", type=int, default=30, help="libri-dev utterances")
    ap.add_argument("--variants", nargs="+", default=["silero", "silero:silero_rate=8000", "webrtc",
                                                        "webrtc:webrtc_mode=1", "energy"])
    ap.add_argument("--parts", nargs="+", choices=["cost", "accuracy", "survey"],
                    default=["cost", "accuracy", "survey"], help="which of (a) cost, (b) accuracy, (c) survey to run")
    ap.add_argument("--data", default=None, help="shared data folder (default: $VOXPRINT_DATA, else ../shared/data)")
    ap.add_argument("--results", action="store_true", help="also put everything printed into docs/results/vad.md")
    args = ap.parse_args(argv)
    if args.results:
        import contextlib
        import io

        from benchmarks.common import publish

        class Tee(io.StringIO):
            def write(self, text):
                sys.__stdout__.write(text)
                return super().write(text)

        with contextlib.redirect_stdout(Tee()) as out:
            run(args)
        publish("vad", "One thread:\n\n```\n" + out.getvalue().strip() + "\n```", title="Speech detection",
                inputs=INPUTS, module=__spec__.name)
        return
    run(args)


def run(args):
    if args.data or not os.environ.get("VOXPRINT_DATA"):
        from benchmarks.common import DATA

        os.environ["VOXPRINT_DATA"] = str(args.data or DATA)
    root = data_home()
    sets = load_sets(root, args.fsdd, args.speeches5, args.libri)
    print("variants: " + "  ".join(f"[{i + 1}] {v}" for i, v in enumerate(args.variants)))
    cost = cost_table(sets, args.variants)
    if "cost" in args.parts:
        print("\ncost, ms of one CPU thread per second of audio (lower is better)")
        print(f"{'':<30}{'8 kHz':>8}{'16 kHz':>8}")
        for row, r in cost.items():
            label = f"[{args.variants.index(row) + 1}] {row}" if row in args.variants else row
            print(f"{label:<30}{r[8000]:>8.2f}{r[16000]:>8.2f}")
    min_speech = VadConfig().min_speech_seconds
    if "accuracy" in args.parts:
        all_res = {}
        for name, (sr, clips) in sets.items():
            conds = conditions(sr)
            res, lost = score_set(sr, clips, reference(clips, sr), args.variants, conds, min_speech)
            print_set(name, sr, len(clips), res, args.variants, conds)
            if name not in SCORED:
                print_steadiness(clips, sr, lost)
            else:
                all_res.update({(name, *k): r for k, r in res.items()})
        print(recommend(all_res, args.variants, cost))
    if "survey" in args.parts:
        survey(root, args.variants, min_speech)


if __name__ == "__main__":
    main()
