"""User handwriting primes (XML/SVG/JSON/npy) and the thirteen real styles."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED

from seqgen.data.handwriting.strokes import offsets_to_strokes, strokes_to_offsets
from seqgen.data.handwriting.user_styles import load_prime, load_real_styles
from seqgen.errors import SeqgenError

STYLES = SHARED / "real-samples" / "iam-ondb" / "styles"

STROKES_UP = [
    np.array([[0.0, 0.0], [10.0, 20.0], [20.0, 0.0]]),
    np.array([[5.0, 10.0], [15.0, 10.0]]),
    np.array([[40.0, 5.0], [50.0, 25.5], [60.0, 5.0]]),
]


def _expected() -> np.ndarray:
    return strokes_to_offsets(STROKES_UP)


def test_iam_xml(tmp_path: Path) -> None:
    pts = "\n".join(
        "<Stroke>" + "".join(f'<Point x="{x:g}" y="{-y:g}" time="0"/>' for x, y in s) + "</Stroke>" for s in STROKES_UP
    )
    p = tmp_path / "mine.xml"
    p.write_text(f"<WhiteboardCaptureSession><StrokeSet>{pts}</StrokeSet></WhiteboardCaptureSession>")
    (tmp_path / "mine.txt").write_text("hi there\n")
    off, text = load_prime(p)
    np.testing.assert_allclose(off, _expected(), atol=1e-5)
    assert text == "hi there"


def test_svg_polyline_and_path(tmp_path: Path) -> None:
    a, b, c = STROKES_UP
    poly = " ".join(f"{x:g},{-y:g}" for x, y in a)
    d1 = "M " + " L ".join(f"{x:g} {-y:g}" for x, y in b)
    d2 = f"M{c[0, 0]:g},{-c[0, 1]:g} l10,-20.5 L{c[2, 0]:g} {-c[2, 1]:g}"
    p = tmp_path / "mine.svg"
    p.write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="100" height="40"><title>svg words</title>'
        f'<polyline points="{poly}" fill="none"/><path d="{d1}"/><path d="{d2}"/></svg>'
    )
    off, text = load_prime(p)
    np.testing.assert_allclose(off, _expected(), atol=1e-5)
    assert text == "svg words"
    curve = tmp_path / "curve.svg"
    curve.write_text('<svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0 C 1 1 2 2 3 3"/></svg>')
    with pytest.raises(SeqgenError, match="curve.svg.*not supported"):
        load_prime(curve)


def test_json_object_and_bare_list(tmp_path: Path) -> None:
    p = tmp_path / "mine.json"
    p.write_text(json.dumps({"text": "json words", "strokes": [s.tolist() for s in STROKES_UP]}))
    off, text = load_prime(p)
    np.testing.assert_allclose(off, _expected(), atol=1e-5)
    assert text == "json words"
    q = tmp_path / "bare.json"
    q.write_text(json.dumps([s.tolist() for s in STROKES_UP]))
    off2, text2 = load_prime(q)
    np.testing.assert_allclose(off2, _expected(), atol=1e-5)
    assert text2 is None
    down = tmp_path / "down.json"
    down.write_text(json.dumps({"y_axis": "down", "strokes": [(s * (1, -1)).tolist() for s in STROKES_UP]}))
    np.testing.assert_allclose(load_prime(down)[0], _expected(), atol=1e-5)


def test_npy_offsets(tmp_path: Path) -> None:
    p = tmp_path / "x.npy"
    np.save(p, _expected())
    off, _ = load_prime(p)
    np.testing.assert_allclose(off, _expected())


@pytest.mark.parametrize(
    "name,content",
    [
        ("a.png", "not handwriting"),
        ("a.json", "{not json"),
        ("b.json", '{"text": "no strokes"}'),
        ("c.json", '[[[1, 2, 3], [1]]]'),
        ("a.svg", "<svg><polyline points='1,2 3'/>"),
        ("b.svg", "<svg xmlns='http://www.w3.org/2000/svg'><rect/></svg>"),
        ("a.xml", "<WhiteboardCaptureSession><StrokeSet>"),
    ],
)
def test_bad_files_name_file_and_formats(tmp_path: Path, name: str, content: str) -> None:
    p = tmp_path / name
    p.write_text(content)
    with pytest.raises(SeqgenError) as err:
        load_prime(p)
    msg = str(err.value)
    assert name in msg and "accepted formats" in msg


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SeqgenError, match="no such file"):
        load_prime(tmp_path / "nope.svg")
    with pytest.raises(SeqgenError, match="style-N"):
        load_real_styles(tmp_path)


@pytest.mark.skipif(not STYLES.is_dir(), reason="real samples absent")
def test_real_styles() -> None:
    styles = load_real_styles(STYLES)
    assert len(styles) == 13
    assert [s.writer for s in styles] == [f"style-{i}" for i in range(13)]
    assert styles[0].text == "thought that vengeance"
    for s in styles:
        np.testing.assert_array_equal(s.offsets[0], [0, 0, 1])
        assert s.offsets.dtype == np.float32 and s.n_points > 100 and s.text
        assert len(offsets_to_strokes(s.offsets)) > 3
    off, text = load_prime(STYLES / "style-0-strokes.npy")
    assert text == "thought that vengeance"
    np.testing.assert_array_equal(off, styles[0].offsets)
