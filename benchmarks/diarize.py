"""Diarization error on synthetic conversations of libri-dev speakers, against a baseline (issue 23).

    python -m benchmarks.diarize [--tune 80] [--test 30] [--long-minutes 60]

Tuning (window length and clustering setting, then the overlap detector's threshold, for voxprint and
for the baseline alike) uses conversations of libri-dev train + dev speakers, clean and with four noises
at 10 dB (never running_tap), their own one-voice recordings, and 24 clean conversations of the
ocean-train speakers the overlap detector held apart (another corpus: children, non-native adults); the figures are measured on `--test` conversations of its test speakers
only, clean and with running_tap at 10 dB, and on as many conversations of ocean-train's test half
(children and non-native adults, another recording set; benchmarks/conversations.py documents the sets). Scored with
pyannote.metrics against the speech each speaker is heard in (benchmarks/synth.py's `voiced` reference)
and, for comparison, against whole turns: DER with a collar of 0 and of 0.25 s on each side of each
reference boundary, overlapped speech scored, its missed / false-alarm / confusion parts, JER, and the
share of conversations whose speaker count is right (no --speakers); the overlap detector's frame
precision and recall; the share of test speakers' own (one-voice) recordings heard as one speaker. The
baseline hears the same windows as MFCC mean and std (standardised per recording;
benchmarks/diarize_baseline.py), clustered, resegmented and given second speakers the same way.
Speed: `voxprint diarize` of a 10-minute conversation as times real time on this machine's 2 cores;
memory: peak resident memory of `voxprint diarize` on a `--long-minutes` recording in a fresh process.
Writes docs/results/diarize.md (stamped: voxprint.report.results) and .json beside it. Window embeddings
and overlap probabilities are kept in the disk cache `diarize-bench` (voxprint.cache:
$VOXPRINT_CACHE/diarize-bench), keyed by the code that computes them, so a rerun only clusters again.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks import conversations as conv
from benchmarks import synth
from benchmarks.common import REPO, code_key, command, peak_of, publish
from benchmarks.diarize_baseline import mfcc_windows
from benchmarks.diarize_score import COLLAR, score_set
from voxprint.cache import DiskCache
from voxprint.diarize import DiarizeConfig
from voxprint.diarize.embed import Windows, embed_recording, overlap_of
from voxprint.diarize.pipeline import turns_of
from voxprint.diarize.turns import Turn

# the code these figures depend on: docs/results/ says they are stale once one of these changes
INPUTS = ["benchmarks/diarize.py", "benchmarks/conversations.py", "benchmarks/diarize_score.py", "benchmarks/synth.py",
          "benchmarks/diarize_baseline.py", "benchmarks/overlap.py", "voxprint/diarize", "voxprint/inference.py",
          "voxprint/clip_scoring.py", "voxprint/vad", "voxprint/pretrained"]

WINDOWS = (1.5, 2.0)
# voxprint: spectral clustering's largest neighbour share searched `keep`, the share of the recording's
# mean embedding taken away (`centre`; 0 lost on every earlier tuning run) and the similarity at which two
# clusters are one voice after it (`merge_heard`); the baseline: agglomerative clustering's threshold (its
# MFCC statistics are already standardised per recording)
GRID = {"voxprint": {"keep": (0.15, 0.25, 0.4), "centre": (0.5, 1.0),
                     "merge_heard": (0.5, 0.6, 0.65, 0.7, 0.75, 0.8)},
        "mfcc": {"threshold": tuple(np.round(np.arange(0.2, 1.41, 0.05), 3)), "centre": (0.0,)}}
METHOD = {"voxprint": "spectral", "mfcc": "ahc"}
SNR = 10.0
OCEAN_TUNE = 24  # tuning conversations of ocean-train's held-apart dev speakers (ocean_tuning_set)
MEASURED = ("test-clean", "test-tap", "ocean-clean")  # the sets measured (conversation_sets), never tuned on
CACHE = "diarize-bench"  # the DiskCache of window embeddings
# what a cached entry (a conversation's regions, windows and embeddings) is computed by: its key hashes them
EMBED_INPUTS = ["voxprint/diarize/embed.py", "voxprint/diarize/windows.py", "voxprint/inference.py",
                "voxprint/clip_scoring.py", "voxprint/vad", "voxprint/pretrained", "voxprint/features",
                "voxprint/melspec.py", "voxprint/schema.py", "voxprint/audio.py",
                "benchmarks/synth.py", "benchmarks/conversations.py", "benchmarks/diarize_baseline.py"]
# ... and the overlap detector's probabilities, kept apart (a new detector leaves the embeddings valid)
OVERLAP_INPUTS = ["voxprint/diarize/overlap.py", "voxprint/diarize/overlap.onnx", "voxprint/melspec.py",
                  "benchmarks/synth.py", "benchmarks/conversations.py"]
OVERLAP_GRID = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0)  # 1: no detector
MIN_OVERLAP = (0.1, 0.3, 0.5)  # seconds: shorter runs of frames the detector marks get no second speaker
# seconds of windows below which a cluster is folded into its nearest: a short one is mostly a passage
# of a voice heard apart (one voice split in two), rarely a person who said almost nothing
MIN_CLUSTER = (2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0)


def windows_of(rec, system: str, key: str, y: np.ndarray, cfg: DiarizeConfig) -> Windows:
    """Cached per (the code that computes them, system, window, hop, conversation); the overlap
    probabilities (the same for both systems) cached per (detector, conversation)."""
    base = dataclasses.replace(cfg, overlap_threshold=1.0)

    def compute() -> dict[str, np.ndarray]:
        w = embed_recording(rec, y, base) if system == "voxprint" else mfcc_windows(rec, y, base)
        return {"regions": w.regions, "starts": w.starts, "emb": w.emb, "n": w.n_samples}

    cache = DiskCache.named(CACHE)
    z = cache.get_or_compute(f"{system}-{code_key(EMBED_INPUTS)}-{cfg.window_s}-{cfg.hop_s}-{key}", compute)
    ov = cache.array(f"overlap-{code_key(OVERLAP_INPUTS)}-{key}",
                     lambda: overlap_of(y, rec.sample_rate, DiarizeConfig()))
    return Windows(z["regions"], z["starts"], z["emb"], int(z["n"]), ov)


def conversation_sets(n_tune: int, n_test: int) -> dict[str, list[tuple[str, synth.Conversation]]]:
    """{set name: [(cache key, conversation)]}: tune (train + dev speakers: conversations clean and
    with four noises in turn at 10 dB, then each speaker's own one-voice recording, then
    ocean_tuning_set), test-clean and
    test-tap (test speakers; the same conversations, running_tap 10 dB), test-voices (test speakers'
    own recordings) and ocean-clean (conversations of ocean-train's test half: children and non-native
    adults, recorded unlike LibriSpeech; nothing here was trained or tuned on them)."""
    cfg = synth.ConversationConfig()
    tune_v, test_v = conv.voices("tune"), conv.voices("test")
    tune = []
    for i in range(n_tune):
        nz = None if i % 2 == 0 else conv.TUNE_NOISES[(i // 2) % len(conv.TUNE_NOISES)]
        tune.append((f"tune{i}-{nz}", conv.make(tune_v, 1000 + i, cfg, nz, SNR if nz else None)))
    tune += ocean_tuning_set(cfg)
    clean = [(f"test{i}-clean", conv.make(test_v, i, cfg)) for i in range(n_test)]
    tap = [(f"test{i}-tap", conv.make(test_v, i, cfg, conv.TEST_NOISE, SNR)) for i in range(n_test)]
    ocean_v = conv.voices("ocean-test")
    ocean = [(f"ocean{i}-clean", conv.make(ocean_v, i, cfg)) for i in range(n_test)]
    return {"tune": tune + one_voice_set(tune_v), "test-clean": clean, "test-tap": tap,
            "test-voices": one_voice_set(test_v), "ocean-clean": ocean}


def ocean_tuning_set(cfg: synth.ConversationConfig) -> list[tuple[str, synth.Conversation]]:
    """OCEAN_TUNE clean conversations of the ocean-train speakers the overlap detector held apart to
    choose its step (benchmarks/overlap.py; never trained on, never measured on): tuned on LibriSpeech
    alone, the settings suit LibriSpeech (the overlap threshold chosen there added DER on other
    recordings), so the tuning set holds voices and recordings of another kind too."""
    from benchmarks.overlap import split_speakers, voices_of

    voices = voices_of({"ocean-train": split_speakers()["dev"]["ocean-train"]})
    return [(f"oceandev{i}-clean", conv.make(voices, 2000 + i, cfg)) for i in range(OCEAN_TUNE)]


def one_voice_set(voices: dict[str, np.ndarray]) -> list[tuple[str, synth.Conversation]]:
    """(cache key, recording) per speaker of `voices` (conversations.voices): their own recording (one
    voice, about 12 s), referenced as one speaker heard where synth.heard hears them. A voicemail or a
    dictation must come out as one person: these join the tuning set (train + dev speakers) and give
    the one-voice figure (test speakers)."""
    out = []
    for name, y in voices.items():
        heard = synth.heard(y, conv.SR, synth.loud_floor(y, conv.SR))
        voiced = [Turn(round(a, 3), round(b, 3), name) for a, b in heard]
        out.append((f"voice-{name}", synth.Conversation(y, [Turn(0.0, len(y) / conv.SR, name)], conv.SR, voiced)))
    return out


def hypotheses(rec, system: str, items, cfg: DiarizeConfig) -> list:
    """(conversation, its Diarization) per conversation."""
    return [(c, turns_of(windows_of(rec, system, key, c.audio, cfg), cfg, rec.sample_rate)) for key, c in items]


def scored(pairs, reference: str = "voiced", collars=(COLLAR,)) -> dict:
    """score_set against the conversations' `voiced` (heard speech) or `turns` (whole turns) reference."""
    return score_set([(getattr(c, reference), d.turns, len(d.labels) == len(c.speakers)) for c, d in pairs], collars)


def tune(rec, system: str, items) -> tuple[DiarizeConfig, list[dict]]:
    """The window and clustering setting (GRID), then the least speech a cluster keeps (MIN_CLUSTER),
    then the overlap threshold and shortest overlap (OVERLAP_GRID, MIN_OVERLAP), each with the lowest
    DER (0.25-s collar, heard-speech reference) on the tuning set, conversations and one-voice
    recordings pooled."""
    rows = []

    def run(**settings) -> None:
        cfg = DiarizeConfig(method=METHOD[system], **settings)
        s = scored(hypotheses(rec, system, items, cfg))
        rows.append({**settings, "der": s["der_collar"], "count_right": s["count_right"]})

    grid = GRID[system]
    for win in WINDOWS:
        for values in itertools.product(*grid.values()):
            run(window_s=win, overlap_threshold=1.0, **dict(zip(grid, map(float, values))))
    best = min(rows, key=lambda r: (r["der"], -r["count_right"]))
    settings = {k: v for k, v in best.items() if k not in ("der", "count_right")}
    for seconds in MIN_CLUSTER:
        run(**{**settings, "min_cluster_s": seconds})
    best = min(rows, key=lambda r: (r["der"], -r["count_right"]))
    settings = {k: v for k, v in best.items() if k not in ("der", "count_right", "overlap_threshold")}
    for thr in OVERLAP_GRID[:-1]:
        for shortest in MIN_OVERLAP:
            run(**settings, overlap_threshold=thr, min_overlap_s=shortest)
    best = min(rows, key=lambda r: (r["der"], -r["count_right"]))
    chosen = {k: v for k, v in best.items() if k not in ("der", "count_right")}
    return DiarizeConfig(method=METHOD[system], **chosen), rows


def detector_figures(rec, items, threshold: float) -> dict:
    """Frame precision and recall (10-ms frames, heard-speech reference) of the overlap detector at
    `threshold` on a set of conversations."""
    from benchmarks.overlap import f1, labels

    probs, truth = [], []
    for key, c in items:
        p = windows_of(rec, "voxprint", key, c.audio, DiarizeConfig()).overlap
        probs.append(p)
        truth.append(labels(c.voiced, len(p)))
    return f1(np.concatenate(probs), np.concatenate(truth), threshold)


def count_breakdown(pairs, floor_s: float) -> dict:
    """Where a set's speaker counts go wrong: conversations counted under and over the truth, and the
    share counted right among those whose every speaker is heard (benchmarks/synth.py's reference) for at
    least `floor_s` seconds, the least speech a cluster keeps (DiarizeConfig.min_cluster_s): a speaker
    with less is folded into another by design. `counts`: (true, found, least heard seconds) per
    conversation, for reading the failures one by one."""
    counts = []
    for c, d in pairs:
        heard = dict.fromkeys(c.speakers, 0.0)
        for t in c.voiced:
            heard[t.label] += t.end - t.start
        counts.append((len(c.speakers), len(d.labels), round(min(heard.values()), 1)))
    findable = [found == true for true, found, least in counts if least >= floor_s]
    return {"under": sum(found < true for true, found, _ in counts),
            "over": sum(found > true for true, found, _ in counts),
            "findable": len(findable), "findable_right": float(np.mean(findable)) if findable else float("nan"),
            "floor_s": floor_s, "counts": counts}


def one_voice(rec, items, chosen: dict[str, DiarizeConfig]) -> dict:
    """Per system: the share of one-voice recordings diarized as one speaker, and their DER."""
    out = {}
    for system, cfg in chosen.items():
        s = scored(hypotheses(rec, system, items, cfg))
        out[system] = {"count_right": s["count_right"], "der": s["der_collar"]}
    return out


def measure(rec, sets, chosen: dict[str, DiarizeConfig]) -> dict:
    """Test figures of each system with its tuned settings on the MEASURED sets (heard-speech reference,
    and DER against whole turns), the overlap detector's (and the ocean-train conversations without it;
    its false alarms on one voice), and the overlap share of the test conversations."""
    from benchmarks.overlap import false_alarms

    out = {}
    for name in MEASURED:
        for system, cfg in chosen.items():
            pairs = hypotheses(rec, system, sets[name], cfg)
            out[f"{system}/{name}"] = {**scored(pairs, collars=(0.25, 0.0)),
                                       "der_turns": scored(pairs, "turns")["der_collar"],
                                       "count": count_breakdown(pairs, cfg.min_cluster_s)}
        out[f"detector/{name}"] = detector_figures(rec, sets[name], chosen["voxprint"].overlap_threshold)
    # what the detector adds where it was not trained: the same conversations without it
    off = dataclasses.replace(chosen["voxprint"], overlap_threshold=1.0)
    out["no-detector/ocean-clean"] = scored(hypotheses(rec, "voxprint", sets["ocean-clean"], off))
    thr = chosen["voxprint"].overlap_threshold
    out["detector/one-voice"] = {src: shares[thr] for src, shares in false_alarms((thr,)).items()} if thr < 1 else {}
    out["one_voice"] = one_voice(rec, sets["test-voices"], chosen)
    out["overlap_share"] = float(np.mean([synth.overlap_share(c.voiced) for _, c in sets["test-clean"]]))
    out["overlap_share_turns"] = float(np.mean([synth.overlap_share(c.turns) for _, c in sets["test-clean"]]))
    out["seconds"] = float(sum(len(c.audio) for _, c in sets["test-clean"]) / conv.SR)
    return out


def _launch(args: list[str]) -> tuple[float, float, int]:
    """(wall seconds, peak RSS MB, status) of `python -m voxprint.cli ARGS` in a fresh process, started by a
    small launcher (benchmarks.common.peak_of): a child of this process would count its pages too."""
    mb, seconds, status, _, _ = peak_of([sys.executable, "-m", "voxprint.cli", *args])
    return seconds, mb, status


def speed_and_memory(minutes_fast: float, minutes_long: float, tmp: Path) -> dict:
    """`voxprint diarize` on a 10-minute and a long conversation of test speakers (fresh processes)."""
    import soundfile as sf

    vs, out = conv.voices("test"), {}
    for tag, minutes in (("fast", minutes_fast), ("long", minutes_long)):
        cfg = synth.ConversationConfig(min_seconds=minutes * 60, max_seconds=minutes * 60)
        c = conv.make(vs, 500, cfg)
        path = tmp / f"{tag}.wav"
        sf.write(path, c.audio, conv.SR, subtype="PCM_16")
        seconds = len(c.audio) / conv.SR
        del c
        wall, rss, status = _launch(["diarize", str(path), "--rttm", str(tmp)])
        out[tag] = {"audio_s": seconds, "wall_s": wall, "x_real_time": seconds / wall, "peak_mb": rss,
                    "status": status}
    return out


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def report(res: dict) -> str:
    """The body of docs/results/diarize.md."""
    m, sp, cv, cm = res["measured"], res["speed"], res["chosen"]["voxprint"], res["chosen"]["mfcc"]
    lines = [f"{res['n_test']} conversations of libri-dev test speakers ({m['seconds'] / 60:.0f} min, "
             f"{_pct(m['overlap_share'])} of heard speech overlapped on average, {_pct(m['overlap_share_turns'])} "
             f"of whole turns); settings tuned on {res['n_tune']} conversations of train + dev speakers, their "
             f"own one-voice recordings and {OCEAN_TUNE} conversations of ocean-train speakers held apart "
             f"(voxprint: spectral clustering, window {cv['window_s']} s, neighbours chosen per recording up to "
             f"{cv['keep']} of the windows, mean embedding taken away {cv['centre']}, clusters merged above "
             f"{cv['merge_heard']} after it, clusters under {cv['min_cluster_s']} s folded, overlap threshold "
             f"{cv['overlap_threshold']} in runs of "
             f"{cv['min_overlap_s']} s; MFCC baseline: agglomerative clustering, window {cm['window_s']} s, "
             f"threshold {cm['threshold']}, clusters under {cm['min_cluster_s']} s folded, overlap threshold "
             f"{cm['overlap_threshold']} in runs of "
             f"{cm['min_overlap_s']} s; an overlap threshold of 1 means no second speaker).", "",
             "The reference is the speech each speaker is heard in (benchmarks/synth.py: pauses of 0.3 s or more "
             "and the silence at a turn's edges are not speech), as a person annotating a meeting marks it; the "
             "last DER column scores the same output against whole turns, pauses included.", "",
             "| system | audio | DER (0.25-s collar) | missed | false alarm | confusion | JER | DER (no collar) "
             "| speaker count right | DER, whole-turn reference |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, label in (("test-clean", "clean"), ("test-tap", "running_tap 10 dB"),
                        ("ocean-clean", "ocean-train test half, clean")):
        for system in ("voxprint", "mfcc"):
            s = m[f"{system}/{name}"]
            lines.append(f"| {system if system == 'voxprint' else 'MFCC mean/std baseline'} | {label} | "
                         f"{s['der_0.25']:.3f} | {s['missed_0.25']:.3f} | {s['false_alarm_0.25']:.3f} | "
                         f"{s['confusion_0.25']:.3f} | {s['jer_0.25']:.3f} | {s['der_0.0']:.3f} | "
                         f"{_pct(s['count_right'])} | {s['der_turns']:.3f} |")
    lines += ["", "Where voxprint's speaker counts go wrong (of each set's conversations: counted too few / too many; "
              f"then the share counted right among the conversations whose every speaker is heard for at least "
              f"{cv['min_cluster_s']} s, the least speech a cluster keeps): "
              + "; ".join(f"{label} {k['under']} / {k['over']}, {_pct(k['findable_right'])} of {k['findable']}"
                          for name, label in (("test-clean", "clean"), ("test-tap", "running_tap 10 dB"),
                                              ("ocean-clean", "ocean-train"))
                          for k in [m[f"voxprint/{name}"]["count"]])
              + ". Too few is two voices joined (noise makes different people sound alike to the encoder), or a "
              "speaker under that floor folded into another; docs/results/diarize.json lists each conversation's "
              "true and found count and its least-heard speaker's seconds."]
    dc, dt, do = m["detector/test-clean"], m["detector/test-tap"], m["detector/ocean-clean"]
    nd, ov = m["no-detector/ocean-clean"], m["voxprint/ocean-clean"]
    fa = m["detector/one-voice"]
    lines += ["", "The ocean-train rows are conversations of its test half (non-native English, children and adults, "
              "recorded unlike LibriSpeech); nothing in voxprint was trained or tuned on these speakers. Without the "
              f"overlap detector they score DER {nd['der_collar']:.3f} (with it {ov['der_0.25']:.3f}), speaker count "
              f"right {_pct(nd['count_right'])}.", "",
              f"Overlap detector (voxprint/diarize/overlap.onnx) at threshold {cv['overlap_threshold']}, 10-ms "
              f"frames: precision {dc['precision']:.2f} / recall {dc['recall']:.2f} clean, {dt['precision']:.2f} / "
              f"{dt['recall']:.2f} with running_tap 10 dB, {do['precision']:.2f} / {do['recall']:.2f} on the "
              "ocean-train conversations. One voice marked as two (share of the heard frames of one-voice recordings "
              "the detector never trained on; `python -m benchmarks.overlap --check`): "
              + ", ".join(f"{src} {share:.3f}" for src, share in fa.items()) + ".", "",
              f"One voice heard as one speaker (each libri-dev test speaker's own recording, about 12 s): voxprint "
              f"{_pct(m['one_voice']['voxprint']['count_right'])} (DER {m['one_voice']['voxprint']['der']:.3f}), "
              f"MFCC baseline {_pct(m['one_voice']['mfcc']['count_right'])} (DER {m['one_voice']['mfcc']['der']:.3f})."]
    f, lg = sp["fast"], sp["long"]
    lines += ["", f"`voxprint diarize` of a {f['audio_s'] / 60:.0f}-minute recording: {f['wall_s']:.1f} s "
              f"({f['x_real_time']:.0f}x real time, process start and model load included, on this machine's "
              f"2 shared cores); of a {lg['audio_s'] / 60:.0f}-minute one: {lg['wall_s']:.0f} s, peak memory "
              f"{lg['peak_mb']:.0f} MB."]
    return "\n".join(lines) + "\n"


def headline(res: dict) -> str:
    """One line for the README's index of results."""
    m, f = res["measured"], res["speed"]["fast"]
    v, b = m["voxprint/test-clean"], m["mfcc/test-clean"]
    return (f"DER {v['der_0.25']:.3f} clean / {m['voxprint/test-tap']['der_0.25']:.3f} running_tap 10 dB (MFCC "
            f"baseline {b['der_0.25']:.3f}); speaker count right {_pct(v['count_right'])}; "
            f"{f['x_real_time']:.0f}x real time")


def main() -> None:
    import subprocess
    import tempfile

    import torch

    from voxprint.inference import Recognizer
    from voxprint.io import write_json

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tune", type=int, default=80, help="tuning conversations (train + dev speakers)")
    ap.add_argument("--test", type=int, default=30, help="test conversations (test speakers)")
    ap.add_argument("--fast-minutes", type=float, default=10.0)
    ap.add_argument("--long-minutes", type=float, default=60.0)
    a = ap.parse_args()
    torch.set_num_threads(1)
    rec = Recognizer()
    sets = conversation_sets(a.tune, a.test)
    chosen, grids = {}, {}
    for system in ("voxprint", "mfcc"):
        chosen[system], grids[system] = tune(rec, system, sets["tune"])
        print(f"{system}: {chosen[system]}", flush=True)
    measured = measure(rec, sets, chosen)
    with tempfile.TemporaryDirectory() as tmp:
        speed = speed_and_memory(a.fast_minutes, a.long_minutes, Path(tmp))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=REPO).stdout.strip()
    res = {"commit": commit, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "command": command(__spec__.name), "n_tune": a.tune,
           "n_test": a.test, "chosen": {k: dataclasses.asdict(v) for k, v in chosen.items()},
           "measured": measured, "speed": speed, "tuning_grid": grids}
    body = report(res)
    out = REPO / "docs" / "results"
    write_json(out / "diarize.json", res)
    print(body)
    publish("diarize", body, title="Diarization", inputs=INPUTS, module=__spec__.name, headline=headline(res))


if __name__ == "__main__":
    main()
