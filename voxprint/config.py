"""Loading, overriding and saving configs; the schema itself is voxprint/schema.py.

One `Config` describes a whole run: data, features, augmentation, model, training,
evaluation, the grid, speech detection, decisions and the runtime. The resolved config is
written into every run folder so that inference rebuilds the exact model from the folder alone.
Every way in - a YAML file, `--set section.key=value`, a run folder's config.yaml, `encoder
train`'s settings, the server's limits - is checked by the schema, and a bad value is one
ConfigError line naming the source, the key, the value and what is valid.
"""

from __future__ import annotations

import dataclasses
import reprlib
import typing
from pathlib import Path

import yaml
from pydantic import ValidationError

from .errors import ConfigError
from .schema import (  # noqa: F401
    STEPS,
    STUDY_KEYS,
    AugmentConfig,
    Bounds,
    Config,
    DataConfig,
    DecisionConfig,
    EncoderTrainConfig,
    EvalConfig,
    FeatureConfig,
    GridConfig,
    ModelConfig,
    RuntimeConfig,
    ServeLimits,
    TrainConfig,
    VadConfig,
)

CONFIG_DIR = Path(__file__).parent / "configs"

# --------------------------------------------------------------------------- messages

_EXPECTED = {"int": "an integer", "float": "a number", "bool": "true/false", "list": "a list",
             "dict": "a mapping", "string": "a string", "dataclass": "a mapping of keys"}


_SHOWN = reprlib.Repr()
_SHOWN.maxstring, _SHOWN.maxlist, _SHOWN.maxdict, _SHOWN.maxother = 60, 6, 4, 60


def _shown(value) -> str:
    """A value as the message shows it: its repr, shortened (a message stays one readable line)."""
    return _SHOWN.repr(value)


def _key(loc: tuple) -> str:
    """('augment', 'snr_db', 1) -> 'augment.snr_db[1]'; a key that is not plain text is quoted."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        shown = part if isinstance(part, str) and part.isprintable() and len(part) <= 60 else _shown(part)
        out += f".{shown}" if out else shown
    return out


def _strip(tp):
    """The type inside Annotated[...] and Optional[...], and the Annotated metadata found on the way."""
    meta = []
    while True:
        if typing.get_origin(tp) is typing.Annotated:
            tp, *more = typing.get_args(tp)
            meta += more
        elif type(None) in typing.get_args(tp):
            rest = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(rest) != 1:
                return tp, meta
            tp = rest[0]
        else:
            return tp, meta


def _node(cls, loc: tuple):
    """(type, metadata) of the value at `loc` inside schema class `cls`; (None, []) if there is none."""
    tp, meta = cls, []
    for part in loc:
        if dataclasses.is_dataclass(tp):
            fi = tp.__pydantic_fields__.get(part)
            if fi is None:
                return None, []
            tp, meta = _strip(fi.annotation)
            meta = list(fi.metadata) + meta
        else:  # a list index or a mapping key: the item type
            args = typing.get_args(tp)
            if not args:
                return None, []
            tp, meta = _strip(args[-1])
    return tp, meta


def _nullable(cls, loc: tuple) -> bool:
    """Whether the field at `loc` may be null (None)."""
    parent, _ = _node(cls, loc[:-1])
    fi = parent.__pydantic_fields__.get(loc[-1]) if dataclasses.is_dataclass(parent) else None
    return fi is not None and type(None) in typing.get_args(fi.annotation)


def _out_of_range(cls, err: dict) -> str:
    loc = err["loc"]
    bounds = next((m for m in _node(cls, loc)[1] if isinstance(m, Bounds)), None)
    name = next(p for p in reversed(loc) if isinstance(p, str))
    valid = f"{bounds.text(name)} ({bounds.what})" if bounds else err["msg"].lower()
    return f"{_key(loc)} = {_shown(err['input'])} is out of range; valid: {valid}"


def _describe(cls, err: dict) -> str:
    """One pydantic error -> `key: what is wrong; what is valid`."""
    kind, loc, key = err["type"], err["loc"], _key(err["loc"])
    if kind in ("unexpected_keyword_argument", "extra_forbidden"):
        parent, _ = _node(cls, loc[:-1])
        valid = ", ".join(f.name for f in dataclasses.fields(parent)) if dataclasses.is_dataclass(parent) else "none"
        return f"unknown key {key}; valid keys: {valid}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal", "finite_number"):
        return _out_of_range(cls, err)
    if kind == "literal_error":
        valid = err["ctx"]["expected"].replace(" or ", ", ").replace("'", "")
        return f"{key} = {_shown(err['input'])}; valid: {valid}{', null' if _nullable(cls, loc) else ''}"
    if kind == "too_short":
        return f"{key}: empty; valid: at least one entry"
    if kind == "value_error":
        text = str(err["ctx"]["error"])
        if dataclasses.is_dataclass(_node(cls, loc)[0]):  # a rule between a section's keys: it names them
            return f"{key}.{text}" if key else text
        return f"{key}: {text}"
    expected = next((v for k, v in _EXPECTED.items() if kind.startswith(k)), None)
    if expected:
        return f"{key}: expected {expected}, got {_shown(err['input'])}"
    return f"{key}: {err['msg']}"


def _message(cls, error: ValidationError) -> str:
    """The whole ValidationError as one line: unknown keys of one section together, else the
    first problem (and how many more there are)."""
    errors = error.errors(include_url=False)
    unknown = [e for e in errors if e["type"] in ("unexpected_keyword_argument", "extra_forbidden")]
    if unknown and all(e["loc"][:-1] == unknown[0]["loc"][:-1] for e in unknown) and len(unknown) > 1:
        first = _describe(cls, unknown[0])
        names = ", ".join(_key(e["loc"]) for e in unknown)
        return f"unknown keys {names};" + first.split(";", 1)[1] + _more(len(errors) - len(unknown))
    return _describe(cls, errors[0]) + _more(len(errors) - 1)


def _more(n: int) -> str:
    return f" (and {n} more problem{'s' * (n > 1)})" if n > 0 else ""


# --------------------------------------------------------------------------- validation


def _is_section(cls, key) -> bool:
    fi = getattr(cls, "__pydantic_fields__", {}).get(key)
    return fi is not None and dataclasses.is_dataclass(_strip(fi.annotation)[0])


def from_dict(cls, data, where: str = "config"):
    """Build schema class `cls` from a mapping; any problem is one ConfigError line starting with `where`.
    An empty section (`train:` with nothing under it) means its defaults."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {_shown(data)}")
    data = {k: {} if v is None and _is_section(cls, k) else v for k, v in data.items()}
    try:
        return cls.__pydantic_validator__.validate_python(data)
    except ValidationError as e:
        raise ConfigError(f"{where}: {_message(cls, e)}") from None


def check_limits(obj, where: str) -> None:
    """Check a schema object again after code has changed its fields (assignment is not checked)."""
    from_dict(type(obj), to_dict(obj), where)


def to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


def serve_limits(**values) -> ServeLimits:
    """The server's limits from keyword values (the CLI's flags), refused as one ConfigError line."""
    return from_dict(ServeLimits, values, "serve")


# --------------------------------------------------------------------------- older layouts

RUNTIME_KEYS = tuple(f.name for f in dataclasses.fields(RuntimeConfig))


def runtime_key(key: str) -> str:
    """Where a dotted key lives now: `train.threads` and `threads` (runtime settings that older
    versions kept under train or at the top level) are `runtime.threads`."""
    parts = key.split(".")
    if parts[-1] in RUNTIME_KEYS and parts[:-1] in ([], ["train"]):
        return f"runtime.{parts[-1]}"
    return key


def migrate(data: dict, where: str) -> dict:
    """A copy of a config mapping with the runtime settings of older layouts moved into `runtime`
    (see runtime_key). Both the old and the new key with different values is an error."""
    data = dict(data)
    if not isinstance(data.get("runtime", {}), (dict, type(None))):
        return data  # the schema says what is wrong with it
    runtime = dict(data.get("runtime") or {})
    holders = [("", data)] + ([("train.", dict(data["train"]))] if isinstance(data.get("train"), dict) else [])
    for prefix, holder in holders:
        for key in RUNTIME_KEYS:
            if key not in holder:
                continue
            value = holder.pop(key)
            if key in runtime and runtime[key] != value:
                raise ConfigError(f"{where}: {prefix}{key} = {_shown(value)} and runtime.{key} = {_shown(runtime[key])} are "
                                  f"both set; keep runtime.{key}")
            runtime[key] = value
        if prefix:
            data["train"] = holder
    if runtime:
        data["runtime"] = runtime
    return data


# --------------------------------------------------------------------------- files

# Keys that every grid cell sets for itself: a value given in a config would be silently
# replaced, so it is refused with the grid key that does the job.
GRID_OWNED = {
    ("model", "name"): "grid.models (or --models)",
    ("model", "head"): "grid.heads",
    ("features", "name"): "grid.features (or --features)",
    ("augment", "enabled"): "grid.augment (or --augment / --no-augment / --compare-augment)",
}


def _read_yaml(p: Path) -> dict:
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML ({str(e).splitlines()[0]})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: cannot be read as a text config ({e.__class__.__name__})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: a config must be a mapping of sections (data:, train:, ...), got {type(data).__name__}")
    return data


def config_path(name: str | Path) -> Path:
    """A config file path, or the name of a shipped config (voxprint/configs/NAME.yaml)."""
    p = Path(name)
    if not p.exists() and (CONFIG_DIR / f"{name}.yaml").exists():
        p = CONFIG_DIR / f"{name}.yaml"
    if not p.is_file():
        shipped = ", ".join(sorted(q.stem for q in CONFIG_DIR.glob("*.yaml")))
        raise ConfigError(f"{name}: no such config file (shipped configs: {shipped})")
    return p


def load(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Load a YAML config (a path, or the name of a shipped one; None = the shipped `default`)
    and apply `a.b=value` overrides."""
    p = config_path(path if path is not None else "default")
    data = migrate(_read_yaml(p), str(p))
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        apply_override(data, f"{runtime_key(key.strip())}{sep}{raw}" if sep else item)
    for (section, key), use in GRID_OWNED.items():
        if isinstance(data.get(section), dict) and key in data[section]:
            raise ConfigError(f"{section}.{key} is set by the grid for each run; use {use} instead")
    return from_dict(Config, data, str(p))


def apply_override(data: dict, item: str) -> None:
    """Set `section.key=value` in a nested dict; the value is parsed as YAML (the schema then
    coerces it: `1e-4` is a number, `8000` a text where a text is expected)."""
    if "=" not in item:
        raise ConfigError(f"override {item!r}: expected section.key=value")
    key, raw = item.split("=", 1)
    parts = key.strip().split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if node is None:
            node = data[part] = {}
        if not isinstance(node, dict):
            raise ConfigError(f"override {item!r}: {part} is not a section")
    try:
        node[parts[-1]] = yaml.safe_load(raw)
    except yaml.YAMLError:
        raise ConfigError(f"override {item!r}: the value is not valid YAML") from None


def save(cfg: Config, path: Path) -> None:
    from .io import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(to_dict(cfg), sort_keys=False))


# Sections that do not change how a saved model is rebuilt or fed: a key an older voxprint wrote
# there and this one no longer has is dropped when a run folder is read back.
_HISTORY_SECTIONS = {"train": TrainConfig, "eval": EvalConfig, "grid": GridConfig, "runtime": RuntimeConfig}


def load_resolved(path: Path) -> Config:
    """Load a config written by `save` (a run folder's config.yaml); grid-owned keys allowed.
    An older layout's runtime settings are moved into `runtime`, and keys of retired training,
    evaluation and runtime settings are ignored; the sections that rebuild the model (data,
    features, model, augment, vad) stay strict."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: missing; a model folder needs the config.yaml it was trained with")
    data = migrate(_read_yaml(path), str(path))
    for section, cls in _HISTORY_SECTIONS.items():
        if isinstance(data.get(section), dict):
            known = {f.name for f in dataclasses.fields(cls)}
            data[section] = {k: v for k, v in data[section].items() if k in known}
    return from_dict(Config, data, str(path))
