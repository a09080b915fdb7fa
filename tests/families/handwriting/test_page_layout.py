"""Handwriting pages: wrapping, x-height and baseline from the strokes, alignment, the written page.

The geometry tests build lines from the Hershey script font's glyphs, so the truth is known: the
font's x-height (the height of 'x') and its baseline (y = 0), then scale, tilt and move each word
by known amounts, as an untidy writer would.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from handwriting_helpers import one_thread  # noqa: F401  (autouse fixture)
from serve_helpers import tiny_synthesis_model, tiny_synthesis_run  # noqa: F401

from conftest import REPO
from seqgen.families.handwriting.hershey import _font
from seqgen.data.handwriting.strokes import strokes_to_offsets
from seqgen.errors import SeqgenError
from seqgen.families.handwriting.layout import (
    LayoutOptions, TextLine, lay_out_text, line_metrics, normalise_line, page_from_offsets, paragraphs, word_baselines_of,
    wrap_text,
)

FONT = "scripts"
FONT_X_HEIGHT = 9.0  # height of 'x' in font units


def glyph_line(text: str, scale: float, tilt_deg: float, word_shift: list[float]) -> tuple[list[np.ndarray], np.ndarray, list[np.ndarray]]:
    """`text` in the script font, each word moved up by word_shift[w] x-heights, then scaled and tilted.

    Returns the strokes (y up), the word of each stroke, and each word's true baseline (two points).
    """
    glyphs = _font(FONT)
    c, s = math.cos(math.radians(tilt_deg)), math.sin(math.radians(tilt_deg))

    def place(points: np.ndarray) -> np.ndarray:
        p = points * scale
        return np.stack([c * p[:, 0] - s * p[:, 1], s * p[:, 0] + c * p[:, 1]], axis=1)

    strokes, words, baselines = [], [], []
    x = 0.0
    for w, word in enumerate(text.split()):
        lift = word_shift[w] * FONT_X_HEIGHT
        start = x
        for ch in word:
            strokes.extend(place(g + (x, lift)) for g in glyphs[ch].strokes)
            words.extend([w] * len(glyphs[ch].strokes))
            x += glyphs[ch].width
        baselines.append(place(np.array([[start, lift], [x, lift]])))
        x += glyphs[" "].width * 1.3
    return strokes, np.array(words), baselines


def test_wrap_paragraphs_width_and_long_words() -> None:
    text = "one two three four five six\nseven eight\n\n  \nnine ten"
    assert paragraphs(text) == [["one", "two", "three", "four", "five", "six", "seven", "eight"], ["nine", "ten"]]
    lines = wrap_text(text, 12)
    assert [line.text for line in lines] == ["one two", "three four", "five six", "seven eight", "nine ten"]
    assert [line.last for line in lines] == [False, False, False, True, True]
    assert [line.paragraph for line in lines] == [0, 0, 0, 0, 1]
    word = "abcdefghijklmnopqrstuvwxyz"
    hyphen = wrap_text(f"an {word} ok", 8, "hyphen")
    assert all(len(line.text) <= 8 for line in hyphen)
    assert "".join(line.text.replace("-", "") for line in hyphen).replace(" ", "") == f"an{word}ok"  # nothing cut
    assert hyphen[1].text == "abcdefg-"
    char = wrap_text(word, 8, "char")
    assert [line.text for line in char] == ["abcdefgh", "ijklmnop", "qrstuvwx", "yz"]
    with pytest.raises(SeqgenError, match="nothing to write"):
        wrap_text(" \n\n ", 10)


@pytest.mark.parametrize("scale, tilt", [(1.0, 0.0), (7.5, 4.0), (0.3, -6.0)])
def test_line_metrics_recover_the_true_x_height_and_baseline(scale: float, tilt: float) -> None:
    strokes, _, _ = glyph_line("the quick brown fox jumps over the lazy dog", scale, tilt, [0.0] * 9)
    metrics = line_metrics(strokes)
    assert metrics.x_height == pytest.approx(FONT_X_HEIGHT * scale, rel=0.03)
    assert metrics.angle_deg == pytest.approx(tilt, abs=0.3)
    assert abs(metrics.intercept) < 0.05 * FONT_X_HEIGHT * scale


def _untidy_lines(rng: np.random.Generator, texts: list[str]) -> list[tuple[list[np.ndarray], np.ndarray, list[np.ndarray], float]]:
    out = []
    for text in texts:
        scale = float(rng.uniform(0.5, 2.0))
        shifts = list(rng.uniform(-0.3, 0.3, size=len(text.split())))
        strokes, words, baselines = glyph_line(text, scale, float(rng.uniform(-5, 5)), shifts)
        out.append((strokes, words, baselines, scale))
    return out


TEXTS = ["numbers from the sequence", "handwriting on a page", "we write some more words", "the quick brown fox jumps",
         "over the lazy dog again", "minimum summer income"]


def test_a_page_of_untidy_lines_has_one_x_height_and_straight_baselines() -> None:
    """Targets: line heights within 10% of each other, baselines straight within 5% of the x-height.

    30 lines, each scaled by 0.5-2, tilted by up to 5 degrees, every word moved by up to 0.3
    x-heights: the x-heights agree within 10% on every line, and every word of every line lies
    within 5% of an x-height of the ruled baseline.
    """
    x_height = 3.0
    true_heights, raw_heights, straight = [], [], []
    for seed in range(5):
        for strokes, words, baselines, scale in _untidy_lines(np.random.default_rng(seed), TEXTS):
            line = normalise_line(strokes, len(set(words)), x_height)
            # the layout found the words the line was built from
            assert all(len(set(line.words[words == w])) == 1 for w in range(words.max() + 1))
            assert len(set(line.words)) == words.max() + 1
            true_heights.append(FONT_X_HEIGHT * scale * line.scale)
            raw_heights.append(FONT_X_HEIGHT * scale)
            # the ruled baseline is y = 0
            worst = max(float(np.abs(line.transform(b, int(line.words[words == w][0]))[:, 1]).max()) for w, b in enumerate(baselines))
            straight.append(worst <= 0.05 * x_height)
    assert max(true_heights) / min(true_heights) - 1 <= 0.10
    assert all(straight), np.mean(straight)
    assert max(raw_heights) / min(raw_heights) - 1 > 0.5  # the lines really differed before
    # without moving the words, their own offsets remain
    strokes, words, baselines, _ = _untidy_lines(np.random.default_rng(0), TEXTS[:1])[0]
    kept = normalise_line(strokes, len(set(words)), x_height, word_baselines=False)
    assert max(abs(kept.transform(b, int(kept.words[words == w][0]))[:, 1]).max() for w, b in enumerate(baselines)) > 0.1 * x_height


def test_a_normalised_line_is_its_own_fixed_point() -> None:
    """Measured again on the placed line, every word's baseline is the rule and the x-height the one asked
    for: the page's own figures are not left to where a re-estimate happens to land."""
    for strokes, words, _, _ in _untidy_lines(np.random.default_rng(7), TEXTS):
        line = normalise_line(strokes, len(set(words)), 2.5)
        bases, _ = word_baselines_of(line.strokes, line.words, 0.0, 2.5)
        assert np.abs(bases).max() <= 0.005 * 2.5 + 1e-9
        assert line_metrics(line.strokes, unit=2.5).x_height == pytest.approx(2.5, rel=0.005)


def test_page_figures_and_the_page_read_back_at_the_written_size() -> None:
    """A page whose lines came out wider than the text is shrunk as a whole; its lines read back in
    raw units (for a recogniser) at the size they were written, and its quality figures are measured
    against the rules the layout drew."""
    import types

    from seqgen.families.handwriting.layout import WrittenPage, page_line_offsets
    from seqgen.families.handwriting.pages import page_quality
    from seqgen.data.handwriting.strokes import offsets_to_strokes

    texts = TEXTS[:4]
    offsets = [strokes_to_offsets(s, origin=(0, 0)) for s, *_ in _untidy_lines(np.random.default_rng(1), texts)]
    layout = [TextLine(t, 0, k == len(texts) - 1) for k, t in enumerate(texts)]
    options = LayoutOptions.from_mapping({"align": "justify", "x_height": 3.0})
    page, normalised = page_from_offsets(offsets, layout, options, 40.0)  # narrower than the lines: shrunk
    assert page.x_height_mm < 0.8 * options.x_height and len(page.baselines) == len(texts)
    written = WrittenPage(page, layout, types.SimpleNamespace(offsets=offsets), normalised, options)
    raw_heights = [line_metrics(offsets_to_strokes(o)).x_height for o in offsets]
    back = [line_metrics(offsets_to_strokes(page_line_offsets(page, k, written.mm_per_unit))).x_height for k in range(len(texts))]
    assert np.median(back) == pytest.approx(np.median(raw_heights), rel=0.1)
    quality = page_quality(written)
    assert quality["baseline_deviation"] <= 0.05 < quality["raw_baseline_deviation"]
    assert quality["x_height_spread"] <= 0.10 < quality["raw_x_height_spread"]


def _page(align: str, texts: list[str], **options: Any):
    rng = np.random.default_rng(1)
    layout = [TextLine(t, 0, k == len(texts) - 1) for k, t in enumerate(texts)]
    offsets = [strokes_to_offsets(s, origin=(0, 0)) for s, *_ in _untidy_lines(rng, texts)]
    opts = LayoutOptions.from_mapping({"align": align, "width": "105mm", "x_height": 2.5, **options})
    page, normalised = page_from_offsets(offsets, layout, opts, 105.0)
    return page, normalised, opts


@pytest.mark.parametrize("align", ["left", "right", "centre", "justify"])
def test_alignment_and_margins(align: str) -> None:
    page, _, opts = _page(align, TEXTS[:4])
    left, right = opts.margins[3], opts.margins[3] + 105.0
    edges = [(min(s[:, 0].min() for s in line), max(s[:, 0].max() for s in line)) for line in page.lines]
    page.check_inside()
    for k, (x0, x1) in enumerate(edges):
        assert left - 1e-6 <= x0 and x1 <= right + 1e-6
        if align in ("left", "justify"):
            assert x0 == pytest.approx(left, abs=1e-6)
        if align == "right":
            assert x1 == pytest.approx(right, abs=1e-6)
        if align == "centre":
            assert x0 - left == pytest.approx(right - x1, abs=1e-6)
        if align == "justify" and k < len(edges) - 1:
            assert x1 == pytest.approx(right, abs=1e-6)  # the last line of a paragraph is not stretched
    if align == "justify":  # the last line is as written (left-aligned)
        plain = _page("left", TEXTS[:4])[0].lines[-1]
        assert edges[-1][1] == pytest.approx(max(s[:, 0].max() for s in plain)) and edges[-1][1] < right - 1
    # baselines are line_spacing x-heights apart
    bottoms = [line_metrics([np.stack([s[:, 0], -s[:, 1]], axis=1) for s in line]).intercept for line in page.lines]
    np.testing.assert_allclose(-np.diff(bottoms), opts.line_spacing * opts.x_height, atol=0.1 * opts.x_height)


def test_page_refusals_before_anything_is_written() -> None:
    opts = LayoutOptions.from_mapping({"page": "A6", "width": "60ch"})
    with pytest.raises(SeqgenError, match="needs about"):
        lay_out_text("word " * 20, opts, advance=1.6)
    # 30 characters do not fit at 3 mm: the x-height is lowered to fit the 65 mm between the margins
    _, width, fitted = lay_out_text("word " * 20, LayoutOptions.from_mapping({"page": "A6", "width": "30ch"}), advance=1.6)
    assert width == 65.0 and fitted.x_height == pytest.approx(65 / (30 * 1.6))
    small = LayoutOptions.from_mapping({"page": "A6", "width": "20ch", "x_height": 2.0})
    with pytest.raises(SeqgenError, match="fit on the A6 page"):
        lay_out_text("word " * 400, small, advance=1.6)
    lines, width, _ = lay_out_text("word " * 30, LayoutOptions.from_mapping({"width": "100mm"}), advance=2.0)
    assert width == 100.0 and max(len(line.text) for line in lines) <= 100 / (3.0 * 2.0)
    for bad, message in (({"width": "40"}, "40ch"), ({"align": "middle"}, "align"), ({"page": "B7"}, "page"),
                         ({"margins": [200]}, "no room"), ({"overflow": "cut"}, "overflow"), ({"x_height": -1}, "x_height"),
                         ({"colour": "red"}, "unknown")):
        with pytest.raises(SeqgenError, match=message):
            LayoutOptions.from_mapping(bad)
    assert LayoutOptions.from_mapping({"align": "center", "margins": [10, 15]}).margins == (10, 15, 10, 15)


def test_write_page_with_a_model_and_the_seqgen_sample_command(tiny_synthesis_model: Any, tiny_synthesis_run: Path, tmp_path: Path) -> None:
    from seqgen.families.handwriting.layout import write_page
    from seqgen.families.handwriting.pages import page_quality

    text = "ab ba abab\n\nba ab"
    written = write_page(tiny_synthesis_model, text, LayoutOptions.from_mapping({"width": "8ch", "page": "A5"}), bias=1.0)
    assert [line.text for line in written.lines] == ["ab ba", "abab", "ba ab"]
    assert len(written.page.lines) == 3 and all(written.page.lines)
    written.page.check_inside()
    quality = page_quality(written)
    assert quality["x_height_spread"] <= 0.10 < quality["raw_x_height_spread"] + 1  # finite, measured
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    out = tmp_path / "sample"
    result = subprocess.run(
        [sys.executable, "-m", "seqgen.cli.sample", f"ckpt={tiny_synthesis_run}", "text=ab ba ab|abab", "layout.width=6ch",
         "layout.align=justify", "gcode.pen=z", "bias=1", f"hydra.run.dir={out}"],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for name in ("page.svg", "page.png", "page.pdf", "page-plotter.svg", "page.gcode", "page-gcode.png", "page.json"):
        assert (out / name).stat().st_size > 100, name
    report = json.loads((out / "page.json").read_text())
    assert report["lines"] == ["ab ba", "ab", "abab"] and report["travel_mm"] <= report["travel_written_mm"]
    assert "% saved" in result.stdout and "G1 Z0" in (out / "page.gcode").read_text()
    # a width without its unit is refused before anything is written, naming the two forms
    with pytest.raises(SeqgenError, match="40ch"):
        write_page(tiny_synthesis_model, "ab", LayoutOptions.from_mapping({"width": 6}))


def test_page_options_belong_to_handwriting_only() -> None:
    from omegaconf import OmegaConf

    from seqgen.core.family import get_family

    cfg = OmegaConf.create({"layout": {"width": "40ch", "page": None}, "gcode": {"pen": None}, "temperature": None})
    get_family("handwriting").check_sample_options(cfg, frozenset(cfg.keys()))
    with pytest.raises(SeqgenError, match="layout do"):
        get_family("text").check_sample_options(cfg, frozenset(cfg.keys()))
    unset = OmegaConf.create({"layout": {"width": None}, "gcode": {"pen": None}})
    get_family("text").check_sample_options(unset, frozenset(unset.keys()))  # all null: not given


def test_a_scribbled_line_is_set_at_the_page_scale() -> None:
    rng = np.random.default_rng(3)
    texts = TEXTS[:4]
    offsets = [strokes_to_offsets(s, origin=(0, 0)) for s, *_ in _untidy_lines(rng, texts)]
    scribble = np.cumsum(rng.normal(0, 1, size=(200, 2)), axis=0) * 40  # no letters at all
    offsets[2] = strokes_to_offsets([scribble], origin=(0, 0))
    layout = [TextLine(t, 0, k == 3) for k, t in enumerate(texts)]
    _, normalised = page_from_offsets(offsets, layout, LayoutOptions.from_mapping({"x_height": 2.0}), 170.0)
    scales = [n.scale for n in normalised]
    median = float(np.median(scales))
    assert all(median / 1.5 - 1e-9 <= s <= median * 1.5 + 1e-9 for s in scales)
