"""docs/results files: stamped by write_result, reported stale when a declared input changes after them."""

import subprocess

import pytest

from voxprint.report.results import index_table, main, read_stamp, stale, write_result


def git(repo, *args):
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path):
    git(tmp_path, "init", "-q")
    git(tmp_path, "config", "user.email", "t@example.com")
    git(tmp_path, "config", "user.name", "t")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("A = 1\n")
    (tmp_path / "pkg" / "b.py").write_text("B = 1\n")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "code")
    return tmp_path


def commit_all(repo, msg="change"):
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", msg)


def test_a_result_is_stamped_and_up_to_date_until_an_input_changes(repo):
    path = write_result("x", "| a | b |\n|---|---|\n| 1 | 2 |", title="X figures", command="python -m bench.x",
                        inputs=["pkg/a.py"], headline="a is 1", root=repo)
    assert path == repo / "docs" / "results" / "x.md"
    s = read_stamp(path)
    assert s.command == "python -m bench.x" and s.inputs == ["pkg/a.py"] and not s.dirty and len(s.commit) == 40
    assert "| 1 | 2 |" in path.read_text() and "python -m bench.x" in path.read_text()
    commit_all(repo, "results")
    assert stale(repo) == []
    # a file it does not declare changes: still up to date
    (repo / "pkg" / "b.py").write_text("B = 2\n")
    commit_all(repo)
    assert stale(repo) == []
    # a declared input changes: stale, naming the file, the input and the command that regenerates it
    (repo / "pkg" / "a.py").write_text("A = 2\n")
    commit_all(repo)
    (problem,) = stale(repo)
    assert problem.startswith("docs/results/x.md: stale: pkg/a.py differs") and "python -m bench.x" in problem
    # changed back (a revert): the figures hold again
    (repo / "pkg" / "a.py").write_text("A = 1\n")
    commit_all(repo, "revert")
    assert stale(repo) == []
    (repo / "pkg" / "a.py").write_text("A = 2\n")
    commit_all(repo, "again")
    assert len(stale(repo)) == 1
    # regenerated at the new commit: up to date again
    write_result("x", "new", title="X figures", command="python -m bench.x", inputs=["pkg/a.py"], root=repo)
    commit_all(repo, "results again")
    assert stale(repo) == []


def test_uncommitted_inputs_unknown_code_and_unstamped_files_are_stale(repo):
    (repo / "pkg" / "a.py").write_text("A = 3\n")  # not committed when the result is written
    write_result("dirty", "b", title="D", command="c", inputs=["pkg"], root=repo)
    write_result("clean", "b", title="O", command="c", inputs=["pkg/b.py"], root=repo)
    write_result("unknown", "b", title="U", command="c", inputs=["pkg/b.py"], root=repo,
                 code={"commit": None, "dirty": False})
    (repo / "docs" / "results" / "typed.md").write_text("# typed by hand\n| 1 |\n")
    commit_all(repo)
    got = "\n".join(stale(repo))
    assert "dirty.md: stale: generated from uncommitted changes" in got
    assert "unknown.md: stale: generated from code of unknown version" in got
    assert "typed.md: stale: no stamp" in got
    assert "clean.md" not in got  # HEAD was clean for its own input


def test_index_links_every_stamped_file_and_check_exits_nonzero_when_stale(repo, monkeypatch, capsys):
    write_result("x", "b", title="X figures", command="c", inputs=["pkg/a.py"], headline="EER 0.02", root=repo)
    commit_all(repo)
    write_result("y", "b", title="Y", command="c", inputs=["pkg/b.py"], root=repo)  # no headline
    table = index_table(repo, headlines_only=True)
    assert "| [X figures](docs/results/x.md) | EER 0.02 |" in table and "[Y]" not in table
    assert "| [Y](y.md) | – |" in index_table(repo)
    # a dev-time choice keeps its headline in docs/results/README.md, not in the README's short table
    write_result("encoder-routes", "b", title="Routes", command="c", inputs=["pkg/a.py"], headline="route 1", root=repo)
    assert "[Routes]" not in index_table(repo, headlines_only=True) and "| [Routes](encoder-routes.md) | route 1 |" in index_table(repo)
    monkeypatch.chdir(repo)
    commit_all(repo)
    assert main(["check"]) == 0
    (repo / "pkg" / "a.py").write_text("A = 4\n")
    commit_all(repo)
    assert main(["check"]) == 1
    assert "docs/results/x.md: stale" in capsys.readouterr().out


def test_a_long_measurement_is_stamped_with_the_commit_it_started_at(repo):
    """Commits made while a benchmark runs are not taken for the code it measured (code_version since=)."""
    from voxprint.report.results import code_version

    start = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    (repo / "pkg" / "b.py").write_text("B = 5\n")
    commit_all(repo, "unrelated change while it ran")
    assert code_version(repo, ["pkg/a.py"], since=start) == {"commit": start, "dirty": False}
    (repo / "pkg" / "a.py").write_text("A = 5\n")
    commit_all(repo, "its own input changed while it ran")
    assert code_version(repo, ["pkg/a.py"], since=start) == {"commit": start, "dirty": True}


def head(repo):
    return subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()


def test_a_run_file_checks_its_figures_at_the_training_commit_and_its_formatting_at_the_report_commit(repo):
    """`voxprint report RUN --results NAME`: the figures' code (here pkg/a.py) is checked against the commit that
    trained the models, the formatting code (pkg/b.py) against the commit the report was written at."""
    trained = head(repo)
    (repo / "pkg" / "c.py").write_text("C = 1\n")
    commit_all(repo, "unrelated, after training")  # the report is written at a later commit than the training

    def report():
        return read_stamp(write_result("run", "| 1 |", title="Run", command="voxprint report r --results run",
                                       inputs=["pkg/a.py"], root=repo, code={"commit": trained, "dirty": False},
                                       report_inputs=["pkg/b.py"]))

    s = report()
    assert s.commit == trained and s.report_commit == head(repo) != trained and s.report_inputs == ["pkg/b.py"]
    assert not s.report_dirty
    commit_all(repo, "results")
    assert stale(repo) == []
    # the formatting changes after the report was written: stale, naming the report commit
    (repo / "pkg" / "b.py").write_text("B = 2\n")
    commit_all(repo, "formatting")
    (problem,) = stale(repo)
    assert f"run.md: stale: pkg/b.py differs from the report commit {s.report_commit[:10]}" in problem
    # the report written again at the new commit: up to date, the training commit unchanged
    again = report()
    assert again.commit == trained and again.report_commit == head(repo) != s.report_commit
    commit_all(repo, "results again")
    assert stale(repo) == []
    # formatting code with uncommitted changes when the report is written: stale until written again
    (repo / "pkg" / "b.py").write_text("B = 3\n")
    assert report().report_dirty
    commit_all(repo, "results from uncommitted formatting")
    assert "uncommitted changes to its formatting code" in stale(repo)[0]
    report()
    commit_all(repo, "results once more")
    assert stale(repo) == []
    # a figure input changes after the training commit: stale, naming it; writing the report again does not help
    (repo / "pkg" / "a.py").write_text("A = 2\n")
    commit_all(repo, "training code")
    report()
    commit_all(repo, "results, models not trained again")
    (problem,) = stale(repo)
    assert f"run.md: stale: pkg/a.py differs from the training commit {trained[:10]}" in problem


def test_stamps_without_the_report_fields_are_checked_against_one_commit_as_before(repo):
    """A run's file written before the split (every input checked against the training commit) and a
    benchmark's stamp, whose JSON gains no field."""
    import json

    from voxprint.report.results import STAMP

    trained = head(repo)
    old = {"command": "voxprint report r --results old", "commit": trained, "dirty": False, "date": "2024-01-01",
           "inputs": ["pkg/a.py", "pkg/b.py"], "title": "Old", "headline": ""}
    (repo / "docs" / "results").mkdir(parents=True)
    (repo / "docs" / "results" / "old.md").write_text(f"{STAMP}{json.dumps(old)} -->\n# Old\n")
    bench = write_result("bench", "b", title="B", command="python -m bench.b", inputs=["pkg/a.py"], root=repo)
    assert json.loads(bench.read_text().split("\n", 1)[0][len(STAMP):].rsplit("-->", 1)[0]).keys() == old.keys()
    s = read_stamp(repo / "docs" / "results" / "old.md")
    assert s.report_inputs == [] and s.report_commit is None
    commit_all(repo, "results")
    assert stale(repo) == []
    # its formatting input changes: stale against the training commit, as before the split
    (repo / "pkg" / "b.py").write_text("B = 2\n")
    commit_all(repo, "formatting")
    (problem,) = stale(repo)
    assert problem.startswith(f"docs/results/old.md: stale: pkg/b.py differs from the code it was generated at "
                              f"({trained[:10]};")
