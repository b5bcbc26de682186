"""The grid: which cells run, how they are named, and which config changes a run folder accepts."""

import pytest
import yaml

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
    _check_same_run(tmp_path, C.load(None, ["eval.enroll_clips=5", "grid.seeds=3"]))
    with pytest.raises(DataError, match="eval.snr_db"):
        _check_same_run(tmp_path, C.load(None, ["eval.snr_db=[5.0]"]))


def test_runtime_settings_do_not_invalidate_the_run(tmp_path):
    """The runtime section is how a run is executed: a re-run on more threads, with workers or on
    a GPU continues the same folder; a training setting does not."""
    C.save(C.load(None), tmp_path / "config.yaml")
    every = [f"runtime.{k}={v}" for k, v in [("threads", 2), ("num_workers", 2), ("progress", "false"),
                                            ("accelerator", "cpu"), ("devices", 1), ("precision", "bf16-mixed")]]
    _check_same_run(tmp_path, C.load(None, every))
    with pytest.raises(DataError, match="train.batch_size"):
        _check_same_run(tmp_path, C.load(None, ["train.batch_size=32"]))


def test_a_run_folder_of_the_older_layout_matches_its_config(tmp_path):
    """A folder written when the runtime keys were under train (with other values) is the same run."""
    old = C.to_dict(C.load(None))
    old["train"] |= old.pop("runtime") | {"threads": 1, "progress": False}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(old, sort_keys=False))
    _check_same_run(tmp_path, C.load(None, ["runtime.threads=2"]))
    with pytest.raises(DataError, match="train.lr"):
        _check_same_run(tmp_path, C.load(None, ["train.lr=0.1"]))


def test_the_encoder_gets_one_cell_per_seed_with_the_shipped_features_and_rate():
    from voxprint.models.encoder import Encoder

    cfg = C.load(None, ["grid.models=[cnn,encoder]", "grid.features=[mfcc,lpc]", "grid.seeds=2"])
    names = [c.name for c in cells(cfg)]
    assert names == ["cnn-mfcc-s0", "cnn-lpc-s0", "encoder-mel-s0", "cnn-mfcc-s1", "cnn-lpc-s1", "encoder-mel-s1"]
    enc = cell_config(cfg, cells(cfg)[2])
    assert enc.data.sample_rate == Encoder.SAMPLE_RATE == 16000
    assert C.to_dict(enc)["features"] == Encoder.fixed_features()  # what the shipped weights expect
    cnn = cell_config(cfg, cells(cfg)[0])
    assert cnn.data.sample_rate is None and cnn.features.name == "mfcc"  # the others keep the dataset's rate


def test_a_pretrained_backbone_learns_at_its_lr_scale_and_the_head_at_the_full_rate():
    import torch

    from voxprint.models import build_net
    from voxprint.models.encoder import Encoder
    from voxprint.train import SpeakerModule

    cfg = C.load(None, ["train.lr=0.01"])
    cfg.model.name = "encoder"
    net = build_net(cfg.model, 40, 3)
    opt = SpeakerModule(net, torch.nn.Identity(), cfg, augment=False).configure_optimizers()["optimizer"]
    lrs = sorted(g["lr"] for g in opt.param_groups)
    assert lrs == pytest.approx([0.01 * Encoder.lr_scale, 0.01])
    backbone = {id(p) for p in net.backbone.parameters()}
    slow = next(g for g in opt.param_groups if g["lr"] < 0.01)
    assert {id(p) for p in slow["params"]} == backbone


def test_an_encoder_cell_trains_from_the_shipped_weights_and_keeps_their_notice(tmp_path, shared_data):
    """A real (tiny) encoder cell: FSDD resampled to 16 kHz for it, a folder Recognizer opens, and the
    Apache-2.0 NOTICE of the GE2E weights beside the fine-tuned ones."""
    from voxprint.cli import main
    from voxprint.inference import Recognizer

    out = tmp_path / "run"
    args = ["run", "--out", str(out), "--models", "encoder", "--no-progress", "--no-report",
            "--set", "data.speakers=[george,jackson]", "--set", "data.max_per_speaker=30",
            "--set", "train.max_steps=4", "--set", "train.min_steps=2", "--set", "train.val_every_steps=2",
            "--set", "train.batch_size=8", "--set", "eval.robustness=false", "--set", "eval.verification=false",
            "--set", "eval.latency_runs=2"]
    assert main(args) == 0
    (row,) = rundir.read_results(out)
    assert rundir.cell_of(row).name == "encoder-mel-s0" and int(row["steps"]) == 4
    cell = out / "encoder-mel-s0"
    assert "Apache License" in (cell / "NOTICE").read_text()
    rec = Recognizer(cell)
    assert rec.sample_rate == 16000 and rec.labels == ["george", "jackson"]


def _tiny_run(out, *extra):
    from voxprint.cli import main

    args = ["run", "--out", str(out), "--models", "cnn", "--features", "mfcc", "mel", "--no-progress", "--no-report",
            "--set", "data.speakers=[george,jackson]", "--set", "data.max_per_speaker=30",
            "--set", "train.max_steps=6", "--set", "train.min_steps=6", "--set", "train.val_every_steps=3",
            "--set", "train.batch_size=8", "--set", "eval.snr_db=[0.0]", "--set", "eval.noise=[white]",
            "--set", "eval.verification=false", "--set", "eval.latency_runs=2", "--set", "runtime.threads=1", *extra]
    assert main(args) == 0
    return out


def test_cells_side_by_side_give_what_one_at_a_time_gives(tmp_path, shared_data):
    """Two worker processes train the two cells with the numbers a one-at-a-time run gets (same seeds, one
    torch thread each), every cell folder complete, the tables in grid order; resources are measured after."""
    import csv

    apart = _tiny_run(tmp_path / "apart", "--set", "runtime.cells=1")
    together = _tiny_run(tmp_path / "together", "--set", "runtime.cells=2")

    def table(run, name, drop=()):
        with open(run / name, newline="") as f:
            return [{k: v for k, v in r.items() if k not in drop} for r in csv.DictReader(f)]

    timing = ("train_seconds",)
    assert [r["feature"] for r in table(together, "results.csv")] == ["mfcc", "mel"]
    assert table(together, "results.csv", timing) == table(apart, "results.csv", timing)
    assert table(together, "robustness.csv") == table(apart, "robustness.csv")
    for cell in ("cnn-mfcc-s0", "cnn-mel-s0"):
        for f in ("model.pt", "metrics.json", "resources.json", "robustness.csv", "calibration.json"):
            assert (together / cell / f).is_file(), (cell, f)


def test_side_by_side_plan_follows_cores_cells_and_accelerator(monkeypatch):
    from voxprint import config as C
    from voxprint import side_by_side as S

    monkeypatch.setattr(S, "cores", lambda: 2)
    cfg = C.Config()
    cfg.runtime.accelerator = "cpu"
    assert S.plan(cfg, 9) == (2, 1) and S.plan(cfg, 1) == (1, None)
    cfg.runtime.threads = 2
    assert S.plan(cfg, 9) == (2, 2)
    cfg.runtime.cells = 1
    assert S.plan(cfg, 9) == (1, 2)
    cfg.runtime.cells, cfg.runtime.accelerator = 0, "gpu"
    assert S.plan(cfg, 9) == (1, 2)
