"""What a recogniser makes of a generative model's output, measured after validations.

`RecognizerCallback` is the Lightning side of `model.recognizer=<recogniser run>`, whatever the
family: it loads the recogniser in `setup` (a wrong one fails before the first step), measures
after every `every_n_validations`-th validation, logs the result's `metrics("val", select_bias)`
(so checkpointing and sweeps can select on `val/cer` or `val/per`) and writes the last result to
the run folder at the end of training. A family's subclass says how to load, measure and write:
handwriting's legibility (`seqgen/families/handwriting/legibility.py`), speech's intelligibility
(`seqgen/families/speech/intelligibility.py`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar, Iterable, Optional

import pytorch_lightning as pl

from seqgen.errors import SeqgenError

log = logging.getLogger(__name__)


class RecognizerCallback(pl.Callback):
    """See the module docstring. `count`: the validation lines or utterances measured each time."""

    progress_key: ClassVar[str] = ""  # the metric shown in the progress bar
    options_key: ClassVar[str] = ""  # the config group of the options, for error messages
    count_name: ClassVar[str] = ""

    def __init__(self, recognizer: str, biases: Iterable[float], select_bias: float, count: int, every_n_validations: int, seed: int) -> None:
        if int(count) < 1 or int(every_n_validations) < 1:
            raise SeqgenError(
                f"{self.options_key}: {self.count_name} ({count}) and every_n_validations ({every_n_validations}) must be >= 1"
            )
        self.path = str(recognizer)
        self.biases = [float(b) for b in biases]
        self.select_bias = float(select_bias)
        self.count = int(count)
        self.every = int(every_n_validations)
        self.seed = int(seed)
        self._recognizer: Any = None
        self._validations = 0
        self.last: Optional[Any] = None

    # --- what a family's subclass says ------------------------------------------------------------
    def load(self, pl_module: pl.LightningModule) -> Any:
        """The recogniser, checked against the model (raises SeqgenError naming a mismatch)."""
        raise NotImplementedError

    def measure(self, pl_module: pl.LightningModule, datamodule: Any) -> Any:
        """A result with `.metrics(prefix, select_bias)`, on the validation split."""
        raise NotImplementedError

    def write(self, result: Any, run_dir: Path, pl_module: pl.LightningModule) -> None:
        """The report of the last result, in the run folder."""
        raise NotImplementedError

    # --- Lightning hooks --------------------------------------------------------------------------
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self._recognizer is None:
            self._recognizer = self.load(pl_module)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        self._validations += 1
        if (self._validations - 1) % self.every:
            return
        self._recognizer.to(pl_module.device)
        self.last = self.measure(pl_module, trainer.datamodule)
        metrics = self.last.metrics("val", self.select_bias)
        for key, value in metrics.items():
            pl_module.log(key, value, prog_bar=key == self.progress_key)
        log.info("%s at step %d: %s", type(self).__name__, trainer.global_step, metrics)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.last is not None and trainer.is_global_zero:
            self.write(self.last, Path(trainer.default_root_dir), pl_module)
