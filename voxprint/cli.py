"""`voxprint` command line. Each subcommand is a thin call into the modules; errors are
one line on stderr, never a traceback, and the exit status says what happened (EXIT_STATUS)."""

from __future__ import annotations

import argparse
import sys

from .errors import NothingAnswered, VoxprintError

EXIT_OK = 0  # every input file answered (or the command did what it was asked)
EXIT_ERROR = 2  # usage or data error: bad arguments, config, run folder, profile db
EXIT_SKIPPED = 3  # some or all input files were skipped; the answers for the rest were printed
# 1 is left out on purpose: it is the status of a Python crash, which must never read as "files skipped".
EXIT_STATUS = f"""exit status:
  {EXIT_OK}    every input file answered (or the command did what it was asked)
  {EXIT_SKIPPED}    some or all input files were skipped: one 'skip: FILE: reason' line each on
       stderr; the answers for the other files are printed as usual
  {EXIT_ERROR}    usage or data error (arguments, config, run folder, profile db): one
       'voxprint: ...' line on stderr, nothing answered
  130  interrupted"""


class _Skips:
    """on_error for the commands that read files: one `skip:` line per bad file, counted for the
    exit status."""

    def __init__(self):
        self.count = 0

    def __call__(self, e) -> None:
        self.count += 1
        print(f"skip: {e}", file=sys.stderr)

    def status(self, answered: int) -> int:
        """EXIT_SKIPPED if any file was skipped (saying so when none was answered), else EXIT_OK."""
        if self.count and not answered:
            print(f"voxprint: no file answered ({self.count} skipped)", file=sys.stderr)
        return EXIT_SKIPPED if self.count else EXIT_OK


def _number(lo: float, hi: float, what: str, integer: bool = False, open_lo: bool = False):
    """An argparse type: a finite number in [lo, hi] ((lo, hi] with open_lo); else a usage error
    (argparse prints it with the usage line and exits 2)."""

    def parse(text: str):
        try:
            v = int(text) if integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if integer else 'a number'}") from None
        if not (lo < v <= hi if open_lo else lo <= v <= hi):
            raise argparse.ArgumentTypeError(f"{text} is out of range; valid: {lo:g} {'<' if open_lo else '≤'} "
                                             f"{what} ≤ {hi:g}")
        return v

    return parse


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
        overrides.append("runtime.progress=false")
    return C.load(args.config, overrides)


def _print_json(doc) -> None:
    """--json: the whole answer as one JSON document on stdout (skips and errors stay on stderr)."""
    import json

    print(json.dumps(doc, indent=2))


def cmd_run(args) -> int:
    from .commands import run

    written = run(_config(args), args.out, report=not args.no_report)
    if written:
        print(f"report: {written}")
    return EXIT_OK


def cmd_predict(args) -> int:
    from .inference import Recognizer

    skips = _Skips()
    preds = Recognizer(args.run, engine=args.engine).predict(args.files, on_error=skips)
    if args.json:
        _print_json({"files": [{"path": p.path, "speaker": p.speaker, "probability": p.probability}
                               for p in preds]})
    else:
        for p in preds:
            print(f"{p.path}\t{p.speaker}\t{p.probability:.3f}")
    return skips.status(len(preds))


def cmd_export(args) -> int:
    from .inference import Recognizer

    print(Recognizer(args.run).export_onnx(args.out))
    return EXIT_OK


def cmd_report(args) -> int:
    from .commands import report

    for path in report(args.run, args.results):
        print(path)
    return EXIT_OK


def cmd_evaluate(args) -> int:
    from .commands import evaluate

    skips = _Skips()
    result = evaluate(args.run, args.noise, args.snr, args.seed, on_error=skips)
    print(f"{'noise':<16} {'SNR dB':>7} {'accuracy':>9} {'macro-F1':>9}")
    for r in result.rows:
        print(f"{r['noise']:<16} {r['snr_db']:>7} {r['accuracy']:>9.4f} {r['macro_f1']:>9.4f}")
    print(f"written: {result.written}")
    return skips.status(result.answered)


def cmd_calibrate(args) -> int:
    from .commands import calibrate

    skips = _Skips()
    info, used = calibrate(args.run, args.far, on_error=skips)
    print(f"threshold {info['threshold']:.4f} ({info['method']}, validation EER {info['val_eer']:.4f}, "
          f"{info['n_trials']} trials)")
    return skips.status(used)


def cmd_enroll(args) -> int:
    from .inference import Recognizer

    skips = _Skips()
    result = Recognizer(args.run).enroll_checked(args.name, args.files, db=args.db, on_error=skips)
    prof = result.profile
    consistency = "" if prof.consistency is None else f"; consistency {prof.consistency:.2f}"
    print(f"enrolled {prof.name}: {prof.count} clip(s) in profile{consistency}")
    for w in result.warnings:
        print(f"warning: {w}", file=sys.stderr)
    return skips.status(1)


def cmd_speakers(args) -> int:
    from .inference import Recognizer

    profiles = Recognizer(args.run, engine="torch").profiles(args.db)  # its weights' id and db: no ONNX session
    if args.json:
        _print_json({"speakers": [{"name": p.name, "clips": p.count, "updated": p.updated, "model": p.model_id,
                                   "consistency": p.consistency} for p in profiles]})
        return EXIT_OK
    if not profiles:
        print("no enrolled speakers")
    for p in profiles:
        agree = "" if p.consistency is None else f"\tconsistency {p.consistency:.2f}"
        print(f"{p.name}\t{p.count} clips\tupdated {p.updated}\tmodel {p.model_id}{agree}")
    return EXIT_OK


def cmd_forget(args) -> int:
    from .inference import Recognizer

    Recognizer(args.run, engine="torch").forget(args.name, args.db)  # its weights' id and db: no ONNX session
    print(f"forgot {args.name}")
    return EXIT_OK


def cmd_profiles_copy(args) -> int:
    from .stores import copy_store

    copied, skipped = copy_store(args.src, args.dst)
    print(f"copied {copied} profile(s)")
    for name in skipped:
        print(f"skipped {name}: already in the destination (left as it was)", file=sys.stderr)
    return EXIT_OK


def cmd_identify(args) -> int:
    from .inference import Recognizer

    skips = _Skips()
    answers = Recognizer(args.run).identify_decisions(args.files, db=args.db, threshold=args.threshold,
                                                      on_error=skips, far=args.far)
    if args.json:
        _print_json({"files": [{"path": path, "speaker": d.name, "score": d.score, "llr": d.llr}
                               for path, d in answers]})
    else:
        for path, d in answers:
            print(f"{path}\t{d.name}\t{d.score:.3f}" + ("" if d.llr is None else f"\tllr {d.llr:+.2f}"))
    return skips.status(len(answers))


def cmd_diarize(args) -> int:
    from .commands import diarize
    from .diarize import DiarizeConfig
    from .diarize.output import as_dict, tsv_lines
    from .inference import Recognizer

    cfg = DiarizeConfig(speakers=args.speakers, min_speakers=args.min_speakers or 1,
                        max_speakers=args.max_speakers).check()
    skips, answered, docs = _Skips(), 0, []
    for path, result in diarize(Recognizer(args.run), args.files, cfg, args.identify, args.db, args.threshold,
                                args.rttm, on_error=skips, far=args.far):
        answered += 1
        if args.json:
            docs.append(as_dict(path, result))
            continue
        for line in tsv_lines(path, result):
            print(line, flush=True)  # a file's turns as soon as it is done, before the next is read
    if args.json:
        _print_json({"files": docs})
    return skips.status(answered)


def cmd_verify(args) -> int:
    from .commands import verify

    v = verify(args.run, args.files, args.claim, args.db, args.far, args.threshold, on_error=_Skips())
    d, rule = v.decision, v.rule
    if args.json:
        _print_json({"score": d.score, "llr": rule.get("llr"), "far": rule.get("far"),
                     "threshold": rule.get("threshold"), "accepted": d.accepted})
        return EXIT_OK
    shown = f"threshold {rule['threshold']:.3f}" if "threshold" in rule else f"llr {rule['llr']:+.2f}\tfar {rule['far']:g}"
    print(f"score {d.score:.3f}\t{shown}\t{'accept' if d.accepted else 'reject'}")
    return EXIT_OK


def cmd_encoder_train(args) -> int:
    from .commands import encoder_train

    prov = encoder_train(args.out, args.data, args.set or [], command="voxprint " + " ".join(sys.argv[1:]))
    best = prov["best"]
    print(f"{args.out}: best dev step {prov['best_step']} of {prov['steps']} "
          f"(dev EER clean {best['clean']:.4f}, 5 dB {best['white-5dB']:.4f}, 0 dB {best['white-0dB']:.4f})")
    return EXIT_OK


def cmd_encoder_window(args) -> int:
    from .commands import encoder_window

    out, dev, calibrated = encoder_window(args.seconds, args.out, args.src, args.data, args.extra)
    print(f"{out}: listens in {' and '.join(f'{w:g}-s' for w in [args.seconds, *(args.extra or [])])} windows; "
          + ("accept threshold chosen again on libri-dev's dev speakers" if calibrated else
             f"no calibration.json ({dev} not found): identify/verify need --threshold, or --data with libri-dev/"))
    return EXIT_OK


def add_encoder_parser(sub) -> None:
    enc = sub.add_parser("encoder", help="the general speaker encoder")
    enc_sub = enc.add_subparsers(dest="encoder_command", required=True, metavar="COMMAND")
    et = enc_sub.add_parser("train", help="fine-tune GE2E with noise (teacher: the original on clean audio)")
    et.add_argument("--out", required=True, help="model folder to write")
    et.add_argument("--data", help="data home with libri-dev/, noise/ and the sources (default: $VOXPRINT_DATA)")
    et.add_argument("--set", action="append", metavar="KEY=VALUE",
                    help="training option, e.g. steps=300, batch_size=16, "
                         "'sources={libri: 0.5, \"corpus:/data/LibriSpeech/train-clean-100\": 0.5}'")
    et.set_defaults(func=cmd_encoder_train)
    ew = enc_sub.add_parser("window", help="a copy of an encoder folder that listens in windows of another length")
    ew.add_argument("seconds", type=_number(0.1, 60, "window length in seconds"))
    ew.add_argument("--extra", nargs="+", type=_number(0.1, 60, "window length in seconds"), metavar="S",
                    help="further window lengths a longer clip is also heard in (data.extra_windows; default none)")
    ew.add_argument("--out", required=True, help="model folder to write (new)")
    ew.add_argument("--src", help="encoder folder to copy (default: the shipped one)")
    ew.add_argument("--data", help="data home with libri-dev/, for the threshold (default: $VOXPRINT_DATA)")
    ew.set_defaults(func=cmd_encoder_window)


def cmd_serve(args) -> int:
    from .config import serve_limits
    from .serve.server import serve

    limits = serve_limits(max_bytes=int(args.max_upload_mb * 1_000_000), max_seconds=args.max_seconds,
                          workers=args.workers)
    serve(args.run, db=args.db, host=args.host, port=args.port, token=args.token, limits=limits,
          engine=args.engine, threshold=args.threshold, far=args.far)
    return 0


def _training_commands(sub) -> None:
    """run, evaluate, export, calibrate, report: the commands that train and score a run folder."""
    r = sub.add_parser("run", help="train and compare the model x feature grid, write results and report")
    r.add_argument("--config", help="YAML config file or shipped config name (default: built-in defaults)")
    r.add_argument("--data", help="dataset: 'fsdd' (default, downloaded), a folder, or a CSV manifest")
    r.add_argument("--out", help="run folder (default runs/<dataset>)")
    r.add_argument("--models", nargs="+", help="models to train (default: grid.models): cnn lstm crnn tdnn stats encoder")
    r.add_argument("--features", nargs="+", help="subset of mfcc mel lpc")
    r.add_argument("--seeds", type=int, help="repeat every run with this many seeds")
    r.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help="train with background noise (default on)")
    r.add_argument("--compare-augment", action="store_true", help="train with and without noise, side by side")
    r.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key, e.g. train.max_steps=500")
    r.add_argument("--no-report", action="store_true", help="skip the HTML report")
    r.add_argument("--no-progress", action="store_true", help="no progress bars")
    r.set_defaults(func=cmd_run)

    e = sub.add_parser("export", help="export a model to ONNX (model.onnx beside model.pt)")
    e.add_argument("run", help="run folder or model folder")
    e.add_argument("--out", help="output path (default: model.onnx in the model folder)")
    e.set_defaults(func=cmd_export)

    ev = sub.add_parser("evaluate", help="score a trained model on its test split, clean and with noise at each SNR")
    ev.add_argument("run", help="run folder (its best model) or model folder")
    ev.add_argument("--snr", type=_number(-60, 100, "SNR dB"), nargs="+", default=[20, 10, 5, 0], help="SNRs in dB")
    ev.add_argument("--noise", nargs="+", default=["white"],
                    help="white, pink, or noise files/folders (their held-out evaluation part is used)")
    ev.add_argument("--seed", type=_number(0, 2**31 - 1, "seed", integer=True), default=1234)
    ev.set_defaults(func=cmd_evaluate)

    ca = sub.add_parser("calibrate", help="set the accept threshold from validation clips (EER point or --far)")
    ca.add_argument("run")
    ca.add_argument("--far", type=_number(0, 0.999999, "far", open_lo=True),
                    help="target false-accept rate, e.g. 0.01 (default: the EER point)")
    ca.set_defaults(func=cmd_calibrate)

    rep = sub.add_parser("report", help="write report.html, charts and results.json for a run folder")
    rep.add_argument("run")
    rep.add_argument("--results", metavar="NAME", help="also write docs/results/NAME.md (tables, charts; stamped "
                     "with the commit that trained the models) in the git work tree you run it from")
    rep.set_defaults(func=cmd_report)


def _speaker_commands(sub) -> None:
    """predict, enroll, speakers, forget, identify, verify: the commands that use a trained model."""

    def model_args(sp, db=True):
        sp.add_argument("--run", help="run or model folder (default: the general speaker encoder that ships "
                                      "with voxprint)")
        if db:
            sp.add_argument("--db", help="profile store: a SQLite file or a postgresql://user@host/dbname URL "
                                         "(default: $VOXPRINT_DB, else profiles.db in the model folder; for the "
                                         "shipped encoder, in $VOXPRINT_HOME or ~/.local/share/voxprint)")

    q = sub.add_parser("predict", help="name the speaker of audio files")
    q.add_argument("files", nargs="+")
    q.add_argument("--run", default="runs/fsdd", help="run folder or model folder (default runs/fsdd: its best model)")
    q.add_argument("--engine", choices=["torch", "onnx"], help="default: the folder's model.onnx when it has one, else torch")
    q.add_argument("--json", action="store_true", help="print one JSON document (the answers in a list) instead of lines")
    q.set_defaults(func=cmd_predict)

    en = sub.add_parser("enroll", help="add clips of a speaker to their profile (no retraining)")
    en.add_argument("name")
    en.add_argument("files", nargs="+")
    model_args(en)
    en.set_defaults(func=cmd_enroll)

    pr = sub.add_parser("profiles", help="manage profile stores").add_subparsers(dest="action", required=True)
    cp = pr.add_parser("copy", help="copy every profile from one store to another (e.g. SQLite to PostgreSQL)")
    cp.add_argument("--from", dest="src", required=True, help="source store: a SQLite file or a postgresql:// URL")
    cp.add_argument("--to", dest="dst", required=True, help="destination store (created if new)")
    cp.set_defaults(func=cmd_profiles_copy)

    sp = sub.add_parser("speakers", help="list enrolled speakers")
    model_args(sp)
    sp.add_argument("--json", action="store_true", help="print one JSON document (the speakers in a list) instead of lines")
    sp.set_defaults(func=cmd_speakers)

    fo = sub.add_parser("forget", help="remove an enrolled speaker")
    fo.add_argument("name")
    model_args(fo)
    fo.set_defaults(func=cmd_forget)

    idf = sub.add_parser("identify", help="name the enrolled speaker of each file, or 'unknown'")
    idf.add_argument("files", nargs="+")
    idf.add_argument("--threshold", type=_number(-1, 1, "cosine threshold"), help="override the calibrated threshold")
    idf.add_argument("--far", type=_number(0, 1, "false-accept rate", open_lo=True),
                     help="target share of strangers accepted as someone (default: config decision.far, 0.01)")
    model_args(idf)
    idf.add_argument("--json", action="store_true", help="print one JSON document (the answers in a list) instead of lines")
    idf.set_defaults(func=cmd_identify)

    ve = sub.add_parser("verify", help="same speaker? `verify A B` or `verify --claim NAME FILE`")
    ve.add_argument("files", nargs="+")
    ve.add_argument("--claim", help="enrolled name the speaker claims to be")
    ve.add_argument("--threshold", type=_number(-1, 1, "cosine threshold"), help="override the calibrated threshold")
    ve.add_argument("--far", type=_number(0, 1, "false-accept rate", open_lo=True),
                    help="target false-accept rate per trial (default: config decision.far, 0.01)")
    model_args(ve)
    ve.add_argument("--json", action="store_true", help="print the decision as one JSON document instead of a line")
    ve.set_defaults(func=cmd_verify)

    di = sub.add_parser("diarize", help="who spoke when in each file (turns; --identify names enrolled speakers)")
    di.add_argument("files", nargs="+")
    di.add_argument("--speakers", type=_number(1, 100, "speaker count", integer=True), help="known speaker count")
    di.add_argument("--min-speakers", type=_number(1, 100, "speaker count", integer=True), help="at least this many")
    di.add_argument("--max-speakers", type=_number(1, 100, "speaker count", integer=True), help="at most this many")
    di.add_argument("--rttm", metavar="DIR", help="also write DIR/<file stem>.rttm per file (NIST RTTM)")
    di.add_argument("--json", action="store_true",
                    help="print one JSON document (each file's turns and speakers in a list) instead of lines")
    di.add_argument("--identify", action="store_true", help="label clusters matching an enrolled speaker by name")
    di.add_argument("--far", type=_number(0, 1, "false-accept rate", open_lo=True),
                    help="with --identify: share of strangers' clusters accepted as someone (default: the config's)")
    di.add_argument("--threshold", type=_number(-1, 1, "cosine threshold"),
                    help="with --identify: a plain cosine threshold instead of the --far rule")
    model_args(di)
    di.set_defaults(func=cmd_diarize)



def _serve_command(sub) -> None:
    sv = sub.add_parser("serve", help="HTTP API and browser page: identify, verify, enrol (see /docs)")
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    sv.add_argument("--port", type=_number(0, 65535, "port", integer=True), default=8000)
    sv.add_argument("--token", help="bearer token that writes need (default $VOXPRINT_TOKEN; required off loopback)")
    sv.add_argument("--engine", choices=["auto", "torch", "onnx"], default="auto",
                    help="auto (default): onnxruntime if the model exports, else torch")
    sv.add_argument("--threshold", type=_number(-1, 1, "cosine threshold"), help="override the calibrated threshold")
    sv.add_argument("--far", type=_number(0, 1, "false-accept rate", open_lo=True),
                    help="target false-accept rate (default: config decision.far, 0.01)")
    sv.add_argument("--max-upload-mb", type=_number(0, 100_000, "MB", open_lo=True), default=20.0,
                    help="request body limit in MB (default 20)")
    sv.add_argument("--max-seconds", type=_number(0, 86_400, "seconds", open_lo=True), default=300.0,
                    help="audio per file limit (default 300)")
    sv.add_argument("--workers", type=_number(0, 1024, "workers", integer=True), default=0,
                    help="inference jobs at once (default: the cores)")
    sv.add_argument("--run", help="run or model folder (default: the general speaker encoder that ships with voxprint)")
    sv.add_argument("--db", help="profile store: a SQLite file or a postgresql:// URL that several replicas "
                                 "share (default: as `voxprint enroll`)")
    sv.set_defaults(func=cmd_serve)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="voxprint", description="Speaker recognition: train, compare, identify.",
                                epilog=EXIT_STATUS, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _training_commands(sub)
    _speaker_commands(sub)
    _serve_command(sub)
    add_encoder_parser(sub)
    return p


# Commands that score a few clips at a time: torch's intra-op threads only wait on each other there
# (measured by benchmarks/serve_load.py: 200 clips in 7.3 s with 2 threads on a busy 2-core machine,
# 0.24 s with 1). Training (`run`) keeps torch's default.
ONE_THREAD = {"predict", "enroll", "identify", "verify", "evaluate", "calibrate", "diarize"}


def main(argv: list[str] | None = None) -> int:
    from .log import setup

    args = build_parser().parse_args(argv)
    setup()
    if args.command in ONE_THREAD:
        from .commands import one_torch_thread

        one_torch_thread()
    try:
        return args.func(args)
    except NothingAnswered as e:
        print(f"voxprint: {e}", file=sys.stderr)
        return EXIT_SKIPPED
    except VoxprintError as e:
        print(f"voxprint: {e}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as e:  # the environment refused a read or write (permissions, disk full): still one line
        print(f"voxprint: {e.filename or ''}{': ' if e.filename else ''}{e.strerror or e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("voxprint: interrupted; finished runs are kept, rerun to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
