"""Helpers shared by the Hydra entry points."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator

import hydra
from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from seqgen._config import config_dir
from seqgen.core.config import composition_error
from seqgen.errors import friendly_errors, write_reason

CONFIG_PATH = str(config_dir())  # packaged with seqgen (see seqgen/_config); Hydra's primary search path


def seqgen_main(config_name: str) -> Callable[[Callable[[DictConfig], Any]], Callable[[], Any]]:
    """`hydra.main` of a seqgen command, plus: a config Hydra cannot compose (a key no schema or YAML
    declares, a value of the wrong type for its schema, a config group option that does not exist)
    is one `seqgen: error:` line and exit status 2, like every other user error."""

    def decorate(task: Callable[[DictConfig], Any]) -> Callable[[], Any]:
        app = hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name=config_name)(task)

        @friendly_errors
        @functools.wraps(task)
        def entry() -> Any:
            with _hydra_errors_raised():
                try:
                    return app()
                except (ConfigCompositionException, MissingConfigException, OverrideParseException) as err:
                    raise composition_error(err) from None

        return entry

    return decorate


@contextlib.contextmanager
def _hydra_errors_raised() -> Iterator[None]:
    """Hydra prints an error and exits unless HYDRA_FULL_ERROR is set, in which case it raises it."""
    previous = os.environ.get("HYDRA_FULL_ERROR")
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = previous


def run_dir() -> Path:
    return Path(HydraConfig.get().runtime.output_dir)


def task_overrides() -> list[str]:
    return list(HydraConfig.get().overrides.task)


def start(cfg: DictConfig, command: str) -> None:
    """What every command does first: quiet libraries, then refuse bad config values before any work."""
    from seqgen.validate import validate_config

    quiet_libraries()
    validate_config(cfg, command)


def quiet_libraries() -> None:
    """Keep the console readable: library chatter that a user cannot act on goes away."""
    # A log line that cannot be written (full disk) must not print a traceback per line: the write
    # that matters (a checkpoint, metrics.json) reports the full disk as one error.
    logging.raiseExceptions = False
    # checkpoint_connector: "`weights_only` was not set" is about *saving* whole checkpoints (what we want)
    for name in ("pytorch_lightning.utilities.rank_zero", "lightning.fabric", "pytorch_lightning.accelerators",
                 "pytorch_lightning.trainer.connectors.checkpoint_connector"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*GPU available but not used.*")
    warnings.filterwarnings("ignore", message=".*Your `IterableDataset` has `__len__` defined.*")
    warnings.filterwarnings("ignore", message=".*The number of training batches.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    # Our datamodule saves and restores the data position itself (ShardDataModule.state_dict).
    warnings.filterwarnings("ignore", message=".*your dataloader is not resumable.*")


def say(message: str) -> None:
    print(message, flush=True)


def finished(kind: str, where: Path) -> None:
    say(f"[seqgen] {kind} finished. Run folder: {where}")


def shown_path(path: Path) -> str:
    """`path` as a user types it here: relative to the working folder when inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


class OutputFolderCheck(Callback):
    """Hydra creates the output folder and writes `.hydra/` into it before seqgen's code runs (and
    prints a traceback when it cannot): a folder that cannot be written is refused here, in one
    line naming it and the reason (conf/hydra/default.yaml registers this callback)."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config, "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config, "hydra.sweep.dir")

    @staticmethod
    def _check(config: DictConfig, key: str) -> None:
        try:
            HydraConfig.instance().set_config(config)  # what run_job does first: ${hydra:...} resolves
            folder = Path(str(OmegaConf.select(config, key)))
        except Exception:  # not resolvable here: Hydra reports it itself
            return
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder) as probe:  # room for Hydra's config files, then gone
                probe.write(bytes(1 << 16))
                probe.flush()
                os.fsync(probe.fileno())
        except OSError as err:
            reason = write_reason(err, folder)
            if reason is None:
                raise
            print(f"seqgen: error: cannot write the output folder {folder}: {reason}: pick another with {key}=<folder>", file=sys.stderr, flush=True)
            sys.exit(2)
