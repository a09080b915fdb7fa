"""MD-LSTM benchmarks, measured side by side in one run (docs/benchmarks.md, "Multidimensional LSTM").

1. Training step (forward + backward, batch 16) of one 2D-LSTM layer: anti-diagonal wavefront
   (`MDLSTM`) against the cell-by-cell oracle (`MDLSTMReference`), at 28x28 and 64x64, hidden 32
   and 128, timed interleaved (medians); the cell-by-cell version gets 1 repetition at 64x64.
2. Images sampled per second: causal 2D LSTM by wavefronts; Row LSTM peer pixel by pixel.
3. Test NLL reached in a fixed CPU time on the 8x8 digits (grey, bits/dim) and on Fashion-MNIST
   (binarised, nats/image; needs Debian's dataset-fashion-mnist), causal 2D LSTM beside the Row
   LSTM peer, same data, same batch size, same optimiser, same wall-clock budget.

    .venv/bin/python benchmarks/mdlstm.py                       # everything (~25 min on 1 core)
    .venv/bin/python benchmarks/mdlstm.py --parts step --sizes 28
    .venv/bin/python benchmarks/mdlstm.py --parts nll --minutes 3 --datasets digits fashion_mnist
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

from common import machine_line, timed  # noqa: E402

from seqgen.families.image.generate import sample_images  # noqa: E402
from seqgen.families.image.module import ImageMDLSTM, ImageRowLSTM  # noqa: E402
from seqgen.nn.mdlstm import MDLSTM, MDLSTMReference  # noqa: E402


def bench_step(sizes: list[int], hiddens: list[int], batch: int, repeats: int) -> None:
    print(f"\n## Training step, one 2D-LSTM layer, batch {batch}, 4 input channels ({machine_line()})\n")
    print("| image | hidden | wavefront s/step | cell-by-cell s/step (repeats) | speed-up |")
    print("|---|---|---|---|---|")
    for size in sizes:
        for hidden in hiddens:
            torch.manual_seed(0)
            layer = MDLSTM(4, hidden)
            reference = MDLSTMReference(layer)
            x = torch.randn(batch, size, size, 4)

            def step(module: torch.nn.Module) -> float:
                layer.zero_grad(set_to_none=True)
                start = time.perf_counter()
                module(x).square().mean().backward()
                return time.perf_counter() - start

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
            print(f"| {size}x{size} | {hidden} | {fast:.3f} | {slow:.3f} ({slow_repeats}) | **{slow / fast:.1f}x** |", flush=True)


def _info(size: int, levels: int) -> dict:
    return {"height": size, "width": size, "levels": levels, "channels": 1, "num_classes": 10, "corpus": "bench"}


def bench_sampling(count: int) -> None:
    print(f"\n## Sampling, {count} images per call, untrained networks (the cost does not depend on the weights)\n")
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
        seconds = timed(lambda: sample_images(model, n, 1.0), repeats=1, warmup=0)
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


def bench_nll(datasets: list[str], minutes: float, batch: int, test_limit: int) -> None:
    print(f"\n## NLL reached in {minutes:g} CPU minutes per model (1 thread, Adam lr 3e-3, batch {batch})\n")
    print("| data | model | params | steps | images seen | test NLL | unit |")
    print("|---|---|---|---|---|---|---|")
    for name in datasets:
        try:
            train, test, levels = load_dataset(name)
        except Exception as err:  # the Debian package may be missing: say so, keep going
            print(f"| {name} | skipped: {err} | | | | | |", flush=True)
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
            optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
            generator = torch.Generator().manual_seed(0)
            steps, deadline = 0, time.perf_counter() + 60 * minutes
            while time.perf_counter() < deadline:
                index = torch.randint(0, len(train), (batch,), generator=generator)
                loss, _ = model.compute_loss({"images": train[index]})
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                steps += 1
            nats = test_nll(model, test)
            value, unit = (nats, "nats/image") if levels == 2 else (nats / (size * size * math.log(2)), "bits/dim")
            params = sum(p.numel() for p in model.parameters())
            print(f"| {name} ({size}x{size}, test {len(test)}) | {label} | {params:,} | {steps} | {steps * batch:,} | {value:.3f} | {unit} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", nargs="+", default=["step", "sample", "nll"], choices=["step", "sample", "nll"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[28, 64])
    parser.add_argument("--hiddens", nargs="+", type=int, default=[32, 128])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--minutes", type=float, default=10.0)
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
        bench_nll(args.datasets, args.minutes, args.batch, args.test_limit)


if __name__ == "__main__":
    main()
