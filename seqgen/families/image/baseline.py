"""The trivial baselines every image figure is reported beside (image_report.md, `seqgen-train`'s summary).

Density models: every pixel independent, drawn from the distribution of *its own position* over
the training images (L intensity levels, add-one smoothing):

    p_ij(v) = (n_ij(v) + 1) / (N + L)
    bits/dim = -1 / (|test| H W)  sum_test sum_ij log2 p_ij(x_ij)

A model that does not beat it has learned nothing about how pixels depend on each other.

Classifiers: always answer the training split's most frequent class; its accuracy is that class's
share of the test labels.
"""

from __future__ import annotations

from typing import Any

import numpy as np

TRAIN_IMAGES = 20_000  # enough for every position's histogram; bounds the memory on MNIST-size sets


def position_marginal_bits_per_dim(train: np.ndarray, test: np.ndarray, levels: int) -> float:
    """train (N, H, W), test (M, H, W): integer levels in [0, levels)."""
    counts = np.ones((levels, *train.shape[1:]), dtype=np.float64)  # the +1 of add-one smoothing
    for level in range(levels):
        counts[level] += (train == level).sum(axis=0)
    log_p = np.log2(counts / counts.sum(axis=0, keepdims=True))
    rows, cols = np.indices(test.shape[1:])
    return float(-log_p[test, rows, cols].mean())


def majority_accuracy(train_labels: np.ndarray, test_labels: np.ndarray) -> float:
    majority = np.bincount(train_labels[train_labels >= 0]).argmax()
    return float((test_labels == majority).mean())


def trivial_baselines(datamodule: Any, density: bool) -> dict[str, float]:
    """`test/baseline_bits_per_dim` (density) or `test/baseline_accuracy` (classifier), from the shards."""
    train = datamodule.read_samples("train", TRAIN_IMAGES)
    test = datamodule.read_samples("test", 10**9)
    if not train or not test:
        return {}
    if density:
        images = [np.stack([image.numpy() for image, _ in split]) for split in (train, test)]
        return {"test/baseline_bits_per_dim": position_marginal_bits_per_dim(*images, int(datamodule.info["levels"]))}
    labels = [np.array([label for _, label in split]) for split in (train, test)]
    return {"test/baseline_accuracy": majority_accuracy(*labels)}
