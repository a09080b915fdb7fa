"""Typed configs of the atari family (`seqgen.core.config`): the datamodule and the sampling
options. The model and prepare options are still checked by the platform's rule table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from seqgen.core.config import DataModuleConfig, at_least, register_schema


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


register_schema("data/datamodule", "atari", AtariDataModuleConfig)
register_schema("sample", "atari", AtariSampleOptions)
