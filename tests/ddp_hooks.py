"""Test-only Lightning callbacks for the DDP tests, loaded by `+callbacks.<name>._target_=ddp_hooks.<Class>`.

The DDP ranks are separate processes (re-run command lines): the tests put this folder on
PYTHONPATH so each rank can import it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytorch_lightning as pl


class RecordRanks(pl.Callback):
    """Appends `start <rank> <step>` at every fit start and `write <rank> <file>` for every
    checkpoint file a rank actually writes (the checkpoint IO is wrapped, so a rank that only
    takes part in the collective save is not counted)."""

    def __init__(self, log: str) -> None:
        self.path = Path(log)

    def _write(self, line: str) -> None:
        with open(self.path, "a") as handle:  # short appends: atomic on POSIX
            handle.write(line + "\n")

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        io = trainer.strategy.checkpoint_io
        save = io.save_checkpoint
        rank = trainer.global_rank

        def recorded(checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
            self._write(f"write {rank} {os.fspath(path)}")
            save(checkpoint, path, storage_options)

        io.save_checkpoint = recorded  # type: ignore[method-assign]

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._write(f"start {trainer.global_rank} {trainer.global_step} {trainer.world_size}")
