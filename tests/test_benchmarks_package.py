"""benchmarks/ is a package: each benchmark runs as `python -m benchmarks.NAME`, siblings are imported
as `benchmarks.NAME`, no test or benchmark edits sys.path, and the voxprint package never imports it."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "benchmarks"
SIBLINGS = {p.stem for p in BENCH.glob("*.py")} - {"__init__"}


def _trees(folder: Path):
    for path in sorted(folder.rglob("*.py")):
        yield path, ast.parse(path.read_text(), str(path))


def _imported(tree: ast.Module) -> set[str]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level:
            out.add(node.module or "")
    return out


def test_no_sys_path_edits_in_tests_or_benchmarks():
    found = [f"{path.relative_to(REPO)}:{node.lineno}" for folder in (BENCH, REPO / "tests")
             for path, tree in _trees(folder) for node in ast.walk(tree)
             if isinstance(node, ast.Attribute) and node.attr == "path"
             and isinstance(node.value, ast.Name) and node.value.id == "sys"]
    assert not found, found


def test_benchmarks_import_siblings_through_the_package():
    bare = [f"{path.name}: import {m}" for path, tree in _trees(BENCH) for m in _imported(tree)
            if m.split(".")[0] in SIBLINGS]
    assert not bare, bare


def test_the_package_never_imports_benchmarks():
    found = [str(path.relative_to(REPO)) for path, tree in _trees(REPO / "voxprint")
             if any(m.split(".")[0] == "benchmarks" for m in _imported(tree))]
    assert not found, found


def test_each_runnable_benchmark_documents_its_module_command():
    missing = []
    for path, tree in _trees(BENCH):
        runnable = "__main__" in path.read_text()
        if runnable and f"python -m benchmarks.{path.stem}" not in (ast.get_docstring(tree) or ""):
            missing.append(path.name)
    assert not missing, missing


def test_a_benchmark_runs_as_a_module_from_the_repository_root():
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run([sys.executable, "-m", "benchmarks.conversations", "--help"], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "--split" in r.stdout


def test_code_key_changes_with_any_file_it_covers_and_only_then(tmp_path, monkeypatch):
    """The benchmarks' embedding caches are keyed by code_key: an edit to a covered file (or one added under a
    covered folder) gives a new key, so a stale entry is never read; a file outside leaves the key alone."""
    from benchmarks import common

    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("x = 1\n")
    (tmp_path / "model.pt").write_bytes(b"\x00weights")
    (tmp_path / "other.py").write_text("y = 2\n")
    monkeypatch.setattr(common, "REPO", tmp_path)

    def key() -> str:
        common._code_key.cache_clear()
        return common.code_key(["pkg", "model.pt"])

    first = key()
    assert len(first) == 16 and key() == first
    (tmp_path / "other.py").write_text("y = 3\n")
    assert key() == first
    (tmp_path / "model.pt").write_bytes(b"\x00weightz")
    second = key()
    assert second != first
    (tmp_path / "pkg" / "b.py").write_text("")
    assert key() not in (first, second)
