"""Atari family speed on CPU: frames collected, trained and generated per second.

    .venv/bin/python benchmarks/atari.py [--games pong breakout] [--frames 2000] [--batch 8] [--clip 16]

Collection: the ALE emulator with a random policy, sticky actions, frame skip 4, 84x84 grey
(seqgen/families/atari/collect.py), frames per second of *observed* frames (4 emulator frames each).
Training: forward + backward + Adam of the quick-start network (16/32/32 channels, 256 hidden,
16 levels) on batches of clips, teacher forced (k = 1) and with 5-step prediction (k = 5).
Generation: rollout frames per second (each generated frame is re-encoded: truly sequential).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_line, timed  # noqa: E402

from seqgen.families.atari.collect import collect_clips  # noqa: E402
from seqgen.families.atari.nets import ActionConditionalPredictor  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--games", nargs="+", default=["pong", "breakout"])
    parser.add_argument("--frames", type=int, default=2000, help="observed frames to collect per game")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--clip", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(machine_line())

    for game in args.games:
        start = time.perf_counter()
        clips = list(collect_clips(game, args.frames // 100, 100, seed=0))
        seconds = time.perf_counter() - start
        print(f"collect {game:>15}: {len(clips) * 100 / seconds:8.0f} frames/s (84x84 grey, frame skip 4, sticky 0.25)")

    torch.manual_seed(0)
    net = ActionConditionalPredictor(84, 18, (16, 32, 32), 256, 256, "categorical", 16)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    frames = torch.rand(args.batch, args.clip, 84, 84)
    actions = torch.randint(0, 18, (args.batch, args.clip))
    predicted = args.batch * (args.clip - 1)

    def step(observed: int) -> None:
        out, _ = net(frames, actions, observed)
        loss = torch.nn.functional.cross_entropy(out.flatten(0, 1), net.quantise(frames[:, 1:]).flatten(0, 1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    steps = args.clip - 1
    for k in (1, 5):
        seconds = timed(lambda: step(steps - k + 1), repeats=3, warmup=1)
        print(f"train k={k}: {predicted / seconds:8.1f} frames/s ({seconds * 1000:.0f} ms per step of {args.batch} x {args.clip} frames)")
    with torch.no_grad():
        prefix, count = frames[:, :10], 50
        seconds = timed(lambda: net.rollout(prefix, actions.repeat(1, 4)[:, : 10 + count - 1]), repeats=2, warmup=1)
    print(f"generate: {args.batch * count / seconds:8.1f} frames/s (batch {args.batch}, {count} frames after a 10-frame prefix)")


if __name__ == "__main__":
    main()
