"""Typed sampling options of the atari family (`seqgen.core.config`). The model, prepare and
datamodule options are still checked by the platform's rule table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from seqgen.core.config import at_least, register_schema


@dataclass
class AtariSampleOptions:
    """`seqgen-sample` of an atari model (num_samples and seed are every family's)."""

    length: int = 60  # frames generated after each test clip's real prefix
    actions: Any = None  # null = the clips' real future actions; names or ids repeated in turn: [FIRE,LEFT], "FIRE,LEFT", 3

    def __post_init__(self) -> None:
        at_least(self, "length", 1)


register_schema("sample", "atari", AtariSampleOptions)
