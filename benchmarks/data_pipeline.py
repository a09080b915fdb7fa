"""Data pipeline headroom: symbols/s streamed from shards vs symbols/s the training step consumes.

    .venv/bin/python benchmarks/data_pipeline.py [--data-dir data/text_embedded] [--workers 1]

Run `seqgen-prepare data=text_embedded` first. Streaming goes through the same datamodule
(shards -> decode -> shuffle -> batch -> TBPTT segments) that training uses; consumption is the
quick-start model's (2x256) training step on the same batch shape.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_line, timed  # noqa: E402

from seqgen.families.text.datamodule import TextDataModule  # noqa: E402
from seqgen.families.text.module import TextLSTM  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", default="data/text_embedded")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--segment", type=int, default=100)
    parser.add_argument("--batches", type=int, default=2000)
    args = parser.parse_args()

    module = TextDataModule(args.data_dir, segment_length=args.segment, batch_size=args.batch, batches_per_epoch=args.batches, num_workers=args.workers)
    info = module.load_info()
    loader = module.train_dataloader()
    start = time.perf_counter()
    symbols = sum(batch["targets"].numel() for batch in loader)
    stream_rate = symbols / (time.perf_counter() - start)

    model = TextLSTM(info, hidden_size=256, num_layers=2, optim={"optimizer": {"_target_": "torch.optim.Adam", "lr": 1e-3}})
    optimizer = torch.optim.Adam(model.parameters())
    batch = next(iter(module.train_dataloader()))

    def step() -> None:
        loss, _ = model.compute_loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    train_rate = batch["targets"].numel() / timed(step, repeats=10)
    print(f"# {machine_line()}; {args.workers} loader worker(s), batch {args.batch} x {args.segment}")
    print("| stage | symbols/s |")
    print("|:--|--:|")
    print(f"| shard stream (decode, shuffle, batch, segment) | {stream_rate:,.0f} |")
    print(f"| training step, 2x256 LSTM (consumption) | {train_rate:,.0f} |")
    print(f"| headroom | {stream_rate / train_rate:.1f}x |")


if __name__ == "__main__":
    main()
