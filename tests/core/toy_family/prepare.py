"""Prepare (checklist step 3): counting sequences into shards through the one prepare driver."""

from __future__ import annotations

from typing import Any

import numpy as np

from seqgen.core.config import build
from seqgen.core.prepare import Preparation, SplitPlan, WrittenSplit, prepare_shards
from seqgen.data.shards import encode_array

from toy_family.config import ToyPrepareConfig


class ToyPreparation(Preparation):
    family = "toy"

    def __init__(self, config: ToyPrepareConfig) -> None:
        self.config = config
        self.rng = np.random.default_rng(config.seed)

    def plan(self, split: str) -> SplitPlan:
        c = self.config
        starts = self.rng.integers(0, c.vocab_size, c.sequences)
        rows = (starts[:, None] + np.arange(c.length)[None, :]) % c.vocab_size
        samples = ({"__key__": f"{split}-{i:05d}", "seq.npy": encode_array(row.astype(np.int64))} for i, row in enumerate(rows))
        return SplitPlan(samples, c.samples_per_shard)

    def split_stats(self, split: str, written: WrittenSplit) -> dict[str, Any]:
        return {"sequences": written.samples}

    def meta(self, splits: dict[str, dict[str, Any]]) -> dict[str, Any]:
        return {"vocab_size": self.config.vocab_size, "length": self.config.length}


def prepare_toy(out_dir: str, **options: Any) -> dict[str, Any]:
    config = build(ToyPrepareConfig, {**options, "out_dir": str(out_dir)}, "data.prepare")
    return prepare_shards(out_dir, ToyPreparation(config))
