"""Results files: `docs/results/NAME.md`, each written by one command and stamped with what made it.

    write_result("vad", body, title="Speech detection", command="python -m benchmarks.vad --results",
                 inputs=["voxprint/vad", "benchmarks/vad.py"], headline="...")
    stale(repo)          # [] when no results file is older than the code it declares it depends on
    index_table(repo)    # the README's table of results: title (linked), headline, commit, date

The stamp is the file's first line, an HTML comment holding JSON (invisible when the page is rendered):

    <!-- voxprint-results {"command": ..., "commit": ..., "dirty": false, "date": ..., "inputs": [...]} -->

A file is stale when one of its declared inputs differs (in the work tree) from that input at the stamped
commit, when it was written from a working tree whose inputs had uncommitted changes ("dirty"), or when its
numbers came from a run folder whose models were trained by code of unknown version. The inputs are the
code its numbers depend on, declared by the generator (a benchmark's INPUTS, or RUN_INPUTS for the
tables of a `voxprint run` folder); a refactor of an input makes the file stale too, on purpose: the numbers
have to be measured again to know they did not move.

A run folder's file (`voxprint report RUN --results NAME`) is checked in two parts, against two commits:

* its figures: `inputs` (RUN_INPUTS, the code that ran when the models were trained and evaluated)
  against `commit`, the oldest commit that trained one of its models (oldest_code); only training again
  makes this part fresh;
* its formatting: `report_inputs` (REPORT_INPUTS, the code that only runs when the report is written) against
  `report_commit`, HEAD when the report was written (`report_dirty`: those files had uncommitted changes);
  writing the report again, at the new commit, makes this part fresh.

A stamp without the report fields (every benchmark's, and a run's file written before the split) is checked
in one part, against `commit`, as above.

    python -m voxprint.report.results check            # exit 1 and one line per stale file
    python -m voxprint.report.results index README.md  # fill the README's results:index block
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ..errors import VoxprintError
from ..io import atomic_write_text

STAMP = "<!-- voxprint-results "
RESULTS_DIR = Path("docs") / "results"
# What the figures of a `voxprint run` folder depend on (voxprint report --results NAME): the code that ran
# when its models were trained and evaluated: it reads the data, hears it (speech detection, windows), trains,
# scores, and writes the run folder's files (rundir.py: results.csv; the report's means, stds and choice of the
# best model are rundir's too). Checked against the oldest commit that trained one of the models. Not this
# file: how a results file is stamped and checked changes no figure.
RUN_INPUTS = ["voxprint/pipeline.py", "voxprint/train.py", "voxprint/models", "voxprint/features",
              "voxprint/datasets.py", "voxprint/audio.py", "voxprint/vad", "voxprint/augment.py",
              "voxprint/clip_scoring.py", "voxprint/metrics.py", "voxprint/robustness.py", "voxprint/configs",
              "voxprint/schema.py", "voxprint/resources.py", "voxprint/verification.py", "voxprint/unseen.py",
              "voxprint/protocol.py", "voxprint/rundir.py", "voxprint/side_by_side.py"]
# The code that only runs when the report is written, from the run folder's files: it reads them (data.py:
# collect, typed rows and the noise sentences), lays out the tables and sentences (readme.py) and draws the
# charts (charts.py, __init__.py). None of it runs while a model trains, and all of it runs again when
# `voxprint report --results` is run again, so it is checked against the commit the report was written at
# (HEAD then), not the training commit. What data.py hands on as figures (summaries, the best model) is
# computed by rundir.py, which training uses too: it stays in RUN_INPUTS (and so in the `dirty` each model
# records, pipeline.py). html.py only shapes report.html, which no results file shows. Benchmarks that time a
# whole `voxprint run` (its report included) declare RUN_INPUTS + REPORT_INPUTS.
REPORT_INPUTS = ["voxprint/report/__init__.py", "voxprint/report/data.py", "voxprint/report/readme.py",
                 "voxprint/report/charts.py"]


def _git(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)


def repo_root(start: Path | None = None) -> Path:
    """The git work tree holding `start` (default: the current folder)."""
    out = _git(Path(start or Path.cwd()), "rev-parse", "--show-toplevel")
    if out.returncode:
        raise VoxprintError(f"{start or Path.cwd()}: not inside a git work tree; results are stamped with a commit")
    return Path(out.stdout.strip())


def code_version(root: Path, inputs: list[str] | None = None, since: str | None = None) -> dict:
    """{"commit": full sha, "dirty": whether `inputs` (default: everything) differ from it in the work tree}.
    The commit is HEAD, or `since`, the commit a long measurement started at (so that commits made while it
    ran are not taken for the code it measured: dirty says whether its inputs changed since)."""
    head = _git(root, "rev-parse", since or "HEAD")
    if head.returncode:
        return {"commit": None, "dirty": True}
    commit = head.stdout.strip()
    changed = _git(root, "diff", "--quiet", commit, "--", *(inputs or ["."])).returncode != 0
    return {"commit": commit, "dirty": changed}


def oldest_code(root: Path, codes: list[dict | None]) -> dict:
    """The code version that stands for several (a run folder's models, trained at different commits): their
    common ancestor, dirty if any was; unknown when any model did not record one (trained before voxprint
    recorded it, or outside a git work tree)."""
    if not codes or any(not c or not c.get("commit") for c in codes):
        return {"commit": None, "dirty": True}
    commits = sorted({c["commit"] for c in codes})
    base = commits[0] if len(commits) == 1 else _git(root, "merge-base", "--octopus", *commits).stdout.strip()
    return {"commit": base or None, "dirty": any(c.get("dirty") for c in codes)}


@dataclass
class Stamp:
    command: str
    commit: str | None
    dirty: bool
    date: str
    inputs: list[str]
    title: str
    headline: str = ""
    # a run folder's file only: its formatting code, checked against the commit the report was written at
    report_commit: str | None = None
    report_dirty: bool = False
    report_inputs: list[str] = field(default_factory=list)

    def line(self) -> str:
        fields = dict(self.__dict__)
        if not self.report_inputs:  # one-part stamps (benchmarks) keep the JSON they always had
            for k in ("report_commit", "report_dirty", "report_inputs"):
                del fields[k]
        return STAMP + json.dumps(fields, ensure_ascii=False) + " -->"


def _short(commit: str | None, dirty: bool) -> str:
    return (commit or "unknown")[:10] + (" (uncommitted changes)" if dirty else "")


def _quoted(paths: list[str]) -> str:
    return ", ".join(f"`{p}`" for p in paths)


def write_result(name: str, body: str, *, title: str, command: str, inputs: list[str], headline: str = "",
                 root: Path | None = None, code: dict | None = None, path: Path | None = None,
                 date: str | None = None, report_inputs: list[str] | None = None) -> Path:
    """Write docs/results/NAME.md: the stamp, a title, who made it, then `body` (markdown). `code`
    ({"commit", "dirty"}) replaces HEAD's state when the numbers come from models trained earlier (a run
    folder's code_version, see oldest_code). `report_inputs`: the code that formatted those numbers now,
    stamped with HEAD's state as report_commit/report_dirty (a run folder's file, see the module's
    docstring). `path` writes elsewhere (a trial run), stamped the same."""
    root = repo_root(root)
    code = code or code_version(root, inputs)
    stamp = Stamp(command, code["commit"], bool(code["dirty"]),
                  date or datetime.now(UTC).strftime("%Y-%m-%d"), list(inputs), title, headline)
    if report_inputs:
        now = code_version(root, report_inputs)
        stamp.report_commit, stamp.report_dirty, stamp.report_inputs = now["commit"], now["dirty"], list(report_inputs)
        made = (f"Written by `{command}` on {stamp.date} from models trained at commit "
                f"{_short(stamp.commit, stamp.dirty)}, formatted at commit {_short(now['commit'], now['dirty'])}; "
                f"run it again to regenerate this file. Figures depend on: {_quoted(inputs)}; their formatting "
                f"on: {_quoted(report_inputs)}.")
    else:
        made = (f"Written by `{command}` at commit {_short(stamp.commit, stamp.dirty)} on {stamp.date}; run it "
                f"again to regenerate this file. Depends on: {_quoted(inputs)}.")
    text = f"{stamp.line()}\n# {title}\n\n{made}\n\n{body.rstrip()}\n"
    path = Path(path or root / RESULTS_DIR / f"{name}.md")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)
    return path


def read_stamp(path: Path) -> Stamp | None:
    """The stamp of a results file, or None for a markdown file without one."""
    first = Path(path).read_text(encoding="utf-8").split("\n", 1)[0]
    if not first.startswith(STAMP):
        return None
    try:
        return Stamp(**json.loads(first[len(STAMP):].rsplit("-->", 1)[0]))
    except (ValueError, TypeError) as e:
        raise VoxprintError(f"{path}: unreadable results stamp ({e})") from None


def results_files(root: Path) -> list[Path]:
    """Every results file (docs/results/*.md but the index, README.md)."""
    return sorted(p for p in (Path(root) / RESULTS_DIR).glob("*.md") if p.name != "README.md")


def _changed(root: Path, commit: str, paths: list[str]) -> tuple[str, str] | None:
    """(the first of `paths` that differs in the work tree from `commit`, the commit that last changed it)."""
    for path in paths:
        # content, not history: an input changed and changed back (a revert) leaves the figures valid
        if _git(root, "diff", "--quiet", commit, "--", path).returncode:
            return path, _git(root, "log", "-1", "--format=%h", "--", path).stdout.strip()
    return None


def why_stale(root: Path, stamp: Stamp) -> str | None:
    """Why a stamped file is older than its inputs, or None when it is up to date. A run folder's file
    (report_inputs) is checked twice: its figures against the training commit, its formatting against
    the commit its report was written at; each reason names the commit it compared with."""
    split = bool(stamp.report_inputs)
    if not stamp.commit:
        return "generated from code of unknown version"
    if stamp.dirty:
        return ("its models were trained from uncommitted changes to its inputs" if split else
                "generated from uncommitted changes to its inputs")
    if changed := _changed(root, stamp.commit, stamp.inputs):
        path, last = changed
        if split:
            return (f"{path} differs from the training commit {stamp.commit[:10]} (the oldest that trained "
                    f"its models; last changed at {last}): train them again")
        return f"{path} differs from the code it was generated at ({stamp.commit[:10]}; last changed at {last})"
    if not split:
        return None
    if not stamp.report_commit:
        return "its report was written from code of unknown version"
    if stamp.report_dirty:
        return (f"its report was written from uncommitted changes to its formatting code "
                f"(report commit {stamp.report_commit[:10]})")
    if changed := _changed(root, stamp.report_commit, stamp.report_inputs):
        path, last = changed
        return (f"{path} differs from the report commit {stamp.report_commit[:10]} (where its report was "
                f"written; last changed at {last}): write the report again")
    return None


def stale(root: Path) -> list[str]:
    """One line per results file that is not up to date with its declared inputs (or has no stamp)."""
    root = Path(root)
    problems = []
    for path in results_files(root):
        rel = path.relative_to(root)
        stamp = read_stamp(path)
        why = "no stamp: not written by write_result" if stamp is None else why_stale(root, stamp)
        if why:
            problems.append(f"{rel}: stale: {why}" + (f" (regenerate: {stamp.command})" if stamp else ""))
    return problems


# Results the README's short table leaves to docs/results/README.md: how a design was chosen on dev speakers
# (the shipped encoder's route, sources and windows) and a variant of another file's figure. The README
# quotes at most 15 lines of results; these are one link away, with every other file.
DETAIL_ONLY = {"encoder-routes", "encoder-sources", "encoder-windows", "speeches5-encoder"}


def index_table(root: Path, headlines_only: bool = False) -> str:
    """A markdown table of the stamped results files: linked title, headline, commit, date, and whether its
    code has changed since (at the time the table is made; `check` is the authority). `headlines_only`: the
    README's table, files with a headline and not DETAIL_ONLY."""
    rows = ["| results | headline | commit, date | code since |", "|---|---|---|---|"]
    for path in results_files(root):
        s = read_stamp(path)
        if s is None or (headlines_only and (not s.headline or path.stem in DETAIL_ONLY)):
            continue
        link = path.relative_to(root).as_posix() if headlines_only else path.name
        rows.append(f"| [{s.title}]({link}) | {s.headline or '–'} | {(s.commit or 'unknown')[:7]}, {s.date} "
                    f"| {'changed: regenerate' if why_stale(root, s) else 'unchanged'} |")
    return "\n".join(rows)


def fill_block(readme: Path, name: str, body: str) -> Path:
    """Replace the README's `<!-- results:NAME:start -->` ... `end -->` block with `body` (markdown
    written by a command from its own measurements; benchmarks call this too)."""
    readme = Path(readme)
    start, end = f"<!-- results:{name}:start -->", f"<!-- results:{name}:end -->"
    text = readme.read_text()
    if start not in text or end not in text:
        raise VoxprintError(f"{readme}: no '{start}' ... '{end}' markers to fill")
    new = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: f"{start}\n{body}\n{end}", text, flags=re.S)
    atomic_write_text(readme, new)
    return readme


def write_index(root: Path, readme: Path) -> None:
    """docs/results/README.md: every results file; the README's results:index block: those with a headline
    (but DETAIL_ONLY)."""
    atomic_write_text(root / RESULTS_DIR / "README.md",
                      "# Results\n\nEvery file here was written by the command in its first lines. Generated by "
                      "`python -m voxprint.report.results index README.md`; `python -m voxprint.report.results check` "
                      "tells which are older than their code now.\n\n" + index_table(root) + "\n")
    fill_block(readme, "index", index_table(root, headlines_only=True))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    root = repo_root()
    if args[:1] == ["check"]:
        problems = stale(root)
        for p in problems:
            print(p)
        print(f"{len(results_files(root)) - len(problems)} results file(s) up to date, {len(problems)} stale")
        return 1 if problems else 0
    if args[:1] == ["index"] and len(args) == 2:
        write_index(root, Path(args[1]))
        return 0
    print("usage: python -m voxprint.report.results check | index README.md", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
