"""Config loading: unknown keys and wrong types are errors; overrides; every shipped YAML loads."""

from __future__ import annotations

import dataclasses
import re
import typing

import pytest

from voxprint import config as C
from voxprint.errors import ConfigError

SHIPPED = sorted(C.CONFIG_DIR.glob("*.yaml"))


def write(tmp_path, text: str):
    p = tmp_path / "run.yaml"
    p.write_text(text)
    return p


def test_defaults_without_file():
    cfg = C.load()
    assert cfg == C.Config()


def test_unknown_top_level_key_lists_valid_keys(tmp_path):
    p = write(tmp_path, "data: {path: fsdd}\nmodle: {name: cnn}\n")
    with pytest.raises(ConfigError) as info:
        C.load(p)
    msg = str(info.value)
    assert str(p) in msg and "'modle'" in msg
    for name in ("data", "features", "augment", "model", "train", "eval", "grid"):
        assert name in msg.split("valid keys:")[1]


def test_unknown_key_in_section_lists_section_keys(tmp_path):
    p = write(tmp_path, "train:\n  max_step: 5\n")
    with pytest.raises(ConfigError) as info:
        C.load(p)
    msg = str(info.value)
    assert "train" in msg and "'max_step'" in msg
    valid = msg.split("valid keys:")[1]
    for f in dataclasses.fields(C.TrainConfig):
        assert f.name in valid


@pytest.mark.parametrize(
    "text,where",
    [
        ("train: {max_steps: five}", "train.max_steps"),
        ("train: {max_steps: 2.5}", "train.max_steps"),
        ("train: {max_steps: true}", "train.max_steps"),
        ("train: {lr: fast}", "train.lr"),
        ("augment: {prob: yes please}", "augment.prob"),
        ("augment: {snr_db: 10}", "augment.snr_db"),
        ("augment: {snr_db: [0, high]}", "augment.snr_db[1]"),
        ("data: {sample_rate: high}", "data.sample_rate"),
        ("data: [fsdd]", "data"),
        ("model: {options: [1, 2]}", "model.options"),
        ("grid: {models: cnn}", "grid.models"),
    ],
)
def test_wrong_types_rejected(tmp_path, text, where):
    p = write(tmp_path, text + "\n")
    with pytest.raises(ConfigError, match=re.escape(where)):
        C.load(p)


def test_numbers_are_coerced_where_harmless(tmp_path):
    cfg = C.load(write(tmp_path, "train: {lr: 1}\naugment: {snr_db: [0, 20]}\ndata: {sample_rate: null}\n"))
    assert cfg.train.lr == 1.0 and isinstance(cfg.train.lr, float)
    assert cfg.augment.snr_db == [0.0, 20.0]
    assert cfg.data.sample_rate is None


def test_override_applied(tmp_path):
    p = write(tmp_path, "train: {max_steps: 40, val_every_steps: 5, min_steps: 5, patience: 3}\n")
    cfg = C.load(p, ["train.max_steps=10", "data.path=speeches5", "augment.snr_db=[5, 15]"])
    assert cfg.train.max_steps == 10
    assert cfg.train.patience == 3  # the rest of the section is kept
    assert cfg.data.path == "speeches5"
    assert cfg.augment.snr_db == [5.0, 15.0]
    assert C.load(None, ["train.max_steps=1000"]).train.max_steps == 1000


@pytest.mark.parametrize(
    "override,match",
    [
        ("train.max_steps", "section.key=value"),
        ("train.max_step=5", "max_step"),
        ("train.max_steps=lots", "train.max_steps"),
    ],
)
def test_bad_override(override, match):
    with pytest.raises(ConfigError, match=match):
        C.load(None, [override])


def test_missing_config_names_shipped_ones(tmp_path):
    with pytest.raises(ConfigError) as info:
        C.load(tmp_path / "nope.yaml")
    assert "no such config" in str(info.value)
    for p in SHIPPED:
        assert p.stem in str(info.value)


def test_invalid_yaml(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        C.load(write(tmp_path, "train: {max_steps: [\n"))


def test_shipped_configs_exist():
    assert C.CONFIG_DIR.is_dir(), f"{C.CONFIG_DIR} missing"
    assert SHIPPED, f"no *.yaml in {C.CONFIG_DIR}"
    assert "default" in {p.stem for p in SHIPPED}


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_config_loads(path, tmp_path):
    cfg = C.load(path)
    assert isinstance(cfg, C.Config)
    assert C.load(path.stem) == cfg  # by name, too
    # round trip through the run-folder form
    C.save(cfg, tmp_path / "config.yaml")
    assert C.load_resolved(tmp_path / "config.yaml") == cfg


@pytest.mark.parametrize("key, use", [("model.name", "grid.models"), ("model.head", "grid.heads"),
                                      ("features.name", "grid.features"), ("augment.enabled", "grid.augment")])
def test_keys_the_grid_sets_are_refused_with_the_grid_key(tmp_path, key, use):
    section, name = key.split(".")
    with pytest.raises(ConfigError, match=re.escape(f"{key} is set by the grid") + ".*" + re.escape(use)):
        C.load(write(tmp_path, f"{section}: {{{name}: x}}\n"))
    with pytest.raises(ConfigError, match=re.escape(use)):
        C.load(None, [f"{key}=false"])


def test_a_run_folders_resolved_config_may_hold_them(tmp_path):
    cfg = C.load(None)
    cfg.model.name, cfg.augment.enabled = "lstm", False
    C.save(cfg, tmp_path / "config.yaml")
    assert C.load_resolved(tmp_path / "config.yaml").model.name == "lstm"


def test_default_yaml_is_what_runs_and_matches_the_dataclass_defaults():
    assert C.load(None) == C.load("default") == C.Config()


def test_quick_is_quick():
    cfg = C.load("quick")
    assert cfg.eval.verification is False and cfg.train.max_steps <= 300
    assert len(cfg.grid.models) * len(cfg.grid.features) * cfg.grid.seeds == 1


def test_scientific_notation_without_a_dot_is_a_number():
    from voxprint import config as C

    assert C.load(None, ["train.lr=1e-4"]).train.lr == pytest.approx(1e-4)  # YAML 1.1 reads it as a string
    with pytest.raises(ConfigError, match="expected a number"):
        C.load(None, ["train.lr=fast"])


# --------------------------------------------------------------------------- valid ranges


def _numeric(tp) -> bool:
    """int/float, optional or a list of them."""
    args = typing.get_args(tp)
    if tp in (int, float):
        return True
    return bool(args) and any(_numeric(a) for a in args if a is not type(None))


def test_every_numeric_field_of_every_section_has_a_valid_range():
    hints = {cls: typing.get_type_hints(cls) for cls in typing.get_type_hints(C.Config).values()}
    missing = [f"{cls.__name__}.{name}" for cls, h in hints.items() for name, tp in h.items()
               if _numeric(tp) and name not in C.LIMITS.get(cls, {}) and name not in C.CHOICES.get(cls, {})]
    assert not missing, f"numeric fields without a range in config.LIMITS: {missing}"
    for cls, ranges in C.LIMITS.items():  # and no stale entries
        assert set(ranges) <= set(typing.get_type_hints(cls)), cls


def test_defaults_lie_inside_their_ranges():
    for section in dataclasses.fields(C.Config):
        C.check_limits(getattr(C.Config(), section.name), section.name)


@pytest.mark.parametrize("override, message", [
    ("train.batch_size=0", "train.batch_size = 0 is out of range; valid: 1 ≤ batch_size ≤ 65536 (examples per"),
    ("data.sample_rate=-8000", "data.sample_rate = -8000 is out of range; valid: 1000 ≤ sample_rate ≤ 384000 (Hz)"),
    ("data.val_fraction=1", "valid: 0 < val_fraction < 1"),
    ("augment.snr_db=[0, 500]", "augment.snr_db = 500.0 is out of range"),
    ("model.dropout=1", "valid: 0 ≤ dropout < 1"),
    ("train.threads=0", "train.threads = 0 is out of range"),
    ("data.max_per_speaker=0", "data.max_per_speaker = 0 is out of range; valid: 1 ≤ max_per_speaker ("),
    ("data.split=rand", "data.split = 'rand'; valid: auto, official, block, random, manifest"),
    ("vad.silero_rate=11025", "vad.silero_rate = 11025; valid: 8000, 16000"),
    ("features.fmin=5000", "fmin 5000 ≥ fmax"),
    ("grid.models=[]", "grid.models: empty list"),
    ("vad.neg_threshold=0.9", "neg_threshold 0.9 > threshold 0.5"),
    ("data.min_clips=1", "data.min_clips = 1 is out of range; valid: 2 ≤ min_clips (usable clips a speaker needs"),
    ("train.max_steps=20", "train.max_steps 20 is not a multiple of val_every_steps 50"),
    ("train.max_steps=130", "train.max_steps 130 is not a multiple of val_every_steps 50"),
    ("train.min_steps=700", "train.min_steps 700 > max_steps 600"),
])
def test_out_of_range_values_name_the_key_value_and_range(override, message):
    extra = ["features.fmax=4000"] if "fmin" in override else []
    with pytest.raises(ConfigError) as info:
        C.load(None, [override, *extra])
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_optional_fields_may_stay_unset():
    cfg = C.load(None, ["data.sample_rate=null", "train.threads=null", "eval.far=null"])
    assert cfg.data.sample_rate is None and cfg.train.threads is None and cfg.eval.far is None


def test_a_resolved_config_is_checked_too(tmp_path):
    (tmp_path / "config.yaml").write_text("model: {embed_dim: 2000000000}\n")
    with pytest.raises(ConfigError, match="embed_dim = 2000000000 is out of range"):
        C.load_resolved(tmp_path / "config.yaml")


def test_the_audio_reader_refuses_the_rates_the_config_refuses():
    from voxprint import audio

    rng = C.LIMITS[C.DataConfig]["sample_rate"]
    assert (rng.lo, rng.hi) == (audio.MIN_RATE, audio.MAX_RATE)


def test_the_fewshot_config_is_the_recipe_the_readme_measured_and_chose():
    """configs/fewshot.yaml ships what benchmarks/fewshot.py chose on validation (docs/results/fewshot.md):
    the chosen row's model, feature, ramp, floor and monitor, the command's step budget, and both
    augmentation settings side by side (the choice between them is the grid's, on validation)."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "docs" / "results" / "fewshot.md").read_text(encoding="utf-8")
    block = readme
    chosen = re.search(r"Chosen on validation accuracy \(mean over seeds\): \*\*voxprint (\w+)-(\w+)(-noaug)? "
                       r"\(ramp (\d+), min_steps (\d+), monitor (\w+)\)\*\*", block)
    steps = re.search(r"--steps (\d+)", block)
    assert chosen and steps, "docs/results/fewshot.md names no chosen configuration"
    cfg = C.load("fewshot")
    model, feature, _, ramp, floor, monitor = chosen.groups()
    assert (cfg.grid.models, cfg.grid.features) == ([model], [feature])
    assert (cfg.augment.ramp_steps, cfg.train.min_steps, cfg.train.monitor) == (int(ramp), int(floor), monitor)
    assert cfg.train.max_steps == int(steps.group(1)) and sorted(cfg.grid.augment) == [False, True]
    assert cfg.data.min_clips == 2  # a speaker with two segments is kept, as in the benchmark
