"""Test-only Lightning callbacks, loaded into sweep trials through `+callbacks.<name>._target_=...`.

Ray workers import this module by name: the tests put this folder on PYTHONPATH.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytorch_lightning as pl


class CrashOnce(pl.Callback):
    """Raises once at `at_step`, in the first trial that gets there (the flag file is shared).

    Appends `<run dir> <global step>` to `<flag>.starts` whenever a fit starts, so a test can see
    that the retry resumed from the checkpoint instead of starting over.
    """

    def __init__(self, flag: str, at_step: int) -> None:
        self.flag = Path(flag)
        self.at_step = at_step

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        with open(f"{self.flag}.starts", "a") as handle:
            handle.write(f"{trainer.default_root_dir} {trainer.global_step}\n")

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        if trainer.global_step >= self.at_step:
            try:
                with open(self.flag, "x") as handle:  # atomic: exactly one trial crashes
                    handle.write(str(trainer.default_root_dir))
            except FileExistsError:
                return
            raise RuntimeError("injected crash (test)")
