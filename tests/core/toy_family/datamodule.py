"""Datamodule (checklist step 4): one int64 sequence per shard sample."""

from __future__ import annotations

from typing import Any

import torch

from seqgen.core.datamodule import ShardDataModule
from seqgen.data.shards import decode_array

from toy_family.config import ToyDataModuleConfig


class ToyDataModule(ShardDataModule):
    family = "toy"
    config_class = ToyDataModuleConfig

    def decode(self, sample: dict[str, Any]) -> torch.Tensor:
        return torch.from_numpy(decode_array(sample["seq.npy"]))

    def collate(self, items: list[torch.Tensor]) -> torch.Tensor:
        return torch.stack(items)
