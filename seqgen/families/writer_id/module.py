"""Writer identification as a Lightning module: which training writer wrote a line.

Loss: cross-entropy over the training writers (`meta.json` `train_writers`), nats per line.
Metrics: `val/accuracy`, `test/accuracy` (torchmetrics multiclass accuracy; a line of a writer
the classifier never saw counts as wrong) and `*/xent`. The classes are the writers of the
training split, so a line is attributed to one of them.

`classify(strokes)` (raw-unit strokes -> writer probabilities and style embeddings) is what the
style evaluation (`seqgen-eval ... style=true`, the handwriting family's style evaluation) calls.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from seqgen.core.module import SeqModule
from seqgen.data.handwriting.batch import HandwritingBatch
from seqgen.data.handwriting.strokes import NormStats
from seqgen.errors import SeqgenError
from seqgen.families.writer_id.config import WriterIdConfig
from seqgen.families.writer_id.nets import WriterNet


class WriterClassifier(SeqModule):
    """BLSTM over pen offsets, pooled over time, softmax over the training writers."""

    family = "writer_id"
    data_families = ("handwriting",)
    monitor = "val/xent"
    unit_name = "lines"

    config_class = WriterIdConfig

    def __init__(self, data_info: dict[str, Any], optim: Any = None, **options: Any) -> None:
        super().__init__(optim, config=self.typed_config(options), data_info=data_info)
        writers = list(data_info.get("train_writers") or [])
        if len(writers) < 2:
            raise SeqgenError(
                "the prepared data lists no training writers (meta.json train_writers): prepare it again with "
                "this version (seqgen-prepare data=...) to train a writer classifier"
            )
        self.norm = NormStats.from_dict(data_info["norm"])
        self.writers: list[str] = writers
        self.index = {w: i for i, w in enumerate(writers)}
        self.net = WriterNet(len(writers), self.config)
        self.xent = nn.CrossEntropyLoss(ignore_index=-1)
        self.accuracy = nn.ModuleDict({s: MulticlassAccuracy(len(writers), average="micro", ignore_index=-1) for s in ("val", "test")})

    def labels(self, batch: HandwritingBatch) -> torch.Tensor:
        return torch.tensor([self.index.get(w, -1) for w in batch.writers], dtype=torch.long, device=batch.offsets.device)

    def forward(self, batch: HandwritingBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Writer logits (B, W) and embeddings (B, E); row 0 (the start row) is not read."""
        return self.net(batch.offsets[:, 1:], batch.lengths - 1)

    def batch_units(self, batch: HandwritingBatch) -> int:
        return len(batch.writers)

    def compute_loss(self, batch: HandwritingBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        crop = self.config.max_points
        if crop:  # style shows in any stretch of a line: a crop saves time, whole lines at evaluation
            batch = HandwritingBatch(batch.offsets[:, : int(crop) + 1], batch.mask[:, : int(crop) + 1], batch.lengths.clamp(max=int(crop) + 1),
                                     batch.chars, batch.char_mask, batch.char_lengths, batch.texts, batch.writers, batch.ids)
        logits, _ = self(batch)
        loss = self.xent(logits, self.labels(batch))
        return loss, {"loss": loss.detach(), "xent": loss.detach()}

    def _evaluate(self, batch: HandwritingBatch, stage: str) -> None:
        logits, _ = self(batch)
        labels = self.labels(batch)
        known = labels >= 0
        if bool(known.any()):
            self.log(f"{stage}/xent", self.xent(logits, labels), on_step=False, on_epoch=True, batch_size=int(known.sum()))
        self.accuracy[stage].update(logits.argmax(-1), labels)

    def validation_step(self, batch: HandwritingBatch, batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: HandwritingBatch, batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def on_validation_epoch_end(self) -> None:
        self.log("val/accuracy", self.accuracy["val"].compute(), prog_bar=True)
        self.accuracy["val"].reset()

    def on_test_epoch_end(self) -> None:
        self.log("test/accuracy", self.accuracy["test"].compute())
        self.accuracy["test"].reset()

    @torch.no_grad()
    def classify(self, lines: Sequence[np.ndarray], batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """Raw-unit offsets, each (T, 3) with the start row first -> writer probabilities (N, W)
        and style embeddings (N, E)."""
        was_training = self.training
        self.eval()
        probs, embeddings = [], []
        try:
            for start in range(0, len(lines), batch_size):
                chunk = [self.norm.apply(np.asarray(line, dtype=np.float32)) for line in lines[start : start + batch_size]]
                lengths = torch.tensor([max(len(c), 2) for c in chunk], dtype=torch.long)
                offsets = torch.zeros(len(chunk), int(lengths.max()), 3)
                for row, arr in enumerate(chunk):
                    offsets[row, : len(arr)] = torch.from_numpy(arr)
                logits, e = self.net(offsets[:, 1:].to(self.device), (lengths - 1).to(self.device))
                probs.append(torch.softmax(logits.float(), -1).cpu().numpy())
                embeddings.append(e.float().cpu().numpy())
        finally:
            self.train(was_training)
        return np.concatenate(probs), np.concatenate(embeddings)
