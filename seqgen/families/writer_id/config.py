"""Typed config of the writer classifier (`seqgen.core.config`): the defaults live here;
conf/model/writer_id.yaml names the schema and sets what differs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from seqgen.core.config import ModelConfig, at_least, register_schema, within


@dataclass
class WriterIdConfig(ModelConfig):
    """BLSTM over the pen offsets (`subsample` consecutive points stacked into one frame), pooled
    over the line into a style embedding of `embedding_size`, softmax over the training writers."""

    _target_: str = "seqgen.families.writer_id.module.WriterClassifier"
    hidden_size: int = 64
    num_layers: int = 1
    subsample: int = 3
    embedding_size: int = 64  # the style embedding the style distance is measured on
    dropout: float = 0.0
    max_points: Optional[int] = 400  # training crop (points from a line's start); evaluation reads whole lines; null = whole lines

    def __post_init__(self) -> None:
        super().__post_init__()
        at_least(self, ("hidden_size", "num_layers", "subsample", "embedding_size"), 1)
        within(self, "dropout", 0.0, 1.0, high_open=True)
        if self.max_points is not None:
            at_least(self, "max_points", 1)


register_schema("model", "writer_id", WriterIdConfig)
