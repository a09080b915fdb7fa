"""Timing helpers shared by the benchmark scripts (wall clock, warm-up, median of repeats)."""

from __future__ import annotations

import statistics
import time
from typing import Callable

import torch


def timed(fn: Callable[[], object], repeats: int = 5, warmup: int = 2) -> float:
    """Median seconds per call."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_flops(size: int = 2048, repeats: int = 5) -> float:
    """This machine's dense float32 matmul rate (FLOP/s), the reference for efficiency ratios."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    seconds = timed(lambda: torch.mm(a, b), repeats=repeats)
    return 2 * size**3 / seconds


def machine_line() -> str:
    return f"torch {torch.__version__}, {torch.get_num_threads()} threads"
