"""Pages in mm: smooth curves, page SVG / PNG / PDF, stroke order, plotter SVG and G-code read back."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from seqgen.errors import SeqgenError
from seqgen.render.curves import bezier_segments, flatten, speed_widths, svg_path_data
from seqgen.render.page import Ink, Page, page_size, page_svg, save_page
from seqgen.render.plotter import (
    GcodeOptions, gcode_text, nearest_neighbour_order, plan_strokes, plotter_svg, read_gcode, svg_polylines, travel_mm,
)

SVG_NS = "{http://www.w3.org/2000/svg}"


def _wave(x0: float, y0: float, n: int = 12, rng: np.random.Generator | None = None) -> np.ndarray:
    t = np.linspace(0, 1, n)
    jitter = rng.normal(0, 0.05, size=(n, 2)) if rng is not None else 0.0
    return np.stack([x0 + 8 * t, y0 + 2 * np.sin(6 * t)], axis=1) + jitter


def _page(rng: np.random.Generator) -> Page:
    """Three lines of little waves, strokes in a scrambled written order, plus a dot."""
    lines = []
    for row in range(3):
        strokes = [_wave(20 + 10 * k, 40 + 12 * row, rng=rng) for k in rng.permutation(8)]
        strokes = [s[::-1] if k % 2 else s for k, s in enumerate(strokes)]
        lines.append(strokes)
    lines[0].append(np.array([[150.0, 30.0]]))
    speeds = [[np.hypot(*np.diff(s, axis=0).T) for s in line] for line in lines]
    return Page(210.0, 297.0, lines, speeds, ["one", "two", "three"])


def test_catmull_rom_passes_through_the_points_with_a_continuous_tangent() -> None:
    rng = np.random.default_rng(0)
    points = np.cumsum(rng.normal(0, 1, size=(20, 2)) * [1, 0.3] + [1, 0], axis=0)
    points[7] = points[6]  # a repeated point must not blow up
    seg = bezier_segments(points)
    assert seg.shape == (19, 4, 2) and np.isfinite(seg).all()
    np.testing.assert_allclose(seg[:, 0], points[:-1])
    np.testing.assert_allclose(seg[:, 3], points[1:])
    for i in range(1, 18):
        if i in (5, 6, 7, 8):
            continue  # near the repeated point the segments are straight
        incoming, outgoing = seg[i - 1, 3] - seg[i - 1, 2], seg[i, 1] - seg[i, 0]
        cos = incoming @ outgoing / (np.linalg.norm(incoming) * np.linalg.norm(outgoing))
        assert cos > 0.9999, (i, cos)
    curve = flatten(seg, 5)
    assert len(curve) == 19 * 5 + 1
    np.testing.assert_allclose(curve[::5], points)
    # the curve stays close to the chords (no overshoot loops)
    assert np.abs(curve[:, 1]).max() <= np.abs(points[:, 1]).max() + 1.0
    assert svg_path_data(points).startswith("M") and " C" in svg_path_data(points)
    assert " L" in svg_path_data(points, smooth=False) and svg_path_data(points[:1]).endswith("l0,0")


def test_speed_widths_slow_is_thicker() -> None:
    widths = speed_widths(np.array([0.5, 1.0, 2.0]), base=0.4, amount=1.0, median_speed=1.0)
    assert widths[0] > widths[1] > widths[2] and widths[1] == pytest.approx(0.4)
    assert (speed_widths(np.array([0.5, 2.0]), 0.4, 0.0, 1.0) == 0.4).all()


def test_page_sizes_and_refusals() -> None:
    assert page_size("A4") == (210.0, 297.0) and page_size("letter") == (215.9, 279.4)
    assert page_size("148x210") == (148.0, 210.0)
    for bad in ("A9", "12 by 3", "5x5"):
        with pytest.raises(SeqgenError, match="page"):
            page_size(bad)


def test_page_svg_png_pdf(tmp_path: Path) -> None:
    page = _page(np.random.default_rng(1))
    files = save_page(page, tmp_path / "page", Ink(colour="#0000aa", width_mm=0.5, speed_width=1.0))
    root = ET.parse(files["svg"]).getroot()
    assert root.get("width") == "210mm" and root.get("viewBox") == "0 0 210 297"
    paths = root.findall(f".//{SVG_NS}path")
    assert len(paths) >= sum(len(line) for line in page.lines)  # runs of equal width split a stroke
    assert {p.get("stroke-width") for p in paths if p.get("stroke-width")} != set()  # widths vary with speed
    assert root.find(f"{SVG_NS}g").get("stroke") == "#0000aa"
    assert files["pdf"].read_bytes().startswith(b"%PDF")
    img = np.asarray(Image.open(files["png"]).convert("RGB")).astype(int)
    assert img.shape[1] == pytest.approx(210 / 25.4 * 150, abs=2)
    ink = (img[:, :, 2] > 100) & (img[:, :, 0] < 100)  # blue ink
    rows, cols = np.nonzero(ink)
    assert ink.sum() > 500
    # ink where the strokes are: x 20..150 mm, y 36..66 mm
    assert 19 <= cols.min() / img.shape[1] * 210 and cols.max() / img.shape[1] * 210 <= 152
    assert 33 <= rows.min() / img.shape[0] * 297 and rows.max() / img.shape[0] * 297 <= 68
    constant = page_svg(page, tmp_path / "plain.svg", Ink(smooth=False))
    text = constant.read_text()
    assert " C" not in text and "stroke-width=\"0.45\"" in text


def test_nearest_neighbour_order_reverses_and_saves_travel() -> None:
    strokes = [np.array([[10.0, 0.0], [11.0, 0.0]]), np.array([[3.0, 0.0], [1.0, 0.0]]), np.array([[5.0, 0.0], [7.0, 0.0]])]
    order = nearest_neighbour_order(strokes, np.zeros(2))
    assert order == [(1, True), (2, False), (0, False)]
    page = _page(np.random.default_rng(2))
    start = np.zeros(2)
    plan = plan_strokes(page, start)
    assert plan.travel_written_mm == pytest.approx(travel_mm([s for _, _, s in page.strokes()], start))
    assert plan.travel_mm < 0.5 * plan.travel_written_mm and 0.5 < plan.saved_fraction < 1
    assert any(s.reversed for s in plan.strokes)
    assert sorted(len(s.points) for s in plan.strokes) == sorted(len(s) for _, _, s in page.strokes())
    by_line = plan_strokes(page, start, per_line=True)
    assert [s.line for s in by_line.strokes] == sorted(s.line for s in by_line.strokes)
    assert plan_strokes(page, start, order="written").travel_mm == pytest.approx(plan.travel_written_mm)


def test_plotter_svg_is_single_stroke_paths_in_mm_with_layers(tmp_path: Path) -> None:
    page = _page(np.random.default_rng(3))
    plan = plan_strokes(page, np.zeros(2), per_line=True)
    root = ET.parse(plotter_svg(page, tmp_path / "plot.svg", plan)).getroot()
    assert root.get("height") == "297mm"
    layers = root.findall(f"{SVG_NS}g")
    assert len(layers) == 3 and layers[1].get("{http://www.inkscape.org/namespaces/inkscape}label") == "line 2: two"
    assert [len(g.findall(f"{SVG_NS}path")) for g in layers] == [len(line) for line in page.lines]
    tags = {el.tag.replace(SVG_NS, "") for el in root.iter()}
    assert tags == {"svg", "g", "path"}  # paths only: no rect, polyline or text
    assert all(g.get("fill") == "none" for g in layers)
    flat = ET.parse(plotter_svg(page, tmp_path / "flat.svg", plan, layers=False)).getroot()
    assert len(flat.findall(f"{SVG_NS}g")) == 1


@pytest.mark.parametrize("pen", ["servo", "z"])
@pytest.mark.parametrize("origin", ["bottom-left", "top-left"])
def test_gcode_read_back_draws_the_plotter_svg(tmp_path: Path, pen: str, origin: str) -> None:
    page = _page(np.random.default_rng(4))
    options = GcodeOptions.from_mapping({"pen": pen, "origin": origin, "offset": [15, 5], "header": ["G21", "G90", "G28"],
                                         "footer": "M2", "curve_steps": 3})
    start = options.home(page.height_mm)
    plan = plan_strokes(page, start)
    text = gcode_text(page, plan, options)
    lines = text.splitlines()
    assert lines[2:5] == ["G21", "G90", "G28"] and lines[-1] == "M2"
    assert ("Z" in text) == (pen == "z") and ("M3 S90" in text) == (pen == "servo")
    # every coordinate on the page (in machine coordinates: the page at its offset)
    xs = [float(v) for v in re.findall(r"X(-?[\d.]+)", text)]
    ys = [float(v) for v in re.findall(r"Y(-?[\d.]+)", text)]
    assert 15 <= min(xs) and max(xs) <= 15 + 210 and 5 <= min(ys) and max(ys) <= 5 + 297
    drawing = read_gcode(text, options, page.height_mm)
    svg = plotter_svg(page, tmp_path / "plot.svg", plan, layers=False).read_text()
    expected = svg_polylines(svg, steps=3)
    assert len(drawing.strokes) == len(expected) == len(plan.strokes)
    for got, want in zip(drawing.strokes, expected):
        if len(want) == 1:
            np.testing.assert_allclose(got[0], want[0], atol=2e-3)
            continue
        np.testing.assert_allclose(got, want, atol=2e-3)  # 3 decimals in both files
    assert drawing.travel_mm == pytest.approx(plan.travel_mm, rel=1e-3)


def test_gcode_refuses_what_does_not_fit(tmp_path: Path) -> None:
    page = _page(np.random.default_rng(5))
    with pytest.raises(SeqgenError, match="does not fit"):
        gcode_text(page, plan_strokes(page, np.zeros(2)), GcodeOptions.from_mapping({"bed": "200x300"}))
    with pytest.raises(SeqgenError, match="does not fit"):
        gcode_text(page, plan_strokes(page, np.zeros(2)), GcodeOptions.from_mapping({"bed": "A4", "offset": [1, 0]}))
    page.lines[0].append(np.array([[5.0, 300.0], [6.0, 301.0]]))
    with pytest.raises(SeqgenError, match="off the"):
        gcode_text(page, plan_strokes(page, np.zeros(2)), GcodeOptions())
    for bad, message in (({"pen": "laser"}, "gcode.pen"), ({"feed_draw": 0}, "feed_draw"), ({"origin": "centre"}, "origin"),
                         ({"pen": "z", "z_up": 0, "z_down": 1}, "z_up"), ({"offset": "x"}, "offset"), ({"speed": 3}, "unknown"),
                         ({"pen_up": "M3 S90"}, "different")):
        with pytest.raises(SeqgenError, match=message):
            GcodeOptions.from_mapping(bad)
