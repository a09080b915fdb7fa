"""Timing helpers shared by the benchmark scripts (wall clock, warm-up, median of repeats)."""

from __future__ import annotations

import statistics
import subprocess
import time
from pathlib import Path
from typing import Callable

import torch


def timed(fn: Callable[[], object], repeats: int = 5, warmup: int = 2, clock: Callable[[], float] = time.perf_counter) -> float:
    """Median seconds per call (`clock=time.process_time`: CPU seconds, steadier on a shared machine
    for a single-threaded process)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = clock()
        fn()
        times.append(clock() - start)
    return statistics.median(times)


def matmul_rates(size: int = 2048, repeats: int = 5, clock: Callable[[], float] = time.perf_counter) -> dict[str, float]:
    """Dense float32 matmul FLOP/s through each CPU backend torch has.

    On AMD CPUs MKL's sgemm (behind `torch.mm`) takes a slow path, while oneDNN (behind nn.LSTM)
    does not: the machine's peak is the faster of the two, so efficiency is never overstated.
    """
    a, b = torch.randn(size, size), torch.randn(size, size)
    rates = {"torch.mm (MKL)": 2 * size**3 / timed(lambda: torch.mm(a, b), repeats=repeats, clock=clock)}
    if torch.backends.mkldnn.is_available():
        a_dnn, b_dnn = a.to_mkldnn(), b.to_mkldnn()
        rates["oneDNN linear"] = 2 * size**3 / timed(lambda: torch._C._nn.mkldnn_linear(a_dnn, b_dnn, None), repeats=repeats, clock=clock)
    return rates


def machine_line() -> str:
    return f"torch {torch.__version__}, {torch.get_num_threads()} threads"


def run_command_seconds(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    """Wall time of a whole command (start-up included); a failure stops the benchmark with its output."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return time.perf_counter() - start
