"""Typed configs of the text family (`seqgen.core.config`): the model, prepare, the datamodule and
the sampling options. The defaults live here; conf/model/text_lstm.yaml and conf/data/*.yaml name
the schemas and set what differs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from omegaconf import MISSING

from seqgen.core.config import DataModuleConfig, one_of, ModelConfig, at_least, register_schema, within


@dataclass
class TextLSTMConfig(ModelConfig):
    """Skip-connected LSTM stack over symbols, softmax output (Graves 2013 Sec. 3)."""

    _target_: str = "seqgen.families.text.module.TextLSTM"
    hidden_size: int = 256
    num_layers: int = 2
    embed_dim: Optional[int] = None  # null = one-hot inputs (the paper)
    dropout: float = 0.0
    eval_segment_length: int = 1000  # validation/test streams are read in segments of this length
    preview_length: int = 300
    preview_temperature: float = 0.8
    preview_prime: str = "The "

    def __post_init__(self) -> None:
        super().__post_init__()
        at_least(self, ("hidden_size", "num_layers", "eval_segment_length", "preview_length"), 1)
        if self.embed_dim is not None:
            at_least(self, "embed_dim", 1)
        within(self, "dropout", 0.0, 1.0, high_open=True)
        within(self, "preview_temperature", 0.0, low_open=True)


@dataclass
class TextPrepareConfig:
    """`seqgen-prepare` of text corpora: streams of `chunk_length` symbols (state carried, reset
    every `chunk_length / segment_length` segments: 100 in the paper)."""

    _target_: str = "seqgen.families.text.prepare.prepare_text"
    corpus: Any = None  # the corpus section (its own `_target_`)
    out_dir: str = MISSING
    vocab: str = "byte"  # byte (enwik8's symbols) | char (Unicode code points)
    chunk_length: int = 10_000
    eval_chunk_length: int = 2_000  # validation/test streams (state carried within each)
    samples_per_shard: int = 16
    min_train_shards: int = 8  # training shards are split over ranks x workers
    segment_length: int = 100  # the datamodule's: a corpus shorter than one segment is refused

    def __post_init__(self) -> None:
        one_of(self, "vocab", ("byte", "char"))
        at_least(self, ("chunk_length", "eval_chunk_length", "samples_per_shard", "min_train_shards", "segment_length"), 1)


@dataclass
class TextDataModuleConfig(DataModuleConfig):
    """Streams cut into consecutive truncated-BPTT segments of `segment_length` symbols."""

    _target_: str = "seqgen.families.text.datamodule.TextDataModule"
    segment_length: int = 100

    def __post_init__(self) -> None:
        super().__post_init__()
        at_least(self, "segment_length", 1)


@dataclass
class TextSampleOptions:
    """`seqgen-sample` of a text model."""

    prime: Optional[str] = None  # null: "The " where the vocabulary can write it, else none (generate.default_prime)
    length: int = 500  # symbols drawn after the prime
    temperature: float = 0.8  # < 1 sharpens the softmax, > 1 flattens it

    def __post_init__(self) -> None:
        at_least(self, "length", 1)
        within(self, "temperature", 0.0, low_open=True)


register_schema("model", "text_lstm", TextLSTMConfig)
register_schema("data/prepare", "text", TextPrepareConfig)
register_schema("data/datamodule", "text", TextDataModuleConfig)
register_schema("sample", "text", TextSampleOptions)
