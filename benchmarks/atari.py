"""Atari family speed on CPU: frames collected, trained and generated per CPU second, the recurrent
change predictor beside Oh et al.'s feed-forward peer.

    .venv/bin/python benchmarks/atari.py [--games pong breakout] [--frames 2000] [--batch 8] [--clip 16]

Collection: the ALE emulator with a random policy, sticky actions, frame skip 4, 84x84 grey
(seqgen/families/atari/collect.py), *observed* frames (4 emulator frames each) per CPU second.
Training: forward + backward + Adam of the quick-start widths (conf/experiment/atari_quickstart.yaml)
for each model config, teacher forced (k = 1) and predicting the last 15 frames from its own (k = 15).
Generation: rollout frames per second after a 10-frame prefix (each generated frame is encoded again:
truly sequential). Everything is timed in CPU seconds of this process (one thread by default;
training and generation: the median of repeats), so the figures hold on a busy machine too.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_line, timed  # noqa: E402

from seqgen.core.config import build  # noqa: E402
from seqgen.families.atari.collect import collect_clips  # noqa: E402
from seqgen.families.atari.config import AtariModelConfig  # noqa: E402
from seqgen.families.atari.nets import FramePredictor  # noqa: E402

CONF = Path(__file__).resolve().parents[1] / "conf"


def model_config(name: str) -> AtariModelConfig:
    """conf/model/<name>.yaml (following its defaults, AtariModelConfig's defaults under them) with
    the quick start's widths on top."""

    def yaml_values(model: str) -> DictConfig:
        cfg = OmegaConf.load(CONF / "model" / f"{model}.yaml")
        merged = OmegaConf.create()
        for parent in cfg.pop("defaults", []):
            if parent != "_self_" and not str(parent).startswith("/schema/"):
                merged = OmegaConf.merge(merged, yaml_values(parent))
        return OmegaConf.merge(merged, cfg)

    quick = OmegaConf.load(CONF / "experiment" / "atari_quickstart.yaml").model
    return build(AtariModelConfig, OmegaConf.merge(yaml_values(name), quick), "model")


def build_net(name: str) -> FramePredictor:
    return FramePredictor(84, 18, model_config(name))


def speeds(net: FramePredictor, batch: int, clip: int) -> dict[str, float]:
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)
    frames = torch.rand(batch, clip, 84, 84)
    actions = torch.randint(0, 18, (batch, clip))
    out: dict[str, float] = {}

    def step(observed: int) -> None:
        loss = (net(frames, actions[:, :-1], observed) - frames[:, 1:]).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    steps = clip - 1
    for k in (1, min(15, steps)):
        seconds = timed(lambda: step(steps - k + 1), repeats=3, warmup=1, clock=time.process_time)
        out[f"train k={k}"] = batch * steps / seconds
    count = 50
    with torch.no_grad():
        seconds = timed(lambda: net.rollout(frames[:, :10], actions.repeat(1, 4)[:, : 10 + count - 1]), repeats=2, warmup=1, clock=time.process_time)
    out["generate"] = batch * count / seconds
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--games", nargs="+", default=["pong", "breakout"])
    parser.add_argument("--frames", type=int, default=2000, help="observed frames to collect per game")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--clip", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(machine_line())

    for game in args.games:
        start = time.process_time()
        clips = list(collect_clips(game, args.frames // 100, 100, seed=0))
        seconds = time.process_time() - start
        print(f"collect {game:>15}: {len(clips) * 100 / seconds:8.0f} frames per CPU second (84x84 grey, frame skip 4, sticky 0.25)")

    torch.manual_seed(0)
    results = {name: speeds(build_net(name), args.batch, args.clip) for name in ("atari_frames", "atari_feedforward")}
    print(f"frames per CPU second, batch {args.batch} x {args.clip}-frame clips, quick-start widths:")
    print(f"{'':>12} {'recurrent':>10} {'feed-forward':>13} {'ratio':>6}")
    for key in results["atari_frames"]:
        mine, peer = results["atari_frames"][key], results["atari_feedforward"][key]
        print(f"{key:>12} {mine:10.1f} {peer:13.1f} {mine / peer:6.2f}")


if __name__ == "__main__":
    main()
