"""W&B logs offline with no API key; if it cannot start, training continues on CSV."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf
from pytorch_lightning.loggers import CSVLogger, WandbLogger

from seqgen.training.loggers import build_loggers


def test_wandb_offline_without_api_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_MODE", "offline")
    cfg = OmegaConf.create({"wandb": {"_target_": "pytorch_lightning.loggers.WandbLogger", "project": "t", "offline": True, "save_dir": str(tmp_path), "group": "g1"}})
    loggers = build_loggers(cfg, tmp_path, {"model": {"hidden_size": 8}})
    assert isinstance(loggers[0], WandbLogger)
    loggers[0].log_metrics({"train/loss": 1.5}, step=1)
    loggers[0].experiment.finish()
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert runs and any(p.suffix == ".wandb" for p in runs[0].iterdir())


def test_broken_wandb_falls_back_to_csv(tmp_path: Path) -> None:
    cfg = OmegaConf.create({"wandb": {"_target_": "seqgen.training.no_such_module.WandbLogger"}})
    loggers = build_loggers(cfg, tmp_path)
    assert len(loggers) == 1 and isinstance(loggers[0], CSVLogger)
