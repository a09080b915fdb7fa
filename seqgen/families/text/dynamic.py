"""Dynamic evaluation of text models (`seqgen.eval.dynamic`), scored the way the compressor codes.

A split (or `seqgen-eval test_file=...`, cut into units by `codec.tokenise`) is one sequence of
symbols cut into the compressor's streams (`streams=auto`: one stream up to 128 KiB); each stream starts from the start symbol and
every symbol is scored once, in order. Bits per character include the cost of the escape symbol
(`seqgen.families.text.codec`), so the estimate and the real compressed size measure the same thing.

The RMS statistics are collected on 8 evenly spaced pieces of the training split (its first
4 million symbols), `stats_units` symbols in all, read in parallel as a batch of 8 streams with
the segment length being evaluated (the gradient of each segment's mean loss over the batch).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqgen.eval.dynamic import DynamicResult, DynamicSettings, evaluate, gradient_statistics
from seqgen.families.text.codec import ESCAPED, coded_bits, neutral_id, resolve_streams, stream_grid, text_segments, tokenise
from seqgen.families.text.datamodule import split_ids

# Chosen on the validation split of the 15-minute model by `seqgen-eval dynamic=tune` over the whole
# grid of conf/dynamic_eval/rms.yaml (docs/text.md, "Dynamic evaluation"); sgd: its ablation.
TEXT_DEFAULTS = {
    "rms": DynamicSettings(method="rms", lr=5e-4, decay=0.02, segment_length=50, stats_units=20_000),
    "sgd": DynamicSettings(method="sgd", lr=0.03, decay=0.0, segment_length=20),
}
STATS_PIECES = 8
STATS_READ_LIMIT = 4_000_000


def training_statistics(model: Any, data_dir: Path, settings: DynamicSettings) -> list[torch.Tensor] | None:
    """The RMS gradient statistics of `settings` on the model's training data (None for sgd)."""
    if settings.method != "rms":
        return None
    ids = split_ids(Path(data_dir), "train", limit=STATS_READ_LIMIT)[:STATS_READ_LIMIT]
    piece = max(1, min(settings.stats_units // STATS_PIECES, len(ids) // STATS_PIECES))
    starts = np.linspace(0, max(len(ids) - piece, 0), STATS_PIECES).astype(np.int64)
    pieces = np.stack([ids[s : s + piece] for s in starts])
    return gradient_statistics(model, [text_segments(pieces, settings.segment_length, neutral_id(model.vocab))])


def score_ids(model: Any, ids: np.ndarray, settings: DynamicSettings, statistics: list[torch.Tensor] | None, adapt: bool) -> float:
    """Bits per symbol of `ids` (ESCAPED for bytes outside the vocabulary) in the compressor's layout."""
    if len(ids) == 0:
        return math.nan
    grid = stream_grid(ids, resolve_streams(len(ids), "auto"))
    length = settings.segment_length if adapt else max(settings.segment_length, int(model.hparams.eval_segment_length))
    result: DynamicResult = evaluate(model, [text_segments(grid, length, neutral_id(model.vocab))], settings, statistics, adapt)
    escaped = int((ids == ESCAPED).sum())
    return coded_bits(result.nats, result.units, escaped) / len(ids)


class TextDynamicTask:
    """`seqgen-eval dynamic=true|tune` for a text model (the `DynamicTask` protocol)."""

    metric = "bpc"
    defaults = TEXT_DEFAULTS

    def __init__(self, model: Any, datamodule: Any) -> None:
        self.model = model
        self.datamodule = datamodule
        self._ids: dict[str, np.ndarray] = {}
        self._statistics: dict[tuple[int, int], list[torch.Tensor] | None] = {}

    def ids(self, split: str) -> np.ndarray:
        if split not in self._ids:
            if split == "test" and self.datamodule.test_file is not None:
                self._ids[split] = tokenise(self.datamodule.test_bytes(), self.model.vocab)[0]
            else:
                self._ids[split] = split_ids(self.datamodule.data_dir, split, self.datamodule.skipped_shards)
        return self._ids[split]

    def statistics(self, settings: DynamicSettings) -> list[torch.Tensor] | None:
        key = (settings.segment_length, settings.stats_units)
        if settings.method != "rms":
            return None
        if key not in self._statistics:
            self._statistics[key] = training_statistics(self.model, self.datamodule.data_dir, settings)
        return self._statistics[key]

    def score(self, split: str, settings: DynamicSettings, statistics: list[torch.Tensor] | None, adapt: bool) -> float:
        return score_ids(self.model, self.ids(split), settings, statistics, adapt)

    def extra_metrics(self, settings: DynamicSettings, statistics: list[torch.Tensor] | None) -> dict[str, float]:
        """The real size of the test bytes coded with dynamic evaluation."""
        from seqgen.families.text.codec import NO_CHECKPOINT, CodecSettings, compress

        data = self.datamodule.test_bytes()
        settings_of_file = CodecSettings("auto", 1, settings)
        blob, stats = compress(self.model, data, settings_of_file, NO_CHECKPOINT, lambda _: statistics)
        print(f"[seqgen] dynamic coding of the test bytes: {len(blob):,} bytes ({stats.bits_per_byte:.4f} bits per byte), "
              f"{stats.cpu_seconds:.0f} CPU s", flush=True)
        return {"test/bytes_dynamic": float(len(blob))}
