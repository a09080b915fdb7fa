"""Smooth strokes: centripetal Catmull-Rom splines through sampled pen points, as cubic Béziers.

A stroke of points p_0 .. p_{n-1} becomes n - 1 cubic Bézier segments; segment i runs from p_i to
p_{i+1} (so the curve passes through every sampled point) with control points

    b1 = (d1^2 p_{i+1} - d2^2 p_{i-1} + (2 d1^2 + 3 d1 d2 + d2^2) p_i) / (3 d1 (d1 + d2))
    b2 = (d3^2 p_i - d2^2 p_{i+2} + (2 d3^2 + 3 d3 d2 + d2^2) p_{i+1}) / (3 d3 (d3 + d2))

with d1 = |p_i - p_{i-1}|^a, d2 = |p_{i+1} - p_i|^a, d3 = |p_{i+2} - p_{i+1}|^a and a = 1/2
(centripetal: no cusps or self-intersections inside a segment, unlike the uniform spline on
unevenly spaced points). The end points are mirrored (p_{-1} = 2 p_0 - p_1) so the curve starts
and ends along its first and last segment. Consecutive segments share their tangent direction at
the joint (the spline is C1).

Width from pen speed: the network emits one point per time step, so a step's length is the pen's
speed. `speed_widths` gives each segment a width that grows as the pen slows (ink pools), like the
calligrapher.ai demo: w = base * clip((median speed / speed) ** amount, 1 / 2.5, 2.5).
"""

from __future__ import annotations

import numpy as np

ALPHA = 0.5  # centripetal parameterisation
_EPS = 1e-9


def bezier_segments(points: np.ndarray) -> np.ndarray:
    """Points (n, 2) -> Bézier segments (n - 1, 4, 2): start, control 1, control 2, end.

    Repeated points (zero-length steps) fall back to straight segments there; fewer than two
    points give no segment.
    """
    p = np.asarray(points, dtype=np.float64)
    n = len(p)
    if n < 2:
        return np.zeros((0, 4, 2))
    ext = np.concatenate([2 * p[:1] - p[1:2], p, 2 * p[-1:] - p[-2:-1]], axis=0)  # mirrored ends
    steps = np.maximum(np.linalg.norm(np.diff(ext, axis=0), axis=1), 0.0) ** ALPHA  # n + 1 distances
    d1, d2, d3 = steps[:-2], steps[1:-1], steps[2:]
    p0, p1, p2, p3 = ext[:-3], ext[1:-2], ext[2:-1], ext[3:]
    safe1, safe3 = np.maximum(d1, _EPS)[:, None], np.maximum(d3, _EPS)[:, None]
    a, b, c = d1[:, None], d2[:, None], d3[:, None]
    b1 = (a**2 * p2 - b**2 * p0 + (2 * a**2 + 3 * a * b + b**2) * p1) / (3 * safe1 * np.maximum(a + b, _EPS))
    b2 = (c**2 * p1 - b**2 * p3 + (2 * c**2 + 3 * c * b + b**2) * p2) / (3 * safe3 * np.maximum(c + b, _EPS))
    degenerate = ((d1 < 1e-6) | (d2 < 1e-6) | (d3 < 1e-6))[:, None]
    b1 = np.where(degenerate, p1 + (p2 - p1) / 3.0, b1)
    b2 = np.where(degenerate, p1 + 2.0 * (p2 - p1) / 3.0, b2)
    return np.stack([p1, b1, b2, p2], axis=1)


def flatten(segments: np.ndarray, steps: int) -> np.ndarray:
    """Bézier segments (m, 4, 2) -> a polyline through `steps` points per segment (+ the end).

    steps = 1 gives the straight chords through the sampled points.
    """
    if len(segments) == 0:
        return np.zeros((0, 2))
    t = (np.arange(steps, dtype=np.float64) / steps)[None, :, None]
    q0, q1, q2, q3 = (segments[:, k][:, None, :] for k in range(4))
    curve = (1 - t) ** 3 * q0 + 3 * (1 - t) ** 2 * t * q1 + 3 * (1 - t) * t**2 * q2 + t**3 * q3
    return np.concatenate([curve.reshape(-1, 2), segments[-1:, 3]], axis=0)


def svg_path_data(points: np.ndarray, smooth: bool = True, precision: int = 2) -> str:
    """The `d` attribute of one stroke: M + C (smooth) or L (straight) commands; a dot is a zero-length line."""
    p = np.asarray(points, dtype=np.float64)
    fmt = f"{{:.{precision}f}}"

    def pt(q: np.ndarray) -> str:
        return fmt.format(q[0]) + "," + fmt.format(q[1])

    if len(p) == 1:
        return f"M{pt(p[0])} l0,0"
    if not smooth:
        return f"M{pt(p[0])} L" + " ".join(pt(q) for q in p[1:])
    segments = bezier_segments(p)
    return f"M{pt(p[0])} C" + " ".join(f"{pt(s[1])} {pt(s[2])} {pt(s[3])}" for s in segments)


def speed_widths(strokes_speed: np.ndarray, base: float, amount: float, median_speed: float) -> np.ndarray:
    """Per-segment widths from per-segment pen speeds (step lengths): slower is thicker.

    amount = 0: every segment `base` wide; 1: width proportional to 1 / speed (clipped to 2.5x either way).
    """
    speed = np.maximum(np.asarray(strokes_speed, dtype=np.float64), _EPS)
    if amount <= 0 or median_speed <= 0:
        return np.full(speed.shape, float(base))
    return base * np.clip((median_speed / speed) ** amount, 1 / 2.5, 2.5)
