"""Training with Lightning: on-the-fly crops + noise, features on the batch, early stopping
and best checkpoint on the same validation metric, best weights restored."""

from __future__ import annotations

import logging
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

MONITOR = "val_loss"  # early stopping and the best checkpoint watch the same metric


class CropDataset(Dataset):
    """Training examples: a fresh random crop (and maybe noise) every time an item is read,
    so each epoch sees new crops and new noise, not a fixed augmented copy."""

    def __init__(self, part: Loaded, n: int, augmenter: Augmenter | None, seed: int):
        self.waves, self.labels, self.n, self.augmenter, self.seed = part.waves, part.labels, n, augmenter, seed
        self.rng = np.random.default_rng(seed)

    def reseed(self, worker_id: int) -> None:
        self.rng = np.random.default_rng([self.seed, worker_id, torch.initial_seed() % 2**32])

    def __len__(self) -> int:
        return len(self.waves)

    def __getitem__(self, i: int):
        y = audio.random_crop(self.waves[i], self.n, self.rng)
        if self.augmenter is not None:
            y = self.augmenter(y, self.rng)
        return torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32)), int(self.labels[i])


def _worker_init(worker_id: int) -> None:
    info = torch.utils.data.get_worker_info()
    info.dataset.reseed(worker_id)


def center_windows(part: Loaded, n: int) -> torch.Tensor:
    """One fixed window per clip (its middle), for a cheap and stable validation loss."""
    out = []
    for y in part.waves:
        if len(y) > n:
            s = (len(y) - n) // 2
            y = y[s : s + n]
        out.append(audio.wrap_pad(y, n))
    return torch.from_numpy(np.stack(out))


def spec_augment(x: torch.Tensor, rng: torch.Generator, max_f: float = 0.15, max_t: float = 0.1) -> torch.Tensor:
    """One frequency band and one time span masked per example (to the example's mean)."""
    b, d, t = x.shape
    x = x.clone()
    fill = x.mean(dim=(1, 2))
    for i in range(b):
        fw = int(torch.randint(0, max(1, int(d * max_f)) + 1, (1,), generator=rng))
        f0 = int(torch.randint(0, d - fw + 1, (1,), generator=rng))
        tw = int(torch.randint(0, max(1, int(t * max_t)) + 1, (1,), generator=rng))
        t0 = int(torch.randint(0, t - tw + 1, (1,), generator=rng))
        x[i, f0 : f0 + fw, :] = fill[i]
        x[i, :, t0 : t0 + tw] = fill[i]
    return x


class SpeakerModule(L.LightningModule):
    def __init__(self, net: SpeakerNet, features: torch.nn.Module, cfg: Config):
        super().__init__()
        self.net, self.features, self.cfg = net, features, cfg
        self.mask_rng = torch.Generator().manual_seed(cfg.train.seed)

    def _feats(self, wave: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.features(wave)

    def training_step(self, batch, _):
        wave, y = batch
        x = self._feats(wave)
        if self.cfg.augment.enabled and self.cfg.augment.specaugment:
            x = spec_augment(x, self.mask_rng)
        emb = self.net.embed(x)
        logits = self.net.training_logits(emb, y)
        loss = F.cross_entropy(logits, y)
        acc = (self.net.head(emb).argmax(-1) == y).float().mean()
        self.log_dict({"train_loss": loss, "train_acc": acc}, on_step=False, on_epoch=True, batch_size=len(y))
        return loss

    def validation_step(self, batch, _):
        wave, y = batch
        logits, _ = self.net(self._feats(wave))
        loss = F.cross_entropy(logits, y)
        acc = (logits.argmax(-1) == y).float().mean()
        self.log_dict({"val_loss": loss, "val_acc": acc}, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(y))

    def configure_optimizers(self):
        t = self.cfg.train
        opt = torch.optim.AdamW(self.parameters(), lr=t.lr, weight_decay=t.weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, t.max_epochs), eta_min=t.lr * 0.05)
        return {"optimizer": opt, "lr_scheduler": sched}


class History(L.Callback):
    """One row per epoch: train and validation loss/accuracy."""

    def __init__(self):
        self.rows: list[dict] = []

    def on_train_epoch_end(self, trainer, module):
        m = trainer.callback_metrics
        if "val_loss" not in m:
            return
        self.rows.append({
            "epoch": trainer.current_epoch + 1,
            **{k: round(float(m[k]), 6) for k in ("train_loss", "train_acc", "val_loss", "val_acc") if k in m},
        })


def fit_normalisation(features: torch.nn.Module, windows: torch.Tensor, batch: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-dimension mean/std over all frames of the (clean) training windows."""
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
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    warnings.filterwarnings("ignore", ".*LeafSpec.*")
    warnings.filterwarnings("ignore", ".*treespec.*")


def train(cfg: Config, parts: dict[str, Loaded], n_classes: int, sample_rate: int, out_dir: Path,
          augmenter: Augmenter | None) -> tuple[SpeakerNet, dict]:
    """Train one model; writes model.pt and history.csv into `out_dir`. Returns (net, info)."""
    quiet_lightning()
    t = cfg.train
    L.seed_everything(t.seed, workers=True, verbose=False)
    if t.threads:
        torch.set_num_threads(t.threads)
    n = int(round(cfg.data.clip_seconds * sample_rate))
    features = build_feature(cfg.features, sample_rate)
    train_windows = center_windows(parts["train"], n)
    net = build_net(cfg.model, features.dim, n_classes)
    if not net.fixed_input:  # pretrained encoders keep the input scale their weights expect
        net.set_normalisation(*fit_normalisation(features, train_windows))  # training split only

    train_ds = CropDataset(parts["train"], n, augmenter if cfg.augment.enabled else None, t.seed)
    loader_kw = dict(num_workers=t.num_workers, persistent_workers=t.num_workers > 0)
    train_dl = DataLoader(train_ds, batch_size=t.batch_size, shuffle=True, drop_last=len(train_ds) > t.batch_size,
                          worker_init_fn=_worker_init if t.num_workers else None,
                          generator=torch.Generator().manual_seed(t.seed), **loader_kw)
    val = torch.utils.data.TensorDataset(center_windows(parts["val"], n), torch.from_numpy(parts["val"].labels))
    val_dl = DataLoader(val, batch_size=256)

    ckpt_dir = out_dir / "ckpt"
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    checkpoint = L.pytorch.callbacks.ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor=MONITOR, mode="min",
                                                     save_top_k=1, save_weights_only=True)
    stopper = L.pytorch.callbacks.EarlyStopping(monitor=MONITOR, mode="min", patience=t.patience)
    history = History()
    trainer = L.Trainer(
        max_epochs=t.max_epochs, min_epochs=t.min_epochs, accelerator=t.accelerator, devices=t.devices,
        precision=t.precision, callbacks=[checkpoint, stopper, history], logger=False,
        enable_progress_bar=t.progress, enable_model_summary=False, deterministic=False,
        num_sanity_val_steps=0,
    )
    module = SpeakerModule(net, features, cfg)
    start = time.perf_counter()
    trainer.fit(module, train_dl, val_dl)
    seconds = time.perf_counter() - start

    # Restore the best epoch's weights (weights only: nothing in the file is executed).
    state = torch.load(checkpoint.best_model_path, map_location="cpu", weights_only=True)["state_dict"]
    net.load_state_dict({k[len("net."):]: v for k, v in state.items() if k.startswith("net.")})
    net.cpu().eval()
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    atomic_save_torch(net.state_dict(), out_dir / "model.pt")
    write_csv(out_dir / "history.csv", history.rows, ["epoch", "train_loss", "train_acc", "val_loss", "val_acc"])
    best_epoch = min(history.rows, key=lambda r: r["val_loss"])["epoch"] if history.rows else 0
    info = {"epochs": trainer.current_epoch, "best_epoch": best_epoch, "train_seconds": round(seconds, 2),
            "params": sum(p.numel() for p in net.parameters())}
    return net, info
