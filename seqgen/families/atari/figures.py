"""Real versus generated Atari rollouts: PNG strips (real row above, generated row below) and an
animated GIF of the two side by side, written atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

from seqgen.io import atomic_path

GAP = 2  # pixels between frames


def _to_uint8(frames: torch.Tensor | np.ndarray) -> np.ndarray:
    array = frames.detach().cpu().numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
    return (np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def strip_png(rows: Sequence[tuple[str, torch.Tensor | np.ndarray]], path: Path, columns: int = 10, scale: int = 2) -> Path:
    """One labelled row of frames per (label, (N, S, S) frames in [0, 1]); `columns` evenly spaced frames each."""
    images = [_to_uint8(frames) for _, frames in rows]
    n = min(len(f) for f in images)
    picks = np.unique(np.linspace(0, n - 1, min(columns, n)).round().astype(int))
    size = images[0].shape[-1]
    label_w = 90
    width = label_w + len(picks) * (size + GAP)
    height = len(rows) * (size + GAP) + 14
    canvas = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(canvas)
    for c, pick in enumerate(picks):
        draw.text((label_w + c * (size + GAP) + 2, 1), f"t+{pick + 1}", fill=0)
    for r, ((label, _), frames) in enumerate(zip(rows, images)):
        y = 14 + r * (size + GAP)
        draw.text((2, y + size // 2 - 5), label[:14], fill=0)
        for c, pick in enumerate(picks):
            canvas.paste(Image.fromarray(frames[pick]), (label_w + c * (size + GAP), y))
    canvas = canvas.resize((width * scale, height * scale), Image.NEAREST)
    with atomic_path(path) as tmp:
        canvas.save(tmp, format="PNG")
    return Path(path)


def rollout_gif(real: torch.Tensor | np.ndarray, generated: torch.Tensor | np.ndarray, path: Path, fps: int = 10, scale: int = 2) -> Path:
    """Animated GIF: real (left) and generated (right) frames side by side."""
    left, right = _to_uint8(real), _to_uint8(generated)
    n = min(len(left), len(right))
    frames = []
    for t in range(n):
        pair = np.concatenate([left[t], np.full((left.shape[1], GAP * 2), 255, np.uint8), right[t]], axis=1)
        image = Image.fromarray(pair)
        frames.append(image.resize((image.width * scale, image.height * scale), Image.NEAREST))
    with atomic_path(path) as tmp:
        frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:], duration=int(1000 / fps), loop=0)
    return Path(path)
