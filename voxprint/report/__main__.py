"""`python -m voxprint.report RUN_DIR`: write the run report and print its path."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import write_report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m voxprint.report",
                                 description="Write report.html, results.json and chart PNGs for a run folder.")
    ap.add_argument("run_dir", type=Path, help="the run folder (holds results.csv, config.yaml, ...)")
    args = ap.parse_args(argv)
    if not args.run_dir.is_dir():
        print(f"error: run folder not found: {args.run_dir}", file=sys.stderr)
        return 2
    print(write_report(args.run_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
