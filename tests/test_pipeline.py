"""The grid: which cells run, how they are named, and which config changes a run folder accepts."""

import pytest

from voxprint import config as C
from voxprint import rundir
from voxprint.errors import DataError
from voxprint.pipeline import _check_same_run, cell_config, cells, result_row


def test_cells_cover_the_grid_with_unique_names():
    cfg = C.load(None, ["grid.seeds=2", "grid.augment=[true,false]", "grid.heads=[softmax,aam]"])
    grid = cells(cfg)
    assert len(grid) == 2 * 2 * 2 * 3 * 3
    names = [c.name for c in grid]
    assert len(set(names)) == len(names)
    assert "cnn-mfcc-s0" in names and "crnn-lpc-aam-noaug-s1" in names


def test_cell_config_sets_model_feature_head_seed():
    cfg = C.load(None, ["train.seed=10", "grid.heads=[aam]", "grid.augment=[false]"])
    cell = cells(cfg)[4]
    c = cell_config(cfg, cell)
    assert (c.model.name, c.features.name, c.model.head, c.augment.enabled) == (cell.model, cell.feature, "aam", False)
    assert c.train.seed == 10 + cell.seed
    assert cfg.model.head == "softmax"  # the run's config is not changed


def test_result_row_maps_back_to_the_folder_name(tmp_path):
    cfg = C.load(None, ["grid.augment=[false]", "grid.heads=[aam]"])
    cell = cells(cfg)[0]
    m = {"accuracy": 0.5, "macro_f1": 0.4, "val_accuracy": 0.6, "val_loss": 0.9, "steps": 300, "best_step": 250,
         "train_seconds": 1.0, "params": 10}
    from voxprint.io import write_csv

    write_csv(tmp_path / "results.csv", [result_row(cell, m)], rundir.RESULT_COLUMNS)
    (row,) = rundir.read_results(tmp_path)  # as read back from results.csv
    assert rundir.cell_of(row).name == cell.name
    assert rundir.model_dir(tmp_path, row) == (tmp_path / cell.name).resolve()


def test_study_settings_do_not_invalidate_the_grid(tmp_path):
    cfg = C.load(None)
    C.save(cfg, tmp_path / "config.yaml")
    _check_same_run(tmp_path, C.load(None, ["eval.enroll_clips=5", "grid.seeds=3", "train.progress=false"]))
    with pytest.raises(DataError, match="eval.snr_db"):
        _check_same_run(tmp_path, C.load(None, ["eval.snr_db=[5.0]"]))
