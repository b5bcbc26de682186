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
    assert msg.startswith(f"{p}: unknown key modle; valid keys: ") and "\n" not in msg
    for name in ("data", "features", "augment", "model", "train", "eval", "grid", "vad", "decision", "runtime"):
        assert name in msg.split("valid keys:")[1]


def test_unknown_key_in_section_lists_section_keys(tmp_path):
    p = write(tmp_path, "train:\n  max_step: 5\n")
    with pytest.raises(ConfigError) as info:
        C.load(p)
    msg = str(info.value)
    assert f"{p}: unknown key train.max_step; valid keys: " in msg
    valid = msg.split("valid keys:")[1]
    assert [k.strip() for k in valid.split(",")] == [f.name for f in dataclasses.fields(C.TrainConfig)]


def test_unknown_keys_of_one_section_are_named_together_in_one_line():
    with pytest.raises(ConfigError) as info:
        C.load(None, ["train.epoch=3", "train.epochs=4"])
    assert "unknown keys train.epoch, train.epochs; valid keys: max_steps" in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "text,where",
    [
        ("train: {max_steps: five}", "train.max_steps"),
        ("train: {max_steps: 2.5}", "train.max_steps"),
        ("train: {max_steps: true}", "train.max_steps"),
        ("train: {lr: fast}", "train.lr"),
        ("augment: {prob: yes please}", "augment.prob"),
        ("augment: {snr_db: 10}", "augment.snr_db"),
        ("augment: {snr_db: [0, high]}", "augment.snr_db[1]: expected a number, got 'high'"),
        ("augment: {prob: true}", "augment.prob: expected a number, got true"),
        ("train: {lr: .nan}", "train.lr = nan is out of range; valid: 0 < lr ≤ 10"),
        ("data: {path: [a, b]}", "data.path: expected a string"),
        ("data: {sample_rate: high}", "data.sample_rate"),
        ("data: [fsdd]", "data"),
        ("model: {options: [1, 2]}", "model.options"),
        ("grid: {models: cnn}", "grid.models"),
    ],
)
def test_wrong_types_rejected(tmp_path, text, where):
    p = write(tmp_path, text + "\n")
    with pytest.raises(ConfigError, match=re.escape(where)) as info:
        C.load(p)
    assert str(info.value).startswith(f"{p}: ") and "\n" not in str(info.value)


def test_numbers_are_coerced_where_harmless(tmp_path):
    cfg = C.load(write(tmp_path, "train: {lr: 1}\naugment: {snr_db: [0, 20]}\ndata: {sample_rate: null}\n"))
    assert cfg.train.lr == 1.0 and isinstance(cfg.train.lr, float)
    assert cfg.augment.snr_db == [0.0, 20.0]
    assert cfg.data.sample_rate is None
    # text that spells a number is one, a number where text is expected is that text
    cfg = C.load(None, ["train.max_steps='1000'", "runtime.devices=1", "data.path=1234"])
    assert (cfg.train.max_steps, cfg.runtime.devices, cfg.data.path) == (1000, "1", "1234")


def test_an_empty_section_means_its_defaults(tmp_path):
    assert C.load(write(tmp_path, "train:\nvad:\n")) == C.Config()
    assert C.load(write(tmp_path, "train:\n"), ["train.max_steps=1000"]).train.max_steps == 1000


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
        ("train.max_steps=[", "not valid YAML"),
    ],
)
def test_bad_override(override, match):
    with pytest.raises(ConfigError, match=match) as info:
        C.load(None, [override])
    assert "\n" not in str(info.value)


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


ROOTS = (C.Config, C.EncoderTrainConfig, C.ServeLimits)


def _classes(cls) -> list[type]:
    """A schema class and every section class below it."""
    subs = [_classes(t) for t in typing.get_type_hints(cls).values() if dataclasses.is_dataclass(t)]
    return [cls] + [c for s in subs for c in s]


def _numeric(tp) -> bool:
    """int/float, optional, annotated or in a list/mapping of them (not bool)."""
    if tp in (int, float):
        return True
    if typing.get_origin(tp) is typing.Literal:
        return False
    args = typing.get_args(tp)
    if typing.get_origin(tp) is typing.Annotated:
        args = args[:1]
    return any(_numeric(a) for a in args if a is not type(None))


def _bounds(tp) -> list:
    """The Bounds markers on a field's annotation, however deep (list items, mapping values)."""
    if typing.get_origin(tp) is typing.Annotated:
        inner, *meta = typing.get_args(tp)
        return [m for m in meta if isinstance(m, C.Bounds)] + _bounds(inner)
    return [b for a in typing.get_args(tp) for b in _bounds(a)]


@pytest.mark.parametrize("root", ROOTS, ids=lambda r: r.__name__)
def test_every_numeric_field_has_a_valid_range_with_a_meaning(root):
    missing = [f"{cls.__name__}.{name}" for cls in _classes(root)
               for name, tp in typing.get_type_hints(cls, include_extras=True).items()
               if _numeric(tp) and not _bounds(tp)]
    assert not missing, f"numeric fields without schema.number(...) bounds: {missing}"
    for cls in _classes(root):
        for name, tp in typing.get_type_hints(cls, include_extras=True).items():
            assert all(b.what for b in _bounds(tp)), f"{cls.__name__}.{name}: bounds without a meaning"


def test_defaults_lie_inside_their_ranges():
    for root in ROOTS:
        C.check_limits(root(), root.__name__)  # re-validates every field, defaults included


@pytest.mark.parametrize("override, message", [
    ("train.batch_size=0", "train.batch_size = 0 is out of range; valid: 1 ≤ batch_size ≤ 65536 (examples per"),
    ("data.sample_rate=-8000", "data.sample_rate = -8000 is out of range; valid: 1000 ≤ sample_rate ≤ 384000 (Hz)"),
    ("data.val_fraction=1", "valid: 0 < val_fraction < 1"),
    ("augment.snr_db=[0, 500]", "augment.snr_db[1] = 500 is out of range; valid: -60 ≤ snr_db ≤ 100"),
    ("model.dropout=1", "valid: 0 ≤ dropout < 1"),
    ("runtime.threads=0", "runtime.threads = 0 is out of range; valid: 1 ≤ threads ≤ 1024 (torch threads)"),
    ("runtime.num_workers=-1", "runtime.num_workers = -1 is out of range"),
    ("data.max_per_speaker=0", "data.max_per_speaker = 0 is out of range; valid: 1 ≤ max_per_speaker ("),
    ("data.split=rand", "data.split = 'rand'; valid: auto, official, block, random, manifest"),
    ("vad.silero_rate=11025", "vad.silero_rate = 11025; valid: 8000, 16000"),
    ("grid.heads=[softmax, arc]", "grid.heads[1] = 'arc'; valid: softmax, aam"),
    ("features.fmin=5000", "fmin 5000 ≥ fmax"),
    ("grid.models=[]", "grid.models: empty"),
    ("vad.neg_threshold=0.9", "neg_threshold 0.9 > threshold 0.5"),
    ("data.min_clips=1", "data.min_clips = 1 is out of range; valid: 2 ≤ min_clips (usable clips a speaker needs"),
    ("train.max_steps=20", "train.max_steps 20 is not a multiple of val_every_steps 50"),
    ("train.max_steps=130", "train.max_steps 130 is not a multiple of val_every_steps 50"),
    ("train.min_steps=900", "train.min_steps 900 > max_steps 800"),
    ("train.max_steps=-5", "train.max_steps = -5 is out of range; valid: 1 ≤ max_steps ≤ 10000000"),
    ("train.max_steps=true", "train.max_steps: expected an integer, got true"),
])
def test_out_of_range_values_name_the_key_value_and_range(override, message):
    extra = ["features.fmax=4000"] if "fmin" in override else []
    with pytest.raises(ConfigError) as info:
        C.load(None, [override, *extra])
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_several_problems_are_one_line_that_counts_the_rest():
    with pytest.raises(ConfigError) as info:
        C.load(None, ["train.lr=0", "train.seed=-1", "data.val_fraction=2"])
    msg = str(info.value)
    assert "data.val_fraction = 2 is out of range" in msg and msg.endswith("(and 2 more problems)")
    assert "\n" not in msg


def test_optional_fields_may_stay_unset():
    cfg = C.load(None, ["data.sample_rate=null", "runtime.threads=null", "eval.far=null"])
    assert cfg.data.sample_rate is None and cfg.runtime.threads is None and cfg.eval.far is None


def test_a_resolved_config_is_checked_too(tmp_path):
    (tmp_path / "config.yaml").write_text("model: {embed_dim: 2000000000}\n")
    with pytest.raises(ConfigError, match="embed_dim = 2000000000 is out of range"):
        C.load_resolved(tmp_path / "config.yaml")


def test_code_that_builds_a_section_is_checked_too():
    with pytest.raises(ValueError):  # pydantic's ValidationError: a programming error, not a user's
        C.TrainConfig(max_steps=-5)
    cfg = C.Config()
    cfg.data.clip_seconds = 0.0  # assignment is not checked; check_limits is the second look
    with pytest.raises(ConfigError, match="^encoder window: data.clip_seconds = 0.0 is out of range"):
        C.check_limits(cfg, "encoder window")


def test_the_audio_reader_refuses_the_rates_the_config_refuses():
    from voxprint import audio

    (rng,) = _bounds(typing.get_type_hints(C.DataConfig, include_extras=True)["sample_rate"])
    assert (rng.lo, rng.hi) == (audio.MIN_RATE, audio.MAX_RATE)


# --------------------------------------------------------------------------- the runtime section


def test_runtime_settings_are_their_own_section():
    run_keys = {f.name for s in dataclasses.fields(C.Config) if s.name != "runtime"
                for f in dataclasses.fields(getattr(C.Config(), s.name))}
    runtime = {f.name for f in dataclasses.fields(C.RuntimeConfig)}
    assert runtime == {"threads", "num_workers", "cells", "progress", "accelerator", "devices", "precision"}
    assert not runtime & run_keys, "a runtime setting is also a key of a section that says what a run is"
    cfg = C.load(None, ["runtime.threads=2", "runtime.progress=false", "runtime.accelerator=cpu"])
    assert (cfg.runtime.threads, cfg.runtime.progress, cfg.runtime.accelerator) == (2, False, "cpu")


@pytest.mark.parametrize("text", [
    "train: {max_steps: 300, threads: 2, num_workers: 1, progress: false, accelerator: cpu}\n",
    "threads: 2\nnum_workers: 1\nprogress: false\naccelerator: cpu\ntrain: {max_steps: 300}\n",
])
def test_an_older_layouts_runtime_keys_move_into_runtime(tmp_path, text):
    want = C.RuntimeConfig(threads=2, num_workers=1, progress=False, accelerator="cpu")
    cfg = C.load(write(tmp_path, text))
    assert cfg.runtime == want and cfg.train.max_steps == 300
    (tmp_path / "config.yaml").write_text(text)  # a run folder written by an older voxprint
    assert C.load_resolved(tmp_path / "config.yaml").runtime == want
    # and --set with the old key overrides the file's value
    assert C.load(write(tmp_path, text), ["train.threads=3"]).runtime.threads == 3


def test_an_old_and_a_new_runtime_key_that_disagree_are_refused(tmp_path):
    p = write(tmp_path, "train: {threads: 2}\nruntime: {threads: 4}\n")
    with pytest.raises(ConfigError, match="train.threads = 2 and runtime.threads = 4 are both set"):
        C.load(p)
    assert C.load(write(tmp_path, "train: {threads: 2}\nruntime: {threads: 2}\n")).runtime.threads == 2


def test_the_shipped_encoder_folder_in_the_older_layout_loads():
    from voxprint.pretrained import ENCODER_DIR

    cfg = C.load_resolved(ENCODER_DIR / "config.yaml")
    assert cfg.model.name == "ge2e" and cfg.runtime == C.RuntimeConfig()


# --------------------------------------------------------------------------- encoder train, serve


def test_encoder_train_settings_are_checked():
    for bad, message in [({"steps": -5}, "steps = -5 is out of range; valid: 1 ≤ steps"),
                         ({"lr": 0}, "lr = 0 is out of range"),
                         ({"crop_s": [2.0, 1.0]}, "crop_s [2.0, 1.0]: expected [low, high]"),
                         ({"sources": {"libri": -1}}, "sources.libri = -1 is out of range; valid: 0 < libri"),
                         ({"sources": {}}, "sources: empty"),
                         ({"stepz": 3}, "unknown key stepz; valid keys: steps, batch_size")]:
        with pytest.raises(ConfigError) as info:
            C.from_dict(C.EncoderTrainConfig, bad, "encoder train")
        assert str(info.value).startswith("encoder train: ") and message in str(info.value), str(info.value)
    cfg = C.from_dict(C.EncoderTrainConfig, {"steps": "20", "snr_db": [0, 5]}, "encoder train")
    assert cfg.steps == 20 and cfg.snr_db == [0.0, 5.0]


def test_encoder_train_holds_out_the_protocols_noise():
    from voxprint import protocol as P

    assert C.EncoderTrainConfig().exclude_noise == [P.HELD_OUT_NOISE]


def test_serve_limits_are_checked():
    from voxprint.serve.limits import Limits

    assert Limits is C.ServeLimits and Limits().workers >= 1  # 0: the cores
    assert C.serve_limits(max_bytes=1000, workers=3) == Limits(max_bytes=1000, workers=3)
    for bad, message in [({"max_bytes": 0}, "max_bytes = 0 is out of range; valid: 0 < max_bytes"),
                         ({"max_seconds": float("nan")}, "max_seconds = nan is out of range"),
                         ({"max_files": 2.5}, "max_files: expected an integer"),
                         ({"timeout": 3}, "unknown key timeout; valid keys: max_bytes")]:
        with pytest.raises(ConfigError) as info:
            C.serve_limits(**bad)
        assert str(info.value).startswith("serve: ") and message in str(info.value), str(info.value)


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
