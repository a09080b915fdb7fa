"""Handwriting synthesis speed: `SynthesisNet` beside a plain reference, as a fraction of the matmul peak.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/handwriting_synthesis.py             # paper size, 1 thread
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/handwriting_synthesis.py --stepwise --clip --repeats 3

Training step (forward + backward of the nats-per-line loss + Adam step) at the paper's size
(3 x 400 LSTM, K = 10 window components, M = 20 mixture components, 80 symbols), batch 32 x 700
points, 30 characters, one torch thread. Rows, all in one run, alternating within each repetition:

* plain: layer 1 as an LSTM cell + the window in the time loop under autograd, layers 2-3 fused
  nn.LSTM, no prepacking (`handwriting_stepwise.plain_forward`), the reference;
* SynthesisNet: layer 1 + window as one autograd node with a hand-written backward
  (seqgen/nn/window_lstm.py), per-step GEMMs into preallocated buffers;
* optional: `--stepwise` every layer step by step, `--clip` SynthesisNet with the paper's clipping.

Seconds are CPU seconds of this (single-threaded) process, `time.process_time`, beside wall seconds:
on a shared machine the wall clock also counts the time other jobs hold the core. The matmul peak
is measured in the same repetitions (dense fp32 2048^3, the faster of MKL and oneDNN, as in
benchmarks/text_throughput.py; and the model's own per-step GEMM shape for reference), and the
useful FLOPs are counted analytically: every GEMM of the network, backward = 2 x forward.

Sampling (untrained network whose window is set to move one character per 25 points, so every
line ends by the paper's rule after ~25 points per character): milliseconds per point and lines
per second at batch 1 and 16.
"""

from __future__ import annotations

import argparse
import copy
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from handwriting_stepwise import plain_forward, stepwise_forward  # noqa: E402

from seqgen.data.handwriting.strokes import NormStats  # noqa: E402
from seqgen.families.handwriting.config import HandwritingSynthesisConfig  # noqa: E402
from seqgen.families.handwriting.nets import SynthesisNet  # noqa: E402
from seqgen.nn.mdn import mixture_nll  # noqa: E402
from seqgen.families.handwriting.generate import sample_synthesis  # noqa: E402

VOCAB = sorted(" abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?'\"-()&/*+#")  # 80, like IAM-OnDB
WINDOW_K, MIXTURE_M = 10, 20


def _batch(batch: int, points: int, chars: int, vocab: int) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, points + 1, 3, generator=g)
    x[..., 2] = (torch.rand(batch, points + 1, generator=g) < 0.05).float()
    ids = torch.randint(0, vocab, (batch, chars), generator=g)
    return x, ids, torch.ones(batch, chars, dtype=torch.bool), torch.ones(batch, points, dtype=torch.bool)


def useful_flops(batch: int, points: int, hidden: int, layers: int, vocab: int) -> float:
    """GEMM FLOPs of one training step: forward 2 * (inputs + hidden) * 4H per layer and point, the
    window's linear map and the mixture head; backward = 2 x forward (input and weight gradients)."""
    forward = 2 * (3 + vocab + hidden) * 4 * hidden + 2 * hidden * 3 * WINDOW_K
    forward += (layers - 1) * 2 * (3 + hidden + vocab + hidden) * 4 * hidden
    forward += 2 * layers * hidden * (1 + 6 * MIXTURE_M)
    return 3.0 * forward * batch * points


def fused(net: SynthesisNet, x: torch.Tensor, ids: torch.Tensor, char_mask: torch.Tensor):
    return net(x, ids, char_mask)[0]


def matmul_seconds(size: int = 2048) -> dict[str, tuple[float, float]]:
    """(CPU seconds, FLOPs) of one dense fp32 matmul per backend, and of the model's per-step GEMM
    shape (batch 32, [w, h] (480) -> 4H (1600), 100 calls)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    out: dict[str, tuple[float, float]] = {}
    start = time.process_time()
    torch.mm(a, b)
    out["MKL 2048^3"] = (time.process_time() - start, 2.0 * size**3)
    if torch.backends.mkldnn.is_available():
        a_dnn, b_dnn = a.to_mkldnn(), b.to_mkldnn()
        start = time.process_time()
        torch._C._nn.mkldnn_linear(a_dnn, b_dnn, None)
        out["oneDNN 2048^3"] = (time.process_time() - start, 2.0 * size**3)
    inp, weight, res = torch.randn(32, 480), torch.randn(480, 1600), torch.empty(32, 1600)
    start = time.process_time()
    for _ in range(100):
        torch.mm(inp, weight, out=res)
    out["per-step 32x480x1600"] = (time.process_time() - start, 100 * 2.0 * 32 * 480 * 1600)
    return out


def time_steps(fns: dict[str, Callable], nets: dict[str, SynthesisNet], data: tuple, repeats: int) -> tuple[dict, dict]:
    """Median (CPU s, wall s) of forward + backward + Adam step per implementation, and the median
    matmul rates; the implementations and the matmul probe alternate within each repetition (after
    one warm-up round), so a change in machine load hits them alike."""
    x, ids, char_mask, mask = data
    optims = {name: torch.optim.Adam(net.parameters(), lr=1e-4) for name, net in nets.items()}
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in fns}
    rates: dict[str, list[float]] = {}
    for index in range(repeats + 1):
        for name, fn in fns.items():
            net = nets[name]
            start_cpu, start = time.process_time(), time.perf_counter()
            optims[name].zero_grad(set_to_none=True)
            params = fn(net, x[:, :-1], ids, char_mask)
            mixture_nll(params, x[:, 1:], mask, reduction="seq_mean").backward()
            optims[name].step()
            if index:
                times[name].append((time.process_time() - start_cpu, time.perf_counter() - start))
        for name, (seconds, flops) in matmul_seconds().items():
            if index:
                rates.setdefault(name, []).append(flops / seconds)
    medians = {name: (statistics.median(c for c, _ in v), statistics.median(w for _, w in v)) for name, v in times.items()}
    return medians, {name: statistics.median(v) for name, v in rates.items()}


def time_sampling(net: SynthesisNet, batch: int, text: str, repeats: int) -> tuple[float, float, int]:
    """(ms per point, lines per second, points per line) for `batch` lines of `text`."""
    norm = NormStats()
    results = []
    for index in range(repeats + 1):
        gen = torch.Generator().manual_seed(index)
        start = time.perf_counter()
        out = sample_synthesis(net, norm, VOCAB, [text] * batch, bias=0.5, max_points=3000, generator=gen)
        elapsed = time.perf_counter() - start
        steps = max(len(o) - 1 for o in out.offsets)
        if index:
            results.append((elapsed, steps))
    elapsed, steps = sorted(results)[len(results) // 2]
    return 1000.0 * elapsed / steps, batch / elapsed, steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: steady on shared cores)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--points", type=int, default=700)
    parser.add_argument("--chars", type=int, default=30)
    parser.add_argument("--hidden", type=int, default=400)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--stepwise", action="store_true", help="also time every layer step by step (slow)")
    parser.add_argument("--clip", action="store_true", help="also time SynthesisNet with the paper's clipping")
    parser.add_argument("--skip-sampling", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), CPU")
    net = SynthesisNet(len(VOCAB), HandwritingSynthesisConfig(hidden_size=args.hidden, num_layers=args.layers, window_components=WINDOW_K, mixture_components=MIXTURE_M, kappa_scale=25.0, clip_lstm_grad=None, clip_output_grad=None))
    n_weights = sum(p.numel() for p in net.parameters())
    print(f"synthesis network {args.layers} x {args.hidden}, K={WINDOW_K}, M={MIXTURE_M}, V={len(VOCAB)}: {n_weights / 1e6:.2f}M weights")
    data = _batch(args.batch, args.points, args.chars, len(VOCAB))
    flops = useful_flops(args.batch, args.points, args.hidden, args.layers, len(VOCAB))
    print(f"training step (forward + backward + Adam), batch {args.batch} x {args.points} points, {args.chars} characters, "
          f"{flops / 1e12:.3f} TFLOP of GEMMs:")
    rows = {  # name: (label, function, network)
        "plain": ("plain: layer 1 LSTM cell + window under autograd, layers 2-3 fused nn.LSTM", plain_forward, copy.deepcopy(net)),
        "new": ("SynthesisNet: layer 1 + window as one node, hand-written backward", fused, net),
    }
    if args.stepwise:
        rows["stepwise"] = ("step-by-step: every layer an LSTM cell in the loop", stepwise_forward, copy.deepcopy(net))
    if args.clip:
        clipped = SynthesisNet(len(VOCAB), HandwritingSynthesisConfig(hidden_size=args.hidden, num_layers=args.layers, window_components=WINDOW_K, mixture_components=MIXTURE_M, kappa_scale=25.0, clip_lstm_grad=10.0, clip_output_grad=100.0))
        clipped.load_state_dict(net.state_dict())
        rows["clip"] = ("SynthesisNet + the paper's clipping (LSTM 10, output 100)", fused, clipped)
    times, rates = time_steps({k: v[1] for k, v in rows.items()}, {k: v[2] for k, v in rows.items()}, data, args.repeats)
    peak = max(rate for name, rate in rates.items() if "2048" in name)
    shown = ", ".join(f"{name} {rate / 1e9:.1f}" for name, rate in rates.items())
    print(f"  matmul rates (GFLOP/s, CPU time, median over the repetitions): {shown}; peak = {peak / 1e9:.1f}")
    print("| implementation | CPU s/step | wall s/step | points/s (CPU) | GFLOP/s | fraction of matmul peak | vs plain |")
    print("|:--|--:|--:|--:|--:|--:|--:|")
    points = args.batch * args.points
    plain_cpu = times["plain"][0]
    for name, (label, _, _) in rows.items():
        cpu, wall = times[name]
        print(f"| {label} | {cpu:.2f} | {wall:.2f} | {points / cpu:,.0f} | {flops / cpu / 1e9:.1f} | {flops / cpu / peak:.0%} | {plain_cpu / cpu:.2f}x |")
    print(f"  ratio SynthesisNet / plain (CPU time): {times['new'][0] / plain_cpu:.3f}; "
          f"fraction of the matmul peak: {flops / times['new'][0] / peak:.1%} "
          f"({flops / times['new'][0] / rates['per-step 32x480x1600']:.1%} of the per-step GEMM shape's rate)")
    if args.skip_sampling:
        return
    net.eval()
    with torch.no_grad():  # window: alpha 1, beta 4, one character per 25 steps (a trained network's pace)
        k = net.window.n_components
        net.window.linear.weight.zero_()
        net.window.linear.bias[:k] = 0.0
        net.window.linear.bias[k : 2 * k] = math.log(4.0)
        net.window.linear.bias[2 * k :] = math.log(net.window.kappa_scale / 25.0)
    text = "hello world, handwriting"
    print(f"sampling {text!r} ({len(text)} characters, bias 0.5, ends by the paper's rule):")
    for batch in (1, 16):
        ms, lines, steps = time_sampling(net, batch, text, args.repeats)
        print(f"  batch {batch:2d}: {ms:6.2f} ms per point (step), {lines:6.2f} lines/s, {steps} points per line")


if __name__ == "__main__":
    main()
