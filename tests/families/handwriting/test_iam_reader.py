"""IAM-OnDB reader on a tiny tree in the original layout, plus the real line file when present."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED, iam_stroke_xml

from seqgen.families.handwriting.iam import (
    MALFORMED_XML,
    NO_STROKES_FILE,
    NO_TRANSCRIPTION,
    OUTLIER_LINE,
    SkipReport,
    iter_iam_lines,
    read_line_strokes,
    read_split_ids,
    read_transcriptions,
)
from seqgen.data.handwriting.strokes import offsets_to_strokes
from seqgen.errors import SeqgenError

REAL = SHARED / "real-samples" / "iam-ondb"


def _stroke(x0: int, n: int = 12) -> list[tuple[int, int]]:
    return [(x0 + 15 * i, 1000 + int(40 * np.sin(i / 2))) for i in range(n)]


def _ascii(lines: list[str]) -> str:
    return "Writer-ID: 10000\n\nOCR:\n\n" + "\n".join(lines) + "\n\nCSR: \n\n" + "\n".join(lines) + "\n"


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "iam"
    ls = root / "lineStrokes" / "a01" / "a01-000"
    asc = root / "ascii" / "a01" / "a01-000"
    ls.mkdir(parents=True)
    asc.mkdir(parents=True)
    (asc / "a01-000u.txt").write_text(_ascii(["A MOVE to stop", "Mr. Gaitskell from", "nominating any", "more Labour"]))
    (ls / "a01-000u-01.xml").write_text(iam_stroke_xml([_stroke(100), _stroke(400)]))
    (ls / "a01-000u-02.xml").write_text(iam_stroke_xml([_stroke(100, 20)]))
    (ls / "a01-000u-03.xml").write_text(iam_stroke_xml([_stroke(100)])[:-120])  # truncated: malformed
    # line 4 has a transcription but no strokes file
    (ls / "a01-000u-05.xml").write_text(iam_stroke_xml([_stroke(100)]))  # strokes without transcription
    glitchy = [[(100 + 15 * i, 1000 + (5000 if i % 2 else 0)) for i in range(20)]]
    asc2 = root / "ascii" / "a01" / "a01-001"
    asc2.mkdir(parents=True)
    ls2 = root / "lineStrokes" / "a01" / "a01-001"
    ls2.mkdir(parents=True)
    (asc2 / "a01-001w.txt").write_text(_ascii(["broken line", "fine line"]))
    (ls2 / "a01-001w-01.xml").write_text(iam_stroke_xml(glitchy))
    (ls2 / "a01-001w-02.xml").write_text(iam_stroke_xml([_stroke(100), _stroke(300)]))
    (root / "trainset.txt").write_text("a01-000u\n")
    (root / "testset_v.txt").write_text("a01-001w\n")
    return root


def test_reads_lines_and_reports_every_skip(tree: Path, caplog: pytest.LogCaptureFixture) -> None:
    report = SkipReport()
    with caplog.at_level(logging.WARNING, logger="seqgen.families.handwriting.iam"):
        lines = list(iter_iam_lines(tree, None, max_step=300.0, report=report))
    assert [l.line_id for l in lines] == ["a01-000u-01", "a01-000u-02", "a01-001w-02"]
    assert [l.text for l in lines] == ["A MOVE to stop", "Mr. Gaitskell from", "fine line"]
    assert all(l.writer.startswith("a01-00") and l.source == "iam-ondb" for l in lines)
    assert lines[0].n_points == 24 and len(offsets_to_strokes(lines[0].offsets)) == 2
    assert report.counts == {MALFORMED_XML: 1, NO_STROKES_FILE: 1, NO_TRANSCRIPTION: 1, OUTLIER_LINE: 1}
    assert report.names[MALFORMED_XML] == ["a01-000u-03"]
    assert report.names[NO_STROKES_FILE] == ["a01-000u-04"]
    assert report.names[NO_TRANSCRIPTION] == ["a01-000u-05"]
    assert report.names[OUTLIER_LINE] == ["a01-001w-01"]
    assert report.kept == 3 and report.total == 4
    for name in ("a01-000u-03", "a01-000u-04", "a01-000u-05", "a01-001w-01"):
        assert name in caplog.text
    assert "skipped 4" in report.summary()


def test_y_is_flipped_up(tree: Path) -> None:
    strokes = read_line_strokes(tree / "lineStrokes" / "a01" / "a01-000" / "a01-000u-01.xml")
    assert len(strokes) == 2 and strokes[0].shape == (12, 3)
    assert strokes[0][0, 0] == 100 and strokes[0][0, 1] == -1000


def test_splits(tree: Path) -> None:
    train = read_split_ids(tree, "train")
    assert train == {"a01-000u"}
    report = SkipReport()
    lines = list(iter_iam_lines(tree, train, max_step=300.0, report=report))
    assert [l.line_id for l in lines] == ["a01-000u-01", "a01-000u-02"]
    assert OUTLIER_LINE not in report.counts
    valid = list(iter_iam_lines(tree, read_split_ids(tree, "valid"), max_step=300.0))
    assert [l.line_id for l in valid] == ["a01-001w-02"]
    with pytest.raises(SeqgenError, match="testset_f.txt"):
        read_split_ids(tree, "test")


def test_transcriptions_and_errors(tree: Path, tmp_path: Path) -> None:
    tr = read_transcriptions(tree / "ascii" / "a01" / "a01-000" / "a01-000u.txt")
    assert tr["a01-000u-01"] == "A MOVE to stop" and len(tr) == 4
    bad = tmp_path / "x.txt"
    bad.write_text("no block here\n")
    with pytest.raises(SeqgenError, match="CSR"):
        read_transcriptions(bad)
    with pytest.raises(SeqgenError, match="malformed"):
        read_line_strokes(tree / "lineStrokes" / "a01" / "a01-000" / "a01-000u-03.xml")
    with pytest.raises(SeqgenError, match="lineStrokes"):
        list(iter_iam_lines(tmp_path / "nowhere"))


@pytest.mark.skipif(not (REAL / "lineStrokes" / "a01-000u-01.xml").is_file(), reason="real samples absent")
def test_real_line_file_parses_exactly(tmp_path: Path) -> None:
    path = REAL / "lineStrokes" / "a01-000u-01.xml"
    raw = path.read_text(encoding="latin-1")
    strokes = read_line_strokes(path)
    assert len(strokes) == len(re.findall(r"<Stroke\b", raw))
    assert sum(len(s) for s in strokes) == len(re.findall(r"<Point\b", raw))
    first = re.search(r'<Point x="(\d+)" y="(\d+)"', raw)
    assert first is not None
    assert strokes[0][0, 0] == float(first.group(1)) and strokes[0][0, 1] == -float(first.group(2))
    # joined to a transcription in the original layout
    root = tmp_path / "iam"
    (root / "lineStrokes" / "a01" / "a01-000").mkdir(parents=True)
    (root / "ascii" / "a01" / "a01-000").mkdir(parents=True)
    (root / "lineStrokes" / "a01" / "a01-000" / "a01-000u-01.xml").write_bytes(path.read_bytes())
    (root / "ascii" / "a01" / "a01-000" / "a01-000u.txt").write_text(_ascii(["A MOVE to stop Mr. Gaitskell from"]))
    report = SkipReport()
    (line,) = list(iter_iam_lines(root, None, report=report))
    assert line.text == "A MOVE to stop Mr. Gaitskell from"
    assert report.total == 0
    assert len(offsets_to_strokes(line.offsets)) >= len(strokes)
    assert line.n_points >= sum(len(s) for s in strokes)  # interpolation may only add points
