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


class KillOnce(pl.Callback):
    """SIGKILLs its own process when training reaches `at_step`, the first time only (`flag` marks it):
    a power cut part-way through a run, which no shutdown code sees."""

    def __init__(self, flag: str, at_step: int) -> None:
        self.flag = flag
        self.at_step = int(at_step)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        import os
        import signal
        from pathlib import Path

        if trainer.global_step >= self.at_step and not Path(self.flag).exists():
            Path(self.flag).write_text(str(trainer.global_step))
            os.kill(os.getpid(), signal.SIGKILL)
