"""CTC decoding of known paths (best path, prefix beam search) and the CER arithmetic."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torchmetrics.text import CharErrorRate

from seqgen.families.recognizer.decode import beam_search, best_path, cer, ctc_min_frames, ids_to_text, line_errors, prefix_beam_search


def _one_hot_log_probs(path: list[int], n_labels: int, peak: float = 0.97) -> torch.Tensor:
    rest = (1.0 - peak) / (n_labels - 1)
    probs = torch.full((len(path), n_labels), rest)
    probs[torch.arange(len(path)), torch.tensor(path)] = peak
    return probs.log()


def test_best_path_collapses_repeats_and_drops_blanks() -> None:
    # path: a a _ a b b _ _ c  ->  "a a b c" (the blank separates the repeated a)
    path = [1, 1, 0, 1, 2, 2, 0, 0, 3]
    lp = _one_hot_log_probs(path, 4)[None]
    assert best_path(lp) == [[1, 1, 2, 3]]
    assert ids_to_text([1, 1, 2, 3], ["a", "b", "c"]) == "aabc"
    # the frames past a row's length are ignored
    assert best_path(lp, torch.tensor([4])) == [[1, 1]]


def test_beam_search_matches_known_paths() -> None:
    path = [0, 1, 1, 0, 2, 0, 2, 2]
    lp = _one_hot_log_probs(path, 3)
    assert prefix_beam_search(lp, beam_width=4) == [1, 2, 2]
    assert beam_search(torch.stack([lp, lp]), torch.tensor([8, 5]), beam_width=4) == [[1, 2, 2], [1, 2]]


def test_beam_search_sums_paths_where_best_path_fails() -> None:
    # Two frames over {blank, a}. Best path: blank,blank (0.36) -> "". But "a" has paths
    # a_ (0.24) + _a (0.24) + aa (0.16) = 0.64 > 0.36: the beam finds the more probable labelling.
    probs = torch.tensor([[0.6, 0.4], [0.6, 0.4]])
    lp = probs.log()
    assert best_path(lp[None]) == [[]]
    assert prefix_beam_search(lp, beam_width=2) == [1]
    # and its probabilities are exact: p("") = 0.36 with width large enough to keep both
    assert math.isclose(0.36 + 0.64, 1.0)


def test_beam_width_one_equals_best_path_on_peaky_outputs() -> None:
    rng = np.random.default_rng(0)
    path = rng.integers(0, 5, size=40).tolist()
    lp = _one_hot_log_probs(path, 5, peak=0.9)
    assert prefix_beam_search(lp, beam_width=1) == best_path(lp[None])[0]
    with pytest.raises(ValueError):
        prefix_beam_search(lp, beam_width=0)


def test_cer_arithmetic() -> None:
    # "kitten" -> "sitting": 3 edits over 6 reference characters; "" vs "abc": 3 deletions
    assert line_errors("sitting", "kitten") == 3
    assert line_errors("", "abc") == 3
    assert line_errors("abc", "abc") == 0
    assert cer(["sitting"], ["kitten"]) == pytest.approx(3 / 6)
    # corpus level: summed edits over summed reference lengths (not a mean of line rates)
    hyps, refs = ["sitting", "abc", "hello wrld"], ["kitten", "abd", "hello world"]
    assert cer(hyps, refs) == pytest.approx((3 + 1 + 1) / (6 + 3 + 11))
    metric = CharErrorRate()
    metric.update(hyps, refs)
    assert cer(hyps, refs) == pytest.approx(float(metric.compute()))
    assert cer(["abcdef"], ["ab"]) == pytest.approx(2.0)  # insertions can push CER above 1
    with pytest.raises(ValueError):
        cer(["a"], [])


def test_ctc_min_frames_counts_blanks_between_repeats() -> None:
    assert ctc_min_frames([1, 2, 3]) == 3
    assert ctc_min_frames([1, 1, 2, 2, 2]) == 5 + 3
    assert ctc_min_frames([]) == 0
