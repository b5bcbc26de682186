"""The bodies of the `voxprint` commands that no single module owns: what a command does between
parsing its arguments (voxprint.cli) and printing its answer. Each function takes plain values and
returns plain results, so a script, a test or another front end can run a command without argparse;
errors are VoxprintError (one line), bad input files go to `on_error` one at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import DataError, NothingAnswered, VoxprintError


def one_torch_thread() -> None:
    """Score on one torch thread (the commands that score a few clips at a time, cli.ONE_THREAD). A torch
    already loaded is told so; otherwise OMP_NUM_THREADS=1 starts torch with one thread if the command
    turns out to need it - importing torch just to set it would cost the ONNX route over a second."""
    import os
    import sys

    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    else:
        os.environ["OMP_NUM_THREADS"] = "1"


def run(cfg, out: str | Path | None = None, report: bool = True) -> Path | None:
    """`voxprint run`: train the grid of `cfg` into `out` (default runs/<dataset>), then the
    unseen-speaker study when cfg.eval.verification, then the HTML report -> its path (None without)."""
    from .pipeline import run_grid

    name = Path(cfg.data.path).name if cfg.data.path != "fsdd" else "fsdd"
    out = Path(out or Path("runs") / name)
    if out.exists() and not out.is_dir():
        raise VoxprintError(f"{out}: exists and is not a folder; --out names the run folder to write")
    run_grid(cfg, out)
    if cfg.eval.verification:
        from .unseen import run_study

        run_study(cfg, out)
    if not report:
        return None
    from .report import write_report

    return write_report(out)


def report(run_dir: str | Path, results: str | None = None) -> list[Path]:
    """`voxprint report`: report.html (and, with `results`, docs/results/RESULTS.md of the git work tree
    it runs in, stamped with the commit that trained the models and the one that formatted it) -> the paths
    written. The run is collected and its charts drawn once, for both."""
    from .report import collect, write_report

    command = f"voxprint report {run_dir} --results {results}"  # the stamp's, with the folder as it was given
    run_dir = Path(run_dir)
    if not (run_dir / "results.csv").exists():
        raise VoxprintError(f"{run_dir}: no results.csv; run `voxprint run --out {run_dir}` first")
    data = collect(run_dir)
    written = [write_report(run_dir, data)]
    if results:
        from .report.readme import update_results

        written.append(update_results(run_dir, results, command, data=data))
    return written


def split_items(rec, split: str) -> tuple[list[str], list[str]]:
    """(paths, speakers) of one split of the run that trained `rec`, from its split.csv; a row that is
    short, of another split name or of a speaker the model does not know is a one-line DataError."""
    from . import rundir
    from .io import read_csv

    path = rundir.inside(rec.dir.parent, rundir.SPLIT)
    if not path.is_file():
        raise VoxprintError(f"{rec.dir}: no split.csv beside it; evaluate needs the run folder it was trained in")
    try:
        rows = read_csv(path)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise DataError(f"{path}: cannot be read ({e.__class__.__name__})") from None
    known = set(rec.labels)
    for i, r in enumerate(rows, start=2):
        if any(not isinstance(r.get(k), str) for k in ("path", "speaker", "split")):
            raise DataError(f"{path}:{i}: expected columns path,speaker,split")
        if r["split"] not in ("train", "val", "test") or r["speaker"] not in known:
            raise DataError(f"{path}:{i}: split {r['split']!r} / speaker {r['speaker']!r} is not one of this model's")
    rows = [r for r in rows if r["split"] == split]
    return [r["path"] for r in rows], [r["speaker"] for r in rows]


@dataclass
class Evaluation:
    rows: list[dict]  # one per condition: noise, snr_db, accuracy, macro_f1 (clean first)
    written: Path  # evaluate.csv in the model folder
    answered: int  # test files scored


def evaluate(run_dir, noise: list[str], snrs: list[float], seed: int, on_error=None) -> Evaluation:
    """`voxprint evaluate`: the model's test split scored clean and with each noise at each SNR (SNR
    measured over each clip's speech); the table is written to evaluate.csv in the model folder."""
    import numpy as np

    from .augment import build_sources
    from .inference import Recognizer
    from .io import write_csv
    from .metrics import classification_metrics
    from .robustness import COLUMNS, robustness_table
    from .vad import file_speech

    rec = Recognizer(run_dir)
    paths, speakers = split_items(rec, "test")
    ok, waves = rec.load_many(paths, on_error=on_error)
    if not waves:
        raise NothingAnswered(f"{rec.dir.parent / 'split.csv'}: none of its {len(paths)} test files is usable")
    index = {s: i for i, s in enumerate(rec.labels)}
    keep = set(ok)
    y = np.array([index[s] for p, s in zip(paths, speakers) if p in keep])
    probs, _ = rec.score_waves(waves)
    clean = classification_metrics(y, probs.argmax(1), rec.labels)
    sources = build_sources(noise, rec.sample_rate, "eval", rec.cfg.augment.train_fraction)
    if not sources:
        raise VoxprintError(f"no usable noise among {', '.join(noise)}")
    speech = [file_speech(p, rec.sample_rate, rec.cfg.vad, y=w) for p, w in zip(ok, waves)]  # SNR over speech
    rows = robustness_table(clean, rec.model, rec.features, waves, y, rec.window, sources, snrs, rec.labels,
                            seed=seed, speech=speech, vad_cfg=rec.cfg.vad, extra=rec.extra_windows)
    out = rec.file("evaluate.csv")
    write_csv(out, [{"model": rec.name, **r} for r in rows], ["model", *COLUMNS])
    return Evaluation(rows, out, len(waves))


def calibrate(run_dir, far: float | None = None, on_error=None) -> tuple[dict, int]:
    """`voxprint calibrate`: the accept threshold chosen on the run's validation clips (the EER point,
    or the threshold at `far`), saved as the model's calibration.json -> (its content, files used)."""
    import numpy as np

    from .inference import Recognizer
    from .verification import calibrate as fit

    rec = Recognizer(run_dir)
    paths, speakers = split_items(rec, "val")
    ok, emb = rec.embed(paths, on_error=on_error)
    if len(ok) < 2:
        raise NothingAnswered(f"calibrate: {len(ok)} usable validation file(s) of {len(paths)}; need two or more")
    spk = dict(zip(paths, speakers))
    labels = np.array([rec.labels.index(spk[p]) for p in ok])
    info = fit(emb, labels, far)
    rec.save_calibration(info)
    return info, len(ok)


@dataclass
class Verdict:
    decision: object  # scoring.Decision: score, llr, accepted
    rule: dict  # what decided: {"threshold": cosine} or {"llr": .., "far": ..}


def verify(run_dir, files: list[str], claim: str | None = None, db=None, far: float | None = None,
           threshold: float | None = None, on_error=None) -> Verdict:
    """`voxprint verify`: two files A B (same voice?), or with `claim` one file against that enrolled
    profile. The rule is a raw cosine threshold when one is given or the folder has no cohort (its
    calibrated threshold), else the calibrated LLR at the false-accept rate `far`."""
    from . import decisions
    from .inference import Recognizer

    if len(files) != (1 if claim else 2):
        raise VoxprintError("verify takes two files A B, or --claim NAME and exactly one FILE")
    rec = Recognizer(run_dir)
    if claim:
        d = decisions.verify_claim(rec, claim, files[0], db, far, threshold, on_error)
    else:
        d = decisions.verify(rec, *files, far=far, threshold=threshold, on_error=on_error)
    if d.llr is None or threshold is not None:  # a raw cosine threshold decided
        return Verdict(d, {"threshold": rec.threshold if threshold is None else threshold})
    return Verdict(d, {"llr": d.llr, "far": decisions.far_of(rec, far)})


def diarize(rec, paths, cfg, identify: bool = False, db=None, threshold: float | None = None,
            rttm: str | Path | None = None, on_error=None, bar=None, far: float | None = None):
    """`voxprint diarize`: (path, diarize.Diarization) per readable file, one at a time (a generator,
    so each file's answer can be shown before the next is read); with `rttm`, each file's turns are
    also written to rttm/<stem>.rttm. An unreadable file goes to on_error (raises without one).
    `bar(path)` -> a context manager giving (on_windows, progress) callbacks (diarize.output.window_bar)."""
    from .diarize import diarize_file
    from .diarize.output import save_rttm, window_bar
    from .errors import AudioError

    bar = bar or window_bar
    for path in paths:
        try:
            with bar(path) as (on_windows, progress):
                result = diarize_file(rec, path, cfg, identify, db, threshold, progress, on_windows, far)
        except AudioError as e:
            if on_error is None:
                raise
            on_error(e)
            continue
        if rttm:
            save_rttm(rttm, path, result)
        yield path, result


def encoder_train(out: str | Path, data: str | Path | None, settings: list[str], command: str) -> dict:
    """`voxprint encoder train`: fine-tune the encoder into `out` with `settings` (KEY=VALUE items)
    -> its provenance, plus "best": the dev history entry of the step that was kept."""
    from .config import apply_override
    from .download import data_home
    from .encoder.train import train_encoder

    overrides: dict = {}
    for item in settings:
        apply_override(overrides, item)
    home = Path(data).expanduser() if data else data_home()
    prov = train_encoder(out, home, overrides, command=command)
    return prov | {"best": next(h for h in prov["dev_history"] if h["step"] == prov["best_step"])}


def encoder_window(seconds: float, out: str | Path, src=None, data=None, extra=None) -> tuple[Path, Path, bool]:
    """`voxprint encoder window`: a copy of the encoder folder `src` (default the shipped one) that
    listens in `seconds`-long windows (and `extra` ones) -> (the folder, the data home's libri-dev folder,
    whether that existed: then the copy's accept threshold was chosen again on it, else it has none)."""
    from .download import data_home
    from .encoder.folder import with_window
    from .pretrained import ENCODER_DIR

    home = Path(data).expanduser() if data else data_home()
    dev = home / "libri-dev"
    calibrated = dev.is_dir()
    return with_window(src or ENCODER_DIR, seconds, out, dev if calibrated else None, extra), dev, calibrated
