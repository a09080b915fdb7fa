"""Typed configs of the toy family (checklist step 2): model, prepare, datamodule and sampling options."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import MISSING

from seqgen.core.config import DataModuleConfig, ModelConfig, at_least, register_schema, within


@dataclass
class ToyModelConfig(ModelConfig):
    _target_: str = "toy_family.module.ToyModel"
    hidden_size: int = 16

    def __post_init__(self) -> None:
        super().__post_init__()
        at_least(self, "hidden_size", 1)


@dataclass
class ToyPrepareConfig:
    """Counting sequences x_t = (start + t) mod vocab_size, one random start per sequence."""

    _target_: str = "toy_family.prepare.prepare_toy"
    out_dir: str = MISSING
    vocab_size: int = 7
    length: int = 12
    sequences: int = 64  # per split
    samples_per_shard: int = 16
    seed: int = 0

    def __post_init__(self) -> None:
        at_least(self, ("vocab_size", "length"), 2)
        at_least(self, ("sequences", "samples_per_shard"), 1)


@dataclass
class ToyDataModuleConfig(DataModuleConfig):
    _target_: str = "toy_family.datamodule.ToyDataModule"


@dataclass
class ToySampleOptions:
    length: int = 12
    temperature: float = 1.0

    def __post_init__(self) -> None:
        at_least(self, "length", 1)
        within(self, "temperature", 0.0, low_open=True)


register_schema("model", "toy", ToyModelConfig)
register_schema("data/prepare", "toy", ToyPrepareConfig)
register_schema("data/datamodule", "toy", ToyDataModuleConfig)
register_schema("sample", "toy", ToySampleOptions)
