"""Typed configs of the speech family (`seqgen.core.config`): the synthesis model, the datamodule
and the sampling options. The defaults live here; conf/model/speech_synthesis.yaml and
conf/data/_speech_defaults.yaml name the schemas and set what differs. Prepare options (and the
features) are still checked by the platform's rule table."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Optional

from seqgen.core.config import DataModuleConfig, ModelConfig, RecognizerCheckConfig, at_least, one_of, register_schema, within

UNITS = ("phonemes", "chars")  # what the window reads


@dataclass
class SpeechSynthesisConfig(ModelConfig):
    """Stacked LSTM, soft Gaussian window over the phonemes/characters (fed by layer 1), speaker
    embedding, diagonal-Gaussian mixture over frames (seqgen/families/speech/nets.py)."""

    _target_: str = "seqgen.families.speech.module.SpeechSynthesis"
    hidden_size: int = 256
    num_layers: int = 2
    window_components: int = 5
    mixture_components: int = 5
    speaker_dim: int = 16
    window: str = "softplus"  # exp (Graves: kappa += exp(k_hat)) | softplus (kappa += min(softplus(k_hat), max_step))
    kappa_scale: float = 5.0  # window step divided by this: an untrained window moves ~1 symbol per 5 frames
    max_step: float = 1.0  # softplus window: at most this many symbols per frame (before kappa_scale)
    input_dropout: float = 0.0  # dropout on the previous frame fed back (forces use of the window)
    align_weight: float = 0.0  # > 0: also supervise the window with the corpus's phone boundaries (phonemes only); 0 = Graves
    max_frames_per_symbol: float = 30.0  # sampling guard: stop a row after this many frames per symbol
    max_sample_frames: int = 2000  # sampling guard: never more frames than this
    preview_bias: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        at_least(self, ("hidden_size", "num_layers", "window_components", "mixture_components", "speaker_dim",
                        "max_sample_frames"), 1)
        from seqgen.nn.window import WINDOW_KINDS  # imports torch: not when `seqgen` registers this schema

        one_of(self, "window", WINDOW_KINDS)
        for key in ("kappa_scale", "max_step", "max_frames_per_symbol"):
            within(self, key, 0.0, low_open=True)
        within(self, "input_dropout", 0.0, 1.0, high_open=True)
        within(self, "preview_bias", 0.0)
        within(self, "align_weight", 0.0)


@dataclass
class IntelligibilityConfig(RecognizerCheckConfig):
    """`model.intelligibility`: used only with `model.recognizer`, the validation utterances spoken at each bias."""

    section: ClassVar[str] = "intelligibility"
    count_key: ClassVar[str] = "utterances"

    utterances: int = 16


@dataclass
class SpeechSynthesisSection(SpeechSynthesisConfig):
    """The `model` section of a speech run: the module's options plus the keys of the family's
    callbacks (`Family.callback_keys`), which the module does not receive."""

    recognizer: Optional[str] = None  # phoneme recogniser run/ckpt: intelligibility (val/per ...) at validations
    intelligibility: IntelligibilityConfig = field(default_factory=IntelligibilityConfig)


@dataclass
class SpeechDataModuleConfig(DataModuleConfig):
    """Batches of utterances (`DataModuleConfig`'s keys), their units and the training crop."""

    _target_: str = "seqgen.families.speech.datamodule.SpeechDataModule"
    units: str = "phonemes"
    max_frames: Optional[int] = None  # training crop: the first N frames of each utterance (null = whole)

    def __post_init__(self) -> None:
        super().__post_init__()
        one_of(self, "units", UNITS)
        if self.max_frames is not None:
            at_least(self, "max_frames", 2)


@dataclass
class SpeechSampleOptions:
    """`seqgen-sample` of a speech model (text or phonemes, not both)."""

    text: str = "hello world"  # one sentence, or several separated by "|"
    phonemes: Optional[str] = None  # instead of text: space-separated phonemes, sentences separated by "|"
    bias: float = 0.0  # 0 = plain sampling; larger = cleaner (the paper's b)
    style: Any = None  # index of a real utterance to continue
    speaker: Optional[str] = None  # a training speaker's name (default: the prime's, else the first)
    max_frames: Optional[int] = None  # frame limit per sentence (default: the model's max_sample_frames)

    def __post_init__(self) -> None:
        within(self, "bias", 0.0)
        if self.max_frames is not None:
            at_least(self, "max_frames", 1)


register_schema("model", "speech_synthesis", SpeechSynthesisSection)
register_schema("data/datamodule", "speech", SpeechDataModuleConfig)
register_schema("sample", "speech", SpeechSampleOptions)
