"""Offset conventions, conversions, cleaning and normalisation of handwriting lines."""

from __future__ import annotations

import numpy as np
import pytest

from seqgen.data.handwriting.strokes import (
    Line,
    NormStats,
    clean_offsets,
    median_step,
    offsets_to_strokes,
    strokes_to_offsets,
)
from seqgen.errors import SeqgenError


def _strokes() -> list[np.ndarray]:
    return [
        np.array([[10.0, 5.0], [11.0, 6.0], [12.0, 8.0]]),
        np.array([[20.0, 5.0], [21.0, 4.0]]),
        np.array([[30.0, 0.0]]),  # a dot
    ]


def test_offsets_layout_and_start_row() -> None:
    off = strokes_to_offsets(_strokes())
    assert off.dtype == np.float32 and off.shape == (7, 3)
    np.testing.assert_array_equal(off[0], [0, 0, 1])
    np.testing.assert_array_equal(off[1], [0, 0, 0])  # origin = first point
    np.testing.assert_array_equal(off[:, 2], [1, 0, 0, 1, 0, 1, 1])
    np.testing.assert_allclose(off[4], [8.0, -3.0, 0.0])  # pen-up move to stroke 2


def test_round_trips() -> None:
    strokes = _strokes()
    back = offsets_to_strokes(strokes_to_offsets(strokes))
    assert [len(s) for s in back] == [3, 2, 1]
    for a, b in zip(strokes, back):
        np.testing.assert_allclose(b, a - strokes[0][0], atol=1e-5)
    absolute = strokes_to_offsets(strokes, origin=(0, 0))
    for a, b in zip(strokes, offsets_to_strokes(absolute)):
        np.testing.assert_allclose(b, a, atol=1e-5)
    np.testing.assert_allclose(strokes_to_offsets(offsets_to_strokes(absolute), origin=(0, 0)), absolute)


def test_extra_columns_ignored_and_unterminated_tail() -> None:
    off = strokes_to_offsets([np.array([[0.0, 0.0, 5.0], [1.0, 1.0, 6.0]])])
    assert off.shape == (3, 3)
    tail = off.copy()
    tail[-1, 2] = 0
    assert [len(s) for s in offsets_to_strokes(tail)] == [2]


def test_bad_shapes_raise() -> None:
    with pytest.raises(SeqgenError):
        Line(offsets=np.zeros((4, 2)), text="x", writer="w", source="t")
    with pytest.raises(SeqgenError):
        offsets_to_strokes(np.zeros(5))


def _line_with(n: int = 60) -> list[np.ndarray]:
    t = np.linspace(0, 6 * np.pi, n)
    return [np.stack([t * 5, np.sin(t) * 10], axis=1), np.stack([t * 5 + 200, np.cos(t) * 10], axis=1)]


def test_clean_removes_spike_and_splits_gap() -> None:
    s = _line_with()
    s[0][20] += (500.0, 0.0)  # glitch point: out and back
    s[1] = np.concatenate([s[1][:30], s[1][30:] + (400.0, 0.0)])  # lost readings: one long jump
    counts: dict[str, int] = {}
    out = clean_offsets(strokes_to_offsets(s), max_step=100.0, report=counts)
    assert out is not None
    assert counts == {"removed_points": 1, "split_steps": 1}
    back = offsets_to_strokes(out)
    assert [len(x) for x in back] == [59, 30, 30]
    steps = np.hypot(*np.diff(np.concatenate(back[:1]), axis=0).T)
    assert steps.max() < 100.0


def test_clean_rejects_bad_lines() -> None:
    s = _line_with(20)
    bad = [p.copy() for p in s]
    for p in bad:
        p[::2] += (0.0, 1000.0)  # zig-zag of huge steps everywhere
    assert clean_offsets(strokes_to_offsets(bad), max_step=100.0) is None
    nan = strokes_to_offsets(s)
    nan[5, 0] = np.nan
    assert clean_offsets(nan, max_step=100.0) is None
    assert clean_offsets(strokes_to_offsets([np.zeros((1, 2))]), max_step=100.0) is None
    good = strokes_to_offsets(s)
    np.testing.assert_allclose(clean_offsets(good, max_step=100.0), good, atol=1e-4)


def test_norm_stats_fit_apply_invert_dict() -> None:
    rng = np.random.default_rng(0)
    lines = []
    for i in range(5):
        pts = np.cumsum(rng.normal((3.0, 0.5), (2.0, 4.0), size=(200, 2)), axis=0)
        lines.append(Line(offsets=strokes_to_offsets([pts[:100], pts[100:]]), text="t", writer="w", source="s"))
    stats = NormStats.fit(lines)
    body = np.concatenate([stats.apply(l.offsets)[1:, :2] for l in lines])
    np.testing.assert_allclose(body.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(body.std(axis=0), 1.0, atol=1e-4)
    x = lines[0].offsets
    np.testing.assert_allclose(stats.invert(stats.apply(x)), x, atol=1e-4)
    np.testing.assert_array_equal(stats.apply(x)[:, 2], x[:, 2])
    again = NormStats.from_dict(stats.to_dict())
    np.testing.assert_allclose(again.mean, stats.mean)
    np.testing.assert_allclose(again.std, stats.std)
    assert again.median_step == pytest.approx(stats.median_step)
    np.testing.assert_allclose(stats.start_row(), stats.apply(np.array([[0, 0, 1]], np.float32))[0])
    # adapt: a line in 10x smaller units lands on the training scale
    small = x.copy()
    small[:, :2] /= 10.0
    adapted = stats.invert(stats.adapt(small))
    assert median_step(adapted) == pytest.approx(stats.median_step, rel=1e-4)
    np.testing.assert_allclose(adapted[:, :2], x[:, :2] * stats.median_step / median_step(x), atol=1e-3)
    assert median_step(x) > 0
    with pytest.raises(SeqgenError):
        NormStats.from_dict({"mean": [0, 0]})
