"""benchmarks/anchors.py on a real (tiny) run: it names the run's chosen model, and its voxprint rows
hear the grid's own noisy audio, so they equal the grid's robustness figures."""

from __future__ import annotations

import shutil

import pytest

from benchmarks import anchors
from voxprint import rundir
from voxprint.io import read_csv, read_json


def test_anchors_voxprint_rows_equal_the_grids_robustness(tiny_run, tmp_path, monkeypatch):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    monkeypatch.setattr(anchors, "CALLS", 5)  # timing is not what this test checks
    anchors.main([str(run), "--max-train", "60"])
    doc = read_json(run / "anchors.json")
    best = rundir.cell_of(rundir.choose_best(rundir.read_results(run))).name
    rows = {s["system"]: s for s in doc["systems"]}
    assert f"voxprint {best} [torch]" in rows and f"voxprint {best} [onnx]" in rows
    grid = {(r["noise"], float(r["snr_db"])): float(r["accuracy"]) for r in read_csv(run / best / rundir.ROBUSTNESS)}
    snrs = [c["snr_db"] for c in doc["conditions"]]
    for system in (f"voxprint {best} [torch]",):
        assert rows[system]["clean"] == pytest.approx(grid[("none", float("inf"))], abs=1e-4)
        for snr, acc in zip(snrs, rows[system]["noisy"]):
            if ("white", snr) in grid:
                assert acc == pytest.approx(grid[("white", snr)], abs=1e-4), snr
    assert ("white", 10.0) in grid and 10.0 in snrs  # the comparison above did happen
