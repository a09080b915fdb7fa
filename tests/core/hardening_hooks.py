"""Test-only callback for sweep trials (imported by name in Ray workers: tests/core on PYTHONPATH)."""

from __future__ import annotations

import time
from typing import Any

import pytorch_lightning as pl


class Intervals(pl.Callback):
    """Appends `start|end <unix time> <run dir>` to `log` when a fit starts and ends."""

    def __init__(self, log: str) -> None:
        self.path = log  # not `self.log`: a name Lightning callbacks already use

    def _write(self, kind: str, trainer: pl.Trainer) -> None:
        with open(self.path, "a") as handle:
            handle.write(f"{kind} {time.time():.3f} {trainer.default_root_dir}\n")

    def on_train_start(self, trainer: pl.Trainer, pl_module: Any) -> None:
        self._write("start", trainer)

    def on_train_end(self, trainer: pl.Trainer, pl_module: Any) -> None:
        self._write("end", trainer)
