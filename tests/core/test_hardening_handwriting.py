"""IAM-OnDB outliers: caught per point and per line, robust statistics, every skip and repair named."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from conftest import iam_stroke_xml

from seqgen.families.handwriting.iam import OUTLIER_LINE, OUTLIER_POINTS, SkipReport, iter_iam_lines
from seqgen.families.handwriting.prepare import OUTLIER_SCALE, IamOnDbCorpus, prepare_handwriting
from seqgen.data.handwriting.strokes import NormStats, strokes_to_offsets


def _stroke(x0: float, n: int = 15, scale: float = 1.0) -> list[tuple[float, float]]:
    return [(x0 + scale * 15 * i, 1000 + scale * 40 * np.sin(i / 2)) for i in range(n)]


def _tree(tmp_path: Path, lines: dict[str, list[list[tuple[float, float]]]]) -> Path:
    root = tmp_path / "iam"
    for form, strokes in lines.items():
        ls = root / "lineStrokes" / "a01" / form
        asc = root / "ascii" / "a01" / form
        ls.mkdir(parents=True)
        asc.mkdir(parents=True)
        (asc / f"{form}.txt").write_text("CSR:\n\nthe quick brown fox\n")
        (ls / f"{form}-01.xml").write_text(iam_stroke_xml(strokes))
    return root


def _normal_lines(n: int) -> dict[str, list[list[tuple[float, float]]]]:
    return {f"a01-{i:03d}u": [_stroke(100), _stroke(400), _stroke(700)] for i in range(n)}


def test_one_corrupt_point_is_removed_and_named(tmp_path: Path) -> None:
    lines = _normal_lines(3)
    lines["a01-100u"] = [_stroke(100), [(1e30, 1e30)], _stroke(400)]  # a lone point at 1e30
    lines["a01-101u"] = [_stroke(100)[:7] + [(250, 1e30)] + _stroke(100)[7:]]  # inside a stroke
    report = SkipReport()
    got = {line.line_id: line for line in iter_iam_lines(_tree(tmp_path, lines), None, max_step=300.0, report=report)}
    assert "a01-100u-01" in got and "a01-101u-01" in got
    assert report.repairs[OUTLIER_POINTS] == 2
    assert sorted(report.repaired[OUTLIER_POINTS]) == ["a01-100u-01", "a01-101u-01"]
    for line in got.values():
        assert np.abs(line.offsets[:, :2]).max() < 1000
    assert report.to_dict()["repaired"][OUTLIER_POINTS]


def test_line_with_many_wild_points_is_skipped(tmp_path: Path) -> None:
    lines = _normal_lines(2)
    lines["a01-200u"] = [_stroke(100)[:5] + [(1e30, 5.0)] * 4 + _stroke(100)[5:]]
    report = SkipReport()
    ids = [line.line_id for line in iter_iam_lines(_tree(tmp_path, lines), None, max_step=300.0, report=report)]
    assert "a01-200u-01" not in ids and report.names[OUTLIER_LINE] == ["a01-200u-01"]


def test_normalisation_statistics_are_robust() -> None:
    good = [strokes_to_offsets([np.array(_stroke(100 + 30 * k))]) for k in range(20)]
    clean = NormStats.fit(good)
    poisoned_line = good[0].copy()
    poisoned_line[5, :2] = 1e30
    robust = NormStats.fit([poisoned_line, *good[1:]])
    assert robust.excluded_rows == 1
    np.testing.assert_allclose(robust.std, clean.std, rtol=0.05)
    assert np.all(robust.std < 100)


def test_prepare_skips_lines_of_absurd_scale_and_names_them(tmp_path: Path) -> None:
    lines = _normal_lines(12)
    # 50x smaller than every other line: passes the reader's per-point checks, not the corpus scale
    lines["a01-300u"] = [_stroke(100, scale=0.02), _stroke(110, scale=0.02)]
    root = _tree(tmp_path, lines)
    corpus = IamOnDbCorpus(str(root), split="random", fractions=[0.6, 0.2, 0.2])
    summary = prepare_handwriting(corpus, str(tmp_path / "out"), samples_per_shard=2, min_train_shards=1, min_points=5)
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())
    assert meta["skipped"]["names"][OUTLIER_SCALE] == ["a01-300u-01"]
    assert summary["skipped"]["counts"][OUTLIER_SCALE] == 1
    assert max(meta["norm"]["std"]) < 100 and meta["norm"]["excluded_rows"] == 0
