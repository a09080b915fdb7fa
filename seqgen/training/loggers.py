"""Experiment loggers from config: W&B offline by default, CSV as an alternative and fallback."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig
from pytorch_lightning.loggers import CSVLogger, Logger, WandbLogger

log = logging.getLogger(__name__)


def build_loggers(logger_cfg: DictConfig | None, run_dir: Path, run_config: dict[str, Any] | None = None) -> list[Logger]:
    """Instantiate every configured logger; a W&B logger that cannot start falls back to CSV.

    W&B runs offline unless `logger.wandb.offline=false`: no network and no API key are needed,
    and `wandb sync <run>/wandb/offline-run-*` uploads the run later.
    """
    loggers: list[Logger] = []
    for name, cfg in (logger_cfg or {}).items():
        if cfg is None or "_target_" not in cfg:
            continue
        try:
            if "WandbLogger" in str(cfg._target_):
                if cfg.get("offline", True):
                    os.environ.setdefault("WANDB_MODE", "offline")
                os.environ.setdefault("WANDB_SILENT", "true")
                (run_dir / "wandb").mkdir(parents=True, exist_ok=True)
            logger = instantiate(cfg)
            if isinstance(logger, WandbLogger):
                _ = logger.experiment  # start the run now, so a failure is caught here
                if run_config is not None:
                    logger.experiment.config.update(run_config, allow_val_change=True)
            loggers.append(logger)
        except Exception as err:  # W&B missing, broken install, no disk: keep training on CSV
            log.warning("logger '%s' could not start (%s); continuing with the CSV logger", name, err)
            if not any(isinstance(item, CSVLogger) for item in loggers):
                loggers.append(CSVLogger(save_dir=str(run_dir), name="csv", version=""))
    return loggers
