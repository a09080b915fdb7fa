"""Stroke rendering to SVG and PNG."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
from PIL import Image

from seqgen.families.handwriting.hershey import render_line, sample_writers
from seqgen.render.strokes import render_png, render_svg, side_by_side_png

SVG_NS = "{http://www.w3.org/2000/svg}"


def _lines() -> list[np.ndarray]:
    ws = sample_writers(2, seed=0)
    return [render_line(t, w, np.random.default_rng(0)).offsets for t, w in zip(["hello world", "Ab, 12"], ws)]


def test_svg_one_polyline_per_stroke(tmp_path: Path) -> None:
    lines = _lines()
    out = render_svg(lines, tmp_path / "sub" / "x.svg", colors=["red", "blue"])
    assert out.is_file() and not list(out.parent.glob(".*tmp"))
    root = ET.parse(out).getroot()
    groups = root.findall(f"{SVG_NS}g")
    assert [g.get("stroke") for g in groups] == ["red", "blue"]
    for g, off in zip(groups, lines):
        assert len(g.findall(f"{SVG_NS}polyline")) == int(off[1:, 2].sum())
    # lines are stacked: the second starts below the first
    ys = [[float(p.split(",")[1]) for pl in g for p in pl.get("points").split()] for g in groups]
    assert min(ys[1]) > max(ys[0])


def test_png_not_blank(tmp_path: Path) -> None:
    out = render_png(_lines(), tmp_path / "x.png")
    img = np.asarray(Image.open(out).convert("L"))
    assert img.shape[0] > 20 and img.shape[1] > 100
    assert img.max() == 255 and (img < 128).mean() > 0.002
    single = render_png(_lines()[0], tmp_path / "single.png", colors=["green"])
    assert Image.open(single).size[0] > 100
    tiny = _lines()[1] * np.array([0.01, 0.01, 1.0], dtype=np.float32)  # another unit system
    each = render_png([_lines()[0], tiny], tmp_path / "each.png", same_scale=False)
    img = np.asarray(Image.open(each).convert("L"))
    assert (img[img.shape[0] // 2 :] < 128).mean() > 0.002  # the small line is drawn at full size


def test_side_by_side(tmp_path: Path) -> None:
    a, b = _lines()
    out = side_by_side_png([("sample", a), ("real", b)], tmp_path / "sbs.png")
    img = np.asarray(Image.open(out).convert("L"))
    assert (img < 128).mean() > 0.001
