"""Pages in the demo: a write request with `layout` is free text wrapped for a page, and a finished
job is downloaded as a page (SVG, PNG, PDF), single-stroke plotter SVG, G-code, or the page's
strokes as JSON for the canvas.

    POST /api/write {text, ..., layout: {width: "40ch" | "120mm", align, page, ink, speed_width}}
         text: paragraphs separated by a blank line; wrapped on the server, so `job.lines` are
         the wrapped lines, written one after the other as usual
    GET  /api/jobs/{id}/page.svg | .png | .pdf | .gcode | -plotter.svg | .json

The layout itself is the handwriting family's (`seqgen/families/handwriting/layout.py`); nothing
here samples.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from seqgen.errors import SeqgenError
from seqgen.families.handwriting.layout import (
    LayoutOptions, TextLine, known_characters, lay_out_text, page_from_offsets, parse_width, rule_positions,
)
from seqgen.render.page import page_figure, page_svg, save_figure
from seqgen.render.plotter import GcodeOptions, gcode_text, plan_strokes, plotter_svg
from seqgen.serve.engine import RequestError

PAGE_KINDS = {
    "svg": "image/svg+xml", "png": "image/png", "pdf": "application/pdf", "gcode": "text/plain",
    "plotter.svg": "image/svg+xml", "json": "application/json",
}
DEMO_LAYOUT_KEYS = ("width", "align", "page", "ink", "speed_width", "x_height")


@dataclass
class PageRequest:
    options: LayoutOptions
    lines: list[TextLine]
    text_width: float


def wrap_for_page(body: Any, vocab: set[str], max_chars: int, advance: float) -> tuple[Any, Optional[PageRequest]]:
    """A write request's body with its free text wrapped into lines (one per row) when it has
    `layout`, and the page it asks for; bodies without `layout` pass through unchanged."""
    if not isinstance(body, dict) or body.get("layout") is None:
        return body, None
    layout, text = body["layout"], body.get("text")
    if not isinstance(layout, dict) or any(key not in DEMO_LAYOUT_KEYS for key in layout):
        raise RequestError(400, f"layout must be an object with some of: {', '.join(DEMO_LAYOUT_KEYS)}", field="layout")
    if not isinstance(text, str):
        raise RequestError(400, "text must be a string (paragraphs separated by a blank line)", field="text")
    try:
        options = LayoutOptions.from_mapping(layout)
        if body.get("unknown_chars") == "drop":
            text = known_characters(text, sorted(vocab), "drop")
        if options.width is not None and parse_width(options.width)[1] == "ch" and parse_width(options.width)[0] > max_chars:
            raise SeqgenError(f"layout.width={options.width}: at most {max_chars} characters per line")
        lines, text_width, options = lay_out_text(text, options, advance, max_chars)
    except SeqgenError as err:
        raise RequestError(400, str(err), field="layout") from None
    return {**body, "text": "\n".join(line.text for line in lines)}, PageRequest(options, lines, text_width)


def page_event(request: Optional[PageRequest], x_height_raw: float) -> dict[str, Any]:
    """What the page needs to draw lines while they stream: the sheet, each line's baseline (mm,
    from the top; the final page may differ a little) and the pen's scale (mm per raw unit)."""
    if request is None:
        return {}
    options = request.options
    baselines = rule_positions(request.lines, options, options.x_height)
    width, height = options.page_mm
    return {"page": {
        "width_mm": width, "height_mm": height, "left_mm": options.margins[3], "baselines": baselines,
        "mm_per_unit": options.x_height / x_height_raw if x_height_raw > 0 else 0.0, "ink": options.ink,
        "stroke_mm": options.stroke, "x_height_mm": options.x_height,
    }}


def _page_of(job: Any) -> tuple[Any, PageRequest]:
    request: Optional[PageRequest] = getattr(job.request, "page", None)
    if request is None:
        raise RequestError(404, "this result was written without a page layout: write it again with a width")
    if len(job.offsets) != len(request.lines):
        raise RequestError(404, "this result is incomplete: write it again")
    try:
        page, _ = page_from_offsets(job.offsets, request.lines, request.options, request.text_width)
    except SeqgenError as err:
        raise RequestError(400, str(err)) from None
    return page, request


def render_page(job: Any, kind: str) -> bytes:
    """One download of a finished job's page (`PAGE_KINDS`)."""
    if kind not in PAGE_KINDS:
        raise RequestError(404, f"a page downloads as {', '.join('page.' + k for k in PAGE_KINDS)}")
    page, request = _page_of(job)
    options = request.options
    if kind == "json":
        import json

        boxes = []
        for line in page.lines:
            allp = np.concatenate(line, axis=0)
            boxes.append([float(allp[:, 1].min()) - 1.0, float(allp[:, 1].max()) + 1.0])
        return json.dumps({
            "width_mm": page.width_mm, "height_mm": page.height_mm, "ink": options.ink, "stroke_mm": options.stroke,
            "speed_width": options.speed_width, "boxes": boxes,
            "lines": [[np.round(s, 3).tolist() for s in line] for line in page.lines],
        }).encode()
    gcode = GcodeOptions()
    if kind == "gcode":
        try:
            return gcode_text(page, plan_strokes(page, gcode.home(page.height_mm)), gcode).encode()
        except SeqgenError as err:
            raise RequestError(400, str(err)) from None
    with tempfile.TemporaryDirectory(prefix="seqgen-serve-") as folder:
        path = Path(folder) / f"page.{kind}"
        if kind == "svg":
            page_svg(page, path, options.ink_style())
        elif kind in ("png", "pdf"):
            save_figure(page_figure(page, options.ink_style()), path, dpi=options.dpi)
        else:
            plotter_svg(page, path, plan_strokes(page, gcode.home(page.height_mm), per_line=True))
        return path.read_bytes()
