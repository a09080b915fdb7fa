"""The files of a written page and how well it is set: page SVG / PNG / PDF, plotter SVG, G-code,
the G-code read back and drawn, and `page.json` (line heights, baselines, pen-up travel).

Quality of a page (`page_quality`, measured from the strokes as they lie on the page):

* x-height spread = max / min - 1 of the lines' x-heights (`layout.line_metrics` on each placed line,
  sampled in steps of the page's x-height as the layout measures a placed line), and the fraction
  of the lines within 10% of the page's median x-height;
* baseline deviation = the largest distance, over every word of every line, between the word's
  baseline (as `layout.py` estimates it) and the line's rule (where the layout set the line), in
  x-heights. For the lines as written, which have no rule, the rule is the straight line through
  the line's word baselines (each line levelled by its own fit): the best any straight rule could do.

These use the estimators the layout itself uses, so on the page they are near 0 by construction;
the figures that test the layout against known truth are in
tests/families/handwriting/test_page_layout.py (lines built from font glyphs).

Both are also given for the lines as the model wrote them (`raw_*`: each line scaled to the
page's x-height by the page's common scale, not by its own), the baseline to beat.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from seqgen.data.handwriting.strokes import offsets_to_strokes
from seqgen.families.handwriting.config import HandwritingSampleOptions
from seqgen.families.handwriting.layout import WrittenPage, level_strokes, line_metrics, word_baselines_of, word_of_strokes
from seqgen.io import write_json
from seqgen.render.page import Page, save_figure, save_page
from seqgen.render.plotter import GcodeOptions, gcode_figure, plan_strokes, plotter_svg, read_gcode, write_gcode

log = logging.getLogger(__name__)


def word_baseline_deviation(lines: Sequence[Sequence[np.ndarray]], words: Sequence[np.ndarray], x_height: float,
                            rules: Optional[Sequence[float]] = None) -> float:
    """Largest distance of a word's baseline (`layout.word_baselines_of`) from its line's rule, in
    x-heights; strokes y up, one line per entry.

    `rules` (y up, one per line): the lines' ruled baselines, horizontal (a page). Without them (lines
    as written) each line is levelled by its own fit (`line_metrics`) and its rule is the straight
    line through its word baselines, the best any straight rule could do (two words or fewer: 0).
    """
    worst = 0.0
    for k, (strokes, word) in enumerate(zip(lines, words)):
        word = np.asarray(word)
        if rules is not None:
            bases, _ = word_baselines_of(strokes, word, rules[k], x_height)
            worst = max(worst, float(np.abs(bases - rules[k]).max()) / x_height)
            continue
        metrics = line_metrics(strokes)
        angle = math.atan(metrics.slope)
        level = level_strokes(strokes, angle, 1.0)
        bases, _ = word_baselines_of(level, word, metrics.intercept * math.cos(angle), x_height)
        if len(bases) < 3:
            continue
        centres = np.array([np.mean([float(level[j][:, 0].mean()) for j in np.flatnonzero(word == w)]) for w in range(len(bases))])
        slope, intercept = np.polyfit(centres, bases, 1)
        worst = max(worst, float(np.abs(bases - (slope * centres + intercept)).max()) / x_height)
    return worst


def _spread(values: Sequence[float]) -> float:
    return float(max(values) / min(values) - 1.0) if values else 0.0


def page_quality(written: WrittenPage) -> dict[str, float]:
    """x-height spread and baseline deviation on the page and for the raw lines (module doc)."""
    page, options = written.page, written.options
    placed = [[np.stack([s[:, 0], -s[:, 1]], axis=1) for s in line] for line in page.lines]  # y up again
    words = [n.words for n in written.normalised]
    heights = [line_metrics(p, unit=page.x_height_mm or None).x_height for p in placed]  # 0: a page not set by a layout
    x_height = float(np.median(heights))
    scale = written.mm_per_unit
    raw = [[s * scale for s in offsets_to_strokes(o)] for o in written.samples.offsets]
    raw_words = [word_of_strokes(r, len(t.text.split()), 0.15 * options.x_height) for r, t in zip(raw, written.lines)]
    return {
        "x_height_mm": x_height,
        "x_height_spread": _spread(heights),
        "x_heights_mm": [float(h) for h in heights],
        "lines_within_10pct": float(np.mean([abs(h / x_height - 1) <= 0.10 for h in heights])),
        "baseline_deviation": word_baseline_deviation(placed, words, page.x_height_mm, [-y for y in page.baselines]),
        "raw_x_height_spread": _spread([line_metrics(r).x_height for r in raw]),
        "raw_baseline_deviation": word_baseline_deviation(raw, raw_words, x_height),
        "tilt_removed_deg_max": float(max(abs(math.degrees(n.angle)) for n in written.normalised)),
    }


def save_written_page(written: WrittenPage, out_dir: Path, gcode: GcodeOptions, stem: str = "page") -> dict[str, Path]:
    """Every output of a page (module doc) in `out_dir`; prints the travel saved and the quality."""
    out_dir = Path(out_dir)
    page, options = written.page, written.options
    files = {f"page_{fmt}": path for fmt, path in save_page(page, out_dir / stem, options.ink_style(), dpi=options.dpi).items()}
    start = gcode.home(page.height_mm)
    files["plotter_svg"] = plotter_svg(page, out_dir / f"{stem}-plotter.svg", plan_strokes(page, start, gcode.order, options.layers), options.layers, options.smooth)
    plan = plan_strokes(page, start, gcode.order)
    files["gcode"] = write_gcode(page, out_dir / f"{stem}.gcode", plan, gcode)
    drawing = read_gcode(files["gcode"].read_text(), gcode, page.height_mm)
    files["gcode_png"] = save_figure(gcode_figure(drawing, page.width_mm, page.height_mm), out_dir / f"{stem}-gcode.png", dpi=options.dpi)
    quality = page_quality(written)
    report = {
        "lines": [line.text for line in written.lines],
        "ended": [bool(e) for e in written.samples.ended],
        "page_mm": [page.width_mm, page.height_mm],
        "travel_mm": plan.travel_mm, "travel_written_mm": plan.travel_written_mm, "travel_saved": plan.saved_fraction,
        "pen_down_mm": plan.draw_mm, "strokes": len(plan.strokes), **quality,
    }
    files["page_json"] = write_json(out_dir / f"{stem}.json", report)
    print(f"page: {len(written.lines)} lines on {options.sheet}; {plan.summary()}")
    print(
        f"page: x-height {quality['x_height_mm']:.2f} mm, {100 * quality['lines_within_10pct']:.0f}% of the lines within 10% of it, "
        f"spread {100 * quality['x_height_spread']:.1f}% "
        f"(as written: {100 * quality['raw_x_height_spread']:.1f}%); word baselines within "
        f"{100 * quality['baseline_deviation']:.1f}% of the x-height (as written: {100 * quality['raw_baseline_deviation']:.1f}%)"
    )
    return files


def page_command(model: Any, options: HandwritingSampleOptions, seed: int, out_dir: Path, prime: Any) -> dict[str, Path]:
    """`seqgen-sample ... layout.width=40ch`: write `text` (free text; `|` separates paragraphs) as a page."""
    import time

    from seqgen.families.handwriting.layout import write_page

    text = (options.text or "").replace("|", "\n\n")
    started = time.process_time()
    written = write_page(model, text, options.layout, options.bias, prime, seed, options.unknown_chars)
    files = save_written_page(written, out_dir, options.gcode)
    print(f"page: written and set in {time.process_time() - started:.1f} CPU seconds")
    return files
