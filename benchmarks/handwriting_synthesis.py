"""Handwriting synthesis speed: fused upper layers vs the straightforward per-step loop, and sampling.

    .venv/bin/python benchmarks/handwriting_synthesis.py                 # paper size, CPU, 1 thread
    .venv/bin/python benchmarks/handwriting_synthesis.py --threads 2 --repeats 3

Training step (forward + backward of the nats-per-line loss) at the paper's size (3 x 400 LSTM,
K = 10 window components, M = 20 mixture components), batch 32, 700 points, 30 characters:

* fused: `SynthesisNet` (layer 1 + window step by step, layers 2..N as fused nn.LSTM calls),
* step-by-step: `handwriting_stepwise.stepwise_forward` (every layer as an LSTM cell in the
  time loop), the same weights; both without the paper's derivative clipping (`--clip` adds a
  row for the fused model with it).

Sampling (untrained network whose window is set to move one character per 25 points, so every
line ends by the paper's rule after ~25 points per character): milliseconds per point and lines
per second at batch 1 and 16.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from handwriting_stepwise import stepwise_forward  # noqa: E402

from seqgen.data.handwriting.strokes import NormStats  # noqa: E402
from seqgen.families.handwriting.nets import SynthesisNet  # noqa: E402
from seqgen.nn.mdn import mixture_nll  # noqa: E402
from seqgen.families.handwriting.generate import sample_synthesis  # noqa: E402

VOCAB = sorted(" abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?'\"-()&/*+#")  # 80, like IAM-OnDB


def _batch(batch: int, points: int, chars: int, vocab: int) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, points + 1, 3, generator=g)
    x[..., 2] = (torch.rand(batch, points + 1, generator=g) < 0.05).float()
    ids = torch.randint(0, vocab, (batch, chars), generator=g)
    return x, ids, torch.ones(batch, chars, dtype=torch.bool), torch.ones(batch, points, dtype=torch.bool)


def time_steps(fns: dict, nets: dict, data: tuple, repeats: int) -> dict[str, float]:
    """Median seconds of forward + backward per implementation; the implementations alternate within
    each repetition (after one warm-up round), so a change in machine load hits them alike."""
    x, ids, char_mask, mask = data
    times: dict[str, list[float]] = {name: [] for name in fns}
    for index in range(repeats + 1):
        for name, fn in fns.items():
            net = nets[name]
            net.zero_grad(set_to_none=True)
            start = time.perf_counter()
            params = fn(net, x[:, :-1], ids, char_mask)
            mixture_nll(params, x[:, 1:], mask, reduction="seq_mean").backward()
            if index:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def fused(net: SynthesisNet, x: torch.Tensor, ids: torch.Tensor, char_mask: torch.Tensor):
    return net(x, ids, char_mask)[0]


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
    parser.add_argument("--clip", action="store_true", help="also time the fused model with the paper's clipping")
    parser.add_argument("--skip-sampling", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), CPU")
    net = SynthesisNet(len(VOCAB), args.hidden, args.layers, window_components=10, mixture_components=20, kappa_scale=25.0)
    n_weights = sum(p.numel() for p in net.parameters())
    print(f"synthesis network {args.layers} x {args.hidden}, K=10, M=20, V={len(VOCAB)}: {n_weights / 1e6:.2f}M weights")
    data = _batch(args.batch, args.points, args.chars, len(VOCAB))
    print(f"training step (forward + backward), batch {args.batch}, {args.points} points, {args.chars} characters:")
    fns = {"fused": fused, "stepwise": stepwise_forward}
    nets = {"fused": net, "stepwise": net}
    if args.clip:
        clipped = SynthesisNet(len(VOCAB), args.hidden, args.layers, 10, 20, 25.0, clip_lstm_grad=10.0, clip_output_grad=100.0)
        clipped.load_state_dict(net.state_dict())
        fns["fused_clip"], nets["fused_clip"] = fused, clipped
    t = time_steps(fns, nets, data, args.repeats)
    points = args.batch * args.points
    print(f"  fused upper layers      {t['fused']:8.3f} s/step  {points / t['fused']:9.0f} points/s")
    print(f"  step-by-step all layers {t['stepwise']:8.3f} s/step  {points / t['stepwise']:9.0f} points/s")
    print(f"  speed-up (step-by-step / fused): {t['stepwise'] / t['fused']:.2f}x")
    if args.clip:
        print(f"  fused + paper clipping  {t['fused_clip']:8.3f} s/step  {points / t['fused_clip']:9.0f} points/s")
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
