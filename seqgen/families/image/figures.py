"""Pictures of the image family: a grid of samples, and bottom-half completions beside the originals."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image

from seqgen.families.image.generate import sample_images, top_half_mask
from seqgen.io import atomic_path


def to_unit(images: torch.Tensor | np.ndarray, levels: int) -> np.ndarray:
    array = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    return array.astype(np.float32) / (levels - 1)


def save_grid(rows: Sequence[np.ndarray], path: Path, scale: int | None = None, border: int = 1, cols: int | None = None) -> Path:
    """PNG of images in [0, 1]: `rows` is a list of (n, H, W) arrays (one row each), or one array
    laid out `cols` per row. White ink on black, a grey border between images."""
    if len(rows) == 1 and cols:
        flat = rows[0]
        rows = [flat[i : i + cols] for i in range(0, len(flat), cols)]
    height, width = rows[0].shape[1:]
    scale = scale or max(1, 64 // max(height, width))
    ncols = max(len(r) for r in rows)
    canvas = np.full((len(rows) * (height + border) + border, ncols * (width + border) + border), 0.5, dtype=np.float32)
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            top, left = border + r * (height + border), border + c * (width + border)
            canvas[top : top + height, left : left + width] = image
    picture = Image.fromarray((np.clip(canvas, 0, 1) * 255).astype(np.uint8), mode="L")
    picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    with atomic_path(path) as tmp:
        picture.save(tmp, format="PNG")
    return Path(path)


def sample_grid(model: Any, path: Path, count: int = 64, temperature: float = 1.0, seed: int = 0) -> Path:
    generator = torch.Generator(device=next(model.parameters()).device).manual_seed(seed)
    images = sample_images(model, count, temperature, generator)
    return save_grid([to_unit(images, model.levels)], path, cols=int(np.ceil(np.sqrt(count))))


def first_test_images(datamodule: Any, count: int) -> torch.Tensor:
    """The first `count` test images (in the test loader's fixed order)."""
    taken: list[torch.Tensor] = []
    for batch in datamodule.test_dataloader():
        taken.append(batch["images"])
        if sum(len(t) for t in taken) >= count:
            break
    return torch.cat(taken)[:count]


def completion_figure(model: Any, originals: torch.Tensor, path: Path, completions: int = 3, seed: int = 0) -> Path:
    """One row per test image: original | top half given | `completions` sampled bottom halves."""
    height, width = model.image_shape
    n = len(originals)
    mask = top_half_mask(height, width)
    generator = torch.Generator(device=next(model.parameters()).device).manual_seed(seed)
    known = originals.repeat_interleave(completions, 0)
    filled = sample_images(model, n * completions, 1.0, generator, known=known, known_mask=mask).view(n, completions, height, width)
    given = to_unit(originals, model.levels) * mask.numpy() + 0.25 * (~mask.numpy())  # unknown part shown dark grey
    columns = [to_unit(originals, model.levels)[:, None], given[:, None], to_unit(filled, model.levels)]
    table = np.concatenate(columns, 1)  # (n, 2 + completions, H, W)
    return save_grid(list(table), path)
