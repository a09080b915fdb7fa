"""Legibility of a handwriting synthesis model: the family's wiring of `seqgen.eval.legibility`.

    seqgen-eval ckpt=<synthesis run> recognizer=<recogniser run>   `evaluate_with_recognizer`
    seqgen-train ... model.recognizer=<recogniser run>               `LegibilityCallback` at validations

The model writes the texts of real lines of a split (`real_lines`) at each bias; the recogniser
reads them back, and reads the real lines themselves (its own error, the floor). The recogniser is
a checkpoint of the recogniser family, loaded through the registry (`load_model(family=
"recognizer")`), so this family imports no other family; it must know every character the model
writes (`check_alphabet`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Iterable, Optional

import numpy as np
import pytorch_lightning as pl

from seqgen.core.checkpoints import load_model
from seqgen.errors import SeqgenError
from seqgen.eval.legibility import DEFAULT_BIASES, LegibilityResult, check_alphabet, evaluate_legibility, write_legibility
from seqgen.families.handwriting.datamodule import HandwritingDataModule
from seqgen.families.handwriting.generate import write
from seqgen.families.handwriting.module import HandwritingSynthesis

log = logging.getLogger(__name__)


def load_recognizer(path: str | Path, device: Any = "cpu") -> Any:
    """A recogniser run folder or checkpoint -> its module (a checkpoint of another family is refused)."""
    return load_model(path, family="recognizer").to(device)


def recognizer_for(model: Any, path: str | Path, device: Any = "cpu") -> Any:
    """The recogniser at `path`, checked against the generative `model` before any evaluation runs:
    the model writes given text, `path` holds a recogniser, and it reads every character the model
    writes."""
    if not isinstance(model, HandwritingSynthesis):
        raise SeqgenError(f"a {type(model).__name__} writes no given text, so its legibility cannot be measured: use a synthesis run")
    recognizer = load_recognizer(path, device)
    check_alphabet(model.vocab, recognizer.vocab)
    return recognizer


def real_lines(datamodule: HandwritingDataModule, split: str, limit: int, max_chars: Optional[int] = None) -> tuple[list[str], list[np.ndarray]]:
    """Texts and raw-unit strokes of the first `limit` lines of a split (lines longer than `max_chars` left out)."""
    lines = datamodule.read_lines(split, limit)
    if max_chars:
        lines = [line for line in lines if len(line["text"]) <= max_chars]
    norm = datamodule.norm
    return [line["text"] for line in lines], [norm.invert(line["offsets"].numpy()) for line in lines]


def legibility_of_model(
    model: HandwritingSynthesis,
    recognizer: Any,
    datamodule: HandwritingDataModule,
    split: str = "test",
    lines: int = 64,
    biases: Iterable[float] = DEFAULT_BIASES,
    seed: int = 0,
) -> LegibilityResult:
    """Legibility of a synthesis model on the texts of `lines` real lines of `split`."""
    if not isinstance(model, HandwritingSynthesis):
        raise SeqgenError(f"a {type(model).__name__} writes no given text, so its legibility cannot be measured: use a synthesis run")
    check_alphabet(model.vocab, recognizer.vocab)
    texts, raw = real_lines(datamodule, split, int(lines), int(model.hparams.max_text_chars))
    return evaluate_legibility(lambda batch, bias: write(model, batch, bias, seed=seed), recognizer.read, texts, biases, raw)


def evaluate_with_recognizer(model: Any, cfg: Any, datamodule: HandwritingDataModule, metrics: dict[str, float], out: Path) -> dict[str, Any]:
    """`seqgen-eval recognizer=`: write the test texts at each bias, read them back; adds test/cer... to `metrics`."""
    recognizer = recognizer_for(model, cfg.recognizer, cfg.device)
    result = legibility_of_model(model, recognizer, datamodule, "test", int(cfg.legibility_lines), list(cfg.biases), int(cfg.seed))
    metrics.update(result.metrics("test", float(cfg.select_bias)))
    return {"recognizer": str(cfg.recognizer), **write_legibility(result, out, float(cfg.select_bias))}


class LegibilityCallback(pl.Callback):
    """Legibility at the end of validations (`model.recognizer=`): logs `val/cer` etc. so sweeps and
    checkpointing can select on it; the last result's plot and report go to the run folder."""

    def __init__(
        self,
        recognizer: str,
        biases: Iterable[float] = DEFAULT_BIASES,
        select_bias: float = 1.0,
        lines: int = 32,
        every_n_validations: int = 1,
        seed: int = 0,
    ) -> None:
        if int(lines) < 1 or int(every_n_validations) < 1:
            raise SeqgenError(f"model.legibility: lines ({lines}) and every_n_validations ({every_n_validations}) must be >= 1")
        self.path = str(recognizer)
        self.biases = [float(b) for b in biases]
        self.select_bias = float(select_bias)
        self.lines = int(lines)
        self.every = int(every_n_validations)
        self.seed = int(seed)
        self._recognizer: Any = None
        self._count = 0
        self.last: Optional[LegibilityResult] = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        # Load (and check the alphabet) before training starts, so a wrong checkpoint fails at once.
        if self._recognizer is None:
            self._recognizer = load_recognizer(self.path, pl_module.device)
            check_alphabet(pl_module.vocab, self._recognizer.vocab)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        self._count += 1
        if (self._count - 1) % self.every:
            return
        self._recognizer.to(pl_module.device)
        self.last = legibility_of_model(pl_module, self._recognizer, trainer.datamodule, "valid", self.lines, self.biases, self.seed)
        for key, value in self.last.metrics("val", self.select_bias).items():
            pl_module.log(key, value, prog_bar=key == "val/cer")
        log.info("legibility at step %d: %s", trainer.global_step, self.last.metrics("val", self.select_bias))

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.last is not None and trainer.is_global_zero:
            write_legibility(self.last, Path(trainer.default_root_dir), self.select_bias)
