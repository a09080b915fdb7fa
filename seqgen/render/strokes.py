"""Draw offset sequences (T, 3) as SVG or PNG: samples, primes, real lines side by side.

Inputs are offsets in seqgen's convention (start row (0, 0, 1), y up; see
`seqgen.data.handwriting.strokes`) in any units: invert the normalisation first
(`NormStats.invert`) so that steps have their true aspect. Files are written atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence
from xml.sax.saxutils import escape

import numpy as np

from seqgen.data.handwriting.strokes import offsets_to_strokes
from seqgen.io import atomic_path, atomic_write

_DEFAULT_COLOUR = "black"


def _as_list(offsets_list: Sequence[np.ndarray] | np.ndarray) -> list[np.ndarray]:
    if isinstance(offsets_list, np.ndarray) and offsets_list.ndim == 2:
        return [offsets_list]
    return [np.asarray(o, dtype=np.float32) for o in offsets_list]


def _colours(colors: Sequence[str] | None, n: int) -> list[str]:
    if not colors:
        return [_DEFAULT_COLOUR] * n
    return [colors[i % len(colors)] for i in range(n)]


def _bbox(strokes: list[np.ndarray]) -> tuple[float, float, float, float]:
    if not strokes:
        return 0.0, 0.0, 0.0, 0.0
    allp = np.concatenate(strokes, axis=0)
    return float(allp[:, 0].min()), float(allp[:, 1].min()), float(allp[:, 0].max()), float(allp[:, 1].max())


def _layout(
    lines: list[np.ndarray], line_height: float, margin: float, gap: float, same_scale: bool = True
) -> tuple[list[list[np.ndarray]], float, float]:
    """Strokes of every line in pixel coordinates (y down), stacked top to bottom.

    same_scale: one scale for all lines (the tallest is `line_height` px), else each line is
    `line_height` px tall (for lines in different units, e.g. a sample next to a real line).
    """
    strokes = [offsets_to_strokes(o) for o in lines]
    boxes = [_bbox(s) for s in strokes]
    tallest = max((b[3] - b[1] for b in boxes), default=0.0)
    common = line_height / tallest if tallest > 0 else 1.0
    placed: list[list[np.ndarray]] = []
    y = margin
    width = 0.0
    for s, (x0, y0, x1, y1) in zip(strokes, boxes):
        scale = common if same_scale or y1 - y0 <= 0 else line_height / (y1 - y0)
        h = (y1 - y0) * scale
        placed.append([np.stack([(p[:, 0] - x0) * scale + margin, (y1 - p[:, 1]) * scale + y], axis=1) for p in s])
        width = max(width, (x1 - x0) * scale)
        y += max(h, 1.0) + gap
    return placed, width + 2 * margin, y - gap + margin


def render_svg(
    offsets_list: Sequence[np.ndarray] | np.ndarray,
    path: str | Path,
    colors: Sequence[str] | None = None,
    stroke_width: float = 2.0,
    line_height: float = 80.0,
    margin: float = 10.0,
    same_scale: bool = True,
) -> Path:
    """Lines stacked top to bottom, one <polyline> per pen stroke, one colour per line; returns the path.

    The tallest line is `line_height` px high and all lines share its scale (`same_scale=False`:
    every line `line_height` px high).
    """
    lines = _as_list(offsets_list)
    placed, width, height = _layout(lines, line_height, margin, gap=0.35 * line_height, same_scale=same_scale)
    cols = _colours(colors, len(lines))
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.1f}" height="{height:.1f}" '
        f'viewBox="0 0 {width:.1f} {height:.1f}">',
        f'<rect width="{width:.1f}" height="{height:.1f}" fill="white"/>',
    ]
    for strokes, col in zip(placed, cols):
        out.append(
            f'<g fill="none" stroke="{escape(col)}" stroke-width="{stroke_width:g}" '
            'stroke-linecap="round" stroke-linejoin="round">'
        )
        for s in strokes:
            pts = s if len(s) > 1 else np.concatenate([s, s], axis=0)  # a dot still shows (round cap)
            out.append('<polyline points="' + " ".join(f"{x:.2f},{y:.2f}" for x, y in pts) + '"/>')
        out.append("</g>")
    out.append("</svg>")
    return atomic_write(path, "\n".join(out) + "\n")


def _draw(ax, offsets: np.ndarray, colour: str, linewidth: float) -> None:
    for s in offsets_to_strokes(offsets):
        if len(s) == 1:
            ax.plot(s[:, 0], s[:, 1], ".", color=colour, markersize=linewidth * 2)
        else:
            ax.plot(s[:, 0], s[:, 1], "-", color=colour, linewidth=linewidth, solid_capstyle="round")


def _save(fig, path: Path, dpi: int) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, facecolor="white")
    return Path(path)


def render_png(
    offsets_list: Sequence[np.ndarray] | np.ndarray,
    path: str | Path,
    colors: Sequence[str] | None = None,
    dpi: int = 100,
    linewidth: float = 1.5,
    same_scale: bool = True,
) -> Path:
    """Lines stacked top to bottom on a white background (matplotlib Agg, equal aspect, no axes)."""
    from matplotlib.figure import Figure

    lines = _as_list(offsets_list)
    placed, width, height = _layout(lines, line_height=80.0, margin=10.0, gap=28.0, same_scale=same_scale)
    fig = Figure(figsize=(max(width, 50.0) / 100.0, max(height, 50.0) / 100.0), facecolor="white")
    ax = fig.add_axes((0, 0, 1, 1))
    for strokes, col in zip(placed, _colours(colors, len(lines))):
        for s in strokes:
            if len(s) == 1:
                ax.plot(s[:, 0], s[:, 1], ".", color=col, markersize=linewidth * 2)
            else:
                ax.plot(s[:, 0], s[:, 1], "-", color=col, linewidth=linewidth, solid_capstyle="round")
    ax.set_xlim(0, max(width, 1.0))
    ax.set_ylim(max(height, 1.0), 0)
    ax.set_aspect("equal")
    ax.axis("off")
    return _save(fig, Path(path), dpi)


def side_by_side_png(
    rows: Sequence[tuple[str, np.ndarray]],
    path: str | Path,
    colors: Sequence[str] | None = None,
    dpi: int = 100,
    linewidth: float = 1.2,
) -> Path:
    """One row per (label, offsets): e.g. generated samples next to real lines; each row scaled on its own."""
    from matplotlib.figure import Figure

    n = max(len(rows), 1)
    fig = Figure(figsize=(12.0, 0.9 * n + 0.2), facecolor="white")
    gs = fig.add_gridspec(n, 2, width_ratios=(1.4, 8.6), wspace=0.02, hspace=0.15)
    for i, ((label, offsets), col) in enumerate(zip(rows, _colours(colors, len(rows)))):
        tax = fig.add_subplot(gs[i, 0])
        tax.axis("off")
        tax.text(1.0, 0.5, label, ha="right", va="center", fontsize=9, transform=tax.transAxes, wrap=True)
        ax = fig.add_subplot(gs[i, 1])
        _draw(ax, np.asarray(offsets, dtype=np.float32), col, linewidth)
        ax.set_aspect("equal", adjustable="datalim")
        ax.axis("off")
    return _save(fig, Path(path), dpi)
