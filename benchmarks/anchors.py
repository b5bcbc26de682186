"""The alternatives side by side, on the same split, in one process:

  resemblyzer   pretrained GE2E speaker encoder + logistic regression   (pip install -e '.[anchors]')
  mfcc-svm      MFCC mean/std per clip + RBF SVM
  voxprint      the run's best model, chosen on validation data (PyTorch and onnxruntime)

Accuracy clean and with white noise at 10 and 0 dB SNR - the very noise draws of the grid's
robustness table, so the voxprint rows here equal its numbers - and the time from a waveform at
the run's sample rate to a decision (every system's own resampling, voice activity detection,
features, model and classifier), batch 1, one thread, the same number of calls for every system.
With --verification, resemblyzer also scores the unseen-speaker study's trial files (the same
trials as voxprint) and is added to verification.json.

    python -m benchmarks.anchors [RUN_DIR] [--verification]
"""

from __future__ import annotations

import os

# Thread limits before numpy/torch are imported: every system runs on one thread.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import pickle  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from voxprint import audio, rundir  # noqa: E402
from voxprint.augment import build_sources  # noqa: E402
from voxprint.config import load_resolved  # noqa: E402
from voxprint.inference import Recognizer  # noqa: E402
from voxprint.io import read_csv, read_json, write_json  # noqa: E402
from voxprint.resources import round_robin_ms  # noqa: E402
from voxprint.robustness import ROBUSTNESS_SEED, noise_draws, noisy_copies, snr_references  # noqa: E402

SNRS = [10.0, 0.0]
CALLS = 200  # timed calls per system, after a warm-up


def voxprint_model_dir(run: Path) -> Path:
    """The model this benchmark measures: the one `voxprint predict --run RUN` loads."""
    return rundir.resolve_model_dir(run)


class Resemblyzer:
    name = "resemblyzer+LR"
    noise_trained = False

    def __init__(self, sr):
        warnings.filterwarnings("ignore")
        import resemblyzer
        from resemblyzer import VoiceEncoder, preprocess_wav

        self.enc, self.pre, self.sr = VoiceEncoder("cpu", verbose=False), preprocess_wav, sr
        self.size = (Path(resemblyzer.__file__).parent / "pretrained.pt").stat().st_size
        self.params = sum(p.numel() for p in self.enc.parameters())

    def embed_one(self, w):
        """Its standard use: resample to 16 kHz, normalise volume, trim silences (webrtcvad), embed."""
        y = self.pre(w, source_sr=self.sr)
        if len(y) < 1600:  # its VAD trimmed nearly everything: use the whole clip, volume-normalised
            from resemblyzer.audio import audio_norm_target_dBFS, normalize_volume, sampling_rate

            y = normalize_volume(_resample(w, self.sr, sampling_rate), audio_norm_target_dBFS, increase_only=True)
            y = audio.wrap_pad(y, 1600)
        return self.enc.embed_utterance(y)

    def embed(self, waves):
        return np.stack([self.embed_one(w) for w in waves])

    def fit(self, waves, y):
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self.clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(self.embed(waves), y)

    def decide(self, waves):
        return self.clf.predict(self.embed(waves))


def _resample(w, sr, target):
    import soxr

    return soxr.resample(w, sr, target) if sr != target else w


class MfccSvm:
    name = "mfcc-mean/std+SVM"
    noise_trained = False

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

    def fit(self, waves, y):
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVC

        self.clf = make_pipeline(StandardScaler(), SVC(C=10)).fit(self.embed(waves), y)
        self.size = len(pickle.dumps(self.clf))
        self.params = int(self.clf[-1].support_vectors_.size + self.clf[-1].dual_coef_.size)

    def decide(self, waves):
        return self.clf.predict(self.embed(waves))


class Voxprint:
    def __init__(self, run: Path, engine: str):
        self.rec = Recognizer(voxprint_model_dir(run), engine=engine)
        cfg = self.rec.cfg
        self.name = f"voxprint {self.rec.name} [{engine}]"
        self.noise_trained = bool(cfg.augment.enabled and "white" in cfg.augment.noise)
        self.size = (self.rec.dir / (rundir.WEIGHTS if engine == "torch" else rundir.ONNX)).stat().st_size
        self.params = sum(p.numel() for p in self.rec.net.parameters())

    def fit(self, waves, y):
        pass  # trained by `voxprint run`

    def decide(self, waves):
        return self.rec.score_waves(waves)[0].argmax(1)


def _white_index(run: Path) -> int:
    """Position of white noise among the run's evaluation noise sources, as the grid built them (noise.json
    lists them in order; an entry that found no file is not among them): its draws are seeded by it."""
    names = list(dict.fromkeys(r["name"] for r in read_json(run / rundir.NOISE)["eval"]))
    if "white" not in names:
        sys.exit(f"{run}: its robustness evaluation has no white noise; the anchors compare on the grid's draws")
    return names.index("white")


def _load_split(run: Path, sr: int, labels: list[str], split: str, cap: int | None = None):
    rows = [r for r in read_csv(run / rundir.SPLIT) if r["split"] == split]
    if cap:
        rows = rows[:: max(1, len(rows) // cap)][:cap]
    index = {s: i for i, s in enumerate(labels)}
    return [r["path"] for r in rows], [audio.load(r["path"], sr)[0] for r in rows], \
        np.array([index[r["speaker"]] for r in rows])


def _grid_references(rec: Recognizer, paths: list[str], waves: list[np.ndarray]) -> list[np.ndarray]:
    """The grid's SNR references for these test clips (their speech when longer than a window, found
    with the model's vad settings through the region cache), so the noisy audio is the grid's too."""
    from voxprint import vad

    speech = [vad.file_speech(p, rec.sample_rate, rec.cfg.vad, y=w) if len(w) > rec.window else None
              for p, w in zip(paths, waves)]
    return snr_references(waves, speech, rec.window, rec.cfg.vad.min_speech_seconds)


def _systems(run: Path, sr: int) -> list:
    out = []
    for cls in (Resemblyzer, MfccSvm):
        try:
            out.append(cls(sr))
        except ImportError as e:
            print(f"{cls.name}: not installed ({e}); pip install -e '.[anchors]'")
    return out + [Voxprint(run, "torch"), Voxprint(run, "onnx")]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", nargs="?", default="runs/fsdd")
    ap.add_argument("--verification", action="store_true", help="also score the unseen-speaker trial files")
    ap.add_argument("--max-train", type=int, default=None, help="cap training clips for the anchors")
    args = ap.parse_args(argv)
    run = Path(args.run)
    torch.set_num_threads(1)
    systems = _systems(run, sr := load_resolved(voxprint_model_dir(run) / rundir.CONFIG).data.sample_rate)
    labels = systems[-1].rec.labels
    _, train_w, train_y = _load_split(run, sr, labels, "train", args.max_train)
    test_paths, test_w, test_y = _load_split(run, sr, labels, "test")
    (white,) = build_sources(["white"], sr, "eval", 0.8)
    noises = noise_draws(white, test_w, ROBUSTNESS_SEED, _white_index(run))
    refs = _grid_references(systems[-1].rec, test_paths, test_w)
    print(f"run {run} ({systems[-1].rec.name}), {len(labels)} speakers, train {len(train_w)} / test {len(test_w)} "
          f"clips, {sr} Hz", flush=True)
    one = audio.wrap_pad(test_w[0], sr)
    out = []
    for s in systems:
        t = time.perf_counter()
        s.fit(train_w, train_y)
        clean = float(np.mean(s.decide(test_w) == test_y))
        noisy = [float(np.mean(s.decide(list(noisy_copies(test_w, noises, snr, refs))) == test_y)) for snr in SNRS]
        out.append({"system": s.name, "clean": clean, "noisy": noisy, "size_bytes": s.size, "params": s.params,
                    "noise_trained": s.noise_trained})
        print(f"{s.name}: done in {time.perf_counter() - t:.1f} s", flush=True)
    for r, ms in zip(out, round_robin_ms([lambda s=s: s.decide([one]) for s in systems], CALLS)):
        r["ms_per_clip"] = round(ms, 4)
    report(run, sr, out)
    if args.verification:
        verification_anchor(run)


def report(run: Path, sr: int, out: list[dict]) -> None:
    print(f"\n{'system':<40} {'clean':>6} " + " ".join(f"{f'{s:g} dB':>6}" for s in SNRS)
          + f" {'ms/clip':>8} {'size KB':>8} {'params':>9}")
    for r in out:
        print(f"{r['system']:<40} {r['clean']:>6.3f} " + " ".join(f"{a:>6.3f}" for a in r["noisy"])
              + f" {r['ms_per_clip']:>8.3f} {(r['size_bytes'] or 0) / 1024:>8.0f} {r['params'] or 0:>9}")
    trained = ", ".join(r["system"] for r in out if r["noise_trained"]) or "none"
    protocol = (f"white noise at {' and '.join(f'{s:g}' for s in SNRS)} dB uses the same draw per clip as the grid's "
                f"robustness table (seed {ROBUSTNESS_SEED}); trained with white noise among their augmentation noises: "
                f"{trained}; the others were fitted on clean training clips. Time: waveform at {sr} Hz to decision "
                f"(resampling, voice activity detection where the system has one, features, model, classifier), "
                f"batch 1, one thread, median of {CALLS} calls each, the systems timed in turn.")
    write_json(run / "anchors.json", {"protocol": protocol, "conditions": [{"noise": "white", "snr_db": s} for s in SNRS],
                                      "systems": out})


def verification_anchor(run: Path) -> None:
    """Resemblyzer on the unseen-speaker study's trial files (added to verification.json). The study's
    segments are at its own rate (16 kHz), not the run's: the anchor is told so."""
    from voxprint.unseen import STUDY_RATE, score_trial_files

    try:
        enc = Resemblyzer(STUDY_RATE)
    except ImportError:
        print("resemblyzer is not installed; no verification anchor")
        return
    score_trial_files(run, "resemblyzer (cosine)", enc.embed_one)


if __name__ == "__main__":
    sys.exit(main())
