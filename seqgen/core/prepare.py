"""The one `prepare` driver: a family's corpus -> train/valid/test shards + manifest.json + meta.json.

    prepare_shards(out_dir, preparation) -> summary

For each split in order (train first: what it learns, e.g. a vocabulary or normalisation
statistics, decides what the later splits keep), the driver asks the family's `Preparation` for a
`SplitPlan` (the split's samples, consumed as they are written, and the samples per shard),
writes the shards with `seqgen.data.shards.ShardWriter` (atomic; a shard already in the manifest
with the same sha256 is reused, not rewritten), and asks for the split's statistics. Then it
writes meta.json (`"family"` plus what the family's `meta` returns) and returns the summary that
`seqgen-prepare` prints: the output folder, per split the family's statistics with `shards` and
`reused_shards`, and the family's extra entries.

A family keeps everything else to itself: reading its corpus (in flat memory, before or while
the shards are written), its skip report, and which statistics meta.json holds (meta.json is
byte-identical for the same corpus and settings, so a family whose shards are rebuilt per run
keeps `reused_shards` out of it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Iterable

from seqgen.data.shards import ShardInfo, ShardWriter, write_meta

SPLITS = ("train", "valid", "test")


def train_shard_size(count: int, samples_per_shard: int, min_train_shards: int, round_up: bool = False) -> int:
    """Samples per training shard: at most `samples_per_shard`, and few enough that `count` samples
    make at least `min_train_shards` shards (every DDP rank and loader worker reads its own shards)."""
    parts = max(min_train_shards, 1)
    per_part = math.ceil(count / parts) if round_up else count // parts
    return max(1, min(samples_per_shard, per_part))


@dataclass
class SplitPlan:
    """One split to write: its samples (WebDataset dicts `{"__key__": ..., "<ext>": bytes}`, in
    order) and how many go into one shard."""

    samples: Iterable[dict[str, Any]]
    samples_per_shard: int


@dataclass
class WrittenSplit:
    """What the shard writer did with a split."""

    shards: list[ShardInfo]
    reused: int

    @property
    def samples(self) -> int:
        return sum(shard.samples for shard in self.shards)


class Preparation:
    """A family's side of `prepare_shards`: the hooks, called in this order."""

    family: ClassVar[str] = ""

    def plan(self, split: str) -> SplitPlan:
        """The samples of `split` and their shard size (called once per split, train first)."""
        raise NotImplementedError

    def split_stats(self, split: str, written: WrittenSplit) -> dict[str, Any]:
        """The split's statistics once written (may refuse an empty split). Default: none."""
        return {}

    def meta(self, splits: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """meta.json's entries besides "family", from every split's statistics (with shards, reused_shards)."""
        raise NotImplementedError

    def summary(self, meta: dict[str, Any], splits: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """Extra entries of the printed summary, after meta.json is written (the family's report). Default: none."""
        return {}


def prepare_shards(out_dir: str | Path, preparation: Preparation) -> dict[str, Any]:
    """Write every split's shards and meta.json through the family's hooks; returns the summary."""
    out = Path(out_dir)
    splits: dict[str, dict[str, Any]] = {}
    for split in SPLITS:
        plan = preparation.plan(split)
        writer = ShardWriter(out, split, plan.samples_per_shard)
        shards = writer.write(plan.samples)
        stats = preparation.split_stats(split, WrittenSplit(shards, writer.reused))
        splits[split] = {**stats, "shards": len(shards), "reused_shards": writer.reused}
    meta = {"family": preparation.family, **preparation.meta(splits)}
    write_meta(out, meta)
    return {"out_dir": str(out), "splits": splits, **preparation.summary(meta, splits)}
