"""A page of pen strokes in millimetres: page sizes, and the page as SVG, PNG and PDF.

Nothing here knows handwriting: a `Page` is lines of strokes already placed on the sheet
(x right, y down, origin at the sheet's top-left corner, millimetres), plus optional per-segment
pen speeds for the width. The handwriting family lays text out into a `Page`
(`seqgen/families/handwriting/layout.py`); `seqgen/render/plotter.py` turns it into plotter SVG
and G-code.

Rendering: strokes are smooth curves through the points (`seqgen/render/curves.py`), or
straight segments with ``smooth=False``. The SVG is written as text (units mm via the viewBox);
PNG and PDF come from one matplotlib figure of the page's size (cubic Bézier `Path`s), so the three
show the same curves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional, Sequence
from xml.sax.saxutils import escape

import numpy as np

from seqgen.errors import SeqgenError
from seqgen.io import atomic_path, atomic_write
from seqgen.render.curves import bezier_segments, speed_widths, svg_path_data
from seqgen.render.options import PAGE_SIZES_MM, page_size  # noqa: F401  (re-exported)

MM_PER_INCH = 25.4
PT_PER_MM = 72.0 / MM_PER_INCH
_WIDTH_LEVELS = 12  # variable widths are quantised so that runs of segments share one SVG path


@dataclass(frozen=True)
class Ink:
    """How strokes look: colour, nominal width (mm), width from pen speed (0 = constant), smooth curves."""

    colour: str = "#1a1a40"
    width_mm: float = 0.45
    speed_width: float = 0.0
    smooth: bool = True


@dataclass
class Page:
    """Strokes on a sheet: `lines[i][j]` is stroke j of line i, (n, 2) mm, y down from the top-left.

    speeds[i][j]: the pen speed of each of that stroke's n - 1 segments (any unit, used relative to
    the page's median), or None for constant width. baselines[i]: where line i's rule is (y, mm).
    """

    width_mm: float
    height_mm: float
    lines: list[list[np.ndarray]]
    speeds: Optional[list[list[np.ndarray]]] = None
    texts: list[str] = field(default_factory=list)
    baselines: list[float] = field(default_factory=list)  # each line's rule: y in mm from the top
    x_height_mm: float = 0.0  # the x-height the lines were set at (0: not set by a layout)

    def strokes(self) -> Iterator[tuple[int, int, np.ndarray]]:
        """(line, stroke, points) for every stroke, in written order."""
        for i, line in enumerate(self.lines):
            for j, stroke in enumerate(line):
                yield i, j, stroke

    def bounds(self) -> tuple[float, float, float, float]:
        """x0, y0, x1, y1 of all ink (zeros for an empty page)."""
        pts = [s for _, _, s in self.strokes() if len(s)]
        if not pts:
            return 0.0, 0.0, 0.0, 0.0
        allp = np.concatenate(pts, axis=0)
        return float(allp[:, 0].min()), float(allp[:, 1].min()), float(allp[:, 0].max()), float(allp[:, 1].max())

    def check_inside(self) -> None:
        """SeqgenError when any point lies off the sheet."""
        x0, y0, x1, y1 = self.bounds()
        if x0 < 0 or y0 < 0 or x1 > self.width_mm or y1 > self.height_mm:
            raise SeqgenError(
                f"the writing spans x {x0:.1f}..{x1:.1f} mm, y {y0:.1f}..{y1:.1f} mm: off the "
                f"{self.width_mm:g} x {self.height_mm:g} mm page; use a larger page, smaller margins or less text"
            )

    def median_speed(self) -> float:
        if not self.speeds:
            return 0.0
        allv = [v for line in self.speeds for v in line if len(v)]
        return float(np.median(np.concatenate(allv))) if allv else 0.0

    def segment_widths(self, ink: Ink) -> Iterator[tuple[np.ndarray, Optional[np.ndarray]]]:
        """Every stroke with its per-segment widths (None: the ink's constant width)."""
        median = self.median_speed() if ink.speed_width > 0 else 0.0
        for i, j, stroke in self.strokes():
            if median > 0 and self.speeds is not None and len(stroke) > 1:
                yield stroke, speed_widths(self.speeds[i][j], ink.width_mm, ink.speed_width, median)
            else:
                yield stroke, None


def _width_runs(widths: np.ndarray, base: float) -> list[tuple[int, int, float]]:
    """Consecutive segments with the same quantised width -> (first, last + 1, width)."""
    levels = np.round(np.log(widths / base) / np.log(2.5) * _WIDTH_LEVELS / 2).astype(int)
    runs, start = [], 0
    for k in range(1, len(levels) + 1):
        if k == len(levels) or levels[k] != levels[start]:
            runs.append((start, k, float(base * 2.5 ** (levels[start] * 2 / _WIDTH_LEVELS))))
            start = k
    return runs


def page_svg(page: Page, path: str | Path, ink: Ink = Ink(), background: bool = True) -> Path:
    """The page as SVG: one smooth path per stroke (or per run of equal width), mm units."""
    w, h = page.width_mm, page.height_mm
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w:g}mm" height="{h:g}mm" viewBox="0 0 {w:g} {h:g}">',
    ]
    if background:
        out.append(f'<rect width="{w:g}" height="{h:g}" fill="white"/>')
    out.append(
        f'<g fill="none" stroke="{escape(ink.colour)}" stroke-width="{ink.width_mm:g}" '
        'stroke-linecap="round" stroke-linejoin="round">'
    )
    for stroke, widths in page.segment_widths(ink):
        if widths is None:
            out.append(f'<path d="{svg_path_data(stroke, ink.smooth, 3)}"/>')
            continue
        for a, b, width in _width_runs(widths, ink.width_mm):
            out.append(f'<path stroke-width="{width:.3f}" d="{svg_path_data(stroke[a : b + 1], ink.smooth, 3)}"/>')
    out.append("</g>\n</svg>")
    return atomic_write(path, "\n".join(out) + "\n")


def _matplotlib_paths(stroke: np.ndarray, smooth: bool) -> tuple[np.ndarray, list[int]]:
    from matplotlib.path import Path as MplPath

    if len(stroke) == 1:
        return np.repeat(stroke, 2, axis=0), [MplPath.MOVETO, MplPath.LINETO]
    if not smooth:
        return stroke, [MplPath.MOVETO] + [MplPath.LINETO] * (len(stroke) - 1)
    segments = bezier_segments(stroke)
    vertices = np.concatenate([stroke[:1], segments[:, 1:].reshape(-1, 2)], axis=0)
    return vertices, [MplPath.MOVETO] + [MplPath.CURVE4] * (3 * len(segments))


def page_figure(page: Page, ink: Ink = Ink()):  # -> matplotlib.figure.Figure
    """A matplotlib figure of the page at its real size (1 data unit = 1 mm), for PNG and PDF."""
    from matplotlib.collections import PathCollection
    from matplotlib.figure import Figure
    from matplotlib.path import Path as MplPath

    fig = Figure(figsize=(page.width_mm / MM_PER_INCH, page.height_mm / MM_PER_INCH), facecolor="white")
    ax = fig.add_axes((0, 0, 1, 1))
    paths: list[MplPath] = []
    widths: list[float] = []
    for stroke, segment_widths in page.segment_widths(ink):
        if segment_widths is None:
            paths.append(MplPath(*_matplotlib_paths(stroke, ink.smooth)))
            widths.append(ink.width_mm)
            continue
        for a, b, width in _width_runs(segment_widths, ink.width_mm):
            paths.append(MplPath(*_matplotlib_paths(stroke[a : b + 1], ink.smooth)))
            widths.append(width)
    ax.add_collection(PathCollection(
        paths, facecolors="none", edgecolors=ink.colour, linewidths=np.asarray(widths) * PT_PER_MM, capstyle="round",
        joinstyle="round",
    ))
    ax.set_xlim(0, page.width_mm)
    ax.set_ylim(page.height_mm, 0)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig


def save_figure(fig, path: str | Path, dpi: int = 150) -> Path:
    """PNG or PDF (by the suffix) through the atomic writer."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    path = Path(path)
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in ("png", "pdf", "svg"):
        raise SeqgenError(f"{path}: a page is saved as .png, .pdf or .svg")
    FigureCanvasAgg(fig)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=suffix, dpi=dpi, facecolor="white")
    return path


def save_page(page: Page, stem: str | Path, ink: Ink = Ink(), formats: Sequence[str] = ("svg", "png", "pdf"), dpi: int = 150) -> dict[str, Path]:
    """`stem`.svg / .png / .pdf of the page -> {format: path}."""
    stem = Path(stem)
    out: dict[str, Path] = {}
    if "svg" in formats:
        out["svg"] = page_svg(page, stem.with_suffix(".svg"), ink)
    figure_formats = [f for f in formats if f in ("png", "pdf")]
    if figure_formats:
        fig = page_figure(page, ink)
        for fmt in figure_formats:
            out[fmt] = save_figure(fig, stem.with_suffix(f".{fmt}"), dpi)
    return out
