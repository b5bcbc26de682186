"""Structure the code promises: short functions, one-way imports, a light inference path."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "voxprint"
MAX_FUNCTION_LINES = 80


def _modules() -> dict[str, ast.Module]:
    out = {}
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG.parent).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        out[name] = ast.parse(path.read_text(), str(path))
    return out


def test_no_function_longer_than_80_lines():
    """voxprint, its benchmarks and its tests alike."""
    trees = {name: tree for name, tree in _modules().items()}
    for folder in ("benchmarks", "tests"):
        for path in sorted((PKG.parent / folder).rglob("*.py")):
            trees[f"{folder}/{path.name}"] = ast.parse(path.read_text(), str(path))
    long = []
    for name, tree in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{name}.{node.name}: {length} lines")
    assert not long, long


def _imports(name: str, tree: ast.Module, known: set[str]) -> set[str]:
    """voxprint modules that `name` imports anywhere in its body (function-level imports included)."""
    package = name if (PKG.parent / name.replace(".", "/") / "__init__.py").exists() else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            # `from . import sub` imports the submodule; `from . import NAME` the package's __init__
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in known else mod for a in node.names]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            continue
        found |= {t for t in targets if t in known and t != name}
    return found


def test_no_import_cycles():
    mods = _modules()
    graph = {name: _imports(name, tree, set(mods)) for name, tree in mods.items()}
    # (function-level imports count too: a cycle hidden inside a function is still a cycle)
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(n):
        state[n] = 1
        path.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(m):] + [m]))
            if m not in state:
                visit(m)
        path.pop()
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n)


def test_inference_imports_no_orchestrator():
    code = ("import sys, voxprint.inference; "
            "print(sorted(m for m in sys.modules if m.startswith('voxprint')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = set(eval(out))
    for heavy in ("voxprint.pipeline", "voxprint.unseen", "voxprint.report", "voxprint.train", "voxprint.cli"):
        assert heavy not in loaded, f"{heavy} is imported by voxprint.inference"
    assert "lightning" not in subprocess.run([sys.executable, "-c", code.replace("startswith('voxprint')",
                                              "startswith('lightning')")], capture_output=True, text=True).stdout


# Import names whose distribution (the name pip installs) is spelt otherwise.
DISTRIBUTION = {"sklearn": "scikit-learn", "yaml": "pyyaml", "faiss": "faiss-cpu", "av": "av",
                "webrtcvad": "webrtcvad-wheels", "psycopg_pool": "psycopg-pool", "silero_vad": "silero-vad"}


def _normal(name: str) -> str:
    """PEP 503 name: lower case, runs of -_. as one -."""
    import re

    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> set[str]:
    """Distributions pyproject.toml declares: dependencies and every optional extra."""
    import re
    import tomllib

    project = tomllib.loads((PKG.parent / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    specs = project["dependencies"] + [s for extra in project["optional-dependencies"].values() for s in extra]
    return {_normal(re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", s).group()) for s in specs}


def _third_party_imports() -> dict[str, str]:
    """Top-level third-party module -> the first voxprint module that imports it (import statements
    anywhere in a body, and importlib.util.find_spec("name") probes)."""
    found: dict[str, str] = {}
    for name, tree in _modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                tops = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                tops = [node.module.split(".")[0]]
            elif (isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "find_spec" and node.args
                  and isinstance(node.args[0], ast.Constant)):
                tops = [str(node.args[0].value).split(".")[0]]
            else:
                continue
            for top in tops:
                if top not in sys.stdlib_module_names and top != "voxprint":
                    found.setdefault(top, name)
    return found


def test_every_third_party_import_is_a_declared_dependency():
    declared = _declared()
    missing = sorted(f"{top} (imported by {where}; distribution {DISTRIBUTION.get(top, top)})"
                     for top, where in _third_party_imports().items()
                     if _normal(DISTRIBUTION.get(top, top)) not in declared)
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"


def test_the_import_to_distribution_map_is_right_where_installed():
    """The map above agrees with the installed packages' own metadata (where they are installed)."""
    from importlib.metadata import packages_distributions

    installed = packages_distributions()
    for top, dist in DISTRIBUTION.items():
        if top in installed:
            assert _normal(dist) in {_normal(d) for d in installed[top]}, (top, installed[top])


def test_the_dependency_check_sees_an_undeclared_import(monkeypatch):
    """The check above can fail: an import of a package pyproject.toml does not name is reported."""
    real = _modules()
    real["voxprint.fake"] = ast.parse("def f():\n    import platformdirs_not_declared\n")
    monkeypatch.setitem(globals(), "_modules", lambda: real)
    assert "platformdirs_not_declared" in _third_party_imports()
    assert _normal("platformdirs_not_declared") not in _declared()
