"""`voxprint encoder train`: fine-tune the pretrained GE2E encoder so that it ignores noise
while keeping its speaker space (teacher-student on the same weights).

Loss per example, with the frozen original GE2E as teacher T and the trained copy as student S:
    (1 - cos(S(gain * noisy), T(clean)))  +  clean_weight * (1 - cos(S(gain * clean), T(clean)))
The first term teaches noise invariance, the second keeps the clean speaker space (and level
invariance through the random gain). Checkpoints are compared every `val_every` steps on the
DEV speakers of libri-dev (protocol EER, clean and white noise at 5 and 0 dB); the best one is
kept and the accept threshold is its EER point on the pooled dev trials. A training source with dev
speakers of its own (ocean-train) is checked too, and the choice is the mean over every source and
condition. Test speakers and the held-out recorded noise (running_tap) are used by nothing here.
"""

from __future__ import annotations

import copy
import logging
import sys
import time
import warnings
from dataclasses import asdict
from pathlib import Path

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, IterableDataset

from .. import audio
from .. import protocol as P
from ..augment import build_sources, mix_at_snr
from ..config import EncoderTrainConfig, from_dict  # the settings live in the one schema
from ..features import build_feature
from ..train import quiet_lightning
from . import data as D
from .folder import encoder_config, original_ge2e, save_folder

log = logging.getLogger(__name__)

DEV_CONDITIONS, DEV_NOISE_SEED = P.DEV_CONDITIONS, P.DEV_NOISE_SEED


class PairStream(IterableDataset):
    """Endless batches (clean [B, T] for the teacher, student_clean [B, T], student_noisy [B, T]);
    one crop length per batch, fresh crops, noise, SNR and gain every time."""

    def __init__(self, pools: list[list[np.ndarray]], weights: list[float], noise, cfg: EncoderTrainConfig):
        self.pools, self.noise, self.cfg = pools, noise, cfg
        self.p = np.asarray(weights, dtype=np.float64) / np.sum(weights)

    def batch(self, rng: np.random.Generator):
        c = self.cfg
        n = int(rng.uniform(*c.crop_s) * P.SAMPLE_RATE)
        clean, s_clean, s_noisy = [], [], []
        for _ in range(c.batch_size):
            pool = self.pools[int(rng.choice(len(self.pools), p=self.p))]
            y = audio.random_crop(D.clip(pool[int(rng.integers(len(pool)))]), n, rng)
            src = self.noise[int(rng.integers(len(self.noise)))]
            noisy = mix_at_snr(y, src.sample(n, rng), rng.uniform(*c.snr_db))
            g = np.float32(10.0 ** (rng.uniform(*c.gain_db) / 20.0))
            clean.append(y), s_clean.append(g * y), s_noisy.append(g * noisy)
        return tuple(torch.from_numpy(np.stack(x).astype(np.float32)) for x in (clean, s_clean, s_noisy))

    def __iter__(self):
        info = torch.utils.data.get_worker_info()  # each loader worker draws its own stream
        rng = np.random.default_rng(self.cfg.seed if info is None else [self.cfg.seed, info.id])
        while True:
            yield self.batch(rng)


def embed_batched(net, features, waves: list[np.ndarray], batch: int = 64) -> np.ndarray:
    """Embeddings [N, E] of whole clips, equal lengths batched together."""
    out = np.zeros((len(waves), net.embed_dim), np.float32)
    device = next(net.parameters()).device  # the trainer's, during training
    by_len: dict[int, list[int]] = {}
    for i, w in enumerate(waves):
        by_len.setdefault(len(w), []).append(i)
    with torch.no_grad():
        for idx in by_len.values():
            for k in range(0, len(idx), batch):
                sel = idx[k : k + batch]
                x = torch.from_numpy(np.stack([waves[i] for i in sel])).to(device)
                out[sel] = net.embed(features(x)).cpu().numpy()
    return out


class DistilModule(L.LightningModule):
    def __init__(self, student, teacher, features, cfg: EncoderTrainConfig, teacher_features=None):
        super().__init__()
        self.student, self.teacher, self.features, self.cfg = student, teacher, features, cfg
        self.teacher_features = teacher_features or features  # a distilled student may hear other features
        self.teacher.requires_grad_(False)

    def training_step(self, batch, _):
        clean, s_clean, s_noisy = batch
        k = len(clean) if self.cfg.clean_batch is None else min(len(clean), self.cfg.clean_batch)
        with torch.no_grad():
            self.teacher.eval()
            target = self.teacher.embed(self.teacher_features(clean))
            x = self.features(torch.cat([s_noisy, s_clean[:k]]))
        emb = self.student.embed(x)  # the clean term costs k more examples, not a whole batch
        noisy_loss = (1 - F.cosine_similarity(emb[: len(clean)], target)).mean()
        clean_loss = (1 - F.cosine_similarity(emb[len(clean):], target[:k])).mean()
        loss = noisy_loss + self.cfg.clean_weight * clean_loss
        self.log_dict({"loss": loss, "noisy": noisy_loss, "clean": clean_loss}, on_step=True, prog_bar=True)
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.student.parameters(), lr=self.cfg.lr)


class DevCheck(L.Callback):
    """Dev-speaker EER every `every` steps (and before training) on each source's dev speakers; keeps the
    student whose mean EER over sources and conditions is lowest. A history row holds each condition's
    mean over sources (as before: one source, its EERs) and, per source, its own."""

    def __init__(self, sets: dict[str, list], every: int, features):
        self.sets, self.every, self.features = sets, every, features
        self.trials = {k: (P.enrolment(v), P.trials(v)) for k, v in sets.items()}  # score_trials' order
        self.bank = P.NoiseBank(DEV_NOISE_SEED)
        self.history: list[dict] = []
        self.best: tuple[float, int, dict] | None = None

    @property
    def segs(self) -> list:
        return [s for v in self.sets.values() for s in v]

    def measure(self, net, step: int) -> dict:
        net.eval()
        embed = lambda waves: embed_batched(net, self.features, waves)
        per = {k: {c.name: P.score_trials(P.embed_condition(embed, segs, c, self.bank), *self.trials[k])["eer"]
                   for c in DEV_CONDITIONS} for k, segs in self.sets.items()}
        res = {"step": step, **{c.name: float(np.mean([v[c.name] for v in per.values()])) for c in DEV_CONDITIONS}}
        res["mean_eer"] = float(np.mean([res[c.name] for c in DEV_CONDITIONS]))
        res["sources"] = per
        self.history.append(res)
        log.info("dev step %d: %s", step, {k: round(v, 4) for k, v in res.items() if k not in ("step", "sources")}
                 | ({k: round(float(np.mean(list(v.values()))), 4) for k, v in per.items()} if len(per) > 1 else {}))
        if self.best is None or res["mean_eer"] < self.best[0]:
            self.best = (res["mean_eer"], step, copy.deepcopy(net.state_dict()))
        net.train()
        return res

    def on_train_start(self, trainer, module):
        self.measure(module.student, 0)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        step = trainer.global_step
        if step % self.every == 0 or step == trainer.max_steps:
            self.measure(module.student, step)


def source_waves(name: str, data_home: Path, split: dict) -> list[np.ndarray]:
    """"libri" (libri-dev train speakers), "ocean" (ocean-train train speakers), "corpus:PATH" (every audio file below PATH, e.g.
    LibriSpeech's speaker/chapter/*.flac), or a dataset voxprint reads (its train part)."""
    if name == "libri":
        return D.libri_train(data_home / "libri-dev", split["train"])
    if name == "ocean":
        return D.ocean_train(data_home / "ocean-train", D.ocean_split()["train"])
    if name.startswith("corpus:"):
        return D.corpus(Path(name[len("corpus:"):]).expanduser())
    return D.dataset_train(data_home / name if (data_home / name).exists() else name)


def load_sources(cfg: EncoderTrainConfig, data_home: Path, split: dict) -> tuple[list, list, list[dict]]:
    pools, weights, info = [], [], []
    for name, w in cfg.sources.items():
        waves = source_waves(name, data_home, split)
        pools.append(waves), weights.append(float(w))
        info.append({"source": name, "weight": w, "clips": len(waves), "seconds": D.seconds(waves)})
    return pools, weights, info


def load_noise(cfg: EncoderTrainConfig, data_home: Path):
    entries = []
    for e in cfg.noise:
        p = data_home / e
        if p.is_dir():  # a folder: every file except the held-out ones
            entries += [str(f) for f in sorted(p.glob("*.wav")) if f.stem not in cfg.exclude_noise]
        else:
            entries.append(e)
    return build_sources(entries, P.SAMPLE_RATE, "train", 0.8)


def init_ge2e(folder: str, model_cfg) -> torch.nn.Module:
    """A student with the weights of the ge2e encoder folder `folder` (its features may differ)."""
    from ..config import load_resolved
    from ..errors import ConfigError
    from .folder import build_encoder, load_net

    name = load_resolved(Path(folder) / "config.yaml").model.name
    if name != "ge2e":
        raise ConfigError(f"init: {folder} holds a '{name}' model, not a ge2e encoder")
    student = build_encoder(model_cfg)
    _, net = load_net(folder)
    student.load_state_dict(net.state_dict())
    return student


def make_student(cfg: EncoderTrainConfig, teacher_cfg, pools) -> tuple:
    """(model config, student net): the GE2E itself, or a fresh CNN/CRNN over log-Mel whose
    input normalisation is fitted on clean training crops."""
    if cfg.student == "ge2e":
        model_cfg = encoder_config([f"features.denoise={cfg.denoise}"] +
                                   ([f"features.hop_ms={cfg.hop_ms}"] if cfg.hop_ms else []))
        return model_cfg, (init_ge2e(cfg.init, model_cfg) if cfg.init else original_ge2e(model_cfg))
    from ..train import fit_normalisation
    from .folder import build_encoder

    model_cfg = encoder_config([f"model.name={cfg.student}", "features.log=true", "model.dropout=0.1",
                                f"features.denoise={cfg.denoise}"])
    model_cfg.model.options = dict(cfg.student_options)
    net = build_encoder(model_cfg)
    rng = np.random.default_rng(cfg.seed)
    crops = np.stack([audio.random_crop(D.clip(p[int(rng.integers(len(p)))]), P.SAMPLE_RATE, rng)
                      for p in pools for _ in range(64)])  # D.clip: a big corpus's pool holds paths
    net.set_normalisation(*fit_normalisation(build_feature(model_cfg.features, P.SAMPLE_RATE), torch.from_numpy(crops)))
    return model_cfg, net


def init_record(folder: str | None) -> dict | None:
    """What the student started from, when not the resemblyzer weights: folder and its model.pt's sha256."""
    from .folder import sha256

    return None if folder is None else {"folder": str(folder), "model.pt sha256": sha256(Path(folder) / "model.pt")}


def train_encoder(out: str | Path, data_home: str | Path, overrides: dict | None = None,
                  command: str | None = None) -> dict:
    """Fine-tune GE2E and write an encoder model folder to `out`. Returns provenance."""
    cfg = from_dict(EncoderTrainConfig, overrides or {}, "encoder train")
    quiet_lightning()
    warnings.filterwarnings("ignore", ".*module\\(s\\) in eval mode.*")  # the frozen teacher, on purpose
    data_home = Path(data_home)
    L.seed_everything(cfg.seed, verbose=False)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    split = P.load_split()
    teacher_cfg = encoder_config()
    teacher_features = build_feature(teacher_cfg.features, P.SAMPLE_RATE)
    teacher = original_ge2e(teacher_cfg).backbone
    pools, weights, source_info = load_sources(cfg, data_home, split)
    model_cfg, student = make_student(cfg, teacher_cfg, pools)
    features = build_feature(model_cfg.features, P.SAMPLE_RATE)
    noise = load_noise(cfg, data_home)
    dev = DevCheck(D.dev_segments(cfg.sources, data_home, split, cfg.dev_speakers), cfg.val_every, features)
    loader = DataLoader(PairStream(pools, weights, noise, cfg), batch_size=None, num_workers=cfg.num_workers,
                        persistent_workers=cfg.num_workers > 0)
    trainer = L.Trainer(max_steps=cfg.steps, accelerator=cfg.accelerator, logger=False, callbacks=[dev],
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    start = time.perf_counter()
    trainer.fit(DistilModule(student, teacher, features, cfg, teacher_features), loader)
    seconds = time.perf_counter() - start
    _, best_step, state = dev.best
    student.load_state_dict(state)
    student.cpu().eval()
    features.cpu()
    calibration = {**P.calibrate(lambda w: embed_batched(student, features, w), dev.segs),
                   "speakers": ", ".join(f"{k} dev split ({len({s.speaker for s in v})} speakers)"
                                         for k, v in dev.sets.items())}
    provenance = {
        "command": command or " ".join(sys.argv), "seed": cfg.seed, "steps": cfg.steps, "best_step": best_step,
        "train_config": asdict(cfg), "sources": source_info,
        "noise": [r for s in noise for r in s.ranges], "split": str(P.SPLIT_FILE.name),
        "dev_history": dev.history, "train_seconds": round(seconds, 1),
        "teacher": "resemblyzer 0.1.4 pretrained.pt (GE2E, Apache-2.0)",
        "init": init_record(cfg.init),
        "torch": torch.__version__,
    }
    save_folder(out, student, model_cfg, calibration, provenance, half=cfg.half, onnx=True)
    return provenance
