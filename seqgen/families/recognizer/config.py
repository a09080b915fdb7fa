"""Typed config of the recogniser (`seqgen.core.config`): the defaults live here; conf/model/recognizer.yaml
names the schema and sets only what differs."""

from __future__ import annotations

from dataclasses import dataclass

from seqgen.core.config import ModelConfig, at_least, one_of, register_schema, within

DECODERS = ("greedy", "beam")  # best path | prefix beam search


@dataclass
class RecognizerConfig(ModelConfig):
    """Bidirectional LSTM over the pen offsets (`subsample` consecutive points stacked into one
    frame: frames must outnumber characters), CTC over the characters."""

    _target_: str = "seqgen.families.recognizer.module.HandwritingRecognizer"
    hidden_size: int = 128
    num_layers: int = 2
    subsample: int = 2
    dropout: float = 0.0
    decoder: str = "greedy"  # validation, test and legibility decoding
    beam_width: int = 8

    def __post_init__(self) -> None:
        super().__post_init__()
        at_least(self, ("hidden_size", "num_layers", "subsample", "beam_width"), 1)
        within(self, "dropout", 0.0, 1.0, high_open=True)
        one_of(self, "decoder", DECODERS)


register_schema("model", "recognizer", RecognizerConfig)
