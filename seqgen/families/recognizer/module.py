"""Recognisers as Lightning modules: one BLSTM + CTC over frames, two kinds of input.

    HandwritingRecognizer   pen offsets (dx, dy, eos) of the handwriting data -> characters, CER
    PhonemeRecognizer       audio feature frames of the speech data -> phonemes, PER

Loss (Graves et al. 2006): L = -ln p(z | x) = -ln sum_{pi in B^-1(z)} prod_s y_s(pi_s), computed by
`torch.nn.CTCLoss` (forward-backward), averaged over the sequences of a batch (`train/ctc` is nats
per sequence). Metrics, on best-path transcriptions, corpus level (torchmetrics):

    CER = sum of character edit distances / sum of reference characters       (`val/cer`, `test/cer`)
    PER = sum of phoneme edit distances / sum of reference phonemes           (`val/per`, `test/per`)

PER is torchmetrics' word error rate over space-separated phoneme labels, after both sides are
folded by the data's scoring map (meta.json "scoring": TIMIT's 48 or 61 phones -> 39, Lee and Hon
1989; espeak-ng's allophone variants -> their base phoneme), as the usual recipes score.

Sequences too short for CTC (fewer frames than labels + repeated labels) have no valid path: they
are left out of the loss, counted (`train/ctc_skipped`, `ctc_skipped_lines` in the checkpoint) and
named in a warning (once each), never silently turned into a zero loss.

The modules hold loss, metrics and forward only; `read` (raw strokes or raw feature frames ->
transcriptions) is the public method the legibility and intelligibility evaluations call.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar, Optional, Sequence

import numpy as np
import torch
from torch import nn
from torchmetrics import Metric
from torchmetrics.text import CharErrorRate, WordErrorRate

from seqgen.data.handwriting.batch import HandwritingBatch
from seqgen.data.handwriting.strokes import NormStats
from seqgen.errors import SeqgenError
from seqgen.families.recognizer.config import DECODERS, PhonemeRecognizerConfig, RecognizerConfig
from seqgen.families.recognizer.decode import beam_search, best_path, ctc_min_frames
from seqgen.families.recognizer.nets import RecognizerNet
from seqgen.core.module import SeqModule

log = logging.getLogger(__name__)


class FrameRecognizer(SeqModule):
    """Bidirectional LSTM + CTC over frames; a subclass says what its data's frames, labels and
    references are (`inputs`, `targets`, `references`) and how transcriptions are scored."""

    family = "recognizer"
    data_hint: ClassVar[str] = ""
    metric: ClassVar[str] = "cer"
    separator: ClassVar[str] = ""  # between labels in a transcription

    config_class: ClassVar[type] = RecognizerConfig

    def __init__(self, data_info: dict[str, Any], optim: Any = None, **options: Any) -> None:
        super().__init__(optim, config=self.typed_config(options), data_info=data_info)
        if data_info.get("family") not in (None, *self.data_families):
            raise SeqgenError(f"the {type(self).__name__} reads {self.data_families[0]} data ({self.data_hint}), got '{data_info.get('family')}' data")
        self.vocab: list[str] = self.label_vocab(data_info)
        self.net = RecognizerNet(len(self.vocab), self.config, self.input_dim(data_info))
        self.ctc = nn.CTCLoss(blank=0, reduction="none", zero_infinity=True)
        self.error_metrics = nn.ModuleDict({stage: self.error_metric() for stage in ("val", "test")})
        self.ctc_skipped: set[str] = set()

    # --- what a subclass says about its data -----------------------------------------------------
    def label_vocab(self, data_info: dict[str, Any]) -> list[str]:
        raise NotImplementedError

    def input_dim(self, data_info: dict[str, Any]) -> int:
        raise NotImplementedError

    def inputs(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, input_dim) normalised frames and (B,) frames per sequence."""
        raise NotImplementedError

    def targets(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, U) label ids 1..V (0 = blank / padding) and (B,) labels per sequence."""
        raise NotImplementedError

    def names(self, batch: Any) -> list[str]:
        """One name per sequence (for the warning about sequences too short for CTC)."""
        raise NotImplementedError

    def error_metric(self) -> Metric:
        return CharErrorRate()

    def scored(self, transcription: str) -> str:
        """A transcription as it is scored (PER: folded to the scoring phone set)."""
        return transcription

    # --- forward -------------------------------------------------------------------------------
    def forward(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probabilities (B, S, C) and frames per sequence after subsampling."""
        return self.net(*self.inputs(batch))

    def batch_units(self, batch: Any) -> int:
        return int(self.inputs(batch)[1].sum())

    def feasible(self, batch: Any, frames: torch.Tensor) -> torch.Tensor:
        """(B,) True where the sequence has enough frames for a CTC path of its labels."""
        labels, counts = self.targets(batch)
        need = [ctc_min_frames(row[:n].tolist()) for row, n in zip(labels.cpu(), counts.tolist())]
        return frames.cpu() >= torch.tensor(need, dtype=frames.dtype)

    def ctc_loss(self, batch: Any, stage: str = "train") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mean CTC loss (nats per sequence) over the feasible ones; also log-probs, frames, feasibility."""
        log_probs, frames = self(batch)
        ok = self.feasible(batch, frames)
        if not bool(ok.all()):
            self._record_short(batch, ok, frames, stage)
        labels, counts = self.targets(batch)
        losses = self.ctc(log_probs.transpose(0, 1), labels, frames, counts)
        keep = ok.to(losses.device)
        loss = (losses * keep).sum() / keep.sum().clamp_min(1)
        return loss, log_probs, frames, ok

    def _record_short(self, batch: Any, ok: torch.Tensor, frames: torch.Tensor, stage: str) -> None:
        names, (_, counts), refs = self.names(batch), self.targets(batch), self.references(batch)
        for row in torch.nonzero(~ok).flatten().tolist():
            name = str(names[row]) if row < len(names) else f"row {row}"
            if name not in self.ctc_skipped:
                self.ctc_skipped.add(name)
                log.warning(
                    "%s sequence %s skipped by the CTC loss: %d frames for %d labels (%r); lower model.subsample",
                    stage, name, int(frames[row]), int(counts[row]), refs[row],
                )

    def compute_loss(self, batch: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        loss, _, _, ok = self.ctc_loss(batch)
        logs = {"loss": loss.detach(), "ctc": loss.detach(), "ctc_skipped": torch.tensor(float(len(self.ctc_skipped)))}
        if not bool(ok.any()):  # nothing to learn from: an all-zero loss without gradient would crash backward
            return loss + 0.0 * sum(p.sum() for p in self.parameters()), logs
        return loss, logs

    # --- evaluation ----------------------------------------------------------------------------
    def ids_to_text(self, ids: Sequence[int]) -> str:
        """Label ids (1-based: 0 is the blank) -> a transcription."""
        return self.separator.join(self.vocab[i - 1] for i in ids if 0 < i <= len(self.vocab))

    def references(self, batch: Any) -> list[str]:
        labels, counts = self.targets(batch)
        return [self.ids_to_text(row[:n].tolist()) for row, n in zip(labels.cpu(), counts.tolist())]

    def decode(self, log_probs: torch.Tensor, frames: torch.Tensor, decoder: Optional[str] = None) -> list[str]:
        decoder = decoder or self.config.decoder
        if decoder == "beam":
            ids = beam_search(log_probs, frames, self.config.beam_width)
        elif decoder == "greedy":
            ids = best_path(log_probs, frames)
        else:
            raise SeqgenError(f"decoder={decoder!r}: use one of {', '.join(DECODERS)}")
        return [self.ids_to_text(row) for row in ids]

    def error_rate(self, hypotheses: Sequence[str], references: Sequence[str]) -> float:
        """Corpus error rate (CER or PER, as scored) of transcriptions against references."""
        if len(hypotheses) != len(references):
            raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} references")
        if not references:
            return float("nan")
        metric = self.error_metric()
        metric.update([self.scored(h) for h in hypotheses], [self.scored(r) for r in references])
        return float(metric.compute())

    def _evaluate(self, batch: Any, stage: str) -> None:
        loss, log_probs, frames, _ = self.ctc_loss(batch, stage)
        refs = self.references(batch)
        self.error_metrics[stage].update([self.scored(h) for h in self.decode(log_probs, frames)], [self.scored(r) for r in refs])
        self.log(f"{stage}/ctc", loss, on_step=False, on_epoch=True, batch_size=len(refs))

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def on_validation_epoch_end(self) -> None:
        self.log(f"val/{self.metric}", self.error_metrics["val"].compute(), prog_bar=True)
        self.error_metrics["val"].reset()

    def on_test_epoch_end(self) -> None:
        self.log(f"test/{self.metric}", self.error_metrics["test"].compute())
        self.error_metrics["test"].reset()

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["ctc_skipped_lines"] = sorted(self.ctc_skipped)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.ctc_skipped = set(checkpoint.get("ctc_skipped_lines") or [])

    # --- reading raw sequences (legibility, intelligibility) -------------------------------------
    @torch.no_grad()
    def read_normalised(self, rows: Sequence[np.ndarray], decoder: Optional[str] = None, batch_size: int = 64) -> list[str]:
        """Normalised (T, input_dim) sequences, as the network reads them -> transcriptions."""
        was_training = self.training
        self.eval()
        texts: list[str] = []
        try:
            for start in range(0, len(rows), batch_size):
                chunk = rows[start : start + batch_size]
                lengths = torch.tensor([max(len(c), 1) for c in chunk], dtype=torch.long)
                frames = torch.zeros(len(chunk), int(lengths.max()), self.net.input_dim)
                for row, arr in enumerate(chunk):
                    frames[row, : len(arr)] = torch.as_tensor(np.asarray(arr, dtype=np.float32))
                log_probs, n_frames = self.net(frames.to(self.device), lengths.to(self.device))
                texts.extend(self.decode(log_probs, n_frames, decoder))
        finally:
            self.train(was_training)
        return texts


class HandwritingRecognizer(FrameRecognizer):
    """Online handwriting: BLSTM + CTC over the pen offsets of the handwriting data, CER."""

    data_families = ("handwriting",)
    data_hint = "data=handwriting_hershey or iam_ondb"
    monitor = "val/cer"
    unit_name = "points"

    def __init__(self, data_info: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(data_info, **kwargs)
        self.norm = NormStats.from_dict(data_info["norm"])

    def label_vocab(self, data_info: dict[str, Any]) -> list[str]:
        return list(data_info["vocab"]["chars"])

    def input_dim(self, data_info: dict[str, Any]) -> int:
        return 3

    def inputs(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        return batch.offsets[:, 1:], batch.lengths - 1  # row 0 (the start row) is not read

    def targets(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        return batch.chars + 1, batch.char_lengths  # ids 1..V: 0 is the blank

    def names(self, batch: Any) -> list[str]:
        return list(batch.ids or batch.texts)

    def references(self, batch: Any) -> list[str]:
        return list(batch.texts)

    def read(self, lines: Sequence[np.ndarray], decoder: Optional[str] = None, batch_size: int = 64) -> list[str]:
        """Raw-unit offsets, each (T, 3) with the start row first (as the synthesis sampler writes
        them and `NormStats.invert` gives them) -> recognised texts."""
        rows = []
        for line in lines:
            arr = self.norm.apply(np.asarray(line, dtype=np.float32))[1:]
            rows.append(arr if len(arr) else np.zeros((1, 3), np.float32))
        return self.read_normalised(rows, decoder, batch_size)


class PhonemeRecognizer(FrameRecognizer):
    """Speech: BLSTM + CTC over the audio feature frames of the speech data, PER.

    Its checkpoint keeps what it was trained on (data_info: features, phoneme inventory, scoring
    map, corpus), so the intelligibility evaluation can refuse a synthesis model that speaks other
    features or another phone set."""

    data_families = ("speech",)
    data_hint = "data=speech_espeak or timit"
    config_class = PhonemeRecognizerConfig
    monitor = "val/per"
    metric = "per"
    unit_name = "frames"
    separator = " "

    def __init__(self, data_info: dict[str, Any], **kwargs: Any) -> None:
        units = str(data_info.get("units") or "phonemes")
        if units != "phonemes":
            raise SeqgenError(f"the phoneme recogniser reads phonemes, but the data gives {units}: set data.datamodule.units=phonemes")
        super().__init__(data_info, **kwargs)
        self.features: dict[str, Any] = dict(data_info["features"])
        self.mean = np.asarray(data_info["norm"]["mean"], dtype=np.float32)
        self.std = np.asarray(data_info["norm"]["std"], dtype=np.float32)
        scoring = data_info.get("scoring") or {}
        self.scoring_name: str = str(scoring.get("name") or "as trained")
        self.fold: dict[str, str] = dict(scoring.get("fold") or {})

    def label_vocab(self, data_info: dict[str, Any]) -> list[str]:
        return list(data_info["vocab"]["phonemes"])

    def input_dim(self, data_info: dict[str, Any]) -> int:
        return len(data_info["norm"]["mean"])

    def inputs(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        return batch["frames"], batch["lengths"]

    def targets(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        return batch["symbols"], batch["symbol_mask"].sum(1)  # ids 1..V, 0-padded: 0 is also the blank

    def names(self, batch: Any) -> list[str]:
        return list(batch["uids"])

    def error_metric(self) -> Metric:
        return WordErrorRate()  # over space-separated phoneme labels: the phoneme error rate

    def scored(self, transcription: str) -> str:
        if not self.fold:
            return transcription
        return " ".join(folded for folded in (self.fold.get(p, p) for p in transcription.split()) if folded)

    def read(self, frames: Sequence[np.ndarray], decoder: Optional[str] = None, batch_size: int = 64) -> list[str]:
        """Raw (unnormalised) feature frames, each (T, D) as the speech data's `prepare` computes
        them from audio -> recognised phonemes, space-separated."""
        rows = [(np.asarray(f, dtype=np.float32) - self.mean) / self.std for f in frames]
        return self.read_normalised(rows, decoder, batch_size)
