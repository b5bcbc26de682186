"""Training with Lightning: on-the-fly crops + noise, features on the batch, a budget counted in
optimizer steps, early stopping and the best checkpoint on the same validation metric, best
weights restored."""

from __future__ import annotations

import logging
import math
import shutil
import time
import warnings
from pathlib import Path

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from . import audio
from .augment import Augmenter
from .config import Config
from .datasets import Loaded
from .features import build_feature
from .io import atomic_save_torch, write_csv
from .models import SpeakerNet, build_net

log = logging.getLogger(__name__)

MODE = {"val_loss": "min", "val_acc": "max"}  # train.monitor: early stopping and the kept checkpoint watch it
HISTORY_COLUMNS = ["step", "epoch", "train_loss", "train_acc", "val_loss", "val_acc"]


class CropDataset(Dataset):
    """Training examples: a fresh random crop (and maybe noise) every time an item is read,
    so each epoch sees new crops and new noise, not a fixed augmented copy. `strength` (a shared
    one-element tensor, 0..1, written by the training module each step; None: always 1) scales the
    chance of noise (the augmentation ramp). It is shared memory so that loader worker processes,
    which hold copies of this dataset, read the current value too."""

    def __init__(self, part: Loaded, n: int, augmenter: Augmenter | None, seed: int,
                 strength: torch.Tensor | None = None):
        self.waves, self.labels, self.n, self.augmenter, self.seed = part.waves, part.labels, n, augmenter, seed
        self.rng = np.random.default_rng(seed)
        self.strength = strength

    def reseed(self, worker_id: int) -> None:
        self.rng = np.random.default_rng([self.seed, worker_id, torch.initial_seed() % 2**32])

    def __len__(self) -> int:
        return len(self.waves)

    def __getitem__(self, i: int):
        y = audio.random_crop(self.waves[i], self.n, self.rng)
        strength = 1.0 if self.strength is None else float(self.strength[0])
        if self.augmenter is not None and (strength >= 1.0 or self.rng.random() < strength):
            y = self.augmenter(y, self.rng)
        return torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32)), int(self.labels[i])


def _worker_init(worker_id: int) -> None:
    info = torch.utils.data.get_worker_info()
    info.dataset.reseed(worker_id)


def center_windows(part: Loaded, n: int) -> torch.Tensor:
    """One fixed window per clip (its middle), for a cheap and stable validation loss. [N, n]"""
    out = []
    for y in part.waves:
        if len(y) > n:
            s = (len(y) - n) // 2
            y = y[s : s + n]
        out.append(audio.wrap_pad(y, n))
    return torch.from_numpy(np.stack(out))


def spec_augment(x: torch.Tensor, rng: torch.Generator, max_f: float = 0.15, max_t: float = 0.1,
                 strength: float = 1.0) -> torch.Tensor:
    """One frequency band and one time span masked per example (to the example's mean).
    [B, D, T] -> [B, D, T], vectorised over the batch."""
    b, d, t = x.shape
    fw = torch.randint(0, max(1, int(d * max_f * strength)) + 1, (b,), generator=rng)
    tw = torch.randint(0, max(1, int(t * max_t * strength)) + 1, (b,), generator=rng)
    f0 = (torch.rand(b, generator=rng) * (d - fw + 1)).long()
    t0 = (torch.rand(b, generator=rng) * (t - tw + 1)).long()
    fi, ti = torch.arange(d)[None, :], torch.arange(t)[None, :]
    fmask = (fi >= f0[:, None]) & (fi < (f0 + fw)[:, None])  # [B, D]
    tmask = (ti >= t0[:, None]) & (ti < (t0 + tw)[:, None])  # [B, T]
    mask = fmask[:, :, None] | tmask[:, None, :]
    fill = x.mean(dim=(1, 2), keepdim=True).expand_as(x)
    return torch.where(mask, fill, x)


class SpeakerModule(L.LightningModule):
    def __init__(self, net: SpeakerNet, features: torch.nn.Module, cfg: Config, augment: bool):
        super().__init__()
        self.net, self.features, self.cfg, self.augment = net, features, cfg, augment
        self.mask_rng = torch.Generator().manual_seed(cfg.train.seed)
        self.running = [0.0, 0.0, 0]  # train loss sum, correct, examples since the last validation
        # the ramp's current strength, where loader workers (other processes) read it (CropDataset)
        self.shared_strength = torch.full((1,), self.strength()).share_memory_()

    def on_train_batch_start(self, batch, batch_idx):
        self.shared_strength[0] = self.strength()

    def _feats(self, wave: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.features(wave)

    def training_step(self, batch, _):
        wave, y = batch
        x = self._feats(wave)
        if self.augment and self.cfg.augment.specaugment:
            x = spec_augment(x, self.mask_rng, strength=self.strength())
        emb = self.net.embed(x)
        loss = F.cross_entropy(self.net.training_logits(emb, y), y)
        with torch.no_grad():
            correct = (self.net.head(emb).argmax(-1) == y).sum().item()
        self.running = [self.running[0] + loss.item() * len(y), self.running[1] + correct, self.running[2] + len(y)]
        return loss

    def validation_step(self, batch, _):
        wave, y = batch
        logits, _ = self.net(self._feats(wave))
        self.log_dict({"val_loss": F.cross_entropy(logits, y), "val_acc": (logits.argmax(-1) == y).float().mean()},
                      on_step=False, on_epoch=True, batch_size=len(y))

    def strength(self) -> float:
        """Augmentation strength at this step: 1, or a linear ramp over augment.ramp_steps."""
        ramp = self.cfg.augment.ramp_steps
        return 1.0 if ramp <= 0 else min(1.0, self.global_step / ramp)

    def take_running(self) -> dict:
        loss, correct, n = self.running
        self.running = [0.0, 0.0, 0]
        return {"train_loss": loss / n, "train_acc": correct / n} if n else {}

    def configure_optimizers(self):
        t = self.cfg.train
        # A pretrained backbone learns at a fraction of the head's rate (its `lr_scale`).
        scale = getattr(self.net.backbone, "lr_scale", 1.0)
        backbone = list(self.net.backbone.parameters())
        ids = {id(p) for p in backbone}
        groups = [{"params": backbone, "lr": t.lr * scale},
                  {"params": [p for p in self.net.parameters() if id(p) not in ids], "lr": t.lr}]
        opt = torch.optim.AdamW([g for g in groups if g["params"]], weight_decay=t.weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: _cosine(step, t.max_steps))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def _cosine(step: int, total: int, floor: float = 0.05) -> float:
    """Learning-rate factor: cosine from 1 to `floor` over `total` steps (every group scaled alike)."""
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(step, total) / max(1, total)))


class History(L.Callback):
    """One row per validation: the training loss/accuracy since the previous one, and the
    validation loss/accuracy. Also reports progress: a line per validation when `lines`."""

    def __init__(self, name: str, max_steps: int, lines: bool):
        self.rows: list[dict] = []
        self.name, self.max_steps, self.lines = name, max_steps, lines

    def on_validation_end(self, trainer, module):
        if trainer.sanity_checking:
            return
        m = trainer.callback_metrics
        row = {"step": trainer.global_step, "epoch": trainer.current_epoch + 1, **module.take_running(),
               **{k: float(m[k]) for k in ("val_loss", "val_acc") if k in m}}
        self.rows.append({k: round(v, 6) if isinstance(v, float) else v for k, v in row.items()})
        if self.lines:
            log.info(f"  {self.name} step {row['step']}/{self.max_steps}: train loss {row.get('train_loss', math.nan):.3f} "
                     f"acc {row.get('train_acc', math.nan):.3f}, val loss {row.get('val_loss', math.nan):.3f} "
                     f"acc {row.get('val_acc', math.nan):.3f}")


class StepBar(L.Callback):
    """A terminal progress bar over the run's optimizer steps (below the grid's bar)."""

    def __init__(self, name: str, max_steps: int):
        self.name, self.max_steps, self.bar = name, max_steps, None

    def on_train_start(self, trainer, module):
        from tqdm import tqdm

        self.bar = tqdm(total=self.max_steps, desc=self.name, position=1, leave=False, unit="step", dynamic_ncols=True)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.bar.update(1)

    def on_validation_end(self, trainer, module):
        if self.bar is not None and "val_acc" in trainer.callback_metrics:
            self.bar.set_postfix(val_acc=f"{float(trainer.callback_metrics['val_acc']):.3f}")

    def on_train_end(self, trainer, module):
        self.bar.close()


def fit_normalisation(features: torch.nn.Module, windows: torch.Tensor, batch: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-dimension mean/std over all frames of the (clean) training windows. -> ([D], [D])"""
    total, total_sq, count = 0.0, 0.0, 0
    with torch.no_grad():
        for i in range(0, len(windows), batch):
            f = features(windows[i : i + batch]).double()  # [B, D, T]
            total = total + f.sum(dim=(0, 2))
            total_sq = total_sq + (f * f).sum(dim=(0, 2))
            count += f.shape[0] * f.shape[2]
    mean = total / count
    std = (total_sq / count - mean * mean).clamp(min=1e-10).sqrt()
    return mean.float(), std.float()


def quiet_lightning() -> None:
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    for pattern in (".*does not have many workers.*", ".*LeafSpec.*", ".*treespec.*", ".*val_check_interval.*"):
        warnings.filterwarnings("ignore", pattern)


def noisy_copy(windows: torch.Tensor, noise: Augmenter, seed: int) -> torch.Tensor:
    """Each window with one fixed (seeded) draw of `noise` mixed in. [N, n] -> [N, n]"""
    rng = np.random.default_rng([seed, 7])
    return torch.from_numpy(np.stack([noise.mix(w, rng) for w in windows.numpy()]).astype(np.float32))


def _loaders(cfg: Config, parts: dict[str, Loaded], n: int, augmenter, strength: torch.Tensor | None,
             val_noise: Augmenter | None = None) -> tuple[DataLoader, DataLoader]:
    t, workers = cfg.train, cfg.runtime.num_workers
    train_ds = CropDataset(parts["train"], n, augmenter, t.seed, strength)
    train_dl = DataLoader(train_ds, batch_size=t.batch_size, shuffle=True, drop_last=len(train_ds) > t.batch_size,
                          num_workers=workers, persistent_workers=workers > 0,
                          worker_init_fn=_worker_init if workers else None,
                          generator=torch.Generator().manual_seed(t.seed))
    windows, labels = center_windows(parts["val"], n), torch.from_numpy(parts["val"].labels)
    if val_noise is not None and val_noise.sources:
        windows, labels = torch.cat([windows, noisy_copy(windows, val_noise, t.seed)]), torch.cat([labels, labels])
    return train_dl, DataLoader(torch.utils.data.TensorDataset(windows, labels), batch_size=256)


def train(cfg: Config, parts: dict[str, Loaded], n_classes: int, sample_rate: int, out_dir: Path,
          augmenter: Augmenter | None, name: str = "model", bar: bool = False,
          val_noise: Augmenter | None = None) -> tuple[SpeakerNet, dict]:
    """Train one model; writes model.pt and history.csv into `out_dir`. Returns (net, info).

    `augmenter` None trains on clean audio (and without SpecAugment). `val_noise` (the training
    noise bank, given when train.val_noise is on) adds a noisy copy of every validation window.
    `bar` shows a terminal progress bar; otherwise progress is one log line per validation."""
    quiet_lightning()
    t, rt = cfg.train, cfg.runtime
    L.seed_everything(t.seed, workers=True, verbose=False)
    if rt.threads:
        torch.set_num_threads(rt.threads)
    n = int(round(cfg.data.clip_seconds * sample_rate))
    features = build_feature(cfg.features, sample_rate)
    net = build_net(cfg.model, features.dim, n_classes)
    # Crops, validation windows and normalisation come from what the model hears in use: a long clip's
    # speech (a crop of silence under a speaker's name is label noise; noise is mixed at an SNR over
    # speech), a clip that fits in one window whole.
    parts = {k: Loaded(parts[k].items, parts[k].heard(n), parts[k].labels) for k in ("train", "val")}
    if not net.fixed_input:  # pretrained encoders keep the input scale their weights expect
        net.set_normalisation(*fit_normalisation(features, center_windows(parts["train"], n)))  # training split only
    module = SpeakerModule(net, features, cfg, augment=augmenter is not None)
    train_dl, val_dl = _loaders(cfg, parts, n, augmenter, module.shared_strength, val_noise)

    ckpt_dir = out_dir / "ckpt"
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    mode = MODE[t.monitor]
    checkpoint = L.pytorch.callbacks.ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor=t.monitor, mode=mode,
                                                     save_top_k=1, save_weights_only=True)
    history = History(name, t.max_steps, lines=not bar)
    callbacks = [checkpoint, L.pytorch.callbacks.EarlyStopping(monitor=t.monitor, mode=mode, patience=t.patience),
                 history] + ([StepBar(name, t.max_steps)] if bar else [])
    # Validation every `val_every_steps` optimizer steps, across epoch boundaries.
    trainer = L.Trainer(
        max_steps=t.max_steps, min_steps=t.min_steps, max_epochs=-1, check_val_every_n_epoch=None,
        val_check_interval=t.val_every_steps, accelerator=rt.accelerator, devices=rt.devices,
        precision=rt.precision, callbacks=callbacks, logger=False, enable_progress_bar=False,
        enable_model_summary=False, deterministic=False, num_sanity_val_steps=0,
    )
    start = time.perf_counter()
    trainer.fit(module, train_dl, val_dl)
    seconds = time.perf_counter() - start

    # Restore the best validation's weights (weights only: nothing in the file is executed).
    state = torch.load(checkpoint.best_model_path, map_location="cpu", weights_only=True)["state_dict"]
    net.load_state_dict({k[len("net."):]: v for k, v in state.items() if k.startswith("net.")})
    net.cpu().eval()
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    atomic_save_torch(net.state_dict(), out_dir / "model.pt")
    write_csv(out_dir / "history.csv", history.rows, HISTORY_COLUMNS)
    # the step whose weights were kept: the first with the best monitored value (a later tie is not saved)
    sign = 1 if mode == "min" else -1
    best_step = min(history.rows, key=lambda r: sign * r[t.monitor])["step"] if history.rows else 0
    info = {"steps": trainer.global_step, "best_step": best_step, "train_seconds": round(seconds, 2),
            "params": sum(p.numel() for p in net.parameters())}
    return net, info
