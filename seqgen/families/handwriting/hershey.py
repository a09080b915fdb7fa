"""Offline default handwriting corpus: many synthetic writers rendered from Hershey vector fonts.

IAM-OnDB cannot be downloaded here, so the default corpus imitates it: each `WriterStyle` picks a
single-line Hershey font (script, cursive, sans, italic) and a personal slant, size, letter and word
spacing, baseline drift, tremor, speed (pen points per unit of path) and pen-up habits (joining
letters within a word, dotting i/j and crossing t after the word). Strokes are resampled by arc
length at the writer's speed, so consecutive points are about evenly spaced like a pen tablet's.

Units: output coordinates imitate raw IAM-OnDB whiteboard units (y up): 1 font unit = `size`
(about 9-14) output units, so capitals are ~190-300 tall, a character ~130-210 wide and the
median pen-down step ~ 15-30, and there are ~18-34 points per character by default (IAM-OnDB: ~25 per
letter; `points_per_char` sets the range). Both corpora are normalised to mean 0 / std 1 by `NormStats` before training anyway.
"""

from __future__ import annotations

import functools
import logging
import math
import re
from dataclasses import asdict, dataclass
from typing import Iterable, Iterator, Sequence

import numpy as np

from seqgen.data.handwriting.strokes import Line, strokes_to_offsets
from seqgen.errors import SeqgenError

logger = logging.getLogger(__name__)

#: fonts that look like Latin handwriting (single-line script / sans, complex script, italic), with
#: the probability a sampled writer uses each. Other Hershey fonts map ASCII to Greek, Cyrillic,
#: symbols or gothic and are not used.
DEFAULT_FONTS: tuple[str, ...] = ("scripts", "cursive", "scriptc", "futural", "rowmans", "timesi")
DEFAULT_FONT_WEIGHTS: tuple[float, ...] = (0.25, 0.2, 0.15, 0.15, 0.1, 0.15)
DEFAULT_POINTS_PER_CHAR: tuple[float, float] = (18.0, 34.0)  # per writer, uniform in this range (IAM-OnDB: ~25)

_UNICODE_MAP = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"',
    "\u2013": "-", "\u2014": "-", "\u2212": "-", "\u2010": "-", "\u2011": "-",
    "\u2026": "...", "\u00a0": " ", "\t": " ",
}


@dataclass(frozen=True)
class _Glyph:
    strokes: tuple[np.ndarray, ...]  # font units, y up, baseline at y=0, left side at x=0
    width: float


@functools.lru_cache(maxsize=None)
def _font(font: str) -> dict[str, _Glyph]:
    """Glyph table of one built-in Hershey font (cached): ASCII char -> strokes + advance width."""
    from HersheyFonts import HersheyFonts

    hf = HersheyFonts()
    if font not in hf.default_font_names:
        raise SeqgenError(
            f"unknown Hershey font {font!r}; use one of {', '.join(DEFAULT_FONTS)} "
            f"(all built-in fonts: {', '.join(hf.default_font_names)})"
        )
    hf.load_default_font(font)
    base = float(hf.render_options["base_line"])
    table: dict[str, _Glyph] = {}
    for ch, g in hf.all_glyphs.items():
        if not (" " <= ch <= "~"):
            continue
        left = float(g.left_offset)
        strokes = tuple(
            np.array([(x - left, base - y) for x, y in s], dtype=np.float64) for s in g.strokes if len(s) > 0
        )
        if ch != " " and not strokes:
            continue
        table[ch] = _Glyph(strokes=strokes, width=float(g.char_width))
    return table


def writable_chars(fonts: Sequence[str] = DEFAULT_FONTS) -> frozenset[str]:
    """Characters every one of `fonts` can draw (space included)."""
    sets = [set(_font(f)) for f in fonts]
    return frozenset(set.intersection(*sets)) if sets else frozenset()


@functools.lru_cache(maxsize=None)
def _path_per_char(font: str) -> float:
    """Mean pen-down path length per character of English-like text, in font units."""
    sample = "the quick brown fox jumps over the lazy dog and Then some More Words, 1984."
    g = _font(font)
    total = 0.0
    for ch in sample:
        for s in g[ch].strokes:
            if len(s) > 1:
                total += float(np.hypot(*np.diff(s, axis=0).T).sum())
    return total / len(sample)


@dataclass(frozen=True)
class WriterStyle:
    """One synthetic writer's habits (font units unless noted)."""

    name: str
    font: str
    size: float = 11.0  # output units per font unit
    slant: float = 0.0  # degrees, positive leans right
    width_scale: float = 1.0  # horizontal stretch of each glyph
    letter_spacing: float = 0.0  # extra advance between characters
    word_spacing: float = 1.0  # factor on the font's space width
    baseline_drift: float = 0.0  # amplitude of a slow baseline wave
    drift_period: float = 300.0  # wave length of that drift
    line_angle: float = 0.0  # degrees, whole-line tilt
    size_jitter: float = 0.03  # per-character relative size noise
    baseline_jitter: float = 0.3  # per-character vertical noise
    stroke_jitter: float = 0.08  # tremor: point noise std, relative to the point spacing
    speed: float = 20.0  # pen point spacing along the path, output units
    speed_variation: float = 0.15  # relative spread of the spacing along a stroke
    join_distance: float = 0.0  # join consecutive strokes of a word closer than this (cursive)
    delay_dots: bool = False  # dot i/j and cross t after finishing the word

    def to_dict(self) -> dict:
        return asdict(self)


def points_per_char_range(value: Sequence[float], key: str = "points_per_char") -> tuple[float, float]:
    """(low, high) pen points per character, checked: two numbers with 2 <= low <= high."""
    pair = tuple(float(v) for v in value)
    if len(pair) != 2 or not 2.0 <= pair[0] <= pair[1]:
        raise SeqgenError(f"{key}={list(pair)} is out of range: must be [low, high] with 2 <= low <= high (default 18-34, like IAM-OnDB)")
    return pair[0], pair[1]


def sample_writers(
    n: int,
    seed: int,
    fonts: Sequence[str] = DEFAULT_FONTS,
    weights: Sequence[float] | None = None,
    points_per_char: Sequence[float] = DEFAULT_POINTS_PER_CHAR,
) -> list[WriterStyle]:
    """`n` writers, deterministic in (seed, index): ``sample_writers(k, s) == sample_writers(n, s)[:k]``.

    `points_per_char` = (low, high): each writer's pen speed is drawn so that a character takes
    uniform(low, high) points (IAM-OnDB: ~25); fewer points make shorter sequences (faster to learn).
    """
    low, high = points_per_char_range(points_per_char)
    if n < 1:
        raise SeqgenError(f"the Hershey corpus needs at least one writer, got n_writers={n}")
    fonts = tuple(fonts)
    if weights is None:
        weights = DEFAULT_FONT_WEIGHTS if fonts == DEFAULT_FONTS else (1.0,) * len(fonts)
    p = np.asarray(weights, dtype=np.float64)
    if len(p) != len(fonts) or np.any(p < 0) or p.sum() <= 0:
        raise SeqgenError(f"font weights {list(weights)} do not match fonts {list(fonts)}")
    p = p / p.sum()
    for f in fonts:
        _font(f)  # fail early on unknown names
    writers = []
    for i in range(n):
        rng = np.random.default_rng([int(seed), 7919, i])
        font = fonts[int(rng.choice(len(fonts), p=p))]
        size = float(rng.uniform(9.0, 14.0))
        points_per_char_w = float(rng.uniform(low, high))
        script = font in ("scripts", "cursive", "scriptc")
        letter_spacing = float(rng.uniform(-0.5, 2.5)) if script else float(rng.uniform(0.0, 4.0))
        writers.append(
            WriterStyle(
                name=f"hershey-s{seed}-w{i:04d}",
                font=font,
                size=size,
                slant=float(rng.normal(8.0 if not script else 0.0, 7.0)),
                width_scale=float(rng.uniform(0.8, 1.2)),
                letter_spacing=letter_spacing,
                word_spacing=float(rng.uniform(0.55, 1.15)),
                baseline_drift=float(rng.uniform(0.0, 2.5)),
                drift_period=float(rng.uniform(150.0, 500.0)),
                line_angle=float(rng.normal(0.0, 1.0)),
                size_jitter=float(rng.uniform(0.01, 0.07)),
                baseline_jitter=float(rng.uniform(0.0, 0.8)),
                stroke_jitter=float(rng.uniform(0.02, 0.15)),
                speed=_path_per_char(font) * size / points_per_char_w,
                speed_variation=float(rng.uniform(0.05, 0.3)),
                join_distance=(max(letter_spacing, 0.0) + float(rng.uniform(2.5, 6.0)))
                if (script and rng.random() < 0.85)
                else (float(rng.uniform(1.0, 4.0)) if rng.random() < 0.3 else 0.0),
                delay_dots=bool(rng.random() < 0.6),
            )
        )
    return writers


def _is_dot(s: np.ndarray) -> bool:
    ext = s.max(axis=0) - s.min(axis=0)
    return float(np.hypot(*ext)) <= 3.0


def _is_crossbar(s: np.ndarray) -> bool:
    ext = s.max(axis=0) - s.min(axis=0)
    return ext[1] <= 0.5 and ext[0] >= 3.0


def _resample(stroke: np.ndarray, spacing: float, variation: float, rng: np.random.Generator) -> np.ndarray:
    """Points every ~`spacing` along the polyline, keeping its ends and sharp corners (pen slows there)."""
    seg = np.diff(stroke, axis=0)
    seglen = np.hypot(seg[:, 0], seg[:, 1])
    keep = seglen > 1e-9
    if not keep.any():
        return stroke[:1].copy()
    pts = np.concatenate([stroke[:1], stroke[1:][keep]], axis=0)
    seg = np.diff(pts, axis=0)
    seglen = np.hypot(seg[:, 0], seg[:, 1])
    # split at corners sharper than 60 degrees
    u = seg / seglen[:, None]
    cos_turn = (u[:-1] * u[1:]).sum(axis=1)
    corners = np.nonzero(cos_turn < 0.5)[0] + 1
    bounds = [0, *corners.tolist(), len(pts) - 1]
    out = [pts[:1]]
    for a, b in zip(bounds[:-1], bounds[1:]):
        p = pts[a : b + 1]
        s = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(p, axis=0).T))])
        total = s[-1]
        n_steps = max(1, int(round(total / spacing)))
        steps = spacing * (1.0 + variation * np.clip(rng.standard_normal(n_steps), -2, 2))
        steps = np.maximum(steps, 0.2 * spacing)
        pos = np.cumsum(steps)
        pos = pos * (total / pos[-1])  # land exactly on the piece's end
        out.append(np.stack([np.interp(pos, s, p[:, 0]), np.interp(pos, s, p[:, 1])], axis=1))
    return np.concatenate(out, axis=0)


Word = tuple[list[np.ndarray], list[np.ndarray]]  # (strokes written in order, delayed marks: i/j dots, t bars)


def _layout(text: str, glyphs: dict[str, _Glyph], style: WriterStyle, rng: np.random.Generator) -> list[Word]:
    """Step 1, in font units: every character's strokes, placed, jittered in size and baseline, per word."""
    words: list[Word] = []
    main: list[np.ndarray] = []
    delayed: list[np.ndarray] = []
    x = 0.0
    space_w = glyphs[" "].width
    for ch in text:
        if ch == " ":
            if main or delayed:
                words.append((main, delayed))
                main, delayed = [], []
            x += space_w * style.word_spacing * float(rng.uniform(0.85, 1.15))
            continue
        g = glyphs[ch]
        sc = 1.0 + style.size_jitter * float(np.clip(rng.standard_normal(), -2.5, 2.5))
        dy = style.baseline_jitter * float(np.clip(rng.standard_normal(), -2.5, 2.5))
        body: list[np.ndarray] = []
        late: list[np.ndarray] = []
        for s in g.strokes:
            p = s * np.array([sc * style.width_scale, sc]) + np.array([x, dy])
            if ch in "ij" and _is_dot(s):
                late.append(p)
            elif ch == "t" and _is_crossbar(s):
                (late if style.delay_dots else body).append(p)
            else:
                body.append(p)
        main.extend(body)
        if style.delay_dots:
            delayed.extend(late)
        else:
            main.extend(late)  # dot right after its letter, not before it as the font stores it
        x += g.width * sc * style.width_scale + style.letter_spacing + float(rng.normal(0.0, 0.3))
    if main or delayed:
        words.append((main, delayed))
    return words


def _pen_lifts(words: list[Word], style: WriterStyle) -> list[np.ndarray]:
    """Step 2, pen-up habits: close strokes within a word joined (cursive), delayed marks after the word."""
    strokes: list[np.ndarray] = []
    for body, late in words:
        joined: list[np.ndarray] = []
        for s in body:
            if joined and style.join_distance > 0:
                gap = float(np.hypot(*(s[0] - joined[-1][-1])))
                if gap <= style.join_distance:
                    joined[-1] = np.concatenate([joined[-1], s[1:] if gap < 1e-6 else s], axis=0)
                    continue
            joined.append(s)
        strokes.extend(joined)
        strokes.extend(late)
    return strokes


def _pen_path(strokes: list[np.ndarray], style: WriterStyle, rng: np.random.Generator) -> list[np.ndarray]:
    """Step 3, geometry in output units (slant, size, line tilt, baseline drift); step 4, the pen
    tablet's sampling along each stroke and tremor."""
    shear = math.tan(math.radians(style.slant))
    tilt = math.radians(style.line_angle + float(rng.normal(0.0, 0.5)))
    phase = float(rng.uniform(0, 2 * math.pi))
    line_scale = style.size * float(rng.uniform(0.95, 1.05))
    ct, st = math.cos(tilt), math.sin(tilt)
    out_strokes: list[np.ndarray] = []
    spacing = style.speed * float(rng.uniform(0.9, 1.1))
    for s in strokes:
        xs = s[:, 0] + shear * s[:, 1]
        ys = s[:, 1] + style.baseline_drift * np.sin(2 * math.pi * s[:, 0] / style.drift_period + phase)
        xs, ys = xs * line_scale, ys * line_scale
        p = np.stack([ct * xs - st * ys, st * xs + ct * ys], axis=1)
        r = _resample(p, spacing, style.speed_variation, rng)
        if style.stroke_jitter > 0 and len(r) > 1:
            noise = rng.normal(0.0, style.stroke_jitter * spacing, size=r.shape)
            if len(r) > 2:
                noise[1:-1] = 0.25 * noise[:-2] + 0.5 * noise[1:-1] + 0.25 * noise[2:]
            r = r + noise
        out_strokes.append(r)
    return out_strokes


def render_line(text: str, style: WriterStyle, rng: np.random.Generator) -> Line:
    """Write `text` in `style`: layout, pen-up habits, slant/drift, arc-length resampling, tremor
    (the random draws in that order, so a seed gives the same line).

    Raises SeqgenError listing the characters the writer's font cannot draw.
    """
    glyphs = _font(style.font)
    missing = sorted({c for c in text if c not in glyphs})
    if missing:
        raise SeqgenError(
            f"Hershey font {style.font!r} cannot write {''.join(missing)!r} (in {text[:40]!r}); "
            "filter texts with text_lines_from_corpus or map those characters to ASCII"
        )
    if not text.strip():
        raise SeqgenError("cannot render an empty line; give the Hershey corpus non-blank text")
    strokes = _pen_lifts(_layout(text, glyphs, style, rng), style)
    return Line(offsets=strokes_to_offsets(_pen_path(strokes, style, rng)), text=text, writer=style.name, source="hershey")


def iter_hershey_lines(
    texts: Iterable[str],
    n_writers: int,
    seed: int,
    fonts: Sequence[str] = DEFAULT_FONTS,
    points_per_char: Sequence[float] = DEFAULT_POINTS_PER_CHAR,
) -> Iterator[Line]:
    """Render each text by a writer drawn from `n_writers`; line i depends only on (seed, i, text)."""
    writers = sample_writers(n_writers, seed, fonts, points_per_char=points_per_char)
    for i, text in enumerate(texts):
        rng = np.random.default_rng([int(seed), 104729, i])
        w = writers[int(rng.integers(len(writers)))]
        line = render_line(text, w, rng)
        line.line_id = f"hershey-s{seed}-{i:07d}"
        yield line


def normalise_text(text: str) -> str:
    """Typographic Unicode punctuation -> ASCII, whitespace runs -> one space."""
    for k, v in _UNICODE_MAP.items():
        text = text.replace(k, v)
    return re.sub(r"\s+", " ", text).strip()


def text_lines_from_corpus(
    text: str,
    min_chars: int = 10,
    max_chars: int = 40,
    max_lines: int | None = None,
    fonts: Sequence[str] = DEFAULT_FONTS,
    seed: int = 0,
) -> list[str]:
    """Cut prose into handwriting-length lines: whole words, only characters every font can write.

    Each line aims at a length drawn uniformly from [min_chars, max_chars] (like IAM lines of
    varying length); words with an unwritable character or longer than `max_chars` are dropped.
    """
    if not 1 <= min_chars <= max_chars:
        raise SeqgenError(f"need 1 <= min_chars <= max_chars, got {min_chars}, {max_chars}")
    if max_lines is not None and max_lines <= 0:
        return []
    ok = writable_chars(fonts)
    rng = np.random.default_rng(seed)
    out: list[str] = []
    cur: list[str] = []
    cur_len = 0
    target = int(rng.integers(min_chars, max_chars + 1))
    for word in normalise_text(text).split(" "):
        if not word or len(word) > max_chars or any(c not in ok for c in word):
            continue
        new_len = cur_len + (1 if cur else 0) + len(word)
        if cur and (new_len > max_chars or (cur_len >= target)):
            if cur_len >= min_chars:
                out.append(" ".join(cur))
                if max_lines is not None and len(out) >= max_lines:
                    return out
            cur, cur_len = [], 0
            target = int(rng.integers(min_chars, max_chars + 1))
            new_len = len(word)
        cur.append(word)
        cur_len = new_len
    if cur and cur_len >= min_chars and (max_lines is None or len(out) < max_lines):
        out.append(" ".join(cur))
    return out
