"""MD-LSTM benchmarks, measured side by side in one run (docs/benchmarks.md, "Multidimensional LSTM").

1. Training step (forward + backward, batch 16) of one 2D-LSTM layer: anti-diagonal wavefront
   (`MDLSTM`) against the cell-by-cell oracle (`MDLSTMReference`), at 28x28 and 64x64, hidden 32
   and 128, timed interleaved (medians of CPU time); the cell-by-cell version gets 1 repetition at
   64x64. Beside them, the time of only the recurrent GEMMs each one issues, and of the same FLOPs
   at the best GEMM shape: the bound on any speed-up over the cell-by-cell step.
2. Images sampled per second: causal 2D LSTM by wavefronts; Row LSTM peer pixel by pixel.
3. Test NLL reached in a fixed CPU time on the 8x8 digits (grey, bits/dim) and on Fashion-MNIST
   (binarised, nats/image; needs Debian's dataset-fashion-mnist), causal 2D LSTM beside the Row
   LSTM peer, same data, same batch size, same optimiser, same budget of CPU time (process time of
   the single-threaded training, so other jobs on the machine do not change it), scored at
   intermediate checkpoints too; the wall time the training took is printed beside it.

    .venv/bin/python benchmarks/mdlstm.py                       # everything (~45 CPU minutes, 1 thread)
    .venv/bin/python benchmarks/mdlstm.py --parts step --sizes 28
    .venv/bin/python benchmarks/mdlstm.py --parts nll --minutes 10 --datasets digits   # 2 x 10 CPU minutes
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import machine_line, matmul_rates, timed  # noqa: E402

from seqgen.families.image.generate import sample_images  # noqa: E402
from seqgen.families.image.module import ImageMDLSTM, ImageRowLSTM  # noqa: E402
from seqgen.nn.mdlstm import MDLSTM, MDLSTMReference, build_plan  # noqa: E402


CLOCK = time.process_time  # CPU seconds of this single-threaded process: steadier on a shared machine


def cell_gemms_seconds(size: int, hidden: int, batch: int, repeats: int) -> float:
    """CPU seconds of ONLY the recurrent GEMMs that the cell-by-cell step does, same shapes and
    count: per cell the forward z = z_in + P U (addmm, (B, 2H) x (2H, G)) and, in the backward,
    dP = dZ U^T and dU += P^T dZ (what autograd's addmm backward calls)."""
    G = 5 * hidden
    P, U, z_in, dz = torch.randn(batch, 2 * hidden), torch.randn(2 * hidden, G), torch.randn(batch, G), torch.randn(batch, G)

    def run() -> None:
        for _ in range(size * size):
            torch.addmm(z_in, P, U)
            torch.mm(dz, U.t())
            torch.mm(P.t(), dz)

    return timed(run, repeats=repeats, warmup=1, clock=CLOCK)


def wavefront_gemms_seconds(size: int, hidden: int, batch: int, repeats: int) -> float:
    """CPU seconds of ONLY the recurrent GEMMs of the wavefront step, as `WavefrontScan` issues
    them: one addmm_ per diagonal (forward), one mm per diagonal (backward dP) and one whole-grid
    dU = P^T dZ (diagonal 0 has no predecessor: no GEMM)."""
    G = 5 * hidden
    counts = [n * batch for n in build_plan((size, size)).sizes]
    rows = sum(counts)
    P, U, gates, dz = torch.randn(rows, 2 * hidden), torch.randn(2 * hidden, G), torch.randn(rows, G), torch.randn(rows, G)
    dp = torch.empty(max(counts), 2 * hidden)
    U_t = U.t()

    def run() -> None:
        for hp, a in list(zip(P.split(counts), gates.split(counts)))[1:]:
            a.addmm_(hp, U)
        for d in dz.split(counts)[1:]:
            torch.mm(d, U_t, out=dp[: d.shape[0]])
        P.t() @ dz

    return timed(run, repeats=repeats, warmup=1, clock=CLOCK)


def best_gemm_seconds(size: int, hidden: int, batch: int, repeats: int) -> tuple[float, float]:
    """The same recurrent FLOPs (3 x 2·N·B·2H·G) at the best shape this CPU has: the smaller of
    the three products each done as ONE whole-grid GEMM, and the FLOPs at the best square-GEMM
    rate of any torch backend (MKL, oneDNN). Returns (seconds, GFLOP/s)."""
    G, rows = 5 * hidden, size * size * batch
    flops = 3 * 2 * rows * 2 * hidden * G
    P, U, dz = torch.randn(rows, 2 * hidden), torch.randn(2 * hidden, G), torch.randn(rows, G)
    whole = sum(
        timed(fn, repeats=repeats, warmup=1, clock=CLOCK) for fn in (lambda: P @ U, lambda: dz @ U.t(), lambda: P.t() @ dz)
    )
    square = flops / max(matmul_rates(1024, repeats=repeats, clock=CLOCK).values())
    seconds = min(whole, square)
    return seconds, flops / seconds / 1e9


def bench_step(sizes: list[int], hiddens: list[int], batch: int, repeats: int) -> None:
    print(f"\n## Training step, one 2D-LSTM layer, batch {batch}, 4 input channels ({machine_line()}, CPU seconds)\n")
    print("GEMM-only columns: the recurrent products alone (z += P U, dP = dZ U^T, dU = P^T dZ; the input "
          "projection, K = 4, left out of all three), as each implementation issues them; 'best shape': the same "
          "FLOPs as three whole-grid GEMMs or at the best square-GEMM rate, whichever is faster. The last column "
          "is the largest speed-up over the cell-by-cell step that any implementation doing these FLOPs could reach.\n")
    print("| image | hidden | wavefront s/step | cell-by-cell s/step (repeats) | speed-up | cell-by-cell GEMMs only s (share) "
          "| wavefront GEMMs only s (share) | same FLOPs, best shape s (GFLOP/s) | bound: cell-by-cell / best-shape GEMMs |")
    print("|---|---|---|---|---|---|---|---|---|")
    for size in sizes:
        for hidden in hiddens:
            torch.manual_seed(0)
            layer = MDLSTM(4, hidden)
            reference = MDLSTMReference(layer)
            x = torch.randn(batch, size, size, 4)

            def step(module: torch.nn.Module) -> float:
                layer.zero_grad(set_to_none=True)
                start = CLOCK()
                module(x).square().mean().backward()
                return CLOCK() - start

            # Interleaved (wavefront, cell-by-cell, wavefront, ...) so that a change of the load of
            # a shared machine hits both alike; medians. The cell-by-cell step is slow by design:
            # fewer repeats at 64x64.
            slow_repeats = repeats if size <= 28 else 1
            step(layer)  # warm-up: plans, layouts, allocator
            fast_times, slow_times = [], []
            for index in range(max(repeats, slow_repeats)):
                if index < repeats:
                    fast_times.append(step(layer))
                if index < slow_repeats:
                    slow_times.append(step(reference))
            fast, slow = statistics.median(fast_times), statistics.median(slow_times)
            cell_mm = cell_gemms_seconds(size, hidden, batch, slow_repeats)
            wave_mm = wavefront_gemms_seconds(size, hidden, batch, repeats)
            best, rate = best_gemm_seconds(size, hidden, batch, repeats)
            print(f"| {size}x{size} | {hidden} | {fast:.3f} | {slow:.3f} ({slow_repeats}) | **{slow / fast:.1f}x** | "
                  f"{cell_mm:.3f} ({cell_mm / slow:.0%}) | {wave_mm:.3f} ({wave_mm / fast:.0%}) | {best:.3f} ({rate:.0f}) | "
                  f"**{slow / best:.1f}x** |", flush=True)


def _info(size: int, levels: int) -> dict:
    return {"height": size, "width": size, "levels": levels, "channels": 1, "num_classes": 10, "corpus": "bench"}


def bench_sampling(count: int) -> None:
    print(f"\n## Sampling, {count} images per call, untrained networks (the cost does not depend on the weights; CPU seconds)\n")
    print("| model | image | levels | s per call | images/s |")
    print("|---|---|---|---|---|")
    cases = [
        ("causal 2D LSTM h64 (wavefront)", ImageMDLSTM, {"hidden_size": 64}, 8, 17, count),
        ("Row LSTM 2x32 (pixel by pixel)", ImageRowLSTM, {"hidden_size": 32, "kernel": 5}, 8, 17, count),
        ("causal 2D LSTM h64 (wavefront)", ImageMDLSTM, {"hidden_size": 64}, 28, 2, count),
        ("Row LSTM 2x32 (pixel by pixel)", ImageRowLSTM, {"hidden_size": 32}, 28, 2, count),
    ]
    for name, cls, kwargs, size, levels, n in cases:
        torch.manual_seed(0)
        model = cls(_info(size, levels), **kwargs)
        seconds = timed(lambda: sample_images(model, n, 1.0), repeats=1, warmup=0, clock=CLOCK)
        print(f"| {name} | {size}x{size} | {levels} | {seconds:.2f} | {n / seconds:.1f} |", flush=True)


def load_dataset(name: str) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Train and test images (int64) as `seqgen-prepare` makes them, and the number of levels."""
    from seqgen.families.image.corpora import DigitsCorpus, FashionMnistCorpus

    if name == "digits":
        splits = DigitsCorpus().load()
        return torch.from_numpy(splits["train"][0].astype(np.int64)), torch.from_numpy(splits["test"][0].astype(np.int64)), 17
    splits = FashionMnistCorpus().load()
    binarise = lambda images: torch.from_numpy((images >= 0.5 * 255).astype(np.int64))  # noqa: E731 (prepare's mode=binary)
    return binarise(splits["train"][0]), binarise(splits["test"][0]), 2


@torch.no_grad()
def test_nll(model: torch.nn.Module, images: torch.Tensor, batch: int = 200) -> float:
    model.eval()
    total = sum(float(model.image_nats(images[i : i + batch]).sum()) for i in range(0, len(images), batch))
    model.train()
    return total / len(images)


def _train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, images: torch.Tensor) -> None:
    loss, _ = model.compute_loss({"images": images})
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()


def bench_nll(datasets: list[str], minutes: float, checkpoints: list[float], batch: int, test_limit: int) -> None:
    """Train each model until it has used `minutes` of CPU time (`time.process_time` of this
    single-threaded process: independent of other jobs on the machine), scoring the test split at
    each checkpoint (CPU minutes; the scoring itself is not counted)."""
    marks = sorted({*checkpoints, minutes})
    print(f"\n## NLL reached in {minutes:g} CPU minutes per model ({machine_line()}, Adam lr 3e-3, batch {batch}; "
          f"test NLL at {', '.join(f'{m:g}' for m in marks)} CPU minutes of training)\n")
    print("| data | model | params | CPU min | steps | images seen | wall min | test NLL | unit |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in datasets:
        try:
            train, test, levels = load_dataset(name)
        except Exception as err:  # the Debian package may be missing: say so, keep going
            print(f"| {name} | skipped: {err} | | | | | | | |", flush=True)
            continue
        test = test[:test_limit]
        size = train.shape[1]
        models = [
            ("causal 2D LSTM", ImageMDLSTM, {"hidden_size": 64}),
            ("Row LSTM (PixelRNN)", ImageRowLSTM, {"hidden_size": 32, "num_layers": 2, "kernel": 7 if size > 8 else 5}),
        ]
        for label, cls, kwargs in models:
            torch.manual_seed(0)
            model = cls(_info(size, levels), **kwargs)
            params = sum(p.numel() for p in model.parameters())
            optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
            generator = torch.Generator().manual_seed(0)
            steps, cpu, wall = 0, 0.0, 0.0
            for mark in marks:
                while cpu < 60 * mark:
                    index = torch.randint(0, len(train), (batch,), generator=generator)
                    cpu_start, wall_start = time.process_time(), time.perf_counter()
                    _train_step(model, optimizer, train[index])
                    cpu += time.process_time() - cpu_start
                    wall += time.perf_counter() - wall_start
                    steps += 1
                nats = test_nll(model, test)
                value, unit = (nats, "nats/image") if levels == 2 else (nats / (size * size * math.log(2)), "bits/dim")
                print(f"| {name} ({size}x{size}, test {len(test)}) | {label} | {params:,} | {cpu / 60:.2f} | {steps} | "
                      f"{steps * batch:,} | {wall / 60:.1f} | {value:.3f} | {unit} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", nargs="+", default=["step", "sample", "nll"], choices=["step", "sample", "nll"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[28, 64])
    parser.add_argument("--hiddens", nargs="+", type=int, default=[32, 128])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--minutes", type=float, default=10.0, help="CPU minutes of training per model (process time, 1 thread)")
    parser.add_argument("--checkpoints", nargs="*", type=float, default=None,
                        help="CPU minutes at which the test NLL is also scored (default: a quarter and a half of --minutes)")
    parser.add_argument("--datasets", nargs="+", default=["digits", "fashion_mnist"])
    parser.add_argument("--test-limit", type=int, default=2000, help="test images scored per data set (Fashion-MNIST has 10,000)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if "step" in args.parts:
        bench_step(args.sizes, args.hiddens, args.batch, args.repeats)
    if "sample" in args.parts:
        bench_sampling(args.samples)
    if "nll" in args.parts:
        checkpoints = [args.minutes / 4, args.minutes / 2] if args.checkpoints is None else args.checkpoints
        bench_nll(args.datasets, args.minutes, checkpoints, args.batch, args.test_limit)


if __name__ == "__main__":
    main()
