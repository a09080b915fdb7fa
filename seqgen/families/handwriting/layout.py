"""Handwriting on a page: wrap free text, write it, and set the lines as one hand on one page.

Steps (`write_page`):

1. **Wrap** (`wrap_text`): paragraphs are separated by blank lines (single newlines inside a
   paragraph are spaces); words are filled greedily into lines of at most W characters, where
   W = ``layout.width`` in characters (``40ch``) or, for a width in millimetres (``120mm``),
   W = width / (x-height * advance), with `advance` the writer's width per character in x-heights
   (measured on the model's training-writer lines, `writer_metrics`). A word longer than W is split
   (``layout.overflow``: ``hyphen`` = W - 1 characters and a hyphen, ``char`` = W characters), never cut.
2. **Write** every line in one batch (`generate.write`: bias, style, seed).
3. **Measure each line from its strokes** (`line_metrics`; strokes resampled along their path,
   so slow and fast pens weigh the same). A first baseline y = a x + b is fitted through the local
   minima of y by iteratively reweighted least squares with Tukey's biweight (c = 4.685 robust
   standard deviations). The *core band* (`core_band`) is the range of heights spanned by at
   least half of the ink's columns (each column from its lowest to its highest ink): ascenders,
   descender loops and capitals span few columns. The baseline is fitted again through the
   minima near the band's lower edge only (joins half-way up and descenders left out), and the
   *x-height* is the biweight location of the maxima near its upper edge.
4. **Normalise**: rotate the line by -atan(a) (the baseline becomes level), scale it so its
   x-height is ``layout.x_height`` mm, split it into its words at the largest horizontal gaps
   between strokes (as many words as the text has) and, with ``layout.word_baselines``, move each
   word vertically onto the baseline (`word_baseline`: where an x-height-tall window overlaps most
   of the word's ink columns, refined to the mode of its minima there), level the line again by
   the slope left within the words (one slope, an intercept per word), then measure the x-height
   once more with the words aligned (words at different heights widen the line's band), rescale,
   and estimate the words again on the placed line, until both hold within 0.5% (a fixed point:
   measured again on the page, the words sit on the rule and the line has the page's x-height):
   the lines of a page look written by one hand on ruled paper. The model writes at one size, so
   a line whose scale comes out more than 1.5x off the page's median is a failed estimate (a
   scribbled line): it is set at the nearest scale within that range, with a warning.
5. **Place** the line: left, right, centre, or justified (word gaps stretched to the text width;
   never the last line of a paragraph, nor by more than 4 x-heights per gap), baselines
   ``line_spacing`` x-heights apart, ``paragraph_spacing`` lines more between paragraphs, inside the
   margins. A text longer than the page, or a width in mm wider than the page, is an error before
   anything is sampled (a width in characters lowers the x-height to fit, down to 1 mm); lines
   that came out wider than the text width (the advance is an average) shrink the whole page's
   writing uniformly, and a line whose ink reaches more than 5 x-heights above or 3.5 below its
   baseline (strokes gone astray) shrinks on its own, each with a warning.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np

from seqgen.data.handwriting.strokes import offsets_to_strokes, strokes_to_offsets
from seqgen.errors import SeqgenError
from seqgen.families.handwriting.config import LayoutOptions, parse_width
from seqgen.render.page import Page

log = logging.getLogger(__name__)

TUKEY_C = 4.685
MAX_JUSTIFY_GAP = 4.0  # x-heights added per word gap at most; a looser line stays left-aligned
DEFAULT_ADVANCE = 1.6  # width per character in x-heights, when the model kept no writer lines
OUTLIER_SCALE = 1.5  # a line scaled more than this off the page's median is set within it (a failed estimate)
WORD_SPACING = 0.075  # x-heights between the resampled points a word's minima are found on
WINDOW_PRIOR = 0.1  # score lost per x-height away from the line's baseline (a fraction of the best)
WINDOW_STEP, WINDOW_REACH = 0.02, 0.6  # the x-height window's positions: step and reach from the line's baseline (x-heights)
WORD_ROUNDS, WORD_TOLERANCE = 12, 0.005  # word baselines re-estimated on the placed line until within 0.5% of an x-height
MAX_RISE, MAX_DROP = 5.0, 3.5  # x-heights a line's ink may reach above / below its baseline (strays beyond shrink it)


# --------------------------------------------------------------------------------------- options


# --------------------------------------------------------------------------------------- wrapping


@dataclass
class TextLine:
    """One line of a wrapped text; `last` marks the end of a paragraph (not justified)."""

    text: str
    paragraph: int
    last: bool


def split_long_word(word: str, width: int, overflow: str) -> list[str]:
    """A word longer than `width` in pieces of at most `width` characters (hyphen: `width` - 1 + "-")."""
    if len(word) <= width:
        return [word]
    step = width - 1 if overflow == "hyphen" else width
    pieces = [word[i : i + step] for i in range(0, len(word), step)]
    if overflow == "hyphen":
        pieces = [p + "-" for p in pieces[:-1]] + pieces[-1:]
    return pieces


def paragraphs(text: str) -> list[list[str]]:
    """Free text -> the words of each paragraph (paragraphs are separated by blank lines)."""
    blocks = re.split(r"\n[ \t]*\n", str(text).replace("\r\n", "\n"))
    return [words for words in (block.split() for block in blocks) if words]


def wrap_text(text: str, width: int, overflow: str = "hyphen") -> list[TextLine]:
    """Greedy fill of each paragraph's words into lines of at most `width` characters."""
    if width < 2:
        raise SeqgenError(f"a line of {width} characters is too narrow to wrap text into")
    lines: list[TextLine] = []
    for number, words in enumerate(paragraphs(text)):
        current = ""
        for word in words:
            for piece in split_long_word(word, width, overflow):
                if current and len(current) + 1 + len(piece) <= width:
                    current += " " + piece
                else:
                    if current:
                        lines.append(TextLine(current, number, False))
                    current = piece
        lines.append(TextLine(current, number, True))
    if not lines:
        raise SeqgenError("nothing to write: the text is empty")
    return lines


# --------------------------------------------------------------------------------------- measuring


def _resample(stroke: np.ndarray, spacing: float) -> np.ndarray:
    """Points every `spacing` along a stroke's path (its end points kept)."""
    if len(stroke) < 2:
        return stroke
    steps = np.hypot(*np.diff(stroke, axis=0).T)
    along = np.concatenate([[0.0], np.cumsum(steps)])
    if along[-1] <= spacing:
        return stroke[[0, -1]]
    at = np.linspace(0.0, along[-1], int(math.ceil(along[-1] / spacing)) + 1)
    return np.stack([np.interp(at, along, stroke[:, 0]), np.interp(at, along, stroke[:, 1])], axis=1)


def extrema(strokes: Sequence[np.ndarray], spacing: Optional[float] = None) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Local minima and maxima of y (each (k, 2)) along the strokes resampled every `spacing` (by
    default 1/40 of the ink's extent), and the owning stroke of each."""
    if spacing is None:
        allp = np.concatenate([s for s in strokes if len(s)], axis=0)
        spacing = max(float(np.ptp(allp[:, 1])), float(np.ptp(allp[:, 0])) / 20, 1e-9) / 40
    low, high, low_of, high_of = [], [], [], []
    for k, stroke in enumerate(strokes):
        r = _resample(np.asarray(stroke, dtype=np.float64), spacing)
        if len(r) < 3:
            continue
        y = np.convolve(np.pad(r[:, 1], 1, mode="edge"), np.ones(3) / 3, mode="valid")
        previous, following = np.r_[np.inf, y[:-1]], np.r_[y[1:], np.inf]  # a stroke may start or end on the baseline
        is_low = (y < previous) & (y <= following)
        previous, following = np.r_[np.inf, y[:-1]], np.r_[y[1:], np.inf]  # entry and exit strokes end mid-letter: no maximum at an end
        is_high = (y > previous) & (y >= following)
        low.append(r[is_low]), high.append(r[is_high])
        low_of.append(np.full(int(is_low.sum()), k)), high_of.append(np.full(int(is_high.sum()), k))
    if not low:
        return np.zeros((0, 2)), np.zeros((0, 2)), [np.zeros(0, int), np.zeros(0, int)]
    return np.concatenate(low), np.concatenate(high), [np.concatenate(low_of), np.concatenate(high_of)]


def _biweight(values: np.ndarray, floor: float) -> np.ndarray:
    """Tukey biweight weights of residuals (robust scale from the median absolute deviation)."""
    scale = max(1.4826 * float(np.median(np.abs(values - np.median(values)))), floor)
    u = values / (TUKEY_C * scale)
    return np.where(np.abs(u) < 1, (1 - u**2) ** 2, 0.0)


def robust_location(values: np.ndarray, floor: float, iterations: int = 10) -> float:
    """Biweight location: a mean that ignores outliers (ascenders, descenders)."""
    if len(values) == 0:
        return 0.0
    centre = float(np.median(values))
    for _ in range(iterations):
        w = _biweight(values - centre, floor)
        if w.sum() <= 0:
            break
        centre = float((w * values).sum() / w.sum())
    return centre


def robust_line(points: np.ndarray, floor: float, iterations: int = 12) -> tuple[float, float]:
    """y = a x + b through `points` (k, 2) by biweight IRLS; a level line through one point."""
    if len(points) < 2 or np.ptp(points[:, 0]) <= 0:
        return 0.0, float(np.median(points[:, 1])) if len(points) else 0.0
    x, y = points[:, 0], points[:, 1]
    design = np.stack([x, np.ones_like(x)], axis=1)
    w = np.ones_like(x)
    a, b = 0.0, float(np.median(y))
    for _ in range(iterations):
        if w.sum() <= 0 or np.count_nonzero(w) < 2:
            break
        sw = np.sqrt(w)
        (a, b), *_ = np.linalg.lstsq(design * sw[:, None], y * sw, rcond=None)
        w = _biweight(y - (a * x + b), floor)
    return float(a), float(b)


@dataclass
class LineMetrics:
    """A line's baseline y = slope x + intercept and its x-height (the line's units, y up)."""

    slope: float
    intercept: float
    x_height: float

    @property
    def angle_deg(self) -> float:
        return math.degrees(math.atan(self.slope))


def column_spans(strokes: Sequence[np.ndarray], slope: float, width: float) -> tuple[np.ndarray, np.ndarray]:
    """Lowest and highest ink (y - slope x) of each inked column `width` wide (strokes resampled every width / 2)."""
    pts = np.concatenate([_resample(s, width / 2) for s in strokes], axis=0)
    x, y = pts[:, 0], pts[:, 1] - slope * pts[:, 0]
    column = np.floor((x - x.min()) / width).astype(int)
    lows = np.full(column.max() + 1, np.inf)
    highs = np.full(column.max() + 1, -np.inf)
    np.minimum.at(lows, column, y)
    np.maximum.at(highs, column, y)
    inked = np.isfinite(lows)
    return lows[inked], highs[inked]


def core_band(strokes: Sequence[np.ndarray], slope: float, threshold: float = 0.5, unit: Optional[float] = None) -> tuple[float, float]:
    """The band of y - slope x that holds the body of the letters: the heights spanned by at least
    `threshold` of the ink's columns (h / 30 wide, each from its lowest to its highest ink; with a
    known x-height `unit`, 0.1 units wide and heights every 0.025 units, fixed to the ink).
    Ascenders and descenders span few columns, the x-height band nearly all."""
    allp = np.concatenate(strokes, axis=0)
    height = max(float(np.ptp(allp[:, 1] - slope * allp[:, 0])), 1e-9)
    lows, highs = column_spans(strokes, slope, height / 30 if unit is None else 0.1 * unit)
    if unit is None:
        levels = np.linspace(lows.min(), highs.max(), 121)
    else:
        levels = lows.min() + 0.025 * unit * np.arange(int((highs.max() - lows.min()) / (0.025 * unit)) + 1)
    cover = ((lows[None, :] <= levels[:, None]) & (levels[:, None] <= highs[None, :])).sum(1)
    dense = np.nonzero(cover >= threshold * cover.max())[0]
    return float(levels[dense[0]]), float(levels[dense[-1]])


def line_metrics(strokes: Sequence[np.ndarray], unit: Optional[float] = None) -> LineMetrics:
    """Baseline and x-height of one written line (y up), estimated from its strokes (module doc, step 3).

    `unit`: the line's x-height when it is known roughly (a placed line): the strokes are then
    sampled and binned in steps of that size rather than of the ink's extent, so moving one word
    up or down does not change how the others are measured.
    """
    strokes = [np.asarray(s, dtype=np.float64) for s in strokes if len(s)]
    if not strokes:
        raise SeqgenError("cannot measure a line without strokes")
    allp = np.concatenate(strokes, axis=0)
    height = max(float(np.ptp(allp[:, 1])), 1e-9)
    low, high, _ = extrema(strokes, spacing=None if unit is None else WORD_SPACING * unit)
    if len(low) == 0:
        low = allp[[int(np.argmin(allp[:, 1]))]]
    slope, intercept = robust_line(low, floor=0.03 * height)
    bottom, top = core_band(strokes, slope, unit=unit)
    core = top - bottom
    # the baseline again, through the minima near the core's lower edge only (not the joins half-way up)
    near = low[np.abs(low[:, 1] - slope * low[:, 0] - bottom) < 0.3 * core]
    if len(near) >= 2:
        slope, intercept = robust_line(near, floor=0.03 * core)
        bottom, top = core_band(strokes, slope, unit=unit)
    else:
        intercept = bottom
    tops = high[:, 1] - slope * high[:, 0] if len(high) else np.zeros(0)
    tops = tops[np.abs(tops - top) < 0.3 * core] - intercept
    x_height = robust_location(tops, floor=0.03 * core) if len(tops) else top - intercept
    return LineMetrics(slope, intercept, max(x_height, 1e-3 * height))


# --------------------------------------------------------------------------------------- normalising


def word_of_strokes(strokes: Sequence[np.ndarray], n_words: int, min_gap: float) -> np.ndarray:
    """Word index of each stroke: the n_words - 1 widest horizontal gaps (wider than `min_gap`)
    between groups of overlapping strokes are the word boundaries."""
    n = len(strokes)
    if n == 0 or n_words <= 1:
        return np.zeros(n, dtype=int)
    spans = np.array([[s[:, 0].min(), s[:, 0].max()] for s in strokes])
    order = np.argsort(spans[:, 0], kind="stable")
    reach = np.maximum.accumulate(spans[order, 1])
    gaps = spans[order[1:], 0] - reach[:-1]  # gap before sorted stroke k + 1
    candidates = [k for k in np.argsort(-gaps, kind="stable")[: n_words - 1] if gaps[k] > min_gap]
    cut = np.zeros(n, dtype=int)
    for k in candidates:
        cut[k + 1] = 1
    word = np.empty(n, dtype=int)
    word[order] = np.cumsum(cut)
    return word


@dataclass
class NormalisedLine:
    """A line in mm, y up, baseline at y = 0, ink starting at x = 0; `words[k]` = word of stroke k.

    The map from the raw line: rotate by -angle about the origin, scale by `scale`, shift word w by
    (`dx` + `word_dx[w]`, `dy` + `word_dy[w]`) (`transform` applies it to any raw points).
    """

    strokes: list[np.ndarray]
    words: np.ndarray
    scale: float
    angle: float
    dx: float
    dy: float
    word_dy: np.ndarray
    word_dx: np.ndarray = field(default_factory=lambda: np.zeros(0))
    speeds: list[np.ndarray] = field(default_factory=list)

    @property
    def width(self) -> float:
        return max(float(s[:, 0].max()) for s in self.strokes) if self.strokes else 0.0

    def transform(self, points: np.ndarray, word: int) -> np.ndarray:
        c, s = math.cos(-self.angle), math.sin(-self.angle)
        p = np.asarray(points, dtype=np.float64)
        rotated = np.stack([c * p[:, 0] - s * p[:, 1], s * p[:, 0] + c * p[:, 1]], axis=1) * self.scale
        shift_x = self.dx + (self.word_dx[word] if len(self.word_dx) else 0.0)
        return rotated + (shift_x, self.dy + self.word_dy[word])

    def stretched(self, extra: float) -> "NormalisedLine":
        """The line with `extra` mm spread evenly over its word gaps (justification)."""
        n_words = int(self.words.max()) + 1 if len(self.words) else 1
        if n_words < 2:
            return self
        per_gap = extra / (n_words - 1)
        word_dx = np.arange(n_words) * per_gap
        strokes = [s + (word_dx[w], 0.0) for s, w in zip(self.strokes, self.words)]
        return NormalisedLine(strokes, self.words, self.scale, self.angle, self.dx, self.dy, self.word_dy, word_dx, self.speeds)


def word_baseline(strokes: Sequence[np.ndarray], minima: np.ndarray, line_baseline: float, x_height: float) -> tuple[float, np.ndarray]:
    """The baseline of one word of a levelled line, and the minima it rests on.

    The word's x-height band is where an x-height-tall window, moved up to 0.6 x-heights from the
    line's baseline, overlaps most of the word's ink columns (an ascender or a descender loop
    covers few of them); its lower edge is refined to the biweight location of the minima within
    0.2 x-heights of it, repeated about that location until it settles. The window's positions are a grid fixed to the word's own ink (its lowest point), not to the
    line, so a word moved by any amount is estimated at the same place on it.
    """
    lows, highs = column_spans(strokes, 0.0, 0.1 * x_height)
    step = WINDOW_STEP * x_height
    anchor = float(lows.min())
    first = math.ceil((line_baseline - WINDOW_REACH * x_height - anchor) / step)
    last = math.floor((line_baseline + WINDOW_REACH * x_height - anchor) / step)
    bottoms = anchor + step * np.arange(first, max(last, first) + 1)
    overlap = np.clip(np.minimum(highs[None, :], bottoms[:, None] + x_height) - np.maximum(lows[None, :], bottoms[:, None]), 0, None)
    score = overlap.sum(1)
    # a little preference for the line's baseline: of two bands that fit nearly as well (a word of
    # ascenders, a word of descenders) the nearer wins, so a small change does not flip the choice
    score = score / max(float(score.max()), 1e-12) - WINDOW_PRIOR * np.abs(bottoms - line_baseline) / x_height
    bottom = float(bottoms[np.flatnonzero(score >= score.max() - 1e-9)].mean())
    # the minima near that edge, again about their own location until it settles: a mode of the
    # minima, found the same from anywhere near it
    near = minima[:0]
    for _ in range(10):
        near = minima[np.abs(minima[:, 1] - bottom) < 0.2 * x_height]
        if not len(near):
            break
        moved = robust_location(near[:, 1], floor=0.03 * x_height)
        if abs(moved - bottom) <= 1e-4 * x_height:
            break
        bottom = moved
    return bottom, near


def level_strokes(strokes: Sequence[np.ndarray], angle: float, scale: float) -> list[np.ndarray]:
    c, s = math.cos(-angle), math.sin(-angle)
    return [np.stack([c * p[:, 0] - s * p[:, 1], s * p[:, 0] + c * p[:, 1]], axis=1) * scale for p in strokes]


def word_baselines_of(level: Sequence[np.ndarray], words: np.ndarray, baseline: float, x_height: float) -> tuple[np.ndarray, float]:
    """Each word's baseline, and the slope left within the words (one slope, an intercept per word,
    least squares over the minima the words rest on): words written at different heights bias the
    line's own fit, not this one. The strokes are resampled every WORD_SPACING x-heights, so moving
    words (up, down, apart) leaves every word's minima, and so its baseline, where they were."""
    low, _, (low_of, _) = extrema(level, spacing=WORD_SPACING * x_height)
    bases = np.zeros(int(words.max()) + 1 if len(words) else 1)
    sxy = sxx = 0.0
    for w in range(len(bases)):
        members = np.nonzero(words == w)[0]
        bases[w], near = word_baseline([level[k] for k in members], low[np.isin(low_of, members)], baseline, x_height)
        if len(near) >= 2:
            dx, dy = near[:, 0] - near[:, 0].mean(), near[:, 1] - near[:, 1].mean()
            sxy, sxx = sxy + float(dx @ dy), sxx + float(dx @ dx)
    return bases, (sxy / sxx if sxx > 0 else 0.0)


def normalise_line(strokes: Sequence[np.ndarray], n_words: int, x_height_mm: float, word_baselines: bool = True) -> NormalisedLine:
    """Level the baseline, scale to `x_height_mm`, optionally put every word on the baseline (module doc, step 4)."""
    strokes = [np.asarray(s, dtype=np.float64) for s in strokes if len(s)]
    metrics = line_metrics(strokes)
    angle = math.atan(metrics.slope)
    scale = x_height_mm / metrics.x_height
    level = level_strokes(strokes, angle, scale)
    # the baseline through (0, intercept) maps to y = intercept * cos(angle) * scale after the rotation
    baseline = metrics.intercept * math.cos(angle) * scale
    words = word_of_strokes(level, n_words, min_gap=0.15 * x_height_mm)
    word_dy = np.zeros(int(words.max()) + 1 if len(words) else 1)
    if word_baselines:
        bases, slope = word_baselines_of(level, words, baseline, x_height_mm)
        if abs(slope) > 1e-4:  # level again by the words' own slope (once: the window moves with it)
            angle += math.atan(slope)
            level = level_strokes(strokes, angle, scale)
            baseline = metrics.intercept * math.cos(angle) * scale
            bases, _ = word_baselines_of(level, words, baseline, x_height_mm)
        word_dy = baseline - bases
    dx = -min(float(p[:, 0].min()) for p in level)
    dy = -baseline
    placed = [p + (dx, dy + word_dy[w]) for p, w in zip(level, words)]
    if word_baselines:
        # Words written at different heights widen the line's band: measure the x-height again with
        # the words aligned, scale, and estimate the words again on the placed line, to the fixed
        # point where the line's x-height is x_height_mm and every word's own baseline is y = 0.
        # A line whose estimates keep flipping between two readings is left in the round that came
        # closest (the error of a round: its scale change or its largest word move, in x-heights).
        best = (math.inf, scale, dx, dy, word_dy, placed)
        for round_ in range(WORD_ROUNDS):
            factor = x_height_mm / line_metrics(placed, unit=x_height_mm).x_height
            residual, _ = word_baselines_of(placed, words, 0.0, x_height_mm)
            error = max(abs(factor - 1), float(np.abs(residual).max()) / x_height_mm)
            if error < best[0]:
                best = (error, scale, dx, dy, word_dy, placed)
            if error <= WORD_TOLERANCE:
                break
            if round_ >= WORD_ROUNDS // 2:  # half steps once full ones have not settled
                factor, residual = math.sqrt(factor), residual / 2
            word_dy = word_dy - residual
            placed = [p - (0.0, residual[w]) for p, w in zip(placed, words)]
            scale, dx, dy, word_dy = scale * factor, dx * factor, dy * factor, word_dy * factor
            placed = [p * factor for p in placed]
        _, scale, dx, dy, word_dy, placed = best
    speeds = [np.hypot(*np.diff(p, axis=0).T) for p in strokes]
    return NormalisedLine(placed, words, scale, angle, dx, dy, word_dy, speeds=speeds)


# --------------------------------------------------------------------------------------- placing


def _aligned(line: NormalisedLine, align: str, last: bool, text_width: float, x_height: float) -> tuple[NormalisedLine, float]:
    """The line (stretched when justified) and its left edge's offset inside the text width."""
    room = text_width - line.width
    if align == "justify" and not last and room > 0:
        n_gaps = int(line.words.max()) if len(line.words) else 0
        if n_gaps and room / n_gaps <= MAX_JUSTIFY_GAP * x_height:
            return line.stretched(room), 0.0
        return line, 0.0
    if align == "right":
        return line, max(room, 0.0)
    if align == "centre":
        return line, max(room, 0.0) / 2
    return line, 0.0


def place_lines(lines: Sequence[NormalisedLine], layout: Sequence[TextLine], options: LayoutOptions, text_width: float) -> Page:
    """Lines on the page: alignment, baselines `line_spacing` apart, margins (module doc, step 5)."""
    width, height = options.page_mm
    left = options.margins[3]
    widest = max((line.width for line in lines), default=0.0)
    shrink = min(1.0, text_width / widest) if widest > 0 else 1.0
    if shrink < 1.0:
        log.warning("the widest line is %.1f mm, wider than the text width of %.1f mm: the writing is scaled by %.2f "
                    "(x-height %.2f mm)", widest, text_width, shrink, options.x_height * shrink)
    x_height = options.x_height * shrink
    rules = rule_positions(layout, options, x_height)
    strokes: list[list[np.ndarray]] = []
    speeds: list[list[np.ndarray]] = []
    for line, text_line, baseline in zip(lines, layout, rules):
        factor = shrink * _fit_height(line, options.x_height)
        scaled = NormalisedLine([s * factor for s in line.strokes], line.words, line.scale * factor, line.angle,
                                line.dx * factor, line.dy * factor, line.word_dy * factor, speeds=line.speeds)
        aligned, offset = _aligned(scaled, options.align, text_line.last, text_width, x_height)
        strokes.append([np.stack([left + offset + s[:, 0], baseline - s[:, 1]], axis=1) for s in aligned.strokes])
        speeds.append(aligned.speeds)
    page = Page(width, height, strokes, speeds, [t.text for t in layout], rules, x_height)
    page.check_inside()
    return page


def rule_positions(layout: Sequence[TextLine], options: LayoutOptions, x_height: float) -> list[float]:
    """Where each line's rule lies (y, mm from the top): below the top margin with room for the first
    line's ascenders, `line_spacing` x-heights apart, `paragraph_spacing` lines more between paragraphs."""
    pitch = options.line_spacing * x_height
    baseline = options.margins[0] + 2.0 * x_height
    rules: list[float] = []
    for k, text_line in enumerate(layout):
        if k and text_line.paragraph != layout[k - 1].paragraph:
            baseline += options.paragraph_spacing * pitch
        rules.append(baseline)
        baseline += pitch
    return rules


def _fit_height(line: NormalisedLine, x_height: float) -> float:
    """1, or less for a line whose ink reaches further than MAX_RISE x-heights above its baseline or
    MAX_DROP below (strokes gone astray would run into the neighbouring lines)."""
    top = max(float(s[:, 1].max()) for s in line.strokes)
    bottom = -min(float(s[:, 1].min()) for s in line.strokes)
    factor = min(1.0, MAX_RISE * x_height / max(top, 1e-9), MAX_DROP * x_height / max(bottom, 1e-9))
    if factor < 1.0:
        log.warning("a line reaches %.1f x-heights above and %.1f below its baseline: scaled by %.2f to keep to its place",
                    top / x_height, bottom / x_height, factor)
    return factor


def page_capacity(options: LayoutOptions) -> int:
    """How many lines fit between the page's margins."""
    top, _, bottom, _ = options.margins
    usable = options.page_mm[1] - top - bottom - 2.0 * options.x_height
    return max(int(usable // (options.line_spacing * options.x_height)) + 1, 0)


# --------------------------------------------------------------------------------------- writing


def writer_metrics(model: Any) -> tuple[float, float]:
    """The model's writers measured on its training-writer lines (raw units): width per character in
    x-heights (to wrap a width in mm), and the median x-height (0 when the model kept no lines)."""
    ratios, heights = [], []
    for entry in getattr(model, "train_styles", None) or []:
        raw = model.norm.invert(np.asarray(entry["offsets"], dtype=np.float32))
        strokes = offsets_to_strokes(raw)
        if not strokes or len(entry["text"]) < 4:
            continue
        allp = np.concatenate(strokes, axis=0)
        heights.append(line_metrics(strokes).x_height)
        ratios.append(float(np.ptp(allp[:, 0])) / len(entry["text"]) / heights[-1])
    return (float(np.median(ratios)), float(np.median(heights))) if ratios else (DEFAULT_ADVANCE, 0.0)


MIN_X_HEIGHT = 1.0  # mm: a width in characters may shrink the writing to fit the page, not below this


def line_chars(options: LayoutOptions, advance: float) -> tuple[int, float, LayoutOptions]:
    """Characters per line, the text width in mm, and the options (a width in characters that would
    not fit the page at the x-height lowers the x-height, with a warning); SeqgenError when no
    x-height of at least MIN_X_HEIGHT fits, or a width in mm exceeds the page."""
    room = options.text_width_mm
    if options.width is None:
        return max(int(room / (options.x_height * advance)), 2), room, options
    value, unit = parse_width(options.width)
    if unit == "mm":
        if value > room + 1e-6:
            raise SeqgenError(f"layout.width={options.width} is wider than the {room:g} mm between the page's margins")
        return max(int(value / (options.x_height * advance)), 2), value, options
    needed = value * options.x_height * advance
    if needed <= room:
        return int(value), needed, options
    fitted = room / (value * advance)
    if fitted < MIN_X_HEIGHT:
        raise SeqgenError(
            f"layout.width={options.width} needs about {value * MIN_X_HEIGHT * advance:.0f} mm even at an x-height of "
            f"{MIN_X_HEIGHT:g} mm; the page has {room:g} mm between its margins: fewer characters or a larger page"
        )
    log.warning("layout.width=%s at an x-height of %g mm needs about %.0f mm, the page has %g mm: x-height %.2f mm",
                options.width, options.x_height, needed, room, fitted)
    return int(value), room, dataclasses.replace(options, x_height=fitted)


def lay_out_text(text: str, options: LayoutOptions, advance: float, max_chars: Optional[int] = None) -> tuple[list[TextLine], float, LayoutOptions]:
    """Wrap `text` for the page -> its lines, the text width in mm and the options to set it with
    (`line_chars`); checks that the lines fit on the page."""
    chars, text_width, options = line_chars(options, advance)
    if max_chars is not None and chars > max_chars:
        chars = max_chars
    lines = wrap_text(text, chars, options.overflow)
    fits = page_capacity(options)
    paragraph_lines = int(math.ceil(lines[-1].paragraph * options.paragraph_spacing))
    if len(lines) + paragraph_lines > fits:
        raise SeqgenError(
            f"the text needs {len(lines)} lines at {chars} characters per line: more than the {fits} that fit on the "
            f"{options.sheet} page; use a larger page, a smaller layout.x_height or layout.line_spacing, or less text"
        )
    return lines, text_width, options


def page_from_offsets(offsets: Sequence[np.ndarray], lines: Sequence[TextLine], options: LayoutOptions, text_width: float) -> tuple[Page, list[NormalisedLine]]:
    """Written lines (raw offsets, y up) -> the laid-out page and each line's normalisation."""
    normalised = []
    for raw, line in zip(offsets, lines):
        strokes = offsets_to_strokes(raw)
        if not strokes:
            raise SeqgenError(f"the line {line.text!r} came out without strokes: write it again with another seed")
        normalised.append(normalise_line(strokes, len(line.text.split()), options.x_height, options.word_baselines))
    normalised = _tame_outliers(normalised)
    return place_lines(normalised, lines, options, text_width), normalised


def _tame_outliers(lines: list[NormalisedLine], spread: float = OUTLIER_SCALE) -> list[NormalisedLine]:
    """Lines whose scale is more than `spread` times off the page's median: the x-height estimate
    failed (a scribbled line), so the line is set at the nearest scale within the range instead."""
    median = float(np.median([line.scale for line in lines]))
    out = []
    for line in lines:
        factor = float(np.clip(line.scale, median / spread, median * spread)) / line.scale
        if factor != 1.0:
            log.warning("a line's x-height estimate is %.2fx the page's median: set at %.2fx instead", median / line.scale,
                        median / (line.scale * factor))
            line = NormalisedLine([s * factor for s in line.strokes], line.words, line.scale * factor, line.angle,
                                  line.dx * factor, line.dy * factor, line.word_dy * factor, speeds=line.speeds)
        out.append(line)
    return out


def page_line_offsets(page: Page, line: int, mm_per_unit: float) -> np.ndarray:
    """One laid-out line back as raw-unit offsets (y up), e.g. for a recogniser trained on raw lines."""
    strokes = [np.stack([s[:, 0], -s[:, 1]], axis=1) / mm_per_unit for s in page.lines[line]]
    return strokes_to_offsets(strokes)


@dataclass
class WrittenPage:
    """A page written by a model: the page, its wrapped lines, the raw samples, each line's normalisation."""

    page: Page
    lines: list[TextLine]
    samples: Any
    normalised: list[NormalisedLine]
    options: LayoutOptions

    @property
    def mm_per_unit(self) -> float:
        """The page's common scale, raw units -> mm on the page: the median of the lines' scales, times
        the shrink the whole page got when its widest line was wider than the text (`place_lines`)."""
        shrink = self.page.x_height_mm / self.options.x_height if self.page.x_height_mm > 0 else 1.0
        return float(np.median([n.scale for n in self.normalised])) * shrink


def known_characters(text: str, vocab: Sequence[str], unknown_chars: str = "error") -> str:
    """`text` with only characters the model can write (whitespace apart): an error naming the others, or
    (unknown_chars=drop) without them."""
    unknown = sorted(set(text) - set(vocab) - set(" \t\r\n"))
    if unknown and unknown_chars != "drop":
        names = ", ".join(repr(ch) for ch in unknown)
        raise SeqgenError(f"characters not in the model's vocabulary: {names}; remove them or pass unknown_chars=drop to drop them")
    return "".join(ch for ch in text if ch not in unknown)


def write_page(model: Any, text: str, options: LayoutOptions, bias: float = 0.0, prime: Any = None, seed: int = 0,
               unknown_chars: str = "error") -> WrittenPage:
    """The Python API: a synthesis model writes free `text` onto a page (module doc)."""
    from seqgen.families.handwriting.generate import write

    text = known_characters(text, model.vocab, unknown_chars)
    if options.overflow == "hyphen" and "-" not in model.vocab:
        raise SeqgenError("the model cannot write '-': use layout.overflow=char to split long words without a hyphen")
    lines, text_width, options = lay_out_text(text, options, writer_metrics(model)[0], int(model.hparams.max_text_chars))
    samples = write(model, [line.text for line in lines], bias, prime, None, "error", seed)
    page, normalised = page_from_offsets(samples.offsets, lines, options, text_width)
    return WrittenPage(page, lines, samples, normalised, options)
