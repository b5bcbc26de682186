"""The alternatives side by side, on the same split, in one process:

  resemblyzer   pretrained GE2E speaker encoder + logistic regression   (pip install -e '.[anchors]')
  mfcc-svm      MFCC mean/std per clip + RBF SVM
  voxprint      the run's best model (PyTorch and onnxruntime)

Accuracy clean and with white noise at 10 and 0 dB SNR (the same noise draw per clip for
every system, test-only noise), batch-1 latency per 1-s clip on one thread, model size.
With --verification, resemblyzer's cosine scoring is also run on the unseen-speaker trials
of the run's verification study and added to verification.json as an anchor.

    python benchmarks/anchors.py [RUN_DIR] [--verification]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from voxprint import audio
from voxprint.augment import mix_at_snr, white_noise
from voxprint.inference import Recognizer
from voxprint.io import read_csv, read_json, write_json
from voxprint.resources import median_ms

SNRS = [None, 10.0, 0.0]


def noisy(waves, snr, seed=1234):
    if snr is None:
        return waves
    return [mix_at_snr(w, white_noise(len(w), np.random.default_rng([seed, i])), snr) for i, w in enumerate(waves)]


class Resemblyzer:
    name = "resemblyzer+LR"

    def __init__(self, sr):
        warnings.filterwarnings("ignore")
        from resemblyzer import VoiceEncoder, preprocess_wav
        import resemblyzer

        self.enc, self.pre, self.sr = VoiceEncoder("cpu", verbose=False), preprocess_wav, sr
        self.size = (Path(resemblyzer.__file__).parent / "pretrained.pt").stat().st_size
        self.params = sum(p.numel() for p in self.enc.parameters())

    def embed_one(self, w):
        y = self.pre(w, source_sr=self.sr)
        if len(y) < 1600:  # its VAD trimmed nearly everything: use the whole clip, volume-normalised
            import soxr
            from resemblyzer.audio import audio_norm_target_dBFS, normalize_volume, sampling_rate

            y = soxr.resample(w, self.sr, sampling_rate) if self.sr != sampling_rate else w
            y = audio.wrap_pad(normalize_volume(y, audio_norm_target_dBFS, increase_only=True), 1600)
        return self.enc.embed_utterance(y)

    def embed(self, waves):
        return np.stack([self.embed_one(w) for w in waves])

    def fit(self, waves, y):
        self.clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(self.embed(waves), y)

    def predict(self, waves):
        return self.clf.predict(self.embed(waves))


class MfccSvm:
    name = "mfcc-mean/std+SVM"

    def __init__(self, sr):
        import librosa

        self.librosa, self.sr = librosa, sr
        self.size, self.params = None, None

    def embed(self, waves):
        out = []
        for w in waves:
            m = self.librosa.feature.mfcc(y=w, sr=self.sr, n_mfcc=20)
            out.append(np.concatenate([m.mean(1), m.std(1)]))
        return np.stack(out)

    def embed_one(self, w):
        return self.embed([w])[0]

    def fit(self, waves, y):
        self.clf = make_pipeline(StandardScaler(), SVC(C=10)).fit(self.embed(waves), y)
        import pickle

        self.size = len(pickle.dumps(self.clf))
        self.params = int(self.clf[-1].support_vectors_.size + self.clf[-1].dual_coef_.size)

    def predict(self, waves):
        return self.clf.predict(self.embed(waves))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", nargs="?", default="runs/fsdd")
    ap.add_argument("--verification", action="store_true", help="also score the unseen-speaker trials")
    ap.add_argument("--max-train", type=int, default=None, help="cap training clips for the anchors")
    args = ap.parse_args(argv)
    run = Path(args.run)
    rec = Recognizer(run)
    onnx_rec = Recognizer(run, engine="onnx")
    sr = rec.sample_rate
    rows = read_csv(run / "split.csv")
    index = {s: i for i, s in enumerate(rec.labels)}

    def load(split, cap=None):
        sel = [r for r in rows if r["split"] == split]
        if cap:
            sel = sel[:: max(1, len(sel) // cap)][:cap]
        return [audio.load(r["path"], sr)[0] for r in sel], np.array([index[r["speaker"]] for r in sel])

    train_w, train_y = load("train", args.max_train)
    test_w, test_y = load("test")
    print(f"run {run} ({rec.name}), {len(rec.labels)} speakers, train {len(train_w)} / test {len(test_w)} clips, "
          f"{sr} Hz", flush=True)

    systems = []
    for cls in (Resemblyzer, MfccSvm):
        try:
            s = cls(sr)
        except ImportError as e:
            print(f"{cls.name}: not installed ({e}); pip install -e '.[anchors]'")
            continue
        t = time.perf_counter()
        s.fit(train_w, train_y)
        print(f"{s.name}: fitted in {time.perf_counter() - t:.1f} s", flush=True)
        systems.append(s)

    one = audio.wrap_pad(test_w[0], int(sr * 1.0))
    torch.set_num_threads(1)
    results = []
    for s in systems:
        acc = [float(np.mean(s.predict(noisy(test_w, snr)) == test_y)) for snr in SNRS]
        results.append((s.name, acc, median_ms(lambda: s.embed_one(one), 100), s.size, s.params))
    for engine, r in (("torch", rec), ("onnx", onnx_rec)):
        acc = [float(np.mean(r.score_waves(noisy(test_w, snr))[0].argmax(1) == test_y)) for snr in SNRS]
        size = (r.dir / ("model.pt" if engine == "torch" else "model.onnx")).stat().st_size
        lat = median_ms(lambda: r.run_features(r.wave_features(one)), 200)
        results.append((f"voxprint {rec.name} [{engine}]", acc, lat, size,
                        sum(p.numel() for p in rec.net.parameters())))

    print(f"\n{'system':<38} {'clean':>6} {'10 dB':>6} {'0 dB':>6} {'ms/clip':>8} {'size KB':>8} {'params':>9}")
    for name, acc, lat, size, params in results:
        print(f"{name:<38} {acc[0]:>6.3f} {acc[1]:>6.3f} {acc[2]:>6.3f} {lat:>8.3f} "
              f"{(size or 0) / 1024:>8.0f} {params or 0:>9}")
    write_json(run / "anchors.json", [
        {"system": name, "clean": acc[0], "white_10db": acc[1], "white_0db": acc[2], "ms_per_clip": round(lat, 4),
         "size_bytes": size, "params": params} for name, acc, lat, size, params in results])
    ours = min((r for r in results if r[0].startswith("voxprint")), key=lambda r: r[2])
    for name, acc, lat, size, _ in results:
        if not name.startswith("voxprint"):
            print(f"{ours[0]} vs {name}: {lat / ours[2]:.1f}x faster, {size / ours[3]:.1f}x smaller, "
                  f"accuracy at 0 dB {ours[1][2]:.3f} vs {acc[2]:.3f}")

    if args.verification and systems and isinstance(systems[0], Resemblyzer):
        verification_anchor(run, systems[0])


def verification_anchor(run: Path, enc: Resemblyzer):
    """Resemblyzer cosine scoring on the exact trials of the run's unseen-speaker study."""
    from voxprint.verification import eer, min_dcf, trial_pairs
    from voxprint.unseen import MAX_TRIALS

    vpath = run / "verification.json"
    clips = run / "verification" / "test_clips.csv"
    if not vpath.exists() or not clips.exists():
        print("no verification study in this run; skipped the verification anchor")
        return
    v = read_json(vpath)
    rows = read_csv(clips)
    names = sorted({r["speaker"] for r in rows})
    lab = np.array([int(r["label"]) for r in rows])
    enc.sr = v["sample_rate"]
    emb = enc.embed([audio.load(r["path"], enc.sr)[0] for r in rows])
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    i, j, same = trial_pairs(lab, MAX_TRIALS, int(v.get("seed", 0)))
    scores = np.sum(emb[i] * emb[j], axis=1)
    e, _ = eer(scores, same)
    dcf, _ = min_dcf(scores, same, p_target=0.01)
    print(f"verification anchor resemblyzer (cosine, {len(names)} unseen speakers, {len(scores)} trials): "
          f"EER {e:.4f}, minDCF {dcf:.4f}   voxprint: EER {v['eer']:.4f}, minDCF {v['min_dcf']:.4f}")
    v["anchors"] = [a for a in v.get("anchors", []) if a.get("name") != "resemblyzer"] + [
        {"name": "resemblyzer", "eer": float(e), "min_dcf": float(dcf), "n_trials": int(len(scores))}]
    write_json(vpath, v)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
