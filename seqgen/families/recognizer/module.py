"""The online handwriting recogniser as a Lightning module: CTC loss and character error rate.

Loss (Graves et al. 2006): L = -ln p(z | x) = -ln sum_{pi in B^-1(z)} prod_s y_s(pi_s), computed by
`torch.nn.CTCLoss` (forward-backward), averaged over the lines of a batch (`train/ctc` is nats
per line). Metrics: `val/cer` / `test/cer` = total edit distance / total reference characters of
the best-path transcriptions (torchmetrics `CharErrorRate`), and `val/ctc`.

Lines too short for CTC (fewer frames than labels + repeated labels) have no valid path: they are
left out of the loss, counted (`train/ctc_skipped`, `ctc_skipped_lines` in the checkpoint) and
named in a warning (once per line), never silently turned into a zero loss.

The module holds loss, metrics and forward only; `read` (raw strokes -> texts) is the public
method the legibility evaluation calls.
"""

from __future__ import annotations

import logging
from typing import Any, Optional, Sequence

import numpy as np
import torch
from torch import nn
from torchmetrics.text import CharErrorRate

from seqgen.data.handwriting.batch import HandwritingBatch
from seqgen.data.handwriting.strokes import NormStats
from seqgen.errors import SeqgenError
from seqgen.families.recognizer.decode import beam_search, best_path, ctc_min_frames, ids_to_text
from seqgen.families.recognizer.nets import RecognizerNet
from seqgen.core.module import SeqModule

log = logging.getLogger(__name__)

DECODERS = ("greedy", "beam")


class HandwritingRecognizer(SeqModule):
    """Bidirectional LSTM + CTC over the characters of the handwriting data's vocabulary."""

    family = "recognizer"
    data_families = ("handwriting",)
    monitor = "val/cer"
    unit_name = "points"

    def __init__(
        self,
        data_info: dict[str, Any],
        hidden_size: int = 128,
        num_layers: int = 2,
        subsample: int = 2,
        dropout: float = 0.0,
        decoder: str = "greedy",
        beam_width: int = 8,
        optim: Any = None,
        max_nonfinite_steps: int = 25,
    ) -> None:
        super().__init__(optim=optim, max_nonfinite_steps=max_nonfinite_steps)
        if data_info.get("family") not in (None, "handwriting"):
            raise SeqgenError(f"the recogniser reads handwriting data (data=handwriting_hershey or iam_ondb), got '{data_info.get('family')}' data")
        for key, value, low in (("hidden_size", hidden_size, 1), ("num_layers", num_layers, 1), ("subsample", subsample, 1), ("beam_width", beam_width, 1)):
            if int(value) < low:
                raise SeqgenError(f"model.{key}={value} is out of range: it must be >= {low}")
        if decoder not in DECODERS:
            raise SeqgenError(f"model.decoder={decoder!r}: use one of {', '.join(DECODERS)}")
        if not 0.0 <= float(dropout) < 1.0:
            raise SeqgenError(f"model.dropout={dropout} is out of range: it must be in [0, 1)")
        self.save_hyperparameters()
        self.norm = NormStats.from_dict(data_info["norm"])
        self.vocab: list[str] = list(data_info["vocab"]["chars"])
        self.net = RecognizerNet(len(self.vocab), hidden_size, num_layers, subsample, dropout)
        self.ctc = nn.CTCLoss(blank=0, reduction="none", zero_infinity=True)
        self.cer_metrics = nn.ModuleDict({stage: CharErrorRate() for stage in ("val", "test")})
        self.ctc_skipped: set[str] = set()

    # --- forward -------------------------------------------------------------------------------
    def forward(self, batch: HandwritingBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probabilities (B, S, C) and frames per line; row 0 (the start row) is not read."""
        return self.net(batch.offsets[:, 1:], batch.lengths - 1)

    def batch_units(self, batch: HandwritingBatch) -> int:
        return int((batch.lengths - 1).sum())

    def feasible(self, batch: HandwritingBatch, frames: torch.Tensor) -> torch.Tensor:
        """(B,) True where the line has enough frames for a CTC path of its transcription."""
        need = [ctc_min_frames(row[:n].tolist()) for row, n in zip(batch.chars.cpu(), batch.char_lengths.tolist())]
        return frames.cpu() >= torch.tensor(need, dtype=frames.dtype)

    def ctc_loss(self, batch: HandwritingBatch, stage: str = "train") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mean CTC loss (nats per line) over the feasible lines; also log-probs, frames, feasibility."""
        log_probs, frames = self(batch)
        ok = self.feasible(batch, frames)
        if not bool(ok.all()):
            self._record_short(batch, ok, frames, stage)
        losses = self.ctc(
            log_probs.transpose(0, 1), batch.chars + 1, frames, batch.char_lengths  # ids 1..V: 0 is the blank
        )
        keep = ok.to(losses.device)
        loss = (losses * keep).sum() / keep.sum().clamp_min(1)
        return loss, log_probs, frames, ok

    def _record_short(self, batch: HandwritingBatch, ok: torch.Tensor, frames: torch.Tensor, stage: str) -> None:
        ids = batch.ids or batch.texts
        for row in torch.nonzero(~ok).flatten().tolist():
            name = str(ids[row]) if row < len(ids) else f"row {row}"
            if name not in self.ctc_skipped:
                self.ctc_skipped.add(name)
                log.warning(
                    "%s line %s skipped by the CTC loss: %d frames for %d characters (%r); lower model.subsample",
                    stage, name, int(frames[row]), int(batch.char_lengths[row]), batch.texts[row],
                )

    def compute_loss(self, batch: HandwritingBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        loss, _, _, ok = self.ctc_loss(batch)
        logs = {"loss": loss.detach(), "ctc": loss.detach(), "ctc_skipped": torch.tensor(float(len(self.ctc_skipped)))}
        if not bool(ok.any()):  # nothing to learn from: an all-zero loss without gradient would crash backward
            return loss + 0.0 * sum(p.sum() for p in self.parameters()), logs
        return loss, logs

    # --- evaluation ----------------------------------------------------------------------------
    def decode(self, log_probs: torch.Tensor, frames: torch.Tensor, decoder: Optional[str] = None) -> list[str]:
        decoder = decoder or str(self.hparams.decoder)
        if decoder == "beam":
            ids = beam_search(log_probs, frames, int(self.hparams.beam_width))
        elif decoder == "greedy":
            ids = best_path(log_probs, frames)
        else:
            raise SeqgenError(f"decoder={decoder!r}: use one of {', '.join(DECODERS)}")
        return [ids_to_text(row, self.vocab) for row in ids]

    def _evaluate(self, batch: HandwritingBatch, stage: str) -> None:
        loss, log_probs, frames, _ = self.ctc_loss(batch, stage)
        self.cer_metrics[stage].update(self.decode(log_probs, frames), list(batch.texts))
        self.log(f"{stage}/ctc", loss, on_step=False, on_epoch=True, batch_size=len(batch.texts))

    def validation_step(self, batch: HandwritingBatch, batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: HandwritingBatch, batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def on_validation_epoch_end(self) -> None:
        self.log("val/cer", self.cer_metrics["val"].compute(), prog_bar=True)
        self.cer_metrics["val"].reset()

    def on_test_epoch_end(self) -> None:
        self.log("test/cer", self.cer_metrics["test"].compute())
        self.cer_metrics["test"].reset()

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["ctc_skipped_lines"] = sorted(self.ctc_skipped)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.ctc_skipped = set(checkpoint.get("ctc_skipped_lines") or [])

    # --- reading strokes (legibility) ----------------------------------------------------------
    @torch.no_grad()
    def read(self, lines: Sequence[np.ndarray], decoder: Optional[str] = None, batch_size: int = 64) -> list[str]:
        """Raw-unit offsets, each (T, 3) with the start row first (as the synthesis sampler writes
        them and `NormStats.invert` gives them) -> recognised texts."""
        was_training = self.training
        self.eval()
        texts: list[str] = []
        try:
            for start in range(0, len(lines), batch_size):
                chunk = [self.norm.apply(np.asarray(line, dtype=np.float32)) for line in lines[start : start + batch_size]]
                lengths = torch.tensor([max(len(c), 2) for c in chunk], dtype=torch.long)
                offsets = torch.zeros(len(chunk), int(lengths.max()), 3)
                for row, arr in enumerate(chunk):
                    offsets[row, : len(arr)] = torch.from_numpy(arr)
                log_probs, frames = self.net(offsets[:, 1:].to(self.device), (lengths - 1).to(self.device))
                texts.extend(self.decode(log_probs, frames, decoder))
        finally:
            self.train(was_training)
        return texts
