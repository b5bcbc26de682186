"""`voxprint` command line. Each subcommand is a thin call into the modules; errors are
one line on stderr and exit status 2, never a traceback."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import VoxprintError


def _err(e) -> None:
    print(f"skip: {e}", file=sys.stderr)


def _config(args):
    from . import config as C

    overrides = list(args.set or [])
    if getattr(args, "data", None):
        overrides.append(f"data.path={args.data}")
    for flag, key in (("models", "grid.models"), ("features", "grid.features")):
        if getattr(args, flag, None):
            overrides.append(f"{key}=[{','.join(getattr(args, flag))}]")
    if getattr(args, "seeds", None):
        overrides.append(f"grid.seeds={args.seeds}")
    if getattr(args, "augment", None) is not None:
        overrides.append(f"grid.augment=[{'true' if args.augment else 'false'}]")
    if getattr(args, "compare_augment", False):
        overrides.append("grid.augment=[true,false]")
    if getattr(args, "no_progress", False):
        overrides.append("train.progress=false")
    return C.load(args.config, overrides)


def cmd_run(args) -> int:
    from .pipeline import run_grid

    cfg = _config(args)
    name = Path(cfg.data.path).name if cfg.data.path != "fsdd" else "fsdd"
    out = Path(args.out or Path("runs") / name)
    run_grid(cfg, out)
    if not args.no_report:
        from .report import write_report

        print(f"report: {write_report(out)}")
    return 0


def cmd_predict(args) -> int:
    from .inference import Recognizer

    rec = Recognizer(args.run, engine=args.engine)
    for p in rec.predict(args.files, on_error=_err):
        print(f"{p.path}\t{p.speaker}\t{p.probability:.3f}")
    return 0


def cmd_export(args) -> int:
    from .export import export_onnx
    from .inference import Recognizer

    rec = Recognizer(args.run)
    print(export_onnx(rec, args.out or rec.dir / "model.onnx"))
    return 0


def cmd_report(args) -> int:
    from .report import write_report

    print(write_report(Path(args.run)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="voxprint", description="Speaker recognition: train, compare, identify.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser("run", help="train and compare the model x feature grid, write results and report")
    r.add_argument("--config", help="YAML config file or shipped config name (default: built-in defaults)")
    r.add_argument("--data", help="dataset: 'fsdd' (default, downloaded), a folder, or a CSV manifest")
    r.add_argument("--out", help="run folder (default runs/<dataset>)")
    r.add_argument("--models", nargs="+", help="subset of cnn lstm crnn")
    r.add_argument("--features", nargs="+", help="subset of mfcc mel lpc")
    r.add_argument("--seeds", type=int, help="repeat every run with this many seeds")
    r.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help="train with background noise (default on)")
    r.add_argument("--compare-augment", action="store_true", help="train with and without noise, side by side")
    r.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key, e.g. train.max_epochs=5")
    r.add_argument("--no-report", action="store_true", help="skip the HTML report")
    r.add_argument("--no-progress", action="store_true", help="no progress bars")
    r.set_defaults(func=cmd_run)

    q = sub.add_parser("predict", help="name the speaker of audio files")
    q.add_argument("files", nargs="+")
    q.add_argument("--run", default="runs/fsdd", help="run folder or model folder (default runs/fsdd: its best model)")
    q.add_argument("--engine", choices=["torch", "onnx"], default="torch")
    q.set_defaults(func=cmd_predict)

    e = sub.add_parser("export", help="export a model to ONNX")
    e.add_argument("run", help="run folder or model folder")
    e.add_argument("--onnx", action="store_true", help="ONNX format (the only one; accepted for clarity)")
    e.add_argument("--out", help="output path (default: model.onnx in the model folder)")
    e.set_defaults(func=cmd_export)

    rep = sub.add_parser("report", help="write report.html, charts and results.json for a run folder")
    rep.add_argument("run")
    rep.set_defaults(func=cmd_report)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except VoxprintError as e:
        print(f"voxprint: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("voxprint: interrupted; finished runs are kept, rerun to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
