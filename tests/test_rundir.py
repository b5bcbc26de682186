"""Run-folder conventions: the one best-model rule (validation only), typed results, paths kept
inside the folder."""

import pytest

from voxprint import rundir
from voxprint.errors import DataError
from voxprint.io import write_csv


def row(model, seed, val_acc, val_loss, test_acc, params=100, feature="mel", head="softmax", augmented=True):
    return dict(model=model, feature=feature, seed=seed, head=head, augmented=augmented, accuracy=test_acc,
                macro_f1=test_acc, val_accuracy=val_acc, val_loss=val_loss, params=params)


def test_best_is_chosen_on_validation_never_on_test():
    rows = [row("cnn", 0, 0.90, 0.30, 1.00), row("lstm", 0, 0.95, 0.20, 0.80)]
    assert rundir.choose_best(rows)["model"] == "lstm"


def test_ties_break_on_validation_loss_then_parameters():
    rows = [row("cnn", 0, 0.95, 0.30, 0.9), row("lstm", 0, 0.95, 0.10, 0.8), row("crnn", 0, 0.95, 0.10, 0.99, 50)]
    assert rundir.choose_best(rows)["model"] == "crnn"  # same accuracy and loss: fewer parameters
    assert rundir.choose_best(rows[:2])["model"] == "lstm"  # same accuracy: lower loss


def test_seeds_are_pooled_before_choosing_and_the_best_seed_is_loaded():
    rows = [row("cnn", 0, 1.00, 0.1, 0.9), row("cnn", 1, 0.60, 0.9, 0.9),  # mean 0.80
            row("lstm", 0, 0.90, 0.2, 0.8), row("lstm", 1, 0.92, 0.2, 0.7)]  # mean 0.91
    best = rundir.choose_best(rows)
    assert (best["model"], best["seed"]) == ("lstm", 1)
    g = rundir.best_group(rows)
    assert g["group"] == "lstm-mel" and g["n_seeds"] == 2 and g["accuracy_mean"] == pytest.approx(0.75)


def test_augmentation_and_head_are_separate_configurations():
    rows = [row("cnn", 0, 0.9, 0.2, 0.9), row("cnn", 0, 0.95, 0.2, 0.9, augmented=False),
            row("cnn", 0, 0.9, 0.1, 0.9, head="aam")]
    assert [g["group"] for g in rundir.summarize(rows)] == ["cnn-mel", "cnn-mel-noaug", "cnn-mel-aam"]
    assert rundir.cell_of(rundir.choose_best(rows)).name == "cnn-mel-noaug-s0"


def test_mean_std_formatting():
    assert rundir.format_mean_std([0.5]) == "0.500"
    assert rundir.format_mean_std([0.5, 0.7], 2) == "0.60 ± 0.14"
    assert rundir.format_mean_std([]) == "–"


def test_paths_read_from_a_run_folder_stay_inside_it(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "outside").mkdir()
    assert rundir.inside(tmp_path / "run", "cnn-mel-s0") == (tmp_path / "run" / "cnn-mel-s0").resolve()
    for bad in ("../outside", "/etc", "a/../../outside"):
        with pytest.raises(DataError, match="outside the folder"):
            rundir.inside(tmp_path / "run", bad)
    (tmp_path / "run" / "link").symlink_to(tmp_path / "outside")
    with pytest.raises(DataError, match="outside the folder"):
        rundir.inside(tmp_path / "run", "link")


@pytest.mark.parametrize("column, value, message", [
    ("model", "../../outside/cnn", "not a model/feature name"),
    ("accuracy", "high", "not a valid value"),
    ("seed", "1.5", "not a valid value"),
    ("head", "arc", "valid: aam, softmax"),
])
def test_a_crafted_results_csv_is_one_clear_error(tmp_path, column, value, message):
    r = row("cnn", 0, 0.9, 0.1, 0.9) | {column: value}
    write_csv(tmp_path / "results.csv", [r], rundir.RESULT_COLUMNS)
    with pytest.raises(DataError, match=message) as e:
        rundir.read_results(tmp_path)
    assert "results.csv:2" in str(e.value)


def test_resolve_model_dir(tmp_path):
    with pytest.raises(DataError, match="not a run folder"):
        rundir.resolve_model_dir(tmp_path)
    write_csv(tmp_path / "results.csv", [row("cnn", 0, 0.9, 0.1, 0.9)], rundir.RESULT_COLUMNS)
    with pytest.raises(DataError, match="has no model.pt"):
        rundir.resolve_model_dir(tmp_path)
    (tmp_path / "cnn-mel-s0").mkdir()
    (tmp_path / "cnn-mel-s0" / "model.pt").write_bytes(b"")
    assert rundir.resolve_model_dir(tmp_path) == (tmp_path / "cnn-mel-s0").resolve()
