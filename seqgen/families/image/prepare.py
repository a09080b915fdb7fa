"""`prepare` for image corpora: validated uint8 images (and labels) -> one shard sample per image.

mode=grey keeps the corpus's intensity levels (optionally re-quantised to `levels`); mode=binary
thresholds them: pixel = 1 if value >= threshold * (levels - 1). A binary corpus (.amat) is kept.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from tqdm import tqdm

from seqgen.data.shards import ShardWriter, encode_array, write_meta
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
    source_levels = int(corpus.levels)
    if levels is not None and not 2 <= int(levels) <= source_levels:
        raise SeqgenError(f"data.prepare.levels={levels}: must lie in 2..{source_levels} (the corpus's levels) or be null")
    splits = corpus.load()
    out = Path(out_dir)
    shapes = set()
    summary: dict[str, Any] = {"splits": {}}
    has_labels = all(labels is not None for _, labels in splits.values())
    num_classes = 0
    target_levels = 2 if mode == "binary" else int(levels or source_levels)

    def convert(image: np.ndarray) -> np.ndarray:
        # one image at a time: no converted copy of a whole split in memory
        if mode == "binary" and source_levels > 2:
            return (image >= threshold * (source_levels - 1)).astype(np.uint8)
        if target_levels != source_levels:
            return (image.astype(np.int64) * target_levels // source_levels).astype(np.uint8)
        return image

    for split in ("train", "valid", "test"):
        if split not in splits:
            raise SeqgenError(f"corpus {describe(corpus)} has no '{split}' split")
        images, labels = splits[split]
        images = np.asarray(images)
        check_images(split, images, source_levels, size)
        shapes.add(images.shape[1:])
        if has_labels:
            num_classes = max(num_classes, int(labels.max()) + 1)
        per_shard = samples_per_shard if split != "train" else max(1, min(samples_per_shard, len(images) // min_train_shards))
        writer = ShardWriter(out, split, per_shard)
        samples = (
            {
                "__key__": f"{split}-{index:08d}",
                "image.npy": encode_array(np.ascontiguousarray(convert(image), dtype=np.uint8)),
                "label.cls": str(int(labels[index]) if has_labels else -1).encode(),
            }
            for index, image in enumerate(tqdm(images, desc=f"prepare {split}", unit="image", leave=False))
        )
        shards = writer.write(samples)
        summary["splits"][split] = {"images": int(len(images)), "shards": len(shards), "reused_shards": writer.reused}
    if len(shapes) != 1:
        raise SeqgenError(f"the splits hold images of different sizes {sorted(shapes)}: every image must have one size")
    height, width = shapes.pop()
    meta = {
        "family": "image",
        "corpus": describe(corpus),
        "mode": mode,
        "height": int(height),
        "width": int(width),
        "channels": 1,
        "levels": target_levels,
        "source_levels": source_levels,
        "threshold": threshold if mode == "binary" and source_levels > 2 else None,
        "num_classes": num_classes if has_labels else 0,
        "splits": summary["splits"],
        "skipped": [],  # readers raise on bad input rather than skipping: nothing is dropped silently
    }
    write_meta(out, meta)
    summary.update(out_dir=str(out), height=int(height), width=int(width), levels=target_levels, mode=mode)
    return summary
