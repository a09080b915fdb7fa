"""`prepare` for image corpora: validated uint8 images (and labels) -> one shard sample per image.

mode=grey keeps the corpus's intensity levels (optionally re-quantised to `levels`); mode=binary
thresholds them: pixel = 1 if value >= threshold * (levels - 1). A binary corpus (.amat) is kept.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np
from tqdm import tqdm

from seqgen.core.prepare import Preparation, SplitPlan, WrittenSplit, prepare_shards, train_shard_size
from seqgen.data.shards import encode_array
from seqgen.errors import SeqgenError
from seqgen.families.image.corpora import describe

log = logging.getLogger(__name__)

MODES = ("grey", "binary")


def check_images(split: str, images: np.ndarray, levels: int, size: Sequence[int] | None) -> None:
    """Shape, channel count and value range of one split; a clear error otherwise."""
    if images.ndim == 4:
        raise SeqgenError(f"{split}: images have {images.shape[-1]} channels; the image family takes single-channel (grey) images")
    if images.ndim != 3 or len(images) == 0:
        raise SeqgenError(f"{split}: expected a non-empty stack of images (N, H, W), got shape {images.shape}")
    if size is not None and tuple(images.shape[1:]) != tuple(size):
        raise SeqgenError(
            f"{split}: images are {images.shape[1]}x{images.shape[2]} but data.prepare.size={list(size)}: "
            "use images of that size or change data.prepare.size"
        )
    top = int(images.max())
    if top >= levels:
        raise SeqgenError(f"{split}: pixel value {top} is outside 0..{levels - 1}, the corpus's {levels} levels")


class ImagePreparation(Preparation):
    """One shard sample per image: the pixels (converted to the target mode/levels) and the label."""

    family = "image"

    def __init__(
        self, corpus: Any, mode: str, threshold: float, levels: int | None, size: Sequence[int] | None,
        samples_per_shard: int, min_train_shards: int,
    ) -> None:
        self.corpus, self.mode, self.threshold, self.size = corpus, mode, threshold, size
        self.samples_per_shard, self.min_train_shards = samples_per_shard, min_train_shards
        self.source_levels = int(corpus.levels)
        if levels is not None and not 2 <= int(levels) <= self.source_levels:
            raise SeqgenError(f"data.prepare.levels={levels}: must lie in 2..{self.source_levels} (the corpus's levels) or be null")
        self.target_levels = 2 if mode == "binary" else int(levels or self.source_levels)
        self.splits = corpus.load()
        self.has_labels = all(labels is not None for _, labels in self.splits.values())
        self.num_classes = 0
        self.shapes: set[tuple[int, ...]] = set()
        self.counts: dict[str, int] = {}

    def convert(self, image: np.ndarray) -> np.ndarray:
        """One image at a time: no converted copy of a whole split in memory."""
        if self.mode == "binary" and self.source_levels > 2:
            return (image >= self.threshold * (self.source_levels - 1)).astype(np.uint8)
        if self.target_levels != self.source_levels:
            return (image.astype(np.int64) * self.target_levels // self.source_levels).astype(np.uint8)
        return image

    def plan(self, split: str) -> SplitPlan:
        if split not in self.splits:
            raise SeqgenError(f"corpus {describe(self.corpus)} has no '{split}' split")
        images, labels = self.splits[split]
        images = np.asarray(images)
        check_images(split, images, self.source_levels, self.size)
        self.shapes.add(images.shape[1:])
        if self.has_labels:
            self.num_classes = max(self.num_classes, int(labels.max()) + 1)
        self.counts[split] = len(images)
        per_shard = train_shard_size(len(images), self.samples_per_shard, self.min_train_shards) if split == "train" else self.samples_per_shard
        samples = (
            {
                "__key__": f"{split}-{index:08d}",
                "image.npy": encode_array(np.ascontiguousarray(self.convert(image), dtype=np.uint8)),
                "label.cls": str(int(labels[index]) if self.has_labels else -1).encode(),
            }
            for index, image in enumerate(tqdm(images, desc=f"prepare {split}", unit="image", leave=False))
        )
        return SplitPlan(samples, per_shard)

    def split_stats(self, split: str, written: WrittenSplit) -> dict[str, Any]:
        return {"images": int(self.counts[split])}

    def meta(self, splits: dict[str, dict[str, Any]]) -> dict[str, Any]:
        if len(self.shapes) != 1:
            raise SeqgenError(f"the splits hold images of different sizes {sorted(self.shapes)}: every image must have one size")
        height, width = next(iter(self.shapes))
        binary = self.mode == "binary" and self.source_levels > 2
        return {
            "corpus": describe(self.corpus),
            "mode": self.mode,
            "height": int(height),
            "width": int(width),
            "channels": 1,
            "levels": self.target_levels,
            "source_levels": self.source_levels,
            "threshold": self.threshold if binary else None,
            "num_classes": self.num_classes if self.has_labels else 0,
            "splits": splits,
            "skipped": [],  # readers raise on bad input rather than skipping: nothing is dropped silently
        }

    def summary(self, meta: dict[str, Any], splits: dict[str, dict[str, Any]]) -> dict[str, Any]:
        return {"height": meta["height"], "width": meta["width"], "levels": self.target_levels, "mode": self.mode}


def prepare_images(
    corpus: Any,
    out_dir: str,
    mode: str = "grey",
    threshold: float = 0.5,
    levels: int | None = None,
    size: Sequence[int] | None = None,
    samples_per_shard: int = 512,
    min_train_shards: int = 4,
) -> dict[str, Any]:
    """Write train/valid/test shards and meta.json; returns the summary."""
    if mode not in MODES:
        raise SeqgenError(f"data.prepare.mode={mode!r}: use one of {', '.join(MODES)}")
    if not 0.0 < threshold <= 1.0:
        raise SeqgenError(f"data.prepare.threshold={threshold}: must lie in (0, 1]")
    return prepare_shards(out_dir, ImagePreparation(corpus, mode, threshold, levels, size, samples_per_shard, min_train_shards))
