"""Synthetic multi-writer Hershey handwriting corpus."""

from __future__ import annotations

import string

import numpy as np
import pytest

from seqgen.families.handwriting.hershey import (
    DEFAULT_FONTS,
    WriterStyle,
    iter_hershey_lines,
    render_line,
    sample_writers,
    text_lines_from_corpus,
    writable_chars,
)
from seqgen.data.handwriting.strokes import median_step, offsets_to_strokes, strokes_to_offsets
from seqgen.errors import SeqgenError

PANGRAM = "Quick brown fox 0123456789 XZQ.,!?"


def test_fonts_write_letters_digits_punctuation() -> None:
    ok = writable_chars(DEFAULT_FONTS)
    for ch in PANGRAM + string.ascii_letters + string.digits + ".,;:!?'\"-()":
        assert ch in ok, ch


def test_writers_deterministic_and_varied() -> None:
    a = sample_writers(12, seed=3)
    assert a == sample_writers(12, seed=3)
    assert a[:5] == sample_writers(5, seed=3)
    assert a != sample_writers(12, seed=4)
    assert len({w.name for w in a}) == 12
    assert len({w.font for w in sample_writers(40, seed=0)}) >= 4


def test_many_writers_give_different_offsets() -> None:
    writers = sample_writers(10, seed=0)
    lines = [render_line(PANGRAM, w, np.random.default_rng(0)) for w in writers]
    shapes = {l.offsets.shape for l in lines}
    assert len(shapes) >= 8
    for i in range(len(lines)):
        for j in range(i + 1, len(lines)):
            a, b = lines[i].offsets, lines[j].offsets
            assert a.shape != b.shape or not np.allclose(a, b)
    for w, l in zip(writers, lines):
        assert l.writer == w.name and l.source == "hershey" and l.text == PANGRAM
        assert l.offsets.dtype == np.float32
        np.testing.assert_array_equal(l.offsets[0], [0, 0, 1])
        assert l.offsets[-1, 2] == 1


def test_same_writer_varies_between_lines_but_is_reproducible() -> None:
    w = sample_writers(1, seed=1)[0]
    a = render_line("hello world", w, np.random.default_rng(1))
    b = render_line("hello world", w, np.random.default_rng(1))
    c = render_line("hello world", w, np.random.default_rng(2))
    np.testing.assert_array_equal(a.offsets, b.offsets)
    assert a.offsets.shape != c.offsets.shape or not np.allclose(a.offsets, c.offsets)


def test_points_per_character_and_even_spacing() -> None:
    text = "It was the best of times, it was the worst of times"
    ppc = []
    for w in sample_writers(20, seed=5):
        line = render_line(text, w, np.random.default_rng(0))
        ppc.append(line.n_points / len(text))
        steps = np.hypot(*np.diff(np.concatenate(offsets_to_strokes(line.offsets)[:3]), axis=0).T)
        assert median_step(line.offsets) == pytest.approx(w.speed, rel=0.4)
        assert np.isfinite(steps).all()
    assert 18 <= float(np.mean(ppc)) <= 40


def test_points_per_char_sets_the_pen_density_and_keeps_everything_else() -> None:
    text = "It was the best of times, it was the worst of times"
    dense = sample_writers(20, seed=5)
    sparse = sample_writers(20, seed=5, points_per_char=(9.0, 17.0))
    # same writers (font, slant, spacing...), only the pen speed differs: about twice the spacing
    assert [w.font for w in dense] == [w.font for w in sparse]
    assert [w.slant for w in dense] == [w.slant for w in sparse]
    ratios = [s.speed / d.speed for d, s in zip(dense, sparse)]
    assert 1.9 < float(np.mean(ratios)) < 2.1
    ppc = [render_line(text, w, np.random.default_rng(0)).n_points / len(text) for w in sparse]
    assert 9 <= float(np.mean(ppc)) <= 20
    with pytest.raises(SeqgenError, match="points_per_char"):
        sample_writers(3, seed=5, points_per_char=(17.0, 9.0))


def test_corpus_refuses_bad_points_per_char() -> None:
    from seqgen.families.handwriting.prepare import HersheyCorpus

    with pytest.raises(SeqgenError, match=r"data.corpus.points_per_char=\[1.0, 4.0\]"):
        HersheyCorpus(points_per_char=[1, 4])
    assert HersheyCorpus(points_per_char=[9, 17]).describe()["points_per_char"] == [9.0, 17.0]


def test_round_trip_offsets_strokes_offsets() -> None:
    line = render_line(PANGRAM, sample_writers(1, seed=2)[0], np.random.default_rng(0))
    strokes = offsets_to_strokes(line.offsets)
    assert len(strokes) == int(line.offsets[1:, 2].sum())
    np.testing.assert_allclose(strokes_to_offsets(strokes), line.offsets, atol=1e-3)


def test_missing_characters_are_listed() -> None:
    w = WriterStyle(name="w", font="scripts")
    with pytest.raises(SeqgenError, match="é") as err:
        render_line("café ☃", w, np.random.default_rng(0))
    assert "☃" in str(err.value)
    with pytest.raises(SeqgenError):
        sample_writers(2, seed=0, fonts=("no-such-font",))


def test_iter_lines_and_corpus_cutting() -> None:
    prose = (
        "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age "
        "of foolishness \u2014 it was the epoch of belief, \u201cit was\u201d the epoch of incredulity; "
        "na\u00efve words are dropped. Supercalifragilisticexpialidociousandevenlongerwordhere too."
    )
    lines = text_lines_from_corpus(prose, min_chars=10, max_chars=30, max_lines=50)
    ok = writable_chars()
    assert lines and all(10 <= len(l) <= 30 for l in lines)
    assert all(set(l) <= ok for l in lines)
    words = " ".join(lines).split()
    assert "naïve" not in words and '"it' in words and "-" in words
    assert all(w in prose.replace("\u201c", '"').replace("\u201d", '"').replace("\u2014", "-") for w in words)
    assert len(text_lines_from_corpus(prose, max_lines=2)) == 2
    out = list(iter_hershey_lines(lines[:6], n_writers=3, seed=0))
    assert [l.text for l in out] == lines[:6]
    assert len({l.line_id for l in out}) == 6
    again = list(iter_hershey_lines(lines[:6], n_writers=3, seed=0))
    assert all(np.array_equal(a.offsets, b.offsets) for a, b in zip(out, again))
