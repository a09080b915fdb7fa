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
import time
from typing import Any, Iterator, Sequence

from seqgen.core.config import build
from seqgen.core.prepare import Preparation, SplitPlan, WrittenSplit, prepare_shards, train_shard_size
from seqgen.data.shards import encode_array
from seqgen.families.atari.config import AtariPrepareConfig
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


class AtariPreparation(Preparation):
    """Clips stream from the emulator into the shard writer; the time they take is measured per split."""

    family = "atari"

    def __init__(self, config: AtariPrepareConfig, games: list[str]) -> None:
        self.config, self.games = config, games
        self.seconds = 0.0
        self.counts: dict[str, int] = {}
        self._split_stats: dict[str, dict[str, int]] = {}
        self._started = 0.0

    def plan(self, split: str) -> SplitPlan:
        c = self.config
        length = c.clip_length if split == "train" else c.eval_clip_length
        per_game = c.clips[split]
        self._split_stats = {game: {} for game in self.games}
        streams = [
            collect_clips(game, per_game, length, c.seed + SPLIT_SEED_OFFSET[split] + 7919 * g, c.frame_skip,
                          c.repeat_action_probability, c.size, self._split_stats[game])
            for g, game in enumerate(self.games)
        ]
        total = per_game * len(self.games)
        per_shard = train_shard_size(total, c.samples_per_shard, c.min_train_shards, round_up=True) if split == "train" else c.samples_per_shard
        self._started = time.perf_counter()
        return SplitPlan(_samples(_interleave(streams), split), per_shard)

    def split_stats(self, split: str, written: WrittenSplit) -> dict[str, Any]:
        self.seconds += time.perf_counter() - self._started
        self.counts[split] = written.samples
        length = self.config.clip_length if split == "train" else self.config.eval_clip_length
        log.info("%s: %d clips of %d frames from %s", split, written.samples, length, ", ".join(self.games))
        return {key: sum(s.get(stat, 0) for s in self._split_stats.values())
                for key, stat in (("frames", "frames"), ("episodes_finished", "episodes"), ("dropped_tail_frames", "dropped_tail_frames"))}

    def meta(self, splits: dict[str, dict[str, Any]]) -> dict[str, Any]:
        frames = sum(s["frames"] for s in splits.values())
        c = self.config
        minimal = {game: GameStream(game, c.seed, c.frame_skip, c.repeat_action_probability, c.size).minimal_actions for game in self.games}
        return {
            "games": self.games,
            "size": c.size,
            "num_actions": NUM_ACTIONS,
            "action_names": action_names(),
            "minimal_actions": minimal,
            "clip_length": c.clip_length,
            "eval_clip_length": c.eval_clip_length,
            "frame_skip": c.frame_skip,
            "repeat_action_probability": c.repeat_action_probability,
            "clips": self.counts,
            "collection": {name: {k: v for k, v in stats.items() if k != "reused_shards"} for name, stats in splits.items()},
            "frames_collected": frames,
            "collect_seconds": round(self.seconds, 2),
            "frames_per_second": round(frames / self.seconds, 1) if self.seconds > 0 else None,
            "seed": c.seed,
        }

    def summary(self, meta: dict[str, Any], splits: dict[str, dict[str, Any]]) -> dict[str, Any]:
        return {k: meta[k] for k in ("games", "clips", "frames_collected", "collect_seconds", "frames_per_second")}


def prepare_atari(out_dir: str, **options: Any) -> dict[str, Any]:
    """Collect `clips[split]` clips per game for train/valid/test; returns the summary (also in
    meta.json). `options`: the rest of `data.prepare` (`AtariPrepareConfig`)."""
    config = build(AtariPrepareConfig, {**options, "out_dir": str(out_dir)}, "data.prepare")
    games = [resolve_game(g) for g in config.games]  # fails early, listing the available games
    return prepare_shards(out_dir, AtariPreparation(config, games))
