"""What a config read from a run folder may build: seqgen's own classes, nothing else.

A run folder can come from someone else (copied, downloaded, shared on a cluster), so its files
are as untrusted as a foreign checkpoint. Hydra's `instantiate` calls whatever `_target_` a config
names (``_target_: os.system`` runs a shell command), so every config that seqgen reads from disk
(`config_resolved.yaml` for `seqgen-eval`, `recognizer=`, sampling; `.hydra/overrides.yaml` for
`resume=`) is checked here before anything is built from it:

* every `_target_` must be on the allow-list (`allowed_target`), unless the file is one this user's
  seqgen wrote and nobody changed since (`seqgen.provenance`: a run's own callbacks keep working
  on `resume=`): a target named in seqgen's shipped
  configs (conf/), or a class under seqgen, torch.optim or Lightning's callbacks and loggers that
  is a module, data module, callback, logger, optimizer or learning-rate scheduler. The name is
  checked against those prefixes before anything is imported, so no foreign module is loaded;
* every place where an object is expected (`callbacks.*`, `logger.*`, `model`, `data.datamodule`,
  `trainer`, `optim.optimizer`, `optim.scheduler`) must hold a mapping with a `_target_` (or null
  where null means "none"): `callbacks.x: 5` fails here, naming the key, instead of deep inside
  Lightning (`check_objects`, also run on the command line's config by `validate_config`).

A refusal is one `SeqgenError` naming the file, the key and the target.
"""

from __future__ import annotations

import fnmatch
import functools
from pathlib import Path
from typing import Any, Iterator, Mapping

from omegaconf import DictConfig, ListConfig, OmegaConf

from seqgen.errors import SeqgenError

# Modules whose classes may be built from a run folder's config (checked as text, before importing).
TRUSTED_PREFIXES = (
    "seqgen.",
    "torch.optim.",
    "pytorch_lightning.callbacks.",
    "pytorch_lightning.loggers.",
    "lightning.pytorch.callbacks.",
    "lightning.pytorch.loggers.",
)

# (key pattern, null allowed, `_target_` required): where a config must hold an object, a mapping
# (sections that may lack a `_target_` in partial configs are built only when they have one).
OBJECT_KEYS = (
    ("callbacks.*", True, True),
    ("logger.*", True, False),
    ("model", False, False),
    ("data.datamodule", False, False),
    ("trainer", False, False),
    ("optim.optimizer", False, False),
    ("optim.scheduler", True, False),
)


@functools.lru_cache(maxsize=1)
def shipped_targets() -> frozenset[str]:
    """Every `_target_` named in seqgen's own configs (the packaged conf/)."""
    import yaml

    from seqgen._config import config_dir

    names: set[str] = set()
    for path in Path(config_dir()).rglob("*.yaml"):
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~10x faster
        for _, value in _targets(yaml.load(path.read_text(encoding="utf-8"), Loader=loader)):
            names.add(str(value))
    return frozenset(names)


@functools.lru_cache(maxsize=256)
def allowed_target(name: str) -> bool:
    """Whether a run folder's config may name `name` as a `_target_`."""
    if name in shipped_targets():
        return True
    if not name.startswith(TRUSTED_PREFIXES) or not all(part.isidentifier() for part in name.split(".")):
        return False
    from hydra._internal.utils import _locate

    try:
        target = _locate(name)
    except Exception:  # not found: refused as unknown rather than failing later
        return False
    return isinstance(target, type) and issubclass(target, _trusted_bases())


def _trusted_bases() -> tuple[type, ...]:
    import pytorch_lightning as pl
    import torch
    from pytorch_lightning.loggers import Logger

    return (pl.LightningModule, pl.LightningDataModule, pl.Callback, Logger, torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler)


def _targets(node: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, value) of every `_target_` in a plain container."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            dotted = f"{prefix}.{key}" if prefix else str(key)
            if key == "_target_":
                yield dotted, value
            else:
                yield from _targets(value, dotted)
    elif isinstance(node, (list, tuple)):
        for index, value in enumerate(node):
            yield from _targets(value, f"{prefix}[{index}]")


def _plain(cfg: Any) -> Any:
    """`cfg` as plain containers, interpolations left as written (resolving may need Hydra's state)."""
    return OmegaConf.to_container(cfg, resolve=False) if isinstance(cfg, (DictConfig, ListConfig)) else cfg


def check_targets(cfg: Any, source: str) -> None:
    """Refuse a config (read from `source`) that names a `_target_` outside the allow-list."""
    for key, value in _targets(_plain(cfg)):
        # an interpolated target (`${...}`) is refused too: a file must name its classes literally
        if not isinstance(value, str) or not allowed_target(value):
            raise SeqgenError(
                f"{source}: {key}={value!r} is refused: a config read from a run folder may build only seqgen's own "
                "classes and the optimizers, schedulers, callbacks and loggers it ships (nothing else is run from a "
                "file); remove that entry if you did not put it there"
            )


def check_objects(cfg: Any, source: str = "") -> None:
    """Refuse a value that is not an object where the config needs one (`callbacks.x: 5`)."""
    plain = _plain(cfg)
    if not isinstance(plain, Mapping):
        raise SeqgenError(f"{source or 'the config'}: expected a mapping of config keys, got {type(plain).__name__}")
    where = f"{source}: " if source else ""
    for key, value in _flatten_sections(plain):
        for pattern, nullable, needs_target in OBJECT_KEYS:
            if not fnmatch.fnmatchcase(key, pattern):
                continue
            if isinstance(value, str) and "${" in value and isinstance(cfg, DictConfig):
                value = OmegaConf.select(cfg, key, throw_on_resolution_failure=False)
                value = OmegaConf.to_container(value, resolve=False) if isinstance(value, DictConfig) else value
            target = value.get("_target_", None if needs_target else "") if isinstance(value, Mapping) else None
            if not (value is None and nullable) and not isinstance(target, str):
                shown = f"_target_={target!r}" if isinstance(value, Mapping) else repr(value)
                raise SeqgenError(
                    f"{where}{key} must be an object (a mapping with a _target_{' or null' if nullable else ''}), "
                    f"got {shown[:120]}: fix or remove {key}"
                )
            break


def _flatten_sections(plain: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """The keys OBJECT_KEYS can name: top-level sections and their direct children."""
    for key, value in plain.items():
        yield str(key), value
        if isinstance(value, Mapping):
            for child, inner in value.items():
                yield f"{key}.{child}", inner


def check_loaded_config(cfg: Any, source: str, own: bool = False) -> None:
    """A config read from disk: targets on the allow-list (unless `own`: a file this user's seqgen
    wrote, `seqgen.provenance.written_here`), objects where objects belong. Its value ranges are
    the reading command's to check (`seqgen.validate.validate_loaded`: this module is a shared
    layer and imports no platform code)."""
    if not own:
        check_targets(cfg, source)
    check_objects(cfg, source)
