"""Typed configs: a family's model, data and sampling options as dataclasses (Hydra structured configs).

A family declares each config section it builds as a dataclass in its `config.py` and registers it:

    @dataclass
    class ImageMDLSTMConfig(ModelConfig):
        _target_: str = "seqgen.families.image.module.ImageMDLSTM"
        hidden_size: int = 64

        def __post_init__(self) -> None:
            at_least(self, "hidden_size", 1)

    register_schema("model", "image_mdlstm", ImageMDLSTMConfig)

Registering does two things:

* Hydra's ConfigStore holds the dataclass as `schema/<section>/<name>`; the YAML in `conf/` names
  it first in its defaults list (`- /schema/model/image_mdlstm@_here_`), so Hydra merges the YAML
  and the command line onto it: an unknown or misspelt key, or a value of the wrong type, is refused
  while the config is composed. The dataclass holds the defaults; the YAML sets only what differs.
* The dataclass is keyed by its `_target_`, so `check_sections(cfg)` finds every typed section of a
  composed or loaded config (a run folder's `config_resolved.yaml`) and builds it before any work:
  `__post_init__` checks the ranges, and a failure is one `SeqgenError` naming the key, the value
  and what is allowed (`seqgen: error: model.hidden_size=0 is out of range: must be an integer >= 1`).

The module or function a section builds receives the section's keys (Hydra's `instantiate`) and
turns them back into the dataclass with `build(schema, options, "model")`; checkpoints store the
plain values, so a checkpoint loads by building its config from its saved hyper-parameters.

Sampling options have no `_target_`: a family names its dataclass in `Family.sample_schema`.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import math
import typing
from typing import Any, ClassVar, Iterator, Mapping, Optional, Sequence, TypeVar

from omegaconf import MISSING, DictConfig, ListConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, MissingMandatoryValue, OmegaConfBaseException

from seqgen.errors import SeqgenError

T = TypeVar("T")

_BY_TARGET: dict[str, type] = {}
_SAMPLE_SCHEMAS: dict[str, type] = {}  # family name -> its `seqgen-sample` options


class ConfigValueError(ValueError):
    """A value out of its range, raised by a schema's `__post_init__` (see `at_least`, `within`, `one_of`)."""

    def __init__(self, key: str, value: Any, valid: str) -> None:
        super().__init__(f"{key}={value!r}: must be {valid}")
        self.key, self.value, self.valid = key, value, valid


@dataclasses.dataclass
class ModelConfig:
    """What every family module takes besides its own options (`seqgen.core.module.SeqModule`)."""

    _target_: str = MISSING
    max_nonfinite_steps: int = 25  # consecutive NaN/inf losses skipped before the run stops

    def __post_init__(self) -> None:
        at_least(self, "max_nonfinite_steps", 1)


@dataclasses.dataclass
class DataModuleConfig:
    """What every family's datamodule takes (`seqgen.core.datamodule.ShardDataModule`): a family
    with a typed datamodule subclasses it with its `_target_` and its own keys."""

    _target_: str = "seqgen.core.datamodule.ShardDataModule"
    data_dir: str = MISSING
    batch_size: int = 32
    eval_batch_size: Optional[int] = None  # null: batch_size
    batches_per_epoch: int = 200  # the same count on every rank (DDP), whatever the shard sizes
    num_workers: int = 1
    shuffle_buffer: int = 64
    seed: int = 0
    verify: bool = True  # hash every shard before reading it

    def __post_init__(self) -> None:
        at_least(self, ("batch_size", "batches_per_epoch"), 1)
        if self.eval_batch_size is not None:
            at_least(self, "eval_batch_size", 1)
        at_least(self, ("num_workers", "shuffle_buffer"), 0)
        within_integers(self, "seed", 0, 2**32 - 1)


# --- range checks for __post_init__ -------------------------------------------------------------
def at_least(config: Any, keys: str | Sequence[str], low: float) -> None:
    """`config.<key> >= low` for each of `keys` (an integer when `low` is one)."""
    for key in (keys,) if isinstance(keys, str) else keys:
        value = getattr(config, key)
        if value is None or value < low:
            raise ConfigValueError(key, value, f"an integer >= {low}" if isinstance(low, int) else f"a number >= {low:g}")


# Models compute in float32: a value beyond this becomes inf there, however finite it is in Python.
FLOAT32_MAX = 3.4028234663852886e38


def within(config: Any, key: str, low: float, high: float = FLOAT32_MAX, low_open: bool = False, high_open: bool = False,
           nullable: bool = False) -> None:
    """`low <= config.key <= high` (`*_open`: the bound itself excluded); `nullable`: None passes."""
    value = getattr(config, key)
    if value is None and nullable:
        return
    ok = value is not None and math.isfinite(value) and (value > low if low_open else value >= low) and (
        value < high if high_open else value <= high)
    if not ok:
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        top = "3.4e38" if high == FLOAT32_MAX else f"{high:g}"
        raise ConfigValueError(key, value, f"a finite number in {left}{low:g}, {top}{right}")


def within_integers(config: Any, key: str, low: int, high: int) -> None:
    value = getattr(config, key)
    if value is None or not low <= value <= high:
        raise ConfigValueError(key, value, f"an integer in [{low}, {high}]")


def one_of(config: Any, key: str, choices: Sequence[Any]) -> None:
    value = getattr(config, key)
    if value not in choices:
        raise ConfigValueError(key, value, "one of " + ", ".join(str(c) for c in choices))


@dataclasses.dataclass
class RecognizerCheckConfig:
    """Options of a model section's recogniser check at validation (`model.recognizer`: handwriting's
    `model.legibility`, speech's `model.intelligibility`): the samples generated at each bias, the
    bias whose error becomes the selected metric, and how often. A subclass names its section and
    adds its sample count (`count_key`)."""

    section: ClassVar[str] = ""
    count_key: ClassVar[str] = ""

    biases: list[float] = dataclasses.field(default_factory=lambda: [0.0, 0.5, 1.0, 2.0])
    select_bias: float = 1.0  # the selected metric (val/cer, val/per) is the error at this bias
    every_n_validations: int = 1

    def __post_init__(self) -> None:
        try:
            if not self.biases or any(b < 0 for b in self.biases):
                raise ConfigValueError("biases", self.biases, "a non-empty list of biases >= 0")
            within(self, "select_bias", 0.0)
            at_least(self, (self.count_key, "every_n_validations"), 1)
        except ConfigValueError as err:  # named from the model section: model.<section>.<key>
            raise ConfigValueError(f"{self.section}.{err.key}", err.value, err.valid) from None


# --- registration --------------------------------------------------------------------------------
def register_schema(section: str, name: str, schema: type) -> None:
    """Store `schema` in Hydra's ConfigStore as `schema/<section>/<name>` and, when it has a
    `_target_` default, key it by that target for `check_sections`."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(group=f"schema/{section}", name=name, node=schema)
    if section == "sample":
        _SAMPLE_SCHEMAS[name] = schema
    target = _target_of(schema)
    if target:
        _BY_TARGET[target] = schema


def schema_for(target: Any) -> type | None:
    """The dataclass registered for a `_target_`, if any."""
    return _BY_TARGET.get(target) if isinstance(target, str) else None


def register_family_configs(modules: Mapping[str, str]) -> None:
    """Import `<family module>.config` of every family that has one: its `register_schema` calls run.
    Called when `seqgen` is imported (before any config is composed) and by `register_family_module`."""
    for module in modules.values():
        config_module = f"{module}.config"
        try:
            found = importlib.util.find_spec(config_module) is not None
        except ModuleNotFoundError:
            found = False
        if found:
            importlib.import_module(config_module)


def _target_of(schema: type) -> str:
    for field in dataclasses.fields(schema):
        if field.name == "_target_" and isinstance(field.default, str) and field.default != MISSING:
            return field.default
    return ""


# --- building ------------------------------------------------------------------------------------
def build(schema: type[T], options: Any, where: str, command: str = "") -> T:
    """`options` (a mapping, a config node or an instance of `schema`) merged onto `schema`'s defaults,
    typed and range-checked; `where` is the section's dotted key ("model"), named in errors, and
    `command` the command whose config it is (named too, as the platform's rule table does)."""
    if isinstance(options, schema):
        return options
    values = OmegaConf.to_container(options, resolve=True) if isinstance(options, DictConfig) else dict(options or {})
    prefix = f"{where}." if where else ""
    try:
        node = OmegaConf.merge(OmegaConf.structured(schema), values)
        return OmegaConf.to_object(node)  # type: ignore[return-value]  # runs __post_init__
    except ConfigValueError as err:
        during = f" ({command})" if command else ""
        given = _value_of(values, err.key)  # as the user wrote it (0, not the float field's 0.0)
        shown = show_value(err.value if given == "?" else given)
        raise SeqgenError(f"{prefix}{err.key}={shown} is out of range{during}: must be {err.valid}") from None
    except ConfigKeyError as err:
        key = str(getattr(err, "full_key", "") or getattr(err, "key", "") or "")
        owner = _field_schema(schema, key.rpartition(".")[0]) or schema
        known = ", ".join(f.name for f in dataclasses.fields(owner) if not f.name.startswith("_"))
        raise SeqgenError(f"{prefix}{key} is not an option of {owner.__name__}: its options are {known}") from None
    except MissingMandatoryValue as err:
        key = str(getattr(err, "full_key", "") or getattr(err, "key", ""))
        raise SeqgenError(f"{prefix}{key} is mandatory and not set: pass {prefix}{key}=<value>") from None
    except OmegaConfBaseException as err:
        key = str(getattr(err, "full_key", "") or getattr(err, "key", ""))
        value = _value_of(values, key)
        wanted = _type_name(schema, key)
        raise SeqgenError(f"{prefix}{key}={show_value(value)} is not {wanted}") from None


def composition_error(err: BaseException) -> SeqgenError:
    """Hydra's refusal to compose a config (a key that no schema or YAML declares, a value of the
    wrong type for its schema, an option of a config group that does not exist) as one SeqgenError
    line: Hydra's message and its cause's, without the object dumps and the search path."""
    text = f"{err}\n{err.__cause__ or ''}".split("Config search path:")[0]
    lines = [line.strip().rstrip(".") for line in text.splitlines()]
    kept = [line for line in lines if line and not line.startswith(("full_key:", "object_type=", "reference_type="))]
    if any(" not in '" in line for line in kept):  # a schema's key: appending (+key=) cannot add it either
        kept = [line for line in kept if not line.startswith("To append to your config")]
    joined = "; ".join(dict.fromkeys(kept))
    return SeqgenError(joined.replace(":; ", ": ").replace("Available options in", "available options in"))


def sections(cfg: Any, prefix: str = "") -> Iterator[tuple[str, DictConfig, type]]:
    """(dotted key, node, schema) of every section of `cfg` whose `_target_` has a registered schema."""
    if not isinstance(cfg, DictConfig):
        return
    schema = schema_for(cfg.get("_target_", None)) if "_target_" in cfg else None
    if schema is not None:
        yield prefix, cfg, schema
    for key in cfg.keys():
        try:
            child = cfg._get_node(key)
        except Exception:  # pragma: no cover - defensive
            continue
        if isinstance(child, DictConfig) and not OmegaConf.is_missing(cfg, key):
            yield from sections(child, f"{prefix}.{key}" if prefix else str(key))


def check_sections(cfg: Any, skip: Sequence[str] = ("hydra",), command: str = "") -> set[str]:
    """Build every typed section of `cfg` (SeqgenError for the first bad value); returns the dotted
    keys the schemas checked (their scalar fields), which the platform's pattern table then skips."""
    checked: set[str] = set()
    for key, node, schema in sections(cfg):
        if key.split(".", 1)[0] in skip:
            continue
        values = _resolvable(node)
        unknown = sorted(str(k) for k in node.keys() if str(k) not in _field_names(schema))
        if unknown:
            known = ", ".join(f.name for f in dataclasses.fields(schema) if not f.name.startswith("_"))
            raise SeqgenError(f"{key}.{unknown[0]} is not an option of {schema.__name__}: its options are {known}")
        build(schema, values, key, command)
        checked.update(f"{key}.{name}" for name in declared_keys(schema))
    return checked


def given_options(schema: type, cfg: Any) -> dict[str, Any]:
    """The options of `schema` (its fields, nested ones too) that `cfg` gives: null means not given."""
    given: dict[str, Any] = {}
    for field in dataclasses.fields(schema):
        value = cfg.get(field.name) if field.name in cfg else None
        value = OmegaConf.to_container(value, resolve=True) if isinstance(value, (DictConfig, ListConfig)) else value
        if value is not None:
            given[field.name] = _without_nulls(value)
    return given


def _without_nulls(value: Any) -> Any:
    return {k: _without_nulls(v) for k, v in value.items() if v is not None} if isinstance(value, Mapping) else value


def check_sample_options(cfg: Any, command: str = "sample") -> set[str]:
    """`seqgen-sample`'s options, checked before the model is loaded: every family's sampling schema
    built from the options it declares (they share names and ranges: `text`, `bias`, `length`, ...);
    returns the dotted keys the schemas declare, which the platform's pattern table then skips."""
    checked: set[str] = set()
    for schema in _SAMPLE_SCHEMAS.values():
        build(schema, given_options(schema, cfg), "", command)
        checked.update(declared_keys(schema))
    return checked


def declared_keys(schema: type, prefix: str = "") -> set[str]:
    """The dotted keys of `schema`'s fields, nested dataclasses' fields included (not a field typed
    `Any`: it holds another config, e.g. a corpus with its own `_target_`)."""
    keys: set[str] = set()
    for name, hint in typing.get_type_hints(schema).items():
        if name.startswith("_") or hint is Any or typing.get_origin(hint) is ClassVar:
            continue
        nested = isinstance(hint, type) and dataclasses.is_dataclass(hint)
        keys.update(declared_keys(hint, f"{prefix}{name}.") if nested else {f"{prefix}{name}"})
    return keys


def _resolvable(node: DictConfig) -> dict[str, Any]:
    """The section's values that resolve here (`${hydra:...}` does not outside a Hydra app: such a
    value is left to the command that uses it)."""
    values: dict[str, Any] = {}
    for key in node.keys():
        try:
            value = node[key]
            values[str(key)] = OmegaConf.to_container(value, resolve=True) if isinstance(value, (DictConfig, ListConfig)) else value
        except Exception:
            continue
    return values


def plain_options(config: Any) -> dict[str, Any]:
    """A built config as plain values without `_target_` (what a module saves as hyper-parameters)."""
    return {k: v for k, v in dataclasses.asdict(config).items() if k != "_target_"}


def _field_names(schema: type) -> set[str]:
    return {f.name for f in dataclasses.fields(schema)}  # type: ignore[arg-type]


def _value_of(values: Mapping[str, Any], key: str) -> Any:
    node: Any = values
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return "?"
        node = node[part]
    return node


def _field_schema(schema: type, dotted: str) -> Optional[type]:
    """The dataclass of the nested config at `dotted` within `schema` ("" = `schema` itself)."""
    for part in filter(None, dotted.split(".")):
        hint = typing.get_type_hints(schema).get(part) if dataclasses.is_dataclass(schema) else None
        if not (isinstance(hint, type) and dataclasses.is_dataclass(hint)):
            return None
        schema = hint
    return schema


def _type_name(schema: type, key: str) -> str:
    parent, _, name = key.rpartition(".")
    owner = _field_schema(schema, parent)
    field = next((f for f in dataclasses.fields(owner) if f.name == name), None) if owner else None
    if field is None:
        return "a valid value"
    words = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string"}
    text = str(field.type)
    for name, word in words.items():
        if text in (name, f"Optional[{name}]", f"{name} | None"):
            return word + (" or null" if "None" in text or "Optional" in text else "")
    return f"of type {text}"


def show_value(value: Any) -> str:
    """A value as an error message shows it: strings quoted, the rest as written."""
    return repr(value) if isinstance(value, str) else str(value)
