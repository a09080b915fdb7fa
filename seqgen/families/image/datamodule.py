"""Image data: one shard sample per image (uint8 (H, W) + class label, -1 when unlabelled)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from seqgen.core.datamodule import ShardDataModule
from seqgen.data.shards import decode_array
from seqgen.errors import SeqgenError


class ImageDataModule(ShardDataModule):
    family = "image"

    def load_info(self) -> dict[str, Any]:
        info = super().load_info()
        for key in ("height", "width", "levels"):
            if key not in info:
                raise SeqgenError(f"{self.data_dir}/meta.json lacks '{key}': re-run `seqgen-prepare` for this dataset")
        return info

    def decode(self, sample: dict[str, Any]) -> tuple[torch.Tensor, int]:
        image = decode_array(sample["image.npy"])
        expected = (self.info["height"], self.info["width"])
        if image.shape != expected:
            raise SeqgenError(f"shard sample {sample.get('__key__')}: image {image.shape}, meta.json says {expected}; re-run `seqgen-prepare`")
        return torch.from_numpy(image.astype(np.int64)), int(sample["label.cls"])

    def collate(self, items: list[tuple[torch.Tensor, int]]) -> dict[str, torch.Tensor]:
        return {"images": torch.stack([image for image, _ in items]), "labels": torch.tensor([label for _, label in items])}
