"""The handwriting datamodule: prepared line shards -> `HandwritingBatch`es (seqgen/data/handwriting/batch.py).

Optional training crop (`max_points`): training batches keep only the first `max_points` pen
points (+ the start row) of every line, with the whole transcription. Cutting at the *start* keeps
the window alignment valid (the synthesis window always starts at the first character); the
model then never sees the ends of long lines, which slightly weakens the learned end-of-text
behaviour. Validation and test always use whole lines. Crop is applied in the main process
(`expand`), after loading, so it costs nothing in the shard pipeline. Equal batch counts on every
rank come from the core's `EpochLoader`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterator

from seqgen.core.datamodule import ShardDataModule
from seqgen.data.handwriting.batch import HandwritingBatch, collate_lines, decode_line
from seqgen.data.handwriting.strokes import NormStats
from seqgen.errors import SeqgenError


def crop_batch(batch: HandwritingBatch, max_points: int) -> HandwritingBatch:
    """Keep the start row and the first `max_points` points of every line (transcriptions unchanged)."""
    rows = max_points + 1
    if batch.offsets.shape[1] <= rows:
        return batch
    return dataclasses.replace(batch, offsets=batch.offsets[:, :rows], mask=batch.mask[:, :rows], lengths=batch.lengths.clamp(max=rows))


class HandwritingDataModule(ShardDataModule):
    family = "handwriting"
    train_expand = True

    def __init__(self, data_dir: str, max_points: int | None = None, **kwargs: Any) -> None:
        super().__init__(data_dir, **kwargs)
        if max_points is not None and int(max_points) < 2:
            raise SeqgenError(f"data.datamodule.max_points must be >= 2 or null (no crop), got {max_points}")
        self.max_points = int(max_points) if max_points is not None else None

    def load_info(self) -> dict[str, Any]:
        info = super().load_info()
        for key in ("norm", "vocab"):
            if key not in info:
                raise SeqgenError(f"{self.data_dir}/meta.json has no '{key}': re-run `seqgen-prepare` for this data set")
        info["train_max_points"] = self.max_points
        return info

    @property
    def norm(self) -> NormStats:
        return NormStats.from_dict(self.info["norm"])

    def decode(self, sample: dict[str, Any]) -> dict[str, Any]:
        return decode_line(sample)

    def collate(self, items: list[dict[str, Any]]) -> HandwritingBatch:
        return collate_lines(items)

    def expand(self, batch: HandwritingBatch) -> Iterator[HandwritingBatch]:
        yield crop_batch(batch, self.max_points) if self.max_points else batch

    def read_lines(self, split: str = "valid", limit: int = 4) -> list[dict[str, Any]]:
        """The first `limit` lines of a split, decoded (for figures: real lines next to samples)."""
        return self.read_samples(split, limit)
