"""Experiment loggers from config (W&B offline by default, CSV as an alternative and fallback), and
the one media logger: families return samples and figures as text or files, this sends them on."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

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


IMAGE_SUFFIXES = frozenset({".png", ".jpg"})
VIDEO_SUFFIXES = frozenset({".gif", ".mp4"})
AUDIO_SUFFIXES = frozenset({".wav"})


def log_media(loggers: Iterable[Logger], media: Mapping[str, Any], step: int) -> None:
    """Send a family's samples and figures to every logger that shows media (W&B).

    `media`: {key: value}; a `str` is a text sample (shown preformatted), a `Path` an image, audio
    or video file by its suffix; anything else (numbers, paths of reports) is not media and is left out.
    """
    for logger in loggers:
        if not isinstance(logger, WandbLogger):
            continue
        try:
            payload = _wandb_payload(media)
            if payload:
                logger.experiment.log(payload, step=step)
        except Exception as err:  # a logging failure must never stop training
            log.warning("could not log samples to W&B: %s", err)


def _wandb_payload(media: Mapping[str, Any]) -> dict[str, Any]:
    import wandb

    payload: dict[str, Any] = {}
    for key, value in media.items():
        if isinstance(value, str):
            payload[key] = wandb.Html(f"<pre>{_escape(value)}</pre>")
        elif isinstance(value, Path) and value.suffix in IMAGE_SUFFIXES:
            payload[key] = wandb.Image(str(value))
        elif isinstance(value, Path) and value.suffix in AUDIO_SUFFIXES:
            payload[key] = wandb.Audio(str(value))
        elif isinstance(value, Path) and value.suffix in VIDEO_SUFFIXES:
            payload[key] = wandb.Video(str(value))
    return payload


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
