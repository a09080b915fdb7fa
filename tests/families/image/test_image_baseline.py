"""The trivial image baselines (seqgen/families/image/baseline.py) on data whose answer is known."""

from __future__ import annotations

import math

import numpy as np

from seqgen.families.image.baseline import majority_accuracy, position_marginal_bits_per_dim


def test_position_marginal_bits_per_dim() -> None:
    # every position sees levels 0 and 1 equally often: p = (N/2 + 1) / (N + 2) = 1/2, one bit per pixel
    train = np.stack([np.zeros((3, 4), dtype=np.int64), np.ones((3, 4), dtype=np.int64)] * 5)
    assert math.isclose(position_marginal_bits_per_dim(train, train[:3], levels=2), 1.0)
    # a constant position is cheap where the test agrees with it and costly where it does not
    const = np.zeros((8, 2, 2), dtype=np.int64)
    agree = position_marginal_bits_per_dim(const, const[:1], levels=4)
    assert math.isclose(agree, -math.log2(9 / 12))
    assert position_marginal_bits_per_dim(const, const[:1] + 3, levels=4) == -math.log2(1 / 12)


def test_majority_accuracy() -> None:
    assert majority_accuracy(np.array([1, 1, 2, -1, -1, -1]), np.array([1, 2, 1, 1])) == 0.75
