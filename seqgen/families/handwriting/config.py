"""Typed configs of the handwriting family (`seqgen.core.config`): the models and the datamodule.
The defaults live here; conf/model/handwriting_*.yaml and conf/data/_handwriting_defaults.yaml name
the schemas and set what differs (the paper's 3 x 400, M = 20, K = 10 are the defaults). Prepare
and sampling options are still checked by the platform's rule table."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Optional

from seqgen.core.config import DataModuleConfig, ModelConfig, RecognizerCheckConfig, at_least, register_schema, within


@dataclass
class HandwritingConfig(ModelConfig):
    """Options of both networks (Graves 2013 Sec. 4-5)."""

    hidden_size: int = 400
    num_layers: int = 3
    mixture_components: int = 20
    weight_noise: bool = False  # adaptive weight noise (Graves 2011), initial std weight_noise_std
    weight_noise_std: float = 0.075
    clip_lstm_grad: Optional[float] = 10.0  # paper: LSTM derivatives clipped to [-10, 10] (null = off)
    clip_output_grad: Optional[float] = 100.0  # paper: output derivatives clipped to [-100, 100] (null = off)
    preview_bias: float = 0.5
    styles_dir: Optional[str] = None  # real styles for priming (style=<index>); null = training writers only

    def __post_init__(self) -> None:
        super().__post_init__()
        at_least(self, ("hidden_size", "num_layers", "mixture_components"), 1)
        within(self, "weight_noise_std", 0.0)
        within(self, "clip_lstm_grad", 0.0, low_open=True, nullable=True)
        within(self, "clip_output_grad", 0.0, low_open=True, nullable=True)
        within(self, "preview_bias", 0.0)


@dataclass
class HandwritingPredictionConfig(HandwritingConfig):
    _target_: str = "seqgen.families.handwriting.module.HandwritingPrediction"
    dropout: float = 0.0
    preview_points: int = 400  # points per preview sample after each validation
    sample_points: int = 700  # points per sample in the final figures / seqgen-sample (max)

    def __post_init__(self) -> None:
        super().__post_init__()
        within(self, "dropout", 0.0, 1.0, high_open=True)
        at_least(self, ("preview_points", "sample_points"), 1)


@dataclass
class HandwritingSynthesisConfig(HandwritingConfig):
    _target_: str = "seqgen.families.handwriting.module.HandwritingSynthesis"
    window_components: int = 10
    # kappa_t = kappa_{t-1} + exp(kappa_hat) / kappa_scale (paper: 1; 25 ~ points per character
    # makes an untrained window move ~1 character per 25 points)
    kappa_scale: float = 25.0
    max_text_chars: int = 120  # longer lines are refused by seqgen-sample (split them with |)
    end_patience: int = 40  # guard: stop this many steps after the window's mean passed the text's end
    preview_text: str = "hello world"
    sample_texts: Optional[list[str]] = None  # texts of the final figures (null = a few defaults)

    def __post_init__(self) -> None:
        super().__post_init__()
        at_least(self, ("window_components", "max_text_chars", "end_patience"), 1)
        within(self, "kappa_scale", 0.0, low_open=True)


@dataclass
class LegibilityConfig(RecognizerCheckConfig):
    """`model.legibility`: used only with `model.recognizer`, the validation lines written at each bias."""

    section: ClassVar[str] = "legibility"
    count_key: ClassVar[str] = "lines"

    lines: int = 32


@dataclass
class HandwritingSynthesisSection(HandwritingSynthesisConfig):
    """The `model` section of a synthesis run: the module's options plus the keys of the family's
    callbacks (`Family.callback_keys`), which the module does not receive."""

    recognizer: Optional[str] = None  # recogniser run/ckpt: legibility (val/cer ...) at validations
    legibility: LegibilityConfig = field(default_factory=LegibilityConfig)


@dataclass
class HandwritingDataModuleConfig(DataModuleConfig):
    """Batches of lines (`DataModuleConfig`'s keys) and the training crop."""

    _target_: str = "seqgen.families.handwriting.datamodule.HandwritingDataModule"
    max_points: Optional[int] = None  # training crop: keep the first N points of each line (null = whole lines)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_points is not None:
            at_least(self, "max_points", 2)


register_schema("data/datamodule", "handwriting", HandwritingDataModuleConfig)
register_schema("model", "handwriting_prediction", HandwritingPredictionConfig)
register_schema("model", "handwriting_synthesis", HandwritingSynthesisSection)
