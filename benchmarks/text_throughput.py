"""Text model training throughput (chars/s) and FLOP/s as a fraction of this machine's matmul peak.

    .venv/bin/python benchmarks/text_throughput.py [--sizes 3x400 5x700] [--batch 64] [--segment 100]

For each size: a bare PyTorch loop (forward, backward, Adam step) of the platform's TextLSTM
network, and the same model trained through Lightning (`Trainer.fit` on in-memory batches), side
by side. FLOPs are counted analytically: forward = 2 * (input + hidden) * 4 * hidden per layer per
symbol + the output layer; backward = 2 x forward.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pytorch_lightning as pl
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_line, matmul_flops, matmul_rates, timed  # noqa: E402

from seqgen.families.text.module import TextLSTM  # noqa: E402

VOCAB = 205  # enwik8's byte symbols


def model_flops_per_symbol(layers: int, hidden: int, vocab: int = VOCAB) -> float:
    forward = 0.0
    for index in range(layers):
        inputs = vocab + (hidden if index else 0)
        forward += 2 * (inputs + hidden) * 4 * hidden
    forward += 2 * layers * hidden * vocab
    return 3 * forward


def build(layers: int, hidden: int) -> TextLSTM:
    return TextLSTM(
        {"vocab": {"kind": "byte", "symbols": list(range(VOCAB))}},
        hidden_size=hidden,
        num_layers=layers,
        optim={"optimizer": {"_target_": "torch.optim.Adam", "lr": 1e-3}},
    )


def bare_step_seconds(layers: int, hidden: int, batch: int, segment: int, repeats: int) -> float:
    torch.manual_seed(0)
    model = build(layers, hidden)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    ids = torch.randint(0, VOCAB, (batch, segment + 1))

    def step() -> None:
        logits, _ = model(ids[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), ids[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return timed(step, repeats=repeats, warmup=2)


def lightning_step_seconds(layers: int, hidden: int, batch: int, segment: int, steps: int) -> float:
    torch.manual_seed(0)
    model = build(layers, hidden)
    ids = torch.randint(0, VOCAB, (batch, segment + 1))
    batch = {"inputs": ids[:, :-1], "targets": ids[:, 1:], "reset": False}

    class Batches:  # an iterable, not a list: Lightning would read a list as several loaders
        def __iter__(self):  # type: ignore[no-untyped-def]
            return iter([batch] * (steps + 2))

        def __len__(self) -> int:
            return steps + 2

    class Clock(pl.Callback):
        def __init__(self) -> None:
            self.marks: list[float] = []

        def on_train_batch_end(self, *args: object) -> None:
            self.marks.append(time.perf_counter())

    clock = Clock()
    trainer = pl.Trainer(
        accelerator="cpu", max_steps=steps + 2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[clock], limit_val_batches=0, gradient_clip_val=1.0,
    )
    trainer.fit(model, train_dataloaders=Batches())
    gaps = sorted(b - a for a, b in zip(clock.marks[1:], clock.marks[2:]))
    return gaps[len(gaps) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["3x400", "5x700"])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--segment", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rates = matmul_rates()
    peak = max(rates.values())
    shown = ", ".join(f"{name} {rate / 1e9:.0f}" for name, rate in rates.items())
    print(f"# {machine_line()}; dense fp32 matmul 2048^3 in GFLOP/s: {shown}; peak = {peak / 1e9:.0f}")
    print("| model | impl | ms/step | chars/s | GFLOP/s | fraction of matmul peak |")
    print("|:--|:--|--:|--:|--:|--:|")
    symbols = args.batch * args.segment
    for size in args.sizes:
        layers, hidden = (int(v) for v in size.split("x"))
        flops = model_flops_per_symbol(layers, hidden) * symbols
        for impl, seconds in (
            ("bare PyTorch loop", bare_step_seconds(layers, hidden, args.batch, args.segment, args.repeats)),
            ("Lightning (seqgen)", lightning_step_seconds(layers, hidden, args.batch, args.segment, args.repeats + 2)),
        ):
            print(
                f"| {size} | {impl} | {seconds * 1e3:.0f} | {symbols / seconds:,.0f} | {flops / seconds / 1e9:.1f} | {flops / seconds / peak:.0%} |"
            )
    # matmul peak again, to show the machine's state did not drift during the run
    print(f"# matmul after: {matmul_flops() / 1e9:.1f} GFLOP/s")


if __name__ == "__main__":
    main()
