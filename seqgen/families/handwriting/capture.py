"""Lines a user writes in the demo (pointer events: mouse, pen, touch) checked before they become a style.

A captured line is its known text (the prompt the page showed) and its strokes, each a list of
pointer samples [x, y, t] (canvas pixels, y down; t in milliseconds). It is refused, with a message
the page shows, when

    empty            fewer than MIN_POINTS samples, or no extent in x
    out of order     t_{i+1} < t_i within a stroke, or a stroke starting before the previous one ended
    too short/long   r = (W / H) / n  outside [MIN_WIDTH_PER_CHAR, MAX_WIDTH_PER_CHAR]

where W and H are the ink's width and height and n the text's characters: handwriting runs about
0.2-1 line heights per character, so a line outside the bounds is far too short or long for its
text (a word written for a sentence, a sentence for a word, a flat scribble). The accepted strokes
go through the same conversion as a style file (`strokes.strokes_to_offsets`, y up).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from seqgen.data.handwriting.strokes import strokes_to_offsets
from seqgen.errors import SeqgenError

MIN_POINTS = 8
MIN_WIDTH_PER_CHAR = 0.08
MAX_WIDTH_PER_CHAR = 3.0


def _stroke_arrays(strokes: Any, label: str) -> list[np.ndarray]:
    if not isinstance(strokes, list) or not strokes:
        raise SeqgenError(f"{label} is empty: write the prompt in the box")
    out = []
    for k, stroke in enumerate(strokes):
        try:
            a = np.asarray(stroke, dtype=np.float64)
        except (TypeError, ValueError):
            raise SeqgenError(f"{label}: stroke {k + 1} is not a list of [x, y, t] points") from None
        if a.ndim != 2 or a.shape[1] != 3 or not len(a) or not np.all(np.isfinite(a)):
            raise SeqgenError(f"{label}: stroke {k + 1} must be a non-empty list of finite [x, y, t] points")
        out.append(a)
    return out


def check_capture(strokes: Any, text: str, label: str = "the line") -> list[np.ndarray]:
    """Captured strokes ([[x, y, t], ...] per stroke, y down) of `text` -> strokes (x, y up), or a
    SeqgenError that says what is wrong with the capture (module docstring)."""
    if not isinstance(text, str) or not text.strip():
        raise SeqgenError(f"{label} has no text: write the prompt sentence shown above the box")
    arrays = _stroke_arrays(strokes, label)
    points = np.concatenate(arrays)
    if len(points) < MIN_POINTS or np.ptp(points[:, 0]) <= 0:
        raise SeqgenError(f"{label} is empty ({len(points)} points): write the prompt in the box")
    previous_end = -np.inf
    for k, a in enumerate(arrays):
        if np.any(np.diff(a[:, 2]) < 0) or a[0, 2] < previous_end:
            raise SeqgenError(f"{label}: its points are out of order (stroke {k + 1} goes back in time): clear it and write it again")
        previous_end = a[-1, 2]
    width, height = float(np.ptp(points[:, 0])), max(float(np.ptp(points[:, 1])), 1e-9)
    per_char = width / height / len(text.strip())
    if per_char < MIN_WIDTH_PER_CHAR:
        raise SeqgenError(f"{label} is far too short for its text {text.strip()!r}: write the whole sentence on one line")
    if per_char > MAX_WIDTH_PER_CHAR:
        raise SeqgenError(f"{label} is far too long (or flat) for its text {text.strip()!r}: write just the prompt, at your usual size")
    return [np.stack([a[:, 0], -a[:, 1]], axis=1) for a in arrays]


def capture_offsets(strokes: Any, text: str, label: str = "the line") -> np.ndarray:
    """A checked capture as offsets (T, 3) with the start row, in canvas units (y up)."""
    return strokes_to_offsets(check_capture(strokes, text, label)).astype(np.float32)
