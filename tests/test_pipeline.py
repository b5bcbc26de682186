"""The grid: which cells run, how they are named, and how a row maps back to its folder."""

from voxprint import config as C
from voxprint.pipeline import best_row, cell_config, cells, result_row, run_name


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


def test_result_row_maps_back_to_the_folder_name():
    cfg = C.load(None, ["grid.augment=[false]", "grid.heads=[aam]"])
    cell = cells(cfg)[0]
    m = {"accuracy": 0.5, "macro_f1": 0.4, "epochs": 3, "best_epoch": 2, "train_seconds": 1.0, "params": 10}
    row = {k: str(v) for k, v in result_row(cell, m).items()}  # as read back from results.csv
    assert run_name(row) == cell.name


def test_best_row_breaks_ties_by_f1_then_size():
    rows = [{"accuracy": "1.0", "macro_f1": "1.0", "params": "500"},
            {"accuracy": "1.0", "macro_f1": "1.0", "params": "100"},
            {"accuracy": "0.9", "macro_f1": "1.0", "params": "10"}]
    assert best_row(rows)["params"] == "100"


def test_study_settings_change_reruns_only_the_study(tmp_path):
    from voxprint.io import write_json
    from voxprint.pipeline import _check_same_run, _study_done
    from voxprint.unseen import study_settings

    cfg = C.load(None)
    C.save(cfg, tmp_path / "config.yaml")
    write_json(tmp_path / "verification.json", {"eer": 0.1, "settings": study_settings(cfg)})
    assert _study_done(tmp_path, cfg)
    other = C.load(None, ["eval.enroll_clips=5", "eval.verification_model=cnn-mfcc"])
    _check_same_run(tmp_path, other)  # the grid's cells stay valid...
    assert not _study_done(tmp_path, other)  # ...but the study is redone


def test_other_grid_settings_are_refused(tmp_path):
    import pytest

    from voxprint.errors import DataError
    from voxprint.pipeline import _check_same_run

    C.save(C.load(None), tmp_path / "config.yaml")
    _check_same_run(tmp_path, C.load(None, ["grid.seeds=3", "train.progress=false"]))  # the grid may grow
    with pytest.raises(DataError, match="eval.snr_db"):
        _check_same_run(tmp_path, C.load(None, ["eval.snr_db=[5.0]"]))
