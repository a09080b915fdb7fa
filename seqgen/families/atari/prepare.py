"""`seqgen-prepare data=atari`: collect clips from ALE games and write them as WebDataset shards.

One shard sample = one clip of one game:

    frames.npy   (T, S, S) uint8   grey frames
    actions.npy  (T,)      int64   ALE action id taken after frame t
    rewards.npy  (T,)      float32 reward of that action
    game.txt                        ROM id

Training clips are `clip_length` frames; validation and test clips are `eval_clip_length` frames,
long enough for a warm-up prefix plus the longest evaluated horizon (seqgen-eval's k = 1..100).
Clips of the games alternate, so every shard mixes games. Memory stays flat: clips stream from
the emulator into the shard writer, one shard in memory at a time.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

from seqgen.data import shards as shard_io
from seqgen.data.shards import encode_array
from seqgen.errors import SeqgenError
from seqgen.families.atari.collect import NUM_ACTIONS, Clip, GameStream, action_names, collect_clips, resolve_game

log = logging.getLogger(__name__)

SPLIT_SEED_OFFSET = {"train": 0, "valid": 1_000_003, "test": 2_000_006}


def _samples(clips: Iterator[Clip], split: str) -> Iterator[dict[str, Any]]:
    for index, clip in enumerate(clips):
        yield {
            "__key__": f"{split}-{index:07d}-{clip.game}-e{clip.episode:04d}-f{clip.start:06d}",
            "frames.npy": encode_array(clip.frames),
            "actions.npy": encode_array(clip.actions),
            "rewards.npy": encode_array(clip.rewards),
            "game.txt": clip.game.encode("utf-8"),
        }


def _interleave(streams: Sequence[Iterator[Clip]]) -> Iterator[Clip]:
    for group in itertools.zip_longest(*streams):
        yield from (clip for clip in group if clip is not None)


def prepare_atari(
    games: Sequence[str],
    out_dir: str,
    clips: dict[str, int],
    clip_length: int = 32,
    eval_clip_length: int = 110,
    frame_skip: int = 4,
    repeat_action_probability: float = 0.25,
    size: int = 84,
    samples_per_shard: int = 16,
    min_train_shards: int = 4,
    seed: int = 0,
) -> dict[str, Any]:
    """Collect `clips[split]` clips per game for train/valid/test; returns the summary (also in meta.json)."""
    if not games:
        raise SeqgenError("data.prepare.games is empty: name at least one game, e.g. [pong, breakout]")
    games = [resolve_game(g) for g in games]  # fails early, listing the available games
    for split in ("train", "valid", "test"):
        if int(clips.get(split, 0)) < 1:
            raise SeqgenError(f"data.prepare.clips.{split}={clips.get(split)}: must be >= 1 clip per game")
    if size < 16 or size > 210:
        raise SeqgenError(f"data.prepare.size={size}: must be in [16, 210] pixels")
    if eval_clip_length < 2 or clip_length < 2:
        raise SeqgenError("data.prepare.clip_length and eval_clip_length must be >= 2 frames")
    out = Path(out_dir)
    stats: dict[str, dict[str, int]] = {}
    seconds = 0.0
    counts: dict[str, int] = {}
    for split in ("train", "valid", "test"):
        length = clip_length if split == "train" else eval_clip_length
        per_game = int(clips[split])
        split_stats = {game: {} for game in games}
        streams = [
            collect_clips(game, per_game, length, seed + SPLIT_SEED_OFFSET[split] + 7919 * g, frame_skip, repeat_action_probability, size, split_stats[game])
            for g, game in enumerate(games)
        ]
        total = per_game * len(games)
        per_shard = samples_per_shard if split != "train" else max(1, min(samples_per_shard, math.ceil(total / max(min_train_shards, 1))))
        start = time.perf_counter()
        writer = shard_io.ShardWriter(out, split, per_shard)
        shards = writer.write(_samples(_interleave(streams), split))
        seconds += time.perf_counter() - start
        counts[split] = sum(s.samples for s in shards)
        stats[split] = {
            "frames": sum(s.get("frames", 0) for s in split_stats.values()),
            "episodes_finished": sum(s.get("episodes", 0) for s in split_stats.values()),
            "dropped_tail_frames": sum(s.get("dropped_tail_frames", 0) for s in split_stats.values()),
            "shards": len(shards),
        }
        log.info("%s: %d clips of %d frames from %s", split, counts[split], length, ", ".join(games))
    frames = sum(s["frames"] for s in stats.values())
    minimal = {game: GameStream(game, seed, frame_skip, repeat_action_probability, size).minimal_actions for game in games}
    meta = {
        "family": "atari",
        "games": games,
        "size": size,
        "num_actions": NUM_ACTIONS,
        "action_names": action_names(),
        "minimal_actions": minimal,
        "clip_length": clip_length,
        "eval_clip_length": eval_clip_length,
        "frame_skip": frame_skip,
        "repeat_action_probability": repeat_action_probability,
        "clips": counts,
        "collection": stats,
        "frames_collected": frames,
        "collect_seconds": round(seconds, 2),
        "frames_per_second": round(frames / seconds, 1) if seconds > 0 else None,
        "seed": seed,
    }
    shard_io.write_meta(out, meta)
    return {"out_dir": str(out), **{k: meta[k] for k in ("games", "clips", "frames_collected", "collect_seconds", "frames_per_second")}}
