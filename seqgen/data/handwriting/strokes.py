"""Online handwriting as offset sequences: the `Line` record, conversions, cleaning, normalisation.

Offset convention (shared by every handwriting corpus, model and renderer in seqgen)
-----------------------------------------------------------------------------------
A line is a float32 array of shape (T, 3), rows ``(dx, dy, end_of_stroke)``, y pointing UP.

* Row 0 is the *start row* ``(0, 0, 1)``: the pen rests, lifted, at the origin. It is the network's
  first input and draws nothing (``end_of_stroke = 1`` means "the pen is up before the next point").
* Row k >= 1 is pen point k: ``(dx, dy)`` is the move from the previous pen position to this point,
  ``end_of_stroke = 1`` marks the last point of a stroke (the pen lifts after it, so the next row
  is a pen-up move to the first point of the next stroke).
* `strokes_to_offsets` puts the origin at the first point of the line, so row 1 is ``(0, 0, e)``;
  `offsets_to_strokes` returns absolute coordinates relative to that origin.

IAM-OnDB lineStrokes XML (`read_line_strokes`) is read here too: it is a corpus format (the
handwriting family's reader) and a format users write their own style files in.

The thirteen preprocessed real styles (sjvasquez/handwriting-synthesis) use the same layout (first
row ``(0, 0, 1)``, y up), so they can be used directly as primes.
"""

from __future__ import annotations

import logging
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Iterable, Sequence

import numpy as np

from seqgen.errors import SeqgenError

logger = logging.getLogger(__name__)

START_ROW = np.array([[0.0, 0.0, 1.0]], dtype=np.float32)


@dataclass
class Line:
    """One handwritten line: offsets (T, 3) float32 (see module doc), transcription, writer id, corpus."""

    offsets: np.ndarray
    text: str
    writer: str
    source: str
    line_id: str = ""

    def __post_init__(self) -> None:
        arr = np.asarray(self.offsets, dtype=np.float32)
        if arr.ndim != 2 or arr.shape[1] != 3:
            raise SeqgenError(
                f"line {self.line_id or self.text[:30]!r}: offsets must have shape (T, 3), got {arr.shape}"
            )
        self.offsets = arr

    @property
    def n_points(self) -> int:
        """Number of pen points (rows after the start row)."""
        return max(0, len(self.offsets) - 1)


def _as_offsets(offsets: Any) -> np.ndarray:
    arr = np.asarray(offsets, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise SeqgenError(f"offsets must have shape (T, 3) rows (dx, dy, end_of_stroke), got {arr.shape}")
    return arr


def strokes_to_offsets(strokes: Sequence[np.ndarray], origin: Sequence[float] | None = None) -> np.ndarray:
    """Absolute strokes -> offsets (T, 3) with the start row; extra columns (time, pressure) are ignored.

    Each stroke is an (n, 2+) array of absolute x, y (y up). Empty strokes are dropped. The origin
    defaults to the first point, so row 1 is (0, 0, e); pass ``origin=(0, 0)`` to keep absolute
    positions (then offsets -> strokes -> offsets is exact).
    """
    pts: list[np.ndarray] = []
    for s in strokes:
        a = np.asarray(s, dtype=np.float64)
        if a.ndim != 2 or a.shape[1] < 2:
            raise SeqgenError(f"each stroke must be an (n, 2) array of x, y points, got shape {a.shape}")
        if len(a) == 0:
            continue
        block = np.zeros((len(a), 3), dtype=np.float64)
        block[:, :2] = a[:, :2]
        block[-1, 2] = 1.0
        pts.append(block)
    if not pts:
        return START_ROW.copy()
    allp = np.concatenate(pts, axis=0)
    org = allp[0, :2] if origin is None else np.asarray(origin, dtype=np.float64)
    out = np.zeros((len(allp) + 1, 3), dtype=np.float64)
    out[0] = (0.0, 0.0, 1.0)
    out[1, :2] = allp[0, :2] - org
    out[2:, :2] = np.diff(allp[:, :2], axis=0)
    out[1:, 2] = allp[:, 2]
    return out.astype(np.float32)


def offsets_to_strokes(offsets: np.ndarray) -> list[np.ndarray]:
    """Offsets -> list of (n, 2) float64 arrays of absolute x, y (cumulative sum), y up.

    A row 0 with end_of_stroke = 1 is the start row: it moves the pen (normally by zero) but draws
    nothing. A last stroke without an end-of-stroke mark (e.g. a truncated sample) is still returned.
    """
    arr = _as_offsets(offsets).astype(np.float64)
    if len(arr) == 0:
        return []
    pos = np.cumsum(arr[:, :2], axis=0)
    first = 1 if arr[0, 2] >= 0.5 else 0
    strokes: list[np.ndarray] = []
    start = first
    ends = np.nonzero(arr[first:, 2] >= 0.5)[0] + first
    for e in ends:
        strokes.append(pos[start : e + 1].copy())
        start = e + 1
    if start < len(arr):
        strokes.append(pos[start:].copy())
    return strokes


def step_lengths(offsets: np.ndarray, pen_down_only: bool = True) -> np.ndarray:
    """Lengths of the moves between pen points (pen-down moves only by default)."""
    arr = _as_offsets(offsets)
    if len(arr) < 3:
        return np.zeros(0, dtype=np.float32)
    lengths = np.hypot(arr[2:, 0], arr[2:, 1])
    if pen_down_only:
        lengths = lengths[arr[1:-1, 2] < 0.5]
    return lengths


def median_step(offsets: np.ndarray) -> float:
    """Median pen-down step: a unit-free measure of a line's scale (0 when it has no pen-down move)."""
    s = step_lengths(offsets)
    return float(np.median(s)) if len(s) else 0.0


def remove_outlier_points(strokes: Sequence[np.ndarray], max_step: float, factor: float = 10.0) -> tuple[list[np.ndarray], int]:
    """Drop single points far away from the rest of their line (a corrupt coordinate, e.g. 1e30).

    Per axis, a point is an outlier when |v - median| > factor * max(MAD, max_step) over the
    line's points (median and median absolute deviation are not moved by a few wild values, unlike
    the mean and std). Non-finite points are outliers too. A real line (a few thousand units wide,
    a few hundred high) never loses a point: its far ends are ~2 MADs from the median. Strokes
    left empty are dropped. Returns (strokes, number of points removed).
    """
    if not strokes:
        return list(strokes), 0
    points = np.concatenate([np.asarray(s, dtype=np.float64)[:, :2] for s in strokes])
    finite = np.all(np.isfinite(points), axis=1)
    if not finite.any():
        return [], int(len(points))
    median = np.median(points[finite], axis=0)
    mad = np.median(np.abs(points[finite] - median), axis=0)
    limit = factor * np.maximum(mad, max_step)
    with np.errstate(invalid="ignore", over="ignore"):
        keep_all = finite & np.all(np.abs(points - median) <= limit, axis=1)
    removed = int((~keep_all).sum())
    if not removed:
        return list(strokes), 0
    out, start = [], 0
    for stroke in strokes:
        keep = keep_all[start : start + len(stroke)]
        start += len(stroke)
        if keep.any():
            out.append(np.asarray(stroke)[keep])
    return out, removed


def clean_offsets(
    offsets: np.ndarray,
    max_step: float,
    *,
    max_bad_fraction: float = 0.05,
    min_points: int = 2,
    report: dict[str, int] | None = None,
) -> np.ndarray | None:
    """Fix recording errors (paper, Sec. 4): drop glitch points and break over-long pen-down steps.

    Pen-up moves (to the next stroke) may be long and are left alone. Within a stroke:
    * a point that jumps more than `max_step` away and back (a spike) is removed, as is a first or
      last point of a stroke that is more than `max_step` from its neighbour;
    * any other pen-down step longer than `max_step` (lost readings) becomes a pen lift, so the rest
      of the line keeps its place.
    Returns None when the line is unusable: non-finite values, fewer than `min_points` points left,
    or more than `max_bad_fraction` of its points needed repair (an outlier line). Counts of
    repairs are added to `report` (keys ``removed_points``, ``split_steps``) when given.
    """
    arr = _as_offsets(offsets)
    if not np.all(np.isfinite(arr)):
        return None
    strokes = offsets_to_strokes(arr)
    n_total = sum(len(s) for s in strokes)
    if n_total < min_points:
        return None
    removed = 0
    splits = 0
    out: list[np.ndarray] = []
    for s in strokes:
        pts = s
        if len(pts) >= 3:
            keep = np.ones(len(pts), dtype=bool)
            d = np.hypot(*np.diff(pts, axis=0).T)
            skip = np.hypot(*(pts[2:] - pts[:-2]).T)
            keep[1:-1] = ~((d[:-1] > max_step) & (d[1:] > max_step) & (skip <= max_step))
            if d[0] > max_step and d[1] <= max_step:
                keep[0] = False
            if d[-1] > max_step and d[-2] <= max_step:
                keep[-1] = False
            removed += int((~keep).sum())
            pts = pts[keep]
        if len(pts) >= 2:
            d = np.hypot(*np.diff(pts, axis=0).T)
            cuts = np.nonzero(d > max_step)[0]
            splits += len(cuts)
            for piece in np.split(pts, cuts + 1):
                if len(piece):
                    out.append(piece)
        elif len(pts):
            out.append(pts)
    n_kept = sum(len(s) for s in out)
    if report is not None:
        report["removed_points"] = report.get("removed_points", 0) + removed
        report["split_steps"] = report.get("split_steps", 0) + splits
    if n_kept < min_points or (removed + splits) > max_bad_fraction * n_total:
        return None
    return strokes_to_offsets(out, origin=(0.0, 0.0)) if out else None


@dataclass
class NormStats:
    """Mean and std of (dx, dy) over the training lines (paper: offsets normalised to mean 0, std 1).

    `apply` and `invert` act on every row, the start row included (it becomes `start_row()`), so
    ``invert(apply(x)) == x`` for any slice of a sequence. `median_step` (median over lines of each
    line's median pen-down step, raw units) lets `adapt` bring a foreign line (a user's prime, the
    preprocessed real styles) to the training scale before normalising.
    """

    mean: np.ndarray = field(default_factory=lambda: np.zeros(2, dtype=np.float64))
    std: np.ndarray = field(default_factory=lambda: np.ones(2, dtype=np.float64))
    count: int = 0
    median_step: float = 1.0
    excluded_rows: int = 0  # rows left out of the fit as outliers (see `fit`)

    def __post_init__(self) -> None:
        self.mean = np.asarray(self.mean, dtype=np.float64).reshape(2)
        self.std = np.asarray(self.std, dtype=np.float64).reshape(2)
        if np.any(self.std <= 0) or not np.all(np.isfinite(self.std)):
            raise SeqgenError(f"normalisation std must be positive and finite, got {self.std.tolist()}")

    #: rows with |dx| or |dy| above this many median steps are left out of mean/std (robust fit).
    ROBUST_FACTOR: ClassVar[float] = 1000.0

    @classmethod
    def fit(cls, lines: Iterable[Line | np.ndarray]) -> "NormStats":
        """Mean/std over all rows after the start row of every line (float64 sums), robustly.

        Two passes: the median of the lines' median pen-down steps first gives the corpus scale
        M; rows with a non-finite value or |dx| or |dy| > ROBUST_FACTOR * M (no real move is
        that long; a corrupt coordinate is) are excluded from mean and std, so one bad point cannot
        blow the statistics up (std 1e28 from one point at 1e30). `excluded_rows` counts them.
        """
        arrays = [_as_offsets(line.offsets if isinstance(line, Line) else line) for line in lines]
        return cls.fit_stream([median_step(arr) for arr in arrays], arrays)

    @classmethod
    def fit_stream(cls, line_medians: Sequence[float] | np.ndarray, arrays: Iterable[np.ndarray]) -> "NormStats":
        """`fit` for lines that are read one at a time (prepare in flat memory): the same result.

        `line_medians`: each line's `median_step`, computed beforehand; `arrays`: the lines'
        offsets in the same order, consumed once (only one line is held at a time).
        """
        medians = np.asarray(line_medians, dtype=np.float64)
        medians = medians[(medians > 0) & np.isfinite(medians)]
        scale = float(np.median(medians)) if len(medians) else 1.0
        bound = cls.ROBUST_FACTOR * scale if len(medians) else math.inf
        n = 0
        excluded = 0
        s1 = np.zeros(2, dtype=np.float64)
        s2 = np.zeros(2, dtype=np.float64)
        for arr in arrays:
            body = _as_offsets(arr)[1:, :2].astype(np.float64)
            if len(body) == 0:
                continue
            with np.errstate(invalid="ignore"):
                good = np.all(np.isfinite(body), axis=1) & np.all(np.abs(body) <= bound, axis=1)
            excluded += int((~good).sum())
            body = body[good]
            n += len(body)
            s1 += body.sum(axis=0)
            s2 += (body**2).sum(axis=0)
        if excluded:
            logger.warning("normalisation statistics: %d rows beyond %.0f (= %g median steps) left out", excluded, bound, cls.ROBUST_FACTOR)
        if n < 2:
            raise SeqgenError("cannot fit normalisation statistics: no training line has any points")
        mean = s1 / n
        var = np.maximum(s2 / n - mean**2, 0.0)
        std = np.sqrt(var)
        std = np.where(std > 1e-8, std, 1.0)
        return cls(mean=mean, std=std, count=n, median_step=scale, excluded_rows=excluded)

    def apply(self, offsets: np.ndarray) -> np.ndarray:
        """Raw offsets -> normalised (float32); end_of_stroke unchanged."""
        arr = _as_offsets(offsets).copy()
        arr[:, :2] = ((arr[:, :2].astype(np.float64) - self.mean) / self.std).astype(np.float32)
        return arr

    def invert(self, offsets: np.ndarray) -> np.ndarray:
        """Normalised offsets -> raw units (float32), e.g. for rendering a sample."""
        arr = _as_offsets(offsets).copy()
        arr[:, :2] = (arr[:, :2].astype(np.float64) * self.std + self.mean).astype(np.float32)
        return arr

    def start_row(self) -> np.ndarray:
        """The start row (0, 0, 1) in normalised units: the first input when sampling."""
        return self.apply(START_ROW)[0]

    def adapt(self, offsets: np.ndarray) -> np.ndarray:
        """Rescale a line in foreign units so its median pen-down step matches training, then normalise."""
        arr = _as_offsets(offsets).copy()
        m = median_step(arr)
        if m > 0:
            arr[:, :2] *= self.median_step / m
        return self.apply(arr)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for meta.json."""
        return {
            "mean": [float(v) for v in self.mean],
            "std": [float(v) for v in self.std],
            "count": int(self.count),
            "median_step": float(self.median_step),
            "excluded_rows": int(self.excluded_rows),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "NormStats":
        try:
            return cls(
                mean=np.asarray(d["mean"], dtype=np.float64),
                std=np.asarray(d["std"], dtype=np.float64),
                count=int(d.get("count", 0)),
                median_step=float(d.get("median_step", 1.0)),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise SeqgenError(
                f"bad normalisation statistics in meta.json ({err}); rerun `seqgen-prepare` for this data set"
            ) from None


def read_line_strokes(xml_path: str | Path) -> list[np.ndarray]:
    """Parse one lineStrokes XML file -> strokes, each (n, 3) float64 (x, y up, time), exactly as stored.

    y is negated (the whiteboard's y grows down); no point is dropped or added. Raises SeqgenError
    naming the file when it is not well-formed XML or has no StrokeSet/Point data.
    """
    path = Path(xml_path)
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        raise SeqgenError(f"{path}: malformed IAM-OnDB XML ({err}); re-extract lineStrokes-all.tar.gz") from None
    except OSError as err:
        raise SeqgenError(f"{path}: cannot read ({err.strerror})") from None
    stroke_set = root.find("StrokeSet") if root.tag != "StrokeSet" else root
    if stroke_set is None:
        stroke_set = root.find(".//StrokeSet")
    if stroke_set is None:
        raise SeqgenError(f"{path}: no <StrokeSet> element; expected an IAM-OnDB lineStrokes file")
    strokes: list[np.ndarray] = []
    for s_el in stroke_set.iter("Stroke"):
        pts = []
        for p in s_el.iter("Point"):
            try:
                x = float(p.attrib["x"])
                y = float(p.attrib["y"])
                t = float(p.attrib.get("time", "nan"))
            except (KeyError, ValueError) as err:
                raise SeqgenError(f"{path}: bad <Point> attributes {dict(p.attrib)} ({err})") from None
            pts.append((x, -y, t))
        if pts:
            strokes.append(np.asarray(pts, dtype=np.float64))
    if not strokes:
        raise SeqgenError(f"{path}: no <Point> data in any <Stroke>")
    return strokes
