"""Pen-plotter output of a `Page`: stroke order, single-stroke SVG, G-code, and G-code read back.

* Order: greedy nearest neighbour over strokes, allowing reversal. From the pen's position, the
  next stroke is the one with the closest end point (start or end); when its end is closer it is
  drawn backwards. Pen-up travel = sum of the distances from each stroke's last point to the next
  stroke's first point, starting at the plotter's origin; `Plan.travel_written_mm` is the same
  sum in the order the strokes were written, so the saving is reported against it.
* Single-stroke SVG: `<path>` elements only, no fills, mm units (viewBox = the page), one path per
  stroke in plotting order, optionally one Inkscape layer per line (AxiDraw and similar tools plot
  layer by layer).
* G-code: a configurable header and footer, pen up / down by servo commands or Z moves, feed
  rates, the page's origin on the machine (corner and offset), every coordinate checked against
  the page (and the machine's bed when given). Smooth curves are flattened into `curve_steps`
  straight moves per sampled segment (1 = the sampled points only).
* `read_gcode` parses such a file back into pen-down polylines (page coordinates) and its pen-up
  travel, for previews (`gcode_figure`) and for the tests that compare it with the SVG.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence
from xml.sax.saxutils import escape

import numpy as np

from seqgen.errors import SeqgenError
from seqgen.io import atomic_write
from seqgen.render.curves import bezier_segments, flatten, svg_path_data
from seqgen.render.options import ORIGINS, PEN_MODES, GcodeOptions, page_size  # noqa: F401  (re-exported)
from seqgen.render.page import Page

# --------------------------------------------------------------------------------------- order


@dataclass
class PlannedStroke:
    line: int
    points: np.ndarray  # page mm, in drawing direction
    reversed: bool


@dataclass
class Plan:
    strokes: list[PlannedStroke]
    travel_mm: float
    travel_written_mm: float
    draw_mm: float = 0.0

    @property
    def saved_fraction(self) -> float:
        return 1.0 - self.travel_mm / self.travel_written_mm if self.travel_written_mm > 0 else 0.0

    def summary(self) -> str:
        return (
            f"pen-up travel {self.travel_mm:.0f} mm (written order: {self.travel_written_mm:.0f} mm, "
            f"{100 * self.saved_fraction:.0f}% saved); pen-down {self.draw_mm:.0f} mm, {len(self.strokes)} strokes"
        )


def travel_mm(strokes: Sequence[np.ndarray], start: np.ndarray) -> float:
    """Pen-up distance to draw `strokes` in this order (each from its first to its last point)."""
    total, at = 0.0, np.asarray(start, dtype=np.float64)
    for s in strokes:
        total += float(np.hypot(*(s[0] - at)))
        at = s[-1]
    return total


def nearest_neighbour_order(strokes: Sequence[np.ndarray], start: np.ndarray) -> list[tuple[int, bool]]:
    """Greedy order over `strokes` allowing reversal: [(index, reversed)], from `start`."""
    n = len(strokes)
    if n == 0:
        return []
    ends = np.array([[s[0], s[-1]] for s in strokes], dtype=np.float64)  # (n, 2 ends, 2)
    left = np.ones(n, dtype=bool)
    at = np.asarray(start, dtype=np.float64)
    order: list[tuple[int, bool]] = []
    for _ in range(n):
        dist = np.hypot(*(ends - at).transpose(2, 0, 1))  # (n, 2)
        dist[~left] = np.inf
        flat = int(np.argmin(dist))
        index, backwards = divmod(flat, 2)
        order.append((index, bool(backwards)))
        left[index] = False
        at = ends[index, 0 if backwards else 1]
    return order


def plan_strokes(page: Page, start: np.ndarray, order: str = "nearest", per_line: bool = False) -> Plan:
    """The plotting order of the page's strokes; per_line: finish each line before the next one."""
    groups = [list(range(len(line))) for line in page.lines] if per_line else [None]
    written = [s for _, _, s in page.strokes()]
    planned: list[PlannedStroke] = []
    at = np.asarray(start, dtype=np.float64)
    for group_index, group in enumerate(groups):
        members = (
            [(group_index, j, s) for j, s in enumerate(page.lines[group_index])] if group is not None
            else list(page.strokes())
        )
        strokes = [m[2] for m in members]
        steps = nearest_neighbour_order(strokes, at) if order == "nearest" else [(k, False) for k in range(len(strokes))]
        for k, backwards in steps:
            line, _, points = members[k]
            planned.append(PlannedStroke(line, points[::-1].copy() if backwards else points, backwards))
        if planned:
            at = planned[-1].points[-1]
    pen_down = sum(float(np.hypot(*np.diff(p.points, axis=0).T).sum()) for p in planned if len(p.points) > 1)
    return Plan(planned, travel_mm([p.points for p in planned], start), travel_mm(written, start), pen_down)


# --------------------------------------------------------------------------------------- SVG


def plotter_svg(page: Page, path: str | Path, plan: Plan, layers: bool = True, smooth: bool = True) -> Path:
    """Single-stroke SVG: paths only, no fills, mm, one `<path>` per stroke in plotting order."""
    w, h = page.width_mm, page.height_mm
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:inkscape="http://www.inkscape.org/namespaces/inkscape" '
        f'width="{w:g}mm" height="{h:g}mm" viewBox="0 0 {w:g} {h:g}">',
    ]
    style = 'fill="none" stroke="black" stroke-width="0.3" stroke-linecap="round" stroke-linejoin="round"'
    current: Optional[int] = None
    if not layers:
        out.append(f"<g {style}>")
    for stroke in plan.strokes:
        if layers and stroke.line != current:
            if current is not None:
                out.append("</g>")
            label = page.texts[stroke.line] if stroke.line < len(page.texts) else ""
            title = f"line {stroke.line + 1}" + (f": {label}" if label else "")
            out.append(
                f'<g inkscape:groupmode="layer" inkscape:label="{escape(title, {chr(34): "&quot;"})}" '
                f'id="line-{stroke.line + 1}" {style}>'
            )
            current = stroke.line
        out.append(f'<path d="{svg_path_data(stroke.points, smooth, 3)}"/>')
    if not layers or current is not None:
        out.append("</g>")
    out.append("</svg>")
    return atomic_write(path, "\n".join(out) + "\n")


def svg_polylines(svg_text: str, steps: int) -> list[np.ndarray]:
    """The paths of an SVG written by this module (M, L, C commands) as polylines, `steps` per curve."""
    polylines: list[np.ndarray] = []
    for d in re.findall(r'<path[^>]*\sd="([^"]+)"', svg_text):
        numbers = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", d)]
        pts = np.asarray(numbers, dtype=np.float64).reshape(-1, 2)
        if " C" in d:
            segments = np.concatenate([pts[:1], pts[1:]], axis=0)
            starts = segments[0:-1:3]
            segs = np.stack([starts, segments[1::3], segments[2::3], segments[3::3]], axis=1)
            polylines.append(flatten(segs, steps))
        elif "l0,0" in d:
            polylines.append(pts[:1])
        else:
            polylines.append(pts)
    return polylines


# --------------------------------------------------------------------------------------- G-code


def _fmt(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _pen(options: GcodeOptions, down: bool) -> list[str]:
    if options.pen == "z":
        z = options.z_down if down else options.z_up
        return [f"G1 Z{_fmt(z)} F{_fmt(options.feed_z)}" if down else f"G0 Z{_fmt(z)}"]
    out = [options.pen_down if down else options.pen_up]
    if options.pen_delay_s > 0:
        out.append(f"G4 P{_fmt(options.pen_delay_s)}")
    return out


def stroke_polyline(points: np.ndarray, steps: int) -> np.ndarray:
    """The smooth curve through a stroke's points, flattened (`steps` = 1: the points themselves)."""
    if len(points) < 2 or steps <= 1:
        return np.asarray(points, dtype=np.float64)
    return flatten(bezier_segments(points), steps)


def check_fits(page: Page, options: GcodeOptions) -> None:
    """SeqgenError unless the writing lies on the page and the page (at its offset) on the machine's bed."""
    page.check_inside()
    if options.bed is None:
        return
    bed_w, bed_h = page_size(options.bed)
    x0, y0 = options.offset
    if x0 < 0 or y0 < 0 or x0 + page.width_mm > bed_w + 1e-6 or y0 + page.height_mm > bed_h + 1e-6:
        raise SeqgenError(
            f"the {page.width_mm:g} x {page.height_mm:g} mm page at offset ({x0:g}, {y0:g}) does not fit the "
            f"{bed_w:g} x {bed_h:g} mm bed (gcode.bed): choose a smaller page or move gcode.offset"
        )


def gcode_text(page: Page, plan: Plan, options: GcodeOptions) -> str:
    """G-code drawing `plan` on the machine; every coordinate is checked to lie on the page."""
    check_fits(page, options)
    out = [f"; seqgen handwriting page {page.width_mm:g} x {page.height_mm:g} mm, origin {options.origin}, "
           f"offset {_fmt(options.offset[0])},{_fmt(options.offset[1])}",
           f"; {plan.summary()}", *options.header, *_pen(options, down=False)]
    lo = np.array(options.offset, dtype=np.float64)
    hi = lo + (page.width_mm, page.height_mm)
    for stroke in plan.strokes:
        machine = options.to_machine(stroke_polyline(stroke.points, options.curve_steps), page.height_mm)
        if (machine < lo - 1e-6).any() or (machine > hi + 1e-6).any():
            raise SeqgenError("a G-code coordinate lies off the page: this is a bug, please report it")
        x, y = machine[0]
        out.append(f"G0 X{_fmt(x)} Y{_fmt(y)} F{_fmt(options.feed_travel)}")
        out.extend(_pen(options, down=True))
        moves = machine[1:] if len(machine) > 1 else machine[:1]
        out.append(f"G1 X{_fmt(moves[0, 0])} Y{_fmt(moves[0, 1])} F{_fmt(options.feed_draw)}")
        out.extend(f"G1 X{_fmt(mx)} Y{_fmt(my)}" for mx, my in moves[1:])
        out.extend(_pen(options, down=False))
    out.extend(options.footer)
    return "\n".join(out) + "\n"


def write_gcode(page: Page, path: str | Path, plan: Plan, options: GcodeOptions) -> Path:
    return atomic_write(path, gcode_text(page, plan, options))


@dataclass
class GcodeDrawing:
    """What a G-code file draws, in page coordinates: pen-down polylines and pen-up travel."""

    strokes: list[np.ndarray] = field(default_factory=list)
    travel_mm: float = 0.0


def read_gcode(text: str, options: GcodeOptions, page_height: float) -> GcodeDrawing:
    """Parse G-code written by `gcode_text` (G0/G1 X Y Z, the pen commands) back into strokes."""
    drawing = GcodeDrawing()
    pos = np.zeros(2)
    down = False
    current: list[np.ndarray] = []
    pen_up, pen_down = options.pen_up.strip(), options.pen_down.strip()
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].strip()
        if not line:
            continue
        if options.pen == "servo" and line in (pen_up, pen_down):
            new_down = line == pen_down
        else:
            words = dict((w[0].upper(), float(w[1:])) for w in line.split() if re.fullmatch(r"[A-Za-z]-?\d+(\.\d+)?", w))
            if words.get("G") not in (0.0, 1.0):
                continue
            if "X" in words or "Y" in words:
                target = np.array([words.get("X", pos[0]), words.get("Y", pos[1])])
                if down:
                    current.append(target)
                else:
                    drawing.travel_mm += float(np.hypot(*(target - pos)))
                pos = target
            new_down = (words["Z"] <= options.z_down + 1e-9) if (options.pen == "z" and "Z" in words) else down
        if new_down and not down:
            current = [pos.copy()]
        elif down and not new_down and current:
            drawing.strokes.append(options.to_page(np.array(current), page_height))
        down = new_down
    return drawing


def gcode_figure(drawing: GcodeDrawing, width_mm: float, height_mm: float, travel_colour: str = "#e06060"):
    """A figure of what the plotter draws: strokes in black, pen-up travel dashed."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_mm / 25.4, height_mm / 25.4), facecolor="white")
    ax = fig.add_axes((0, 0, 1, 1))
    last = None
    for stroke in drawing.strokes:
        if last is not None:
            ax.plot([last[0], stroke[0, 0]], [last[1], stroke[0, 1]], "--", color=travel_colour, linewidth=0.4)
        ax.plot(stroke[:, 0], stroke[:, 1], "-", color="black", linewidth=0.8, solid_capstyle="round")
        last = stroke[-1]
    ax.plot([0, width_mm, width_mm, 0, 0], [0, 0, height_mm, height_mm, 0], color="#bbbbbb", linewidth=0.8)
    ax.set_xlim(-1, width_mm + 1)
    ax.set_ylim(height_mm + 1, -1)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig
