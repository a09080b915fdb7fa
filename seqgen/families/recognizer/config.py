"""Typed configs of the recognisers (`seqgen.core.config`): the defaults live here;
conf/model/recognizer.yaml and conf/model/speech_recognizer.yaml name the schemas and set only what
differs."""

from __future__ import annotations

from dataclasses import dataclass

from seqgen.core.config import ModelConfig, at_least, one_of, register_schema, within

DECODERS = ("greedy", "beam")  # best path | prefix beam search


@dataclass
class RecognizerConfig(ModelConfig):
    """Bidirectional LSTM over frames (`subsample` consecutive pen points or feature frames stacked
    into one: frames must outnumber labels), CTC over the labels. The handwriting recogniser's."""

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


@dataclass
class PhonemeRecognizerConfig(RecognizerConfig):
    """The same network over audio feature frames (12.5 ms frames, ~8 per phoneme), phonemes as labels."""

    _target_: str = "seqgen.families.recognizer.module.PhonemeRecognizer"


register_schema("model", "recognizer", RecognizerConfig)
register_schema("model", "speech_recognizer", PhonemeRecognizerConfig)
