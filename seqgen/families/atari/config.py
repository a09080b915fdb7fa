"""Typed configs of the atari family (`seqgen.core.config`): the model, prepare, the datamodule and
the sampling options. The defaults live here; conf/model/atari_*.yaml and conf/data/atari*.yaml
name the schemas and set what differs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from omegaconf import MISSING

from seqgen.core.config import ConfigValueError, DataModuleConfig, ModelConfig, at_least, one_of, register_schema, within, within_integers

CORES = ("lstm", "feedforward")  # recurrent | Oh et al. (2015)'s frame-stack model (model=atari_feedforward)
SPLITS = ("train", "valid", "test")


@dataclass
class AtariModelConfig(ModelConfig):
    """Action-conditional change predictor (seqgen/families/atari/nets.py) and its training and
    evaluation settings (seqgen/families/atari/module.py)."""

    _target_: str = "seqgen.families.atari.module.AtariFramePredictor"
    core: str = "lstm"
    history: int = 1  # input frames per step (the LSTM remembers the rest)
    skips: bool = True  # the decoder adds the encoder's feature maps (U-Net): pixels stay in place
    channels: list[int] = field(default_factory=lambda: [32, 64, 64])  # encoder conv widths (stride 2 each; mirrored by the decoder)
    hidden_size: int = 512
    factors: int = 512  # factors of the multiplicative action transform
    changed_weight: float = 10.0  # loss weight 1 + changed_weight on pixels the real frame changes (0 = plain MSE)
    min_change: float = 0.02  # changes smaller than this are not applied (static pixels stay exact)
    # [from_step, k]: predict the last k frames of each clip from the model's own predictions
    curriculum: list[list[int]] = field(default_factory=lambda: [[0, 1], [50, 4], [100, 8], [150, 15]])
    prefix_frames: int = 10  # real frames before a rollout (evaluation, samples)
    horizon: int = 100  # longest evaluated horizon (seqgen-eval: k = 1..horizon)
    preview_frames: int = 20

    def __post_init__(self) -> None:
        super().__post_init__()
        one_of(self, "core", CORES)
        if not 1 <= self.history <= 16:
            raise ConfigValueError("history", self.history, "an integer in [1, 16] (input frames)")
        if not self.channels or any(width < 1 for width in self.channels):
            raise ConfigValueError("channels", self.channels, "one or more widths >= 1, e.g. [32, 64, 64]")
        at_least(self, ("hidden_size", "factors", "prefix_frames", "horizon", "preview_frames"), 1)
        within(self, "changed_weight", 0.0)
        within(self, "min_change", 0.0, 1.0, high_open=True)
        pairs = [list(pair) for pair in self.curriculum]
        if not pairs or any(len(p) != 2 or p[0] < 0 or p[1] < 1 for p in pairs) or pairs != sorted(pairs):
            raise ConfigValueError("curriculum", self.curriculum, "sorted [from_step >= 0, k >= 1] pairs, e.g. [[0, 1], [1000, 3]]")


@dataclass
class AtariPrepareConfig:
    """`seqgen-prepare data=atari`: clips of ALE games under a seeded random policy with sticky
    actions (Machado et al. 2018) and frame skip, size x size grey frames."""

    _target_: str = "seqgen.families.atari.prepare.prepare_atari"
    out_dir: str = MISSING
    games: list[str] = field(default_factory=lambda: ["pong", "breakout"])  # ROM ids
    clips: dict[str, int] = field(default_factory=lambda: {"train": 300, "valid": 8, "test": 32})  # per game and split
    clip_length: int = 32  # training clip, frames
    eval_clip_length: int = 110  # validation/test clips: prefix (model.prefix_frames) + horizon up to 100
    frame_skip: int = 4  # each chosen action is applied this many emulator frames
    repeat_action_probability: float = 0.25  # sticky actions
    size: int = 84  # frames are size x size grey
    samples_per_shard: int = 16
    min_train_shards: int = 4
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.games:
            raise ConfigValueError("games", self.games, "one or more games, e.g. [pong, breakout]")
        unknown = sorted(set(self.clips) - set(SPLITS))
        if unknown:
            raise ConfigValueError(f"clips.{unknown[0]}", self.clips[unknown[0]], "the clips of a split: train, valid or test")
        for split in SPLITS:
            if self.clips.get(split, 0) < 1:
                raise ConfigValueError(f"clips.{split}", self.clips.get(split), "an integer >= 1 (clips per game)")
        at_least(self, ("clip_length", "eval_clip_length"), 2)
        at_least(self, ("frame_skip", "samples_per_shard", "min_train_shards"), 1)
        within(self, "repeat_action_probability", 0.0, 1.0)
        if not 16 <= self.size <= 210:
            raise ConfigValueError("size", self.size, "an integer in [16, 210] (pixels)")
        within_integers(self, "seed", 0, 2**32 - 1)


@dataclass
class AtariDataModuleConfig(DataModuleConfig):
    """Batches of clips (`DataModuleConfig`'s keys) and the training cut."""

    _target_: str = "seqgen.families.atari.datamodule.AtariDataModule"
    train_frames: Optional[int] = None  # cut training clips to their first N frames (null = whole clips)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.train_frames is not None:
            at_least(self, "train_frames", 2)


@dataclass
class AtariSampleOptions:
    """`seqgen-sample` of an atari model (num_samples and seed are every family's)."""

    length: int = 60  # frames generated after each test clip's real prefix
    actions: Any = None  # null = the clips' real future actions; names or ids repeated in turn: [FIRE,LEFT], "FIRE,LEFT", 3

    def __post_init__(self) -> None:
        at_least(self, "length", 1)


register_schema("model", "atari_frames", AtariModelConfig)
register_schema("data/prepare", "atari", AtariPrepareConfig)
register_schema("data/datamodule", "atari", AtariDataModuleConfig)
register_schema("sample", "atari", AtariSampleOptions)
