"""Datasets: discover recordings in a layout, label them, split them, load them.

Layouts
  speaker folders   ROOT/<speaker>/*.wav (also ROOT/audio/<speaker>/ with a sibling ROOT/noise/)
  FSDD names        ROOT/{digit}_{speaker}_{index}.wav (or ROOT/recordings/...)
  CSV manifest      path,speaker[,split]  (paths relative to the CSV)
"""

from __future__ import annotations

import csv
import logging
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import audio
from .config import DataConfig
from .errors import AudioError, DataError

log = logging.getLogger(__name__)

FSDD_NAME = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)\.wav$")
NOISE_FOLDERS = {"noise", "_background_noise_", "background_noise"}
SPLITS = ("train", "val", "test")
BLOCK_MAJORITY = 0.8  # share of numbered files from which a folder is split in blocks


@dataclass
class Item:
    path: str
    speaker: str
    split: str | None = None  # preset split (FSDD official, manifest column)
    order: int | None = None  # clip number, for the contiguous-block split


@dataclass
class Skipped:
    path: str
    reason: str


@dataclass
class Dataset:
    name: str
    root: Path
    layout: str  # folders | fsdd | manifest
    items: list[Item]
    noise_dir: Path | None = None
    skipped: list[Skipped] = field(default_factory=list)  # found but unusable: listed in skipped.csv

    @property
    def speakers(self) -> list[str]:
        # Sorted, never filesystem order: the label map must not depend on os.listdir.
        return sorted({it.speaker for it in self.items})


@dataclass
class Loaded:
    """Audio of one split, in memory: waves[i] is the clip of items[i], speech[i] where it
    holds speech (a vad.Speech; the whole clip when no detector ran)."""

    items: list[Item]
    waves: list[np.ndarray]
    labels: np.ndarray
    speech: list = field(default_factory=list)

    def heard(self, window: int) -> list[np.ndarray]:
        """What a model hears of each clip, in training as in use (clip_scoring.listened): a clip that fits
        in one window whole (or its recording span, when that fits), a longer one its speech."""
        if not self.speech:
            return list(self.waves)
        return [sp.heard(y, window) for y, sp in zip(self.waves, self.speech)]


# --------------------------------------------------------------------------- discovery


def _listing(folder: Path) -> list[Path]:
    """The entries of `folder`, sorted; an unreadable folder is a DataError naming it."""
    try:
        return sorted(folder.iterdir())
    except OSError as e:
        raise DataError(f"{folder}: cannot list the folder ({(e.strerror or str(e)).lower()})") from None


def _audio_files(folder: Path, skipped: list[Skipped], match=None) -> list[Path]:
    """Audio files of `folder` (names matching `match`, default: an audio extension), sorted; entries
    that have such a name but are not files (a folder, a broken link or a link loop, a pipe) go to
    `skipped`: listed in skipped.csv, never silently ignored."""
    out = []
    for p in _listing(folder):
        if not (match(p.name) if match else p.suffix.lower() in audio.AUDIO_EXTENSIONS):
            continue
        reason = audio.not_a_file(p)
        if reason:
            skipped.append(Skipped(str(p), reason))
        else:
            out.append(p)
    return out


def _clip_number(stem: str) -> int | None:
    return int(stem) if stem.isdigit() else None


def discover(spec: str | Path) -> Dataset:
    """Find the recordings named by `spec`: "fsdd", a folder, or a CSV manifest."""
    from .dirs import data_home
    from .download import ensure_fsdd

    spec = str(spec)
    if spec == "fsdd":
        return _fsdd(ensure_fsdd(), "fsdd")
    path = Path(spec).expanduser()
    if not path.exists() and (data_home() / spec).exists():
        path = data_home() / spec  # a dataset name inside the data home
    if not path.exists():
        raise DataError(f"{spec}: no such dataset folder or manifest")
    if path.is_file():
        if path.suffix.lower() != ".csv":
            raise DataError(f"{path}: expected a folder of recordings or a .csv manifest")
        return _manifest(path)
    if (path / "recordings").is_dir() and any(FSDD_NAME.match(p.name) for p in _listing(path / "recordings")):
        return _fsdd(path / "recordings", path.name)
    files = [p for p in _listing(path) if p.is_file()]
    if files and sum(bool(FSDD_NAME.match(p.name)) for p in files) > len(files) / 2:
        return _fsdd(path, path.name)
    noise_dir = None
    if (path / "audio").is_dir():  # Kaggle/Keras layout: audio/<speaker>/ beside noise/
        noise_dir = path / "noise" if (path / "noise").is_dir() else None
        root = path / "audio"
    else:
        root = path
    return _folders(root, path.name, noise_dir)


def _fsdd(folder: Path, name: str) -> Dataset:
    items, skipped = [], []
    for p in _audio_files(folder, skipped, FSDD_NAME.match):
        idx = int(FSDD_NAME.match(p.name).group(3))
        # Official split: recordings 0-4 of every digit and speaker are the test set.
        items.append(Item(str(p), FSDD_NAME.match(p.name).group(2), "test" if idx <= 4 else "train", None))
    if not items:
        raise DataError(f"{folder}: no FSDD recordings ({{digit}}_{{speaker}}_{{index}}.wav)")
    return Dataset(name, folder, "fsdd", items, skipped=skipped)


def _folders(root: Path, name: str, noise_dir: Path | None) -> Dataset:
    items, skipped = [], []
    for d in _listing(root):
        if d.name.startswith("."):
            continue
        if d.is_symlink() and not d.exists():
            skipped.append(Skipped(str(d), "symbolic link to nothing (broken, or a loop)"))
        if not d.is_dir():
            continue
        if d.name.lower() in NOISE_FOLDERS:
            noise_dir = noise_dir or d
            continue
        try:
            files = _audio_files(d, skipped)
        except DataError as e:  # one unreadable speaker folder: skip it, keep the others
            skipped.append(Skipped(str(d), str(e).removeprefix(f"{d}: ")))
            continue
        items += [Item(str(p), d.name, None, _clip_number(p.stem)) for p in files]
    if not items:
        raise DataError(f"{root}: no speaker folders with audio files (expected {root}/<speaker>/*.wav)")
    return Dataset(name, root, "folders", items, noise_dir, skipped)


def _manifest_rows(path: Path) -> list[dict]:
    """The rows of a manifest; not UTF-8 text or not a CSV is a DataError naming the file."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text (byte {e.start}); save the manifest as UTF-8 CSV") from None
    except csv.Error as e:
        raise DataError(f"{path}: not a readable CSV ({e})") from None
    if not rows or not {"path", "speaker"} <= set(rows[0]):
        raise DataError(f"{path}: a manifest needs a header with columns path,speaker[,split]")
    return rows


def _manifest(path: Path) -> Dataset:
    rows = _manifest_rows(path)
    items = []
    for i, r in enumerate(rows, start=2):
        if None in r or any(r.get(k) is None for k in ("path", "speaker")):
            raise DataError(f"{path}:{i}: expected the {len(rows[0])} columns of the header, "
                            f"got {len([v for k, v in r.items() if k is not None and v is not None])}")
        if not r["path"].strip() or not r["speaker"].strip():
            raise DataError(f"{path}:{i}: empty path or speaker")
        split = (r.get("split") or "").strip().lower() or None
        if split is not None and split not in SPLITS:
            raise DataError(f"{path}:{i}: split must be one of {', '.join(SPLITS)}, got {split!r}")
        p = Path(r["path"].strip())
        p = p if p.is_absolute() else path.parent / p
        items.append(Item(str(p), r["speaker"].strip(), split, _clip_number(p.stem)))
    return Dataset(path.stem, path.parent, "manifest", items)


# --------------------------------------------------------------------------- splitting


def split_mode(ds: Dataset, cfg: DataConfig, items: list[Item] | None = None) -> tuple[str, str]:
    """(mode, why) for the usable `items` (default: all of the dataset's). Bad files are removed
    before this is asked, so a few junk files cannot switch a leak-free split to another."""
    items = ds.items if items is None else items
    if cfg.split != "auto":
        return cfg.split, "data.split in the config"
    if ds.layout == "fsdd":
        return "official", "FSDD's official split: recordings 0-4 are the test set"
    if ds.layout == "manifest" and any(it.split for it in items):
        return "manifest", "the manifest's split column"
    # Numbered clips (0.wav, 1.wav, ...) are consecutive slices of long recordings:
    # neighbours overlap, so a per-clip random split would leak. A few files named otherwise among
    # them (a stray take, a silent file) must not switch the split: they form one more block.
    numbered = sum(it.order is not None for it in items)
    if items and numbered >= BLOCK_MAJORITY * len(items):
        why = (f"numbered clips are consecutive slices: contiguous blocks of {cfg.block_size} clip numbers, "
               "one guard clip dropped at each boundary")
        others = len(items) - numbered
        return "block", why + (f"; {others} file(s) not numbered go after the last number" if others else "")
    why = "stratified random split per speaker"
    return "random", why + (f" ({numbered} of {len(items)} files are numbered, too few for the block split)"
                            if numbered else "")


def assign_splits(items: list[Item], mode: str, cfg: DataConfig, seed: int) -> dict[str, str]:
    """Map each item's path to train/val/test. Items missing from the map are dropped (block guards)."""
    rng = np.random.default_rng(seed)
    by_speaker: dict[str, list[Item]] = defaultdict(list)
    for it in items:
        by_speaker[it.speaker].append(it)
    out: dict[str, str] = {}
    for spk in sorted(by_speaker):
        group = sorted(by_speaker[spk], key=lambda it: it.path)  # same split whatever the input order
        if mode in ("official", "manifest"):
            preset = [it for it in group if it.split]
            missing = [it.path for it in group if not it.split]
            if missing:
                raise DataError(f"{missing[0]}: no split given (the manifest's split column must be filled for every row)")
            for it in preset:
                out[it.path] = it.split
            train = [it for it in preset if it.split == "train"]
            if not any(it.split == "val" for it in preset) and len(train) >= 2:  # carve val out of train
                # (a speaker's only training clip is never taken)
                n_val = max(1, round(len(train) * cfg.val_fraction))
                for k in rng.permutation(len(train))[:n_val]:
                    out[train[k].path] = "val"
        elif mode == "block":
            out.update(_block_split(group, cfg, rng))
        elif mode == "random":
            n = len(group)
            perm = rng.permutation(n)
            n_test = max(1, round(n * cfg.test_fraction))
            n_val = max(1, round(n * cfg.val_fraction))
            for rank, k in enumerate(perm):
                out[group[k].path] = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
        else:
            raise DataError(f"unknown split {mode!r}; valid: auto, official, block, random, manifest")
    return out


def _block_order(it: Item) -> tuple:
    """Numbered clips by number, then any file not numbered, by name."""
    return (0, it.order, "") if it.order is not None else (1, 0, it.path)


def _block_split(group: list[Item], cfg: DataConfig, rng) -> dict[str, str]:
    """Contiguous blocks of clip numbers go whole to one split; one clip at each
    boundary between different splits is dropped so overlapping neighbours never
    straddle two splits."""
    group = sorted(group, key=_block_order)
    blocks = [group[i : i + cfg.block_size] for i in range(0, len(group), cfg.block_size)]
    nb = len(blocks)
    n_test = max(1, round(nb * cfg.test_fraction))
    n_val = max(1, round(nb * cfg.val_fraction))
    if nb < 3:
        raise DataError(f"speaker '{group[0].speaker}': {len(group)} clips make {nb} block(s) of {cfg.block_size}; need 3")
    perm = rng.permutation(nb)
    names = ["test"] * n_test + ["val"] * n_val + ["train"] * (nb - n_test - n_val)
    block_split = {int(b): names[r] for r, b in enumerate(perm)}
    out = {}
    prev = None
    for b, block in enumerate(blocks):
        s = block_split[b]
        for j, it in enumerate(block):
            if j == 0 and prev is not None and prev != s:
                continue  # guard clip
            out[it.path] = s
        prev = s
    return out


# --------------------------------------------------------------------------- loading


def describe_split(parts: dict[str, Loaded], split: tuple[str, str]) -> str:
    counts = ", ".join(f"{s} {len(parts[s].items)}" for s in SPLITS)
    return f"split '{split[0]}' ({split[1]}): {counts}"


def _load(items: list[Item], sample_rate: int, vad_cfg) -> tuple[dict, dict, list[Skipped]]:
    """Read every item -> ({path: wave}, {path: Speech}, skipped). Speech regions are found (and
    cached per file) when `vad_cfg` is given; without it every sample counts as speech."""
    from . import vad

    waves, speech, skipped = {}, {}, []
    for it in items:
        try:
            waves[it.path], _ = audio.load(it.path, sample_rate)
            speech[it.path] = vad.file_speech(it.path, sample_rate, vad_cfg or vad.VadConfig(enabled=False),
                                              y=waves[it.path])
        except AudioError as e:
            waves.pop(it.path, None)
            skipped.append(Skipped(it.path, e.reason))
    return waves, speech, skipped


def _without_speechless(part: Loaded, min_seconds: float, window: int, skipped: list[Skipped]) -> Loaded:
    """Training and validation clips longer than a window in which the detector found no speech
    are skipped (they would teach the model silence under a speaker's name). A clip that fits in one
    window - or whose recording span does, silence around it and all (vad.Speech.fitted) - is heard
    whole in use, so it is trained on whole too, whatever the detector says: padding a recording
    with silence does not change whether it is trained on."""
    keep = []
    for k, (it, sp) in enumerate(zip(part.items, part.speech)):
        try:
            if sp.fitted(window) is None:
                sp.require(min_seconds, it.path)
            keep.append(k)
        except AudioError as e:
            skipped.append(Skipped(it.path, e.reason))
    return Loaded([part.items[k] for k in keep], [part.waves[k] for k in keep], part.labels[keep],
                  [part.speech[k] for k in keep])


def prepare(ds: Dataset, cfg: DataConfig, seed: int, sample_rate: int, vad_cfg=None):
    """Load every usable clip, drop speakers with too few, split, and find speech.

    Returns ({train,val,test: Loaded}, sorted labels, skipped files, (split mode, why)). Each
    unusable file or speaker is listed in `skipped` (the caller reports them, once); the rest
    of the data is used. With `vad_cfg` (a VadConfig), training and validation clips without
    speech are skipped too; test clips are all kept (the test set does not depend on the detector).
    """
    items = ds.items
    if cfg.speakers:
        unknown = sorted(set(cfg.speakers) - set(ds.speakers))
        if unknown:
            raise DataError(f"{ds.root}: no speaker {', '.join(unknown)} (speakers: {', '.join(ds.speakers)})")
        items = [it for it in items if it.speaker in set(cfg.speakers)]
    if cfg.max_per_speaker:
        items = _cap(items, cfg.max_per_speaker, ds)
    waves, speech, skipped = _load(items, sample_rate, vad_cfg)
    skipped = ds.skipped + skipped
    items = [it for it in items if it.path in waves]
    counts = Counter(it.speaker for it in items)
    too_few = sorted(s for s, c in counts.items() if c < cfg.min_clips)
    for s in too_few:
        skipped.append(Skipped(f"<speaker {s}>", f"only {counts[s]} usable clips (min_clips={cfg.min_clips})"))
    items = [it for it in items if it.speaker not in too_few]
    labels = sorted({it.speaker for it in items})
    if len(labels) < 2:
        raise DataError(f"{ds.root}: need at least 2 speakers with {cfg.min_clips}+ usable clips, found {len(labels)}")
    mode = split_mode(ds, cfg, items)
    assignment = assign_splits(items, mode[0], cfg, seed)
    index = {s: i for i, s in enumerate(labels)}
    parts = {}
    for split in SPLITS:
        its = [it for it in items if assignment.get(it.path) == split]
        parts[split] = Loaded(its, [waves[it.path] for it in its], np.array([index[it.speaker] for it in its],
                              dtype=np.int64), [speech[it.path] for it in its])
        if vad_cfg is not None and split != "test":
            window = int(round(cfg.clip_seconds * sample_rate))
            parts[split] = _without_speechless(parts[split], vad_cfg.min_speech_seconds, window, skipped)
    # a speaker whose every training clip held no speech is skipped like any other unusable speaker
    silent = sorted(set(labels) - {it.speaker for it in parts["train"].items})
    if silent and vad_cfg is not None:
        skipped += [Skipped(f"<speaker {s}>", "no training clip with speech") for s in silent]
        labels = [s for s in labels if s not in silent]
        if len(labels) < 2:
            raise DataError(f"{ds.root}: need at least 2 speakers with training speech, found {len(labels)}")
        parts = {k: _only(p, labels) for k, p in parts.items()}
    _check_coverage(ds, parts, labels)
    return parts, labels, skipped, mode


def _only(part: Loaded, labels: list[str]) -> Loaded:
    """The clips of `labels`' speakers, labelled by their index in `labels`."""
    index = {s: i for i, s in enumerate(labels)}
    keep = [k for k, it in enumerate(part.items) if it.speaker in index]
    return Loaded([part.items[k] for k in keep], [part.waves[k] for k in keep],
                  np.array([index[part.items[k].speaker] for k in keep], dtype=np.int64),
                  [part.speech[k] for k in keep] if part.speech else [])


def _check_coverage(ds: Dataset, parts: dict[str, Loaded], labels: list[str]) -> None:
    """Every speaker needs training clips, and the run needs validation clips; a speaker without
    validation clips (one or two clips in all) is trained on but not validated: said, not refused."""
    missing = sorted(set(labels) - {it.speaker for it in parts["train"].items})
    if missing:
        raise DataError(f"{ds.root}: speaker(s) {', '.join(missing)} have no train clips; add clips or lower min_clips")
    if not parts["val"].items:
        raise DataError(f"{ds.root}: no validation clips; add clips or raise data.val_fraction")
    missing = sorted(set(labels) - {it.speaker for it in parts["val"].items})
    if missing:
        log.warning(f"{len(missing)} speaker(s) have no validation clip (too few clips to spare one): "
                    f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")


def _cap(items: list[Item], cap: int, ds: Dataset) -> list[Item]:
    """Keep at most `cap` clips per speaker, spread over the speaker's clips and preset splits."""
    by: dict[tuple, list[Item]] = defaultdict(list)
    for it in items:
        by[(it.speaker, it.split)].append(it)
    out = []
    per_speaker = Counter(it.speaker for it in items)
    for (spk, _split), group in sorted(by.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        share = max(1, round(cap * len(group) / per_speaker[spk]))
        if all(it.order is not None for it in group):
            # consecutive slices: keep a contiguous run so the block split stays leak-free
            chosen = sorted(group, key=lambda it: it.order)[:share]
        else:
            chosen = group[:: max(1, len(group) // share)][:share]
        out.extend(chosen)
    return out


def dataset_rate(ds: Dataset) -> int:
    """The most common sample rate among the first files (the dataset's own rate)."""
    rates = Counter()
    for it in ds.items[:: max(1, len(ds.items) // 20)][:20]:
        try:
            rates[audio.native_rate(it.path)] += 1
        except Exception:
            continue
    if not rates:
        raise DataError(f"{ds.root}: could not read the sample rate of any file")
    return rates.most_common(1)[0][0]
