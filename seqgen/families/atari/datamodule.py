"""Atari clips as batches: frames scaled to [0, 1], actions, rewards.

A batch (`FrameBatch`):

    frames   (B, T, S, S) float32  grey intensity / 255
    actions  (B, T)       long     ALE action id taken after frame t
    rewards  (B, T)       float32
    games    list[str]

Training clips may be cut to the first `train_frames` frames (shorter unrolls, faster steps).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from seqgen.core.datamodule import ShardDataModule
from seqgen.data.shards import decode_array
from seqgen.errors import SeqgenError


@dataclass
class FrameBatch:
    frames: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    games: list[str]

    def to(self, device: torch.device | str) -> "FrameBatch":
        return FrameBatch(self.frames.to(device), self.actions.to(device), self.rewards.to(device), self.games)

    def __len__(self) -> int:
        return int(self.frames.shape[0])


def decode_clip(sample: dict[str, Any]) -> dict[str, Any]:
    frames = decode_array(sample["frames.npy"])
    actions = decode_array(sample["actions.npy"]).astype(np.int64)
    if frames.ndim != 3 or frames.dtype != np.uint8 or len(actions) != len(frames):
        raise ValueError(f"clip {sample.get('__key__')}: frames {frames.shape} {frames.dtype}, actions {actions.shape}")
    return {
        "frames": torch.from_numpy(np.ascontiguousarray(frames)),
        "actions": torch.from_numpy(actions),
        "rewards": torch.from_numpy(decode_array(sample["rewards.npy"]).astype(np.float32)),
        "game": sample["game.txt"].decode("utf-8"),
    }


def collate_clips(items: list[dict[str, Any]], max_frames: int | None = None) -> FrameBatch:
    length = min(len(item["frames"]) for item in items)
    if max_frames:
        length = min(length, max_frames)
    return FrameBatch(
        frames=torch.stack([item["frames"][:length] for item in items]).float().div_(255.0),
        actions=torch.stack([item["actions"][:length] for item in items]),
        rewards=torch.stack([item["rewards"][:length] for item in items]),
        games=[item["game"] for item in items],
    )


class AtariDataModule(ShardDataModule):
    family = "atari"

    def __init__(self, data_dir: str, train_frames: int | None = None, **kwargs: Any) -> None:
        super().__init__(data_dir, **kwargs)
        if train_frames is not None and int(train_frames) < 2:
            raise SeqgenError(f"data.datamodule.train_frames={train_frames}: must be >= 2 or null (whole clips)")
        self.train_frames = int(train_frames) if train_frames is not None else None

    def load_info(self) -> dict[str, Any]:
        info = super().load_info()
        for key in ("size", "num_actions", "games"):
            if key not in info:
                raise SeqgenError(f"{self.data_dir}/meta.json has no '{key}': re-run `seqgen-prepare data=atari`")
        return info

    def decode(self, sample: dict[str, Any]) -> dict[str, Any]:
        return decode_clip(sample)

    def collate(self, items: list[dict[str, Any]]) -> FrameBatch:
        return collate_clips(items)

    train_expand = True

    def expand(self, batch: FrameBatch) -> Any:
        if self.train_frames and batch.frames.shape[1] > self.train_frames:
            batch = FrameBatch(batch.frames[:, : self.train_frames], batch.actions[:, : self.train_frames], batch.rewards[:, : self.train_frames], batch.games)
        yield batch

    def read_clips(self, split: str = "test", limit: int = 4) -> FrameBatch:
        """The first `limit` clips of a split (figures, evaluation rollouts)."""
        items = self.read_samples(split, limit)
        if not items:
            raise SeqgenError(f"no readable '{split}' clips in {self.data_dir}: re-run `seqgen-prepare data=atari`")
        return collate_clips(items)
