"""docs/results files made from a run folder: `voxprint report RUN --results NAME`."""

from voxprint.cli import main
from voxprint.io import read_csv
from voxprint.report.readme import update_results
from voxprint.report.results import read_stamp


def test_results_file_is_written_from_the_run(tiny_run, git_work_tree, monkeypatch, capsys):
    monkeypatch.chdir(git_work_tree)
    assert main(["report", str(tiny_run), "--results", "tiny"]) == 0
    path = git_work_tree / "docs" / "results" / "tiny.md"
    text = path.read_text()
    acc = float(read_csv(tiny_run / "results.csv")[0]["accuracy"])
    assert f"{acc:.4f}" in text  # the number in the table is the run's number
    assert "| **cnn** |" in text and "mel (test accuracy / macro-F1)" in text
    assert "accuracy vs SNR" in text and "white 10 dB" in text
    assert (git_work_tree / "docs" / "results" / "tiny" / "chart_accuracy.png").stat().st_size > 1000
    assert "](tiny/chart_accuracy.png)" in text
    stamp = read_stamp(path)
    assert stamp.command == f"voxprint report {tiny_run} --results tiny" and "voxprint/train.py" in stamp.inputs
    assert stamp.headline.startswith("best cnn-mel")
    # the models recorded the code that trained them: this one's commit, in voxprint's own work tree
    assert stamp.commit and len(stamp.commit) == 40
    # regenerating gives the same file
    update_results(tiny_run, "tiny", stamp.command, root=git_work_tree)
    assert path.read_text() == text


def test_models_without_a_recorded_code_version_make_a_stale_result(tiny_run, git_work_tree, tmp_path):
    import shutil

    from voxprint.io import read_json, write_json
    from voxprint.report.results import stale

    run = tmp_path / "old-run"
    shutil.copytree(tiny_run, run)
    for m in run.glob("*/metrics.json"):
        write_json(m, {k: v for k, v in read_json(m).items() if k != "code"})
    update_results(run, "old", "voxprint report old-run --results old", root=git_work_tree)
    (problem,) = stale(git_work_tree)
    assert "old.md: stale: generated from code of unknown version" in problem


def test_the_readme_is_a_short_guide_whose_links_resolve():
    """README.md stays a guide (at most 350 lines); every relative link in it and in docs/ points at a file."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    readme = root / "README.md"
    assert len(readme.read_text(encoding="utf-8").splitlines()) <= 350
    broken = []
    for md in [readme, *sorted((root / "docs").rglob("*.md"))]:
        for m in re.finditer(r"\]\(([^)#\s]+)(#[^)]*)?\)", md.read_text(encoding="utf-8")):
            target = m.group(1)
            if not target.startswith(("http://", "https://", "mailto:")) and not (md.parent / target).exists():
                broken.append(f"{md.relative_to(root)} -> {target}")
    assert not broken, broken


def test_the_readme_quotes_figures_only_through_the_generated_index():
    """Its results index is what `python -m voxprint.report.results index` writes from the stamped files."""
    from pathlib import Path

    from voxprint.report.results import index_table

    root = Path(__file__).resolve().parents[1]
    text = (root / "README.md").read_text(encoding="utf-8")
    block = text.split("<!-- results:index:start -->\n")[1].split("\n<!-- results:index:end -->")[0]
    rows = block.splitlines()
    assert len(rows) <= 15
    # the same files, titles and headlines (the "code since" column is as of when it was generated)
    cut = lambda table: [r.rsplit("|", 2)[0] for r in table.splitlines()]
    assert cut(block) == cut(index_table(root, headlines_only=True))


def test_report_with_results_collects_the_run_and_draws_its_charts_once(tiny_run, git_work_tree, monkeypatch):
    """`voxprint report RUN --results NAME` reads the run folder once and draws the charts once, for both report.html
    and the results file, which is stamped in two parts: figures at the training commit, formatting at HEAD."""
    import subprocess

    import voxprint.report as report
    from voxprint.report import data, readme
    from voxprint.report.results import REPORT_INPUTS, RUN_INPUTS

    calls = {"collect": 0, "draw_charts": 0}

    def counted(name, fn):
        def wrapper(*a, **kw):
            calls[name] += 1
            return fn(*a, **kw)
        return wrapper

    collect = counted("collect", data.collect)
    for module in (data, report, readme):
        monkeypatch.setattr(module, "collect", collect)
    monkeypatch.setattr(report, "draw_charts", counted("draw_charts", report.draw_charts))
    monkeypatch.chdir(git_work_tree)
    assert main(["report", str(tiny_run), "--results", "once"]) == 0
    assert calls == {"collect": 1, "draw_charts": 1}
    path = git_work_tree / "docs" / "results" / "once.md"
    assert "](once/chart_accuracy.png)" in path.read_text() and (tiny_run / "report.html").is_file()
    head = subprocess.run(["git", "-C", str(git_work_tree), "rev-parse", "HEAD"], capture_output=True, text=True)
    stamp = read_stamp(path)
    assert stamp.inputs == RUN_INPUTS and stamp.report_inputs == REPORT_INPUTS
    assert stamp.report_commit == head.stdout.strip() and not stamp.report_dirty
    assert stamp.commit != stamp.report_commit  # trained in voxprint's own work tree, reported in this one
