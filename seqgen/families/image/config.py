"""Typed configs of the image family (`seqgen.core.config`): the models, prepare and sampling options.

The defaults live here; `conf/model/image_*.yaml` and `conf/data/*.yaml` name the schemas and set
only what differs. A value out of range is refused before any work, naming the key and the range.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from omegaconf import MISSING

from seqgen.core.config import ConfigValueError, DataModuleConfig, ModelConfig, at_least, one_of, register_schema, within

OUTPUTS = ("auto", "bernoulli", "softmax")  # auto: Bernoulli for binary data, softmax over grey levels otherwise
MODES = ("grey", "binary")


@dataclass
class ImageDensityConfig(ModelConfig):
    """Options of both density models."""

    output: str = "auto"
    preview_count: int = 16  # samples drawn after each validation (logged to W&B)
    preview_temperature: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        one_of(self, "output", OUTPUTS)
        at_least(self, "preview_count", 1)
        within(self, "preview_temperature", 0.0, low_open=True)


@dataclass
class ImageMDLSTMConfig(ImageDensityConfig):
    """Causal (top-left) 2D LSTM: `num_layers` skip-connected layers of `hidden_size` cells."""

    _target_: str = "seqgen.families.image.module.ImageMDLSTM"
    hidden_size: int = 64
    num_layers: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        at_least(self, ("hidden_size", "num_layers"), 1)


@dataclass
class ImageRowLSTMConfig(ImageDensityConfig):
    """PixelRNN's Row LSTM: a masked `kernel` x `kernel` convolution, then Row LSTM layers."""

    _target_: str = "seqgen.families.image.module.ImageRowLSTM"
    hidden_size: int = 32
    num_layers: int = 2
    kernel: int = 7

    def __post_init__(self) -> None:
        super().__post_init__()
        at_least(self, ("hidden_size", "num_layers", "kernel"), 1)
        if self.kernel % 2 == 0:
            raise ConfigValueError("kernel", self.kernel, "an odd integer >= 1 (the masked convolution has a centre)")


@dataclass
class ImageClassifierConfig(ModelConfig):
    """4-direction 2D-LSTM classifier; `patch`: p x p blocks read as one cell."""

    _target_: str = "seqgen.families.image.module.ImageClassifier"
    hidden_size: int = 16
    num_layers: int = 1
    patch: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        at_least(self, ("hidden_size", "num_layers", "patch"), 1)


@dataclass
class ImagePrepareConfig:
    """`seqgen-prepare` of image corpora: grey keeps (or re-quantises to `levels`) the corpus's
    intensity levels; binary sets pixel = 1 where value >= threshold * (levels - 1)."""

    _target_: str = "seqgen.families.image.prepare.prepare_images"
    corpus: Any = None  # the corpus section (its own `_target_`)
    out_dir: str = MISSING
    mode: str = "grey"
    threshold: float = 0.5
    levels: Optional[int] = None  # grey: re-quantise to this many levels (null: the corpus's own)
    size: Optional[list[int]] = None  # [H, W]: refuse images of another size
    samples_per_shard: int = 512
    min_train_shards: int = 4

    def __post_init__(self) -> None:
        one_of(self, "mode", MODES)
        within(self, "threshold", 0.0, 1.0, low_open=True)
        if self.levels is not None:
            at_least(self, "levels", 2)
        at_least(self, ("samples_per_shard", "min_train_shards"), 1)


@dataclass
class ImageDataModuleConfig(DataModuleConfig):
    """Batches of images (`DataModuleConfig`'s keys; nothing of its own)."""

    _target_: str = "seqgen.families.image.datamodule.ImageDataModule"


@dataclass
class ImageSampleOptions:
    """`seqgen-sample` of a density model (num_samples and seed are the platform's)."""

    temperature: float = 1.0  # divides the logits: < 1 sharper, > 1 noisier

    def __post_init__(self) -> None:
        within(self, "temperature", 0.0, low_open=True)


register_schema("model", "image_mdlstm", ImageMDLSTMConfig)
register_schema("model", "image_rowlstm", ImageRowLSTMConfig)
register_schema("model", "image_classifier", ImageClassifierConfig)
register_schema("data/prepare", "image", ImagePrepareConfig)
register_schema("data/datamodule", "image", ImageDataModuleConfig)
register_schema("sample", "image", ImageSampleOptions)
