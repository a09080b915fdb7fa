"""Dynamic evaluation of handwriting prediction (`seqgen.eval.dynamic`) in nats per line.

Each line is a document (the state starts fresh, as in training and `test/nll`), cut into segments
of `segment_length` points; the weights keep adapting from line to line, in the order of the
split's shards. With lr = 0 the figure is the static `test/nll`. The RMS statistics are collected on
the first training lines, `stats_units` points in all.
"""

from __future__ import annotations

from typing import Any, Iterator

import torch

from seqgen.errors import SeqgenError
from seqgen.eval.dynamic import DynamicSettings, evaluate, gradient_statistics

# A starting point, not yet tuned on a trained prediction model: `seqgen-eval dynamic=tune` chooses on the validation lines.
HANDWRITING_DEFAULTS = {
    "rms": DynamicSettings(method="rms", lr=1e-4, decay=0.02, segment_length=50, stats_units=20_000),
    "sgd": DynamicSettings(method="sgd", lr=0.03, decay=0.02, segment_length=50, stats_units=20_000),
}
MAX_LINES = 1_000_000


def line_segments(offsets: torch.Tensor, length: int) -> Iterator[dict[str, torch.Tensor]]:
    """A line's (T, 3) normalised rows -> segments predicting row t + 1 from row t (batch of one)."""
    inputs, targets = offsets[:-1].unsqueeze(0), offsets[1:].unsqueeze(0)
    for start in range(0, inputs.shape[1], length):
        piece = slice(start, start + length)
        yield {"inputs": inputs[:, piece], "targets": targets[:, piece], "mask": torch.ones(targets[:, piece].shape[:2], dtype=torch.bool)}


class HandwritingDynamicTask:
    """`seqgen-eval dynamic=true|tune` for a handwriting prediction model (the `DynamicTask` protocol)."""

    metric = "nll"
    defaults = HANDWRITING_DEFAULTS

    def __init__(self, model: Any, datamodule: Any) -> None:
        from seqgen.families.handwriting.module import HandwritingPrediction

        if not isinstance(model, HandwritingPrediction):
            raise SeqgenError("dynamic evaluation scores handwriting *prediction* models; a synthesis network's window state is not carried yet")
        self.model = model
        self.datamodule = datamodule
        self._lines: dict[str, list[torch.Tensor]] = {}
        self._statistics: dict[tuple[int, int], list[torch.Tensor]] = {}

    def lines(self, split: str) -> list[torch.Tensor]:
        if split not in self._lines:
            self._lines[split] = [line["offsets"] for line in self.datamodule.read_samples(split, MAX_LINES) if len(line["offsets"]) > 1]
        return self._lines[split]

    def training_lines(self, points: int) -> list[torch.Tensor]:
        """The first training lines holding at least `points` points (or all of them)."""
        limit = 16
        while True:
            lines = [line["offsets"] for line in self.datamodule.read_samples("train", limit) if len(line["offsets"]) > 1]
            total = 0
            for count, line in enumerate(lines, 1):
                total += len(line) - 1
                if total >= points:
                    return lines[:count]
            if len(lines) < limit:
                return lines
            limit *= 4

    def statistics(self, settings: DynamicSettings) -> list[torch.Tensor] | None:
        if settings.method != "rms":
            return None
        key = (settings.segment_length, settings.stats_units)
        if key not in self._statistics:
            lines = self.training_lines(settings.stats_units)
            self._statistics[key] = gradient_statistics(self.model, [line_segments(line, settings.segment_length) for line in lines])
        return self._statistics[key]

    def score(self, split: str, settings: DynamicSettings, statistics: list[torch.Tensor] | None, adapt: bool) -> float:
        lines = self.lines(split)
        if not lines:
            raise SeqgenError(f"no '{split}' lines to score: re-run `seqgen-prepare`")
        result = evaluate(self.model, [line_segments(line, settings.segment_length) for line in lines], settings, statistics, adapt)
        return result.nats / len(lines)

    def extra_metrics(self, settings: DynamicSettings, statistics: list[torch.Tensor] | None) -> dict[str, float]:
        return {}
