"""Typed configs of the speech family (`seqgen.core.config`): the synthesis model, the features,
prepare, the datamodule and the sampling options. The defaults live here;
conf/model/speech_synthesis.yaml and conf/data/_speech_defaults.yaml name the schemas and set what
differs."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Optional

from omegaconf import MISSING

from seqgen.core.config import DataModuleConfig, ModelConfig, RecognizerCheckConfig, at_least, one_of, register_schema, within
from seqgen.errors import SeqgenError

UNITS = ("phonemes", "chars")  # what the window reads
KINDS = ("linear", "mel", "mfcc", "world")  # feature kinds
VOCODER_SETTINGS = ("griffin_lim_iters", "inverse_mel_iters")  # how frames become audio, not what the frames are


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
class FeatureSpec:
    """`data.features`: the frames of every speech corpus (seqgen/families/speech/features.py)."""

    kind: str = "mel"  # linear | mel | mfcc (back to sound by Griffin-Lim) | world (WORLD vocoder, pyworld)
    sample_rate: int = 16000  # every corpus is resampled to this (TIMIT files must already be at it)
    n_fft: int = 512
    win_length: int = 400  # 25 ms
    hop_length: int = 200  # 12.5 ms frames
    n_mels: int = 40
    n_mfcc: int = 25  # mfcc only
    f_min: float = 0.0
    f_max: Optional[float] = None  # null = sample_rate / 2
    floor: float = 1e-5  # log(power + floor)
    griffin_lim_iters: int = 32
    inverse_mel_iters: int = 50
    n_mcep: int = 40  # world only: mel-cepstral coefficients of the spectral envelope
    f0_floor: float = 71.0  # world only: F0 search range (Hz)
    f0_ceil: float = 800.0
    f0_method: str = "dio"  # world only: dio (+ StoneMask) | harvest

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise SeqgenError(f"data.features.kind={self.kind!r}: use one of {', '.join(KINDS)}")
        if self.sample_rate < 4000:
            raise SeqgenError(f"data.features.sample_rate={self.sample_rate}: must be >= 4000 Hz")
        if not 0 < self.win_length <= self.n_fft:
            raise SeqgenError(f"data.features.win_length={self.win_length} must be in (0, n_fft={self.n_fft}]")
        if not 0 < self.hop_length <= self.win_length:
            raise SeqgenError(f"data.features.hop_length={self.hop_length} must be in (0, win_length={self.win_length}]")
        if self.kind == "mfcc" and not 1 < self.n_mfcc <= self.n_mels:
            raise SeqgenError(f"data.features.n_mfcc={self.n_mfcc} must be in (1, n_mels={self.n_mels}]")
        if self.f_max is not None and not self.f_min < self.f_max <= self.sample_rate / 2:
            raise SeqgenError(f"data.features.f_max={self.f_max} must be in (f_min, sample_rate / 2]")
        if self.griffin_lim_iters < 1:
            raise SeqgenError(f"data.features.griffin_lim_iters must be >= 1, got {self.griffin_lim_iters}")
        if self.kind == "world":
            from seqgen.families.speech.world import F0_METHODS

            if self.n_mcep < 2:
                raise SeqgenError(f"data.features.n_mcep={self.n_mcep} must be >= 2")
            if not 0 < self.f0_floor < self.f0_ceil < self.sample_rate / 2:
                raise SeqgenError(f"data.features.f0_floor={self.f0_floor} and f0_ceil={self.f0_ceil} must satisfy 0 < floor < ceil < sample_rate / 2")
            if self.f0_method not in F0_METHODS:
                raise SeqgenError(f"data.features.f0_method={self.f0_method!r}: use one of {', '.join(F0_METHODS)}")

    @classmethod
    def from_dict(cls, d: Any) -> "FeatureSpec":
        d = dict(d)
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> dict[str, Any]:
        """What the frames are (the settings that change them; not how they are turned into audio)."""
        return {k: v for k, v in self.to_dict().items() if k not in VOCODER_SETTINGS}

    @property
    def dim(self) -> int:
        if self.kind == "world":
            from seqgen.families.speech.world import frame_dim

            return frame_dim(self.n_mcep, self.sample_rate)
        return {"linear": self.n_fft // 2 + 1, "mel": self.n_mels, "mfcc": self.n_mfcc}[self.kind]

    @property
    def voicing_index(self) -> int | None:
        """Column of the binary voicing flag (world), else None."""
        if self.kind != "world":
            return None
        from seqgen.families.speech.world import VUV

        return VUV

    @property
    def vocoder(self) -> str:
        return "WORLD" if self.kind == "world" else f"Griffin-Lim ({self.griffin_lim_iters} iterations)"

    @property
    def frame_seconds(self) -> float:
        return self.hop_length / self.sample_rate


@dataclass
class SpeechPrepareConfig:
    """`seqgen-prepare` of speech corpora: utterances longer than `max_frames` are skipped (and
    reported); `n_primes` validation utterances of distinct speakers are kept in meta.json for priming."""

    _target_: str = "seqgen.families.speech.prepare.prepare_speech"
    corpus: Any = None  # the corpus section (its own `_target_`)
    out_dir: str = MISSING
    features: Any = None  # `data.features` (FeatureSpec; null: its defaults)
    samples_per_shard: int = 64
    max_frames: Optional[int] = 1500  # null = keep all
    n_primes: int = 4

    def __post_init__(self) -> None:
        from seqgen.core.config import build

        self.features = build(FeatureSpec, self.features or {}, "data.features")
        at_least(self, "samples_per_shard", 1)
        if self.max_frames is not None:
            at_least(self, "max_frames", 1)
        at_least(self, "n_primes", 0)


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
register_schema("data/features", "speech", FeatureSpec)
register_schema("data/prepare", "speech", SpeechPrepareConfig)
register_schema("data/datamodule", "speech", SpeechDataModuleConfig)
register_schema("sample", "speech", SpeechSampleOptions)
