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
from seqgen.eval.recognizer_callback import RecognizerCallback
from seqgen.families.handwriting.best_of import best_of_counts
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


def given_texts(source: str, model: HandwritingSynthesis, limit: int) -> list[str]:
    """`legibility_texts=`: ``everyday`` (the held-out everyday lines, `texts.heldout_texts`) or a
    UTF-8 file with one line per text; the first `limit` the model can write. A line it cannot
    write (a character outside its vocabulary, or longer than `model.max_text_chars`) is left out,
    logged and counted: the texts are fixed, and a model's vocabulary is its corpus's."""
    from seqgen.families.handwriting.texts import heldout_texts

    if source == "everyday":
        given = heldout_texts()
    else:
        path = Path(source).expanduser()
        if not path.is_file():
            raise SeqgenError(f"legibility_texts={source}: no such file; give everyday or a text file with one line per text")
        given = [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    known, longest = set(model.vocab), int(model.hparams.max_text_chars)
    texts = [text for text in given if set(text) <= known and len(text) <= longest]
    if len(texts) < len(given):
        missing = sorted({ch for text in given for ch in text if ch not in known})
        log.warning("legibility_texts=%s: %d of %d lines left out (characters outside the model's vocabulary: %s; "
                    "or longer than %d characters)", source, len(given) - len(texts), len(given), "".join(missing) or "none", longest)
    if not texts:
        raise SeqgenError(f"legibility_texts={source}: the model can write none of its {len(given)} lines; give texts in its vocabulary")
    return texts[:limit]


def legibility_of_model(
    model: HandwritingSynthesis,
    recognizer: Any,
    datamodule: HandwritingDataModule,
    split: str = "test",
    lines: int = 64,
    biases: Iterable[float] = DEFAULT_BIASES,
    seed: int = 0,
    best_of: Iterable[int] = (1,),
    texts_from: Optional[str] = None,
) -> LegibilityResult:
    """Legibility of a synthesis model on the texts of `lines` real lines of `split` (with the real
    lines as the floor), or on `texts_from` (`given_texts`: no real lines)."""
    from seqgen.families.handwriting.best_of import write_best_of

    if not isinstance(model, HandwritingSynthesis):
        raise SeqgenError(f"a {type(model).__name__} writes no given text, so its legibility cannot be measured: use a synthesis run")
    check_alphabet(model.vocab, recognizer.vocab)
    if texts_from:
        texts, raw = given_texts(str(texts_from), model, int(lines)), None
    else:
        texts, raw = real_lines(datamodule, split, int(lines), int(model.hparams.max_text_chars))

    def writer(batch: list[str], bias: float, n: int = 1) -> Any:
        return write_best_of(model, batch, n, recognizer.read, bias, seed=seed) if n > 1 else write(model, batch, bias, seed=seed)

    return evaluate_legibility(writer, recognizer.read, texts, biases, raw, best_of=best_of)


def evaluate_with_recognizer(model: Any, cfg: Any, datamodule: HandwritingDataModule, metrics: dict[str, float], out: Path) -> dict[str, Any]:
    """`seqgen-eval recognizer=`: write the test texts (or `legibility_texts`) at each bias and
    best-of, read them back; adds test/cer... to `metrics`."""
    recognizer = recognizer_for(model, cfg.recognizer, cfg.device)
    best_of = best_of_counts(cfg.get("best_of"))
    result = legibility_of_model(model, recognizer, datamodule, "test", int(cfg.legibility_lines), list(cfg.biases), int(cfg.seed),
                                 best_of, cfg.get("legibility_texts"))
    metrics.update(result.metrics("test", float(cfg.select_bias)))
    return {"recognizer": str(cfg.recognizer), **write_legibility(result, out, float(cfg.select_bias))}


class LegibilityCallback(RecognizerCallback):
    """Legibility at the end of validations (`model.recognizer=`): logs `val/cer` etc. so sweeps and
    checkpointing can select on it; the last result's plot and report go to the run folder."""

    progress_key, options_key, count_name = "val/cer", "model.legibility", "lines"

    def __init__(
        self,
        recognizer: str,
        biases: Iterable[float] = DEFAULT_BIASES,
        select_bias: float = 1.0,
        lines: int = 32,
        every_n_validations: int = 1,
        seed: int = 0,
    ) -> None:
        super().__init__(recognizer, biases, select_bias, lines, every_n_validations, seed)

    def load(self, pl_module: pl.LightningModule) -> Any:
        # checked before training starts, so a wrong checkpoint fails at once
        recognizer = load_recognizer(self.path, pl_module.device)
        check_alphabet(pl_module.vocab, recognizer.vocab)
        return recognizer

    def measure(self, pl_module: pl.LightningModule, datamodule: Any) -> LegibilityResult:
        return legibility_of_model(pl_module, self._recognizer, datamodule, "valid", self.count, self.biases, self.seed)

    def write(self, result: LegibilityResult, run_dir: Path, pl_module: pl.LightningModule) -> None:
        write_legibility(result, run_dir, self.select_bias)
