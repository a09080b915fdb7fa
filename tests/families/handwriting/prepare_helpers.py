"""Corpora for the streamed-prepare tests and benchmarks/prepare_memory.py: a small IAM-OnDB tree in the
original layout with every kind of bad input, and a fast random-walk corpus of any size."""

from __future__ import annotations

import random
import shutil
from array import array
from pathlib import Path
from typing import Any

import numpy as np

from conftest import SHARED, iam_stroke_xml

from seqgen.families.handwriting.linestore import LineStore
from seqgen.families.handwriting.prepare import LineCorpus
from seqgen.data.handwriting.strokes import Line

REAL_LINE = SHARED / "real-samples" / "iam-ondb" / "lineStrokes" / "a01-000u-01.xml"
WORDS = "the quick brown fox jumps over a lazy dog while seven wizards quietly hex jumbo vats".split()


def _strokes(rng: np.random.Generator, n_chars: int, scale: float = 1.0) -> list[np.ndarray]:
    """Whiteboard-like strokes (y down): ~25 points per character, steps ~15-25."""
    strokes, x = [], 500.0
    for _ in range(max(1, n_chars // 4)):
        n = int(rng.integers(60, 120))
        t = np.arange(n)
        xs = x + scale * (t * 4.0 + 20 * np.sin(t / 3.0))
        ys = 1000 + scale * (60 * np.cos(t / 2.5) + rng.normal(0, 2, n))
        strokes.append(np.stack([xs, ys], axis=1))
        x = xs[-1] + scale * rng.uniform(40, 120)
    return strokes


def iam_form(index: int) -> str:
    """The id of form number `index` of `make_iam_tree` (a00-000u, b00-001w, a00-002x, ...)."""
    return f"{'ab'[index % 2]}{index // 10:02d}-{index:03d}{'uwx'[index % 3]}"


def make_iam_tree(root: Path, n_forms: int = 24, seed: int = 0, bad: bool = True) -> Path:
    """An IAM-OnDB layout: lineStrokes/, ascii/, forms.txt and the four split lists.

    With `bad`, it also holds one of every skip and repair the reader and prepare know: malformed
    XML, a transcription without strokes, strokes without a transcription, an empty CSR line, a
    form without a CSR block, a glitchy line, a line with a wild point, a too short line, a line of
    absurd scale and test/valid lines with a character the training text lacks. The real IAM-OnDB
    line (../shared/real-samples) is form a01-000u's first line when present.
    """
    rng = np.random.default_rng(seed)
    pick = random.Random(seed)
    forms = [iam_form(i) for i in range(n_forms)]
    writers = []
    for index, form in enumerate(forms):
        first, middle = form.split("-")
        ls = root / "lineStrokes" / first / f"{first}-{middle[:3]}"
        asc = root / "ascii" / first / f"{first}-{middle[:3]}"
        ls.mkdir(parents=True, exist_ok=True)
        asc.mkdir(parents=True, exist_ok=True)
        texts = [" ".join(pick.choice(WORDS) for _ in range(pick.randint(2, 6))).capitalize() for _ in range(pick.randint(2, 4))]
        if bad and index == 5:
            texts[0] += " #1"  # a character only this (test/valid) form has
        if bad and index == 6:
            texts.insert(1, "")  # a blank CSR line inside the block
        for k, text in enumerate(texts, start=1):
            lid = f"{form}-{k:02d}"
            if bad and index == 3 and k == 2:
                continue  # transcription without strokes file
            strokes = _strokes(rng, len(text) or 10)
            if bad and index == 4 and k == 1:
                strokes = [np.stack([500 + 15 * np.arange(30), 1000 + 5000 * (np.arange(30) % 2)], axis=1)]  # glitches
            if bad and index == 7 and k == 1:
                strokes[0][5] = (1e30, 1e30)  # one wild point: repaired
            if bad and index == 8 and k == 1:
                strokes = [strokes[0][:4]]  # too few points
            if bad and index == 9 and k == 1:
                strokes = _strokes(rng, len(text), scale=0.01)  # absurd scale
            body = iam_stroke_xml(strokes)
            if bad and index == 2 and k == 1:
                body = body[:-200]  # truncated: malformed XML
            (ls / f"{lid}.xml").write_text(body)
        if bad and index == 10:
            (ls / f"{form}-{len(texts) + 1:02d}.xml").write_text(iam_stroke_xml(_strokes(rng, 12)))  # no transcription
        head = "Writer-ID: 1\n\nOCR:\n\n" if not (bad and index == 11) else "no csr block here\n"
        csr = "CSR: \n\n" + "\n".join(texts) + "\n" if not (bad and index == 11) else ""
        (asc / f"{form}.txt").write_text(head + csr)
        if index % 4:
            writers.append(f"{form} {10000 + index % 7}")
    if REAL_LINE.is_file():  # the real IAM-OnDB line a01-000u-01 as one more training form
        ls, asc = root / "lineStrokes" / "a01" / "a01-000", root / "ascii" / "a01" / "a01-000"
        ls.mkdir(parents=True, exist_ok=True)
        asc.mkdir(parents=True, exist_ok=True)
        shutil.copy(REAL_LINE, ls / "a01-000u-01.xml")
        (asc / "a01-000u.txt").write_text("CSR: \n\nA MOVE to stop Mr. Gaitskell from\n")
        forms.append("a01-000u")
    (root / "forms.txt").write_text("# form writer\n" + "\n".join(writers) + "\n")
    rest = [f for f in forms if f != forms[5]]
    pick.shuffle(rest)
    n = max(1, len(forms) // 6)
    lists = {  # forms[5] (a character nowhere else) is in valid (testset_v) and test (testset_f)
        "trainset.txt": rest[3 * n :],
        "testset_v.txt": [forms[5]] + rest[:n],
        "testset_t.txt": rest[n : 2 * n],
        "testset_f.txt": [forms[5]] + rest[2 * n : 3 * n],
    }
    for name, ids in lists.items():
        (root / name).write_text("\n".join(ids) + "\n")
    return root


class WalkCorpus(LineCorpus):
    """`n_lines` random-walk lines of `points` pen points (fast: for memory, not for realism).

    One line in 20 goes to valid and one to test; texts use one alphabet, so none is skipped.
    `in_memory=True` offers only the old `load_splits` (lists of Lines) instead of `split_lines`.
    """

    name = "walk"

    def __init__(self, n_lines: int, points: int = 400, seed: int = 0) -> None:
        self.n_lines, self.points, self.seed = n_lines, points, seed

    def line(self, i: int) -> Line:
        rng = np.random.default_rng([self.seed, i])
        rows = np.zeros((self.points + 1, 3), dtype=np.float32)
        rows[0, 2] = 1.0
        rows[1:, 0] = rng.normal(10, 3, self.points)
        rows[1:, 1] = rng.normal(0, 10, self.points)
        rows[1:, 2] = rng.random(self.points) < 0.05
        text = "".join(rng.choice(list("abcdefghij klmnop"), 20))
        return Line(rows, text, f"w{i % 50:02d}", "walk", f"walk-{i:07d}")

    @staticmethod
    def split_of(i: int) -> str:
        return "valid" if i % 20 == 1 else "test" if i % 20 == 2 else "train"

    def split_lines(self, report: Any, store: LineStore) -> dict[str, array]:
        splits = {s: array("q") for s in ("train", "valid", "test")}
        for i in range(self.n_lines):
            splits[self.split_of(i)].append(store.add(self.line(i)))
        return splits

    def load_splits(self, report: Any) -> dict[str, list[Line]]:
        splits: dict[str, list[Line]] = {"train": [], "valid": [], "test": []}
        for i in range(self.n_lines):
            splits[self.split_of(i)].append(self.line(i))
        return splits

    def describe(self) -> dict[str, Any]:
        return {"kind": "walk", "n_lines": self.n_lines, "points": self.points}


class ListCorpus(WalkCorpus):
    """The walk corpus offering only `load_splits` (the API of corpora written before streaming)."""

    split_lines = LineCorpus.split_lines  # the base class spills `load_splits`
