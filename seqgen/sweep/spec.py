"""Sweep definitions (`sweeps/<name>.yaml`): loading, validation, Ray Tune search spaces, overrides.

A definition names Hydra overrides of the train config and distributions over some of them:

    name: text_depth_width
    base: [experiment=text_quickstart, trainer.max_steps=3000]
    space:
      model.num_layers: {choice: [1, 2, 3]}
      model.hidden_size: {choice: [128, 256, 512]}
      optim.optimizer.lr: {loguniform: [1.0e-4, 1.0e-2]}
    metric: val/bpc
    mode: min

Every definition is registered in Hydra's ConfigStore as an option of the `sweep` group, so
`seqgen-sweep sweep=text_depth_width sweep.num_samples=4` composes like any other config group.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, ListConfig, OmegaConf

from seqgen._config import sweeps_dir
from seqgen.errors import SeqgenError

SWEEPS_DIR = sweeps_dir()  # bundled sweeps/ (seqgen/_config)
SWEEPS_ENV = "SEQGEN_SWEEPS"  # extra folders of sweep definitions, os.pathsep separated

DISTRIBUTIONS = ("choice", "grid", "uniform", "loguniform", "randint")
SCHEDULERS = ("asha", "fifo")
SEARCHERS = ("optuna", "random", "grid")

# Every key a definition may set, with its default; a definition lists only what differs.
DEFAULTS: dict[str, Any] = {
    "name": None,
    "description": "",
    "base": [],  # Hydra overrides of the train config shared by every trial
    "space": {},  # override key -> {choice|grid|uniform|loguniform|randint: [...]}
    "metric": None,  # a metric the model logs at validation, e.g. val/bpc
    "mode": "min",
    "num_samples": 8,  # trials (with search=grid: repetitions of the whole grid)
    "scheduler": {"type": "asha", "grace_period": 1, "reduction_factor": 2, "max_t": None},
    "search": "optuna",
    "seed": 0,  # seed of the searcher's suggestions
    "resources_per_trial": {"cpu": 1, "gpu": 0, "workers": 1},  # workers > 1: DDP trials; cpu/gpu per worker
    "max_concurrent_trials": None,  # null: as many as the resources allow
    "max_failures": 2,  # a trial that raises is retried from its last checkpoint this many times
    "checkpoint_every": 1,  # hand a checkpoint to Ray Tune every N validations
    "address": None,  # null: start a local Ray; else an existing cluster, e.g. "auto" or ray://head:10001
    "trust_folder": False,  # restore a sweep folder whose Ray state seqgen cannot vouch for (seqgen/sweep/trust.py)
}


def _normalise(node: dict[str, Any]) -> dict[str, Any]:
    """Shorthands: `scheduler: fifo` means `scheduler: {type: fifo}`."""
    if isinstance(node.get("scheduler"), str):
        node["scheduler"] = {"type": node["scheduler"]}
    return node


def sweep_dirs() -> list[Path]:
    extra = [Path(p) for p in os.environ.get(SWEEPS_ENV, "").split(os.pathsep) if p]
    return [SWEEPS_DIR, *extra]


def load_definition(path: Path) -> DictConfig:
    """A definition file merged over the defaults; `name` defaults to the file name."""
    raw = OmegaConf.to_container(OmegaConf.load(path), resolve=False) or {}
    if not isinstance(raw, dict):
        raise SeqgenError(f"{path}: a sweep definition is a YAML mapping (name, base, space, metric, ...)")
    unknown = sorted(set(raw) - set(DEFAULTS))
    if unknown:
        raise SeqgenError(f"{path}: unknown keys {unknown}; allowed: {sorted(DEFAULTS)}")
    node = OmegaConf.merge(OmegaConf.create(DEFAULTS), _normalise(raw))
    if not node.name:
        node.name = path.stem
    return node  # type: ignore[return-value]


def register_sweeps() -> list[str]:
    """Register every `sweeps/*.yaml` as an option of the Hydra `sweep` group."""
    store = ConfigStore.instance()
    names = []
    for folder in sweep_dirs():
        for path in sorted(folder.glob("*.yaml")):
            try:
                node = load_definition(path)
            except Exception as err:  # one broken file must not hide the others; reported if selected
                node = OmegaConf.create({**DEFAULTS, "name": path.stem, "load_error": f"{path}: {err}"})
            store.store(group="sweep", name=path.stem, node=node)
            names.append(path.stem)
    return names


def as_dict(sweep: DictConfig) -> dict[str, Any]:
    return OmegaConf.to_container(_normalise_cfg(sweep), resolve=True)  # type: ignore[return-value]


def _normalise_cfg(sweep: DictConfig) -> DictConfig:
    if isinstance(sweep.get("scheduler"), str):
        sweep = sweep.copy()
        sweep.scheduler = {**DEFAULTS["scheduler"], "type": sweep.scheduler}
    return sweep


def validate(sweep: DictConfig) -> dict[str, Any]:
    """Check a composed sweep node; returns it as a plain dict. Errors say what to change."""
    spec = as_dict(sweep)
    if spec.get("load_error"):
        raise SeqgenError(f"sweep definition {spec['load_error']}")
    name = spec.get("name")
    where = f"sweep {name}"
    if not name or not re.fullmatch(r"[A-Za-z0-9_.-]+", str(name)):
        raise SeqgenError(f"{where}: name must be letters, digits, '_', '-', '.' (it names the sweep folder and the W&B group)")
    if not spec.get("metric"):
        raise SeqgenError(f"{where}: set metric, a value the model logs at validation (e.g. metric: val/bpc)")
    if spec["mode"] not in ("min", "max"):
        raise SeqgenError(f"{where}: mode must be min or max, not {spec['mode']!r}")
    if spec["search"] not in SEARCHERS:
        raise SeqgenError(f"{where}: search must be one of {', '.join(SEARCHERS)}, not {spec['search']!r}")
    scheduler = spec["scheduler"] or {}
    if scheduler.get("type") not in SCHEDULERS:
        raise SeqgenError(f"{where}: scheduler must be one of {', '.join(SCHEDULERS)}, not {scheduler.get('type')!r}")
    if not isinstance(spec["base"], list) or not all(isinstance(o, str) for o in spec["base"]):
        raise SeqgenError(f"{where}: base must be a list of Hydra overrides, e.g. [experiment=text_quickstart]")
    if int(spec["num_samples"]) < 1:
        raise SeqgenError(f"{where}: num_samples must be >= 1")
    if not spec["space"]:
        raise SeqgenError(f"{where}: space is empty; give at least one override key with a distribution")
    for key, dist in spec["space"].items():
        _check_distribution(where, key, dist, spec["search"])
    return spec


def _check_distribution(where: str, key: str, dist: Any, search: str) -> None:
    if not isinstance(dist, dict) or len(dist) != 1 or next(iter(dist)) not in DISTRIBUTIONS:
        raise SeqgenError(f"{where}: space.{key} must be one of {{{'|'.join(DISTRIBUTIONS)}: [...]}}, got {dist!r}")
    kind, values = next(iter(dist.items()))
    if not isinstance(values, list) or not values:
        raise SeqgenError(f"{where}: space.{key}.{kind} needs a non-empty list")
    if kind in ("uniform", "loguniform", "randint"):
        if len(values) != 2 or not all(isinstance(v, (int, float)) for v in values) or values[0] >= values[1]:
            raise SeqgenError(f"{where}: space.{key}.{kind} needs [low, high] with low < high, got {values}")
        if kind == "loguniform" and values[0] <= 0:
            raise SeqgenError(f"{where}: space.{key}.loguniform needs positive bounds, got {values}")
        if search == "grid":
            raise SeqgenError(f"{where}: search=grid needs discrete values; space.{key} is {kind} (use choice/grid, or search=optuna|random)")
    if kind == "grid" and search == "optuna":
        raise SeqgenError(f"{where}: space.{key} is a grid, which Optuna cannot search; use choice, or search=grid|random")


def param_space(spec: dict[str, Any]) -> dict[str, Any]:
    """Ray Tune search space: one flat entry per override key."""
    from ray import tune

    grid_all = spec["search"] == "grid"  # every choice becomes a grid axis
    space: dict[str, Any] = {}
    for key, dist in spec["space"].items():
        kind, values = next(iter(dist.items()))
        if kind == "grid" or (kind == "choice" and grid_all):
            space[key] = tune.grid_search(list(values))
        elif kind == "choice":
            space[key] = tune.choice(list(values))
        elif kind == "uniform":
            space[key] = tune.uniform(*values)
        elif kind == "loguniform":
            space[key] = tune.loguniform(*values)
        elif kind == "randint":
            space[key] = tune.randint(*values)  # high is exclusive, as in Ray and Python's range
    return space


def trial_count(spec: dict[str, Any]) -> int:
    """Trials a sweep runs: num_samples, times the grid's size when there is a grid."""
    grid_all = spec["search"] == "grid"
    size = 1
    for dist in spec["space"].values():
        kind, values = next(iter(dist.items()))
        if kind == "grid" or (kind == "choice" and grid_all):
            size *= len(values)
    return int(spec["num_samples"]) * size


def representative(spec: dict[str, Any]) -> dict[str, Any]:
    """One valid value per key (used to check the overrides compose before any trial starts)."""
    out = {}
    for key, dist in spec["space"].items():
        kind, values = next(iter(dist.items()))
        out[key] = values[0]
    return out


_BARE = re.compile(r"^[\w./:@+-]+$")


def format_value(value: Any) -> str:
    """A Python value as Hydra override syntax."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()  # numpy scalars from Ray's samplers
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple, ListConfig)):
        return "[" + ",".join(format_value(v) for v in value) + "]"
    text = str(value)
    if _BARE.match(text) and text.lower() not in ("null", "true", "false"):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def params_to_overrides(params: dict[str, Any]) -> list[str]:
    return [f"{key}={format_value(value)}" for key, value in params.items()]
