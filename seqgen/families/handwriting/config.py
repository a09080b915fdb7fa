"""Typed configs of the handwriting family (`seqgen.core.config`): the models, prepare, the
datamodule and the sampling options (with the page layout and the plotter's G-code). The defaults
live here; conf/model/handwriting_*.yaml and conf/data/*.yaml name the schemas and set what
differs (the paper's 3 x 400, M = 20, K = 10 are the defaults); conf/sample/handwriting.yaml lists
the sampling options as null (= the defaults here)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Mapping, Optional

from seqgen.core.config import (
    ConfigValueError, DataModuleConfig, ModelConfig, RecognizerCheckConfig, at_least, one_of, register_schema, within,
    within_integers,
)
from omegaconf import MISSING

from seqgen.errors import SeqgenError
from seqgen.render.options import GcodeOptions, page_size


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
class HandwritingPrepareConfig:
    """`seqgen-prepare` of handwriting corpora: lines shorter than `min_points` or longer than
    `max_points` are skipped (and reported); `n_styles` training lines of distinct writers are kept
    in meta.json as primes."""

    _target_: str = "seqgen.families.handwriting.prepare.prepare_handwriting"
    corpus: Any = None  # the corpus section (its own `_target_`)
    out_dir: str = MISSING
    samples_per_shard: int = 64
    min_train_shards: int = 8  # training shards are split over ranks x workers
    min_points: int = 10
    max_points: Optional[int] = None  # null = keep all
    n_styles: int = 8
    seed: int = 0

    def __post_init__(self) -> None:
        at_least(self, ("samples_per_shard", "min_train_shards", "min_points", "n_styles"), 1)
        if self.max_points is not None:
            at_least(self, "max_points", 1)
        within_integers(self, "seed", 0, 2**32 - 1)


@dataclass
class HandwritingDataModuleConfig(DataModuleConfig):
    """Batches of lines (`DataModuleConfig`'s keys) and the training crop."""

    _target_: str = "seqgen.families.handwriting.datamodule.HandwritingDataModule"
    max_points: Optional[int] = None  # training crop: keep the first N points of each line (null = whole lines)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_points is not None:
            at_least(self, "max_points", 2)


ALIGNMENTS = ("left", "right", "centre", "justify")
OVERFLOWS = ("hyphen", "char")
DEFAULT_PAGE = "A4"
UNKNOWN_CHARS = ("error", "drop")  # characters outside the training vocabulary: refused | dropped
MAX_BEST_OF = 32


@dataclass
class LayoutOptions:
    """`layout.*` options of `seqgen-sample` and of the demo (null in the config = these defaults).
    A page is written when `page` or `width` is given (`requested`)."""

    page: Optional[str] = None  # A4 | Letter | A3 | A5 | A6 | Legal | WxH in mm; null: A4
    width: Optional[str] = None  # "40ch" | "120mm"; None: the page between its margins
    align: str = "left"
    x_height: float = 3.0  # mm
    line_spacing: float = 3.0  # baseline to baseline, in x-heights
    paragraph_spacing: float = 0.5  # extra lines between paragraphs
    margins: Any = (20.0, 20.0, 20.0, 20.0)  # mm: one number, [vertical, horizontal] or [top, right, bottom, left]
    overflow: str = "hyphen"
    word_baselines: bool = True
    ink: str = "#1a1a40"
    stroke: float = 0.45  # mm
    speed_width: float = 0.0  # 0 = constant width; 1 = width ~ 1 / pen speed
    smooth: bool = True
    layers: bool = True  # plotter SVG: one layer per line
    dpi: int = 150

    @classmethod
    def from_mapping(cls, values: Optional[Mapping[str, Any]]) -> "LayoutOptions":
        """Options from a mapping (the demo's requests; null = default), every value checked (SeqgenError)."""
        given = {k: v for k, v in dict(values or {}).items() if v is not None}
        unknown = sorted(set(given) - {f.name for f in fields(cls)})
        if unknown:
            raise SeqgenError(f"unknown layout option(s) {', '.join(unknown)}: the options are {', '.join(f.name for f in fields(cls))}")
        return cls(**given)

    def __post_init__(self) -> None:
        self.margins = _margins(self.margins)
        if self.align == "center":
            self.align = "centre"
        if self.align not in ALIGNMENTS:
            raise SeqgenError(f"layout.align={self.align!r}: give left, right, centre or justify")
        if self.overflow not in OVERFLOWS:
            raise SeqgenError(f"layout.overflow={self.overflow!r}: give hyphen (split with a hyphen) or char (split at a character)")
        if self.width is not None:
            parse_width(self.width)
        for key, low, high in (("x_height", 0.5, 100.0), ("line_spacing", 1.0, 20.0), ("paragraph_spacing", 0.0, 10.0),
                               ("stroke", 0.05, 10.0), ("speed_width", 0.0, 2.0)):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
                raise SeqgenError(f"layout.{key}={value!r}: give a number in [{low:g}, {high:g}]")
        if isinstance(self.dpi, bool) or not isinstance(self.dpi, int) or not 30 <= self.dpi <= 1200:
            raise SeqgenError(f"layout.dpi={self.dpi!r}: give a whole number in [30, 1200]")
        width, height = self.page_mm
        top, right, bottom, left = self.margins
        if left + right >= width - 5 or top + bottom >= height - 5:
            raise SeqgenError(f"layout.margins={list(self.margins)} leave no room on the {width:g} x {height:g} mm page")

    @property
    def requested(self) -> bool:
        """A page is laid out when `page` or `width` is given."""
        return self.page is not None or self.width is not None

    @property
    def sheet(self) -> str:
        return self.page or DEFAULT_PAGE

    @property
    def page_mm(self) -> tuple[float, float]:
        return page_size(self.sheet)

    @property
    def text_width_mm(self) -> float:
        """The room between the margins."""
        return self.page_mm[0] - self.margins[1] - self.margins[3]

    def ink_style(self) -> Any:
        """The page's `seqgen.render.page.Ink`."""
        from seqgen.render.page import Ink

        return Ink(colour=self.ink, width_mm=float(self.stroke), speed_width=float(self.speed_width), smooth=bool(self.smooth))


def _margins(value: Any) -> tuple[float, float, float, float]:
    values = [value] if isinstance(value, (int, float)) else list(value)
    try:
        numbers = [float(v) for v in values]
    except (TypeError, ValueError):
        numbers = []
    if len(numbers) not in (1, 2, 4) or any(not 0 <= v <= 1000 for v in numbers):
        raise SeqgenError(f"layout.margins={value!r}: give mm as one number, [vertical, horizontal] or [top, right, bottom, left]")
    if len(numbers) == 1:
        return (numbers[0],) * 4  # type: ignore[return-value]
    if len(numbers) == 2:
        return numbers[0], numbers[1], numbers[0], numbers[1]
    return tuple(numbers)  # type: ignore[return-value]


def parse_width(width: Any) -> tuple[float, str]:
    """"40ch" -> (40, "ch"); "120mm" -> (120, "mm"); anything else is an error naming both forms."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ch|mm)\s*", str(width))
    if match is None:
        raise SeqgenError(f"layout.width={width!r}: give characters (40ch) or millimetres (120mm)")
    value, unit = float(match.group(1)), match.group(2)
    if (unit == "ch" and not 4 <= value <= 500) or (unit == "mm" and not 10 <= value <= 5000):
        raise SeqgenError(f"layout.width={width!r}: give 4-500 characters or 10-5000 mm")
    return value, unit


def check_candidates(value: Any, key: str = "best_of") -> int:
    """best-of-N: a whole number of candidates in [1, MAX_BEST_OF] (`seqgen-sample`, `seqgen-eval`, the demo)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value or not 1 <= int(value) <= MAX_BEST_OF:
        raise ConfigValueError(key, value, f"a whole number of candidates in [1, {MAX_BEST_OF}]")
    return int(value)


@dataclass
class HandwritingSampleOptions:
    """`seqgen-sample` of a handwriting model (num_samples and seed are every family's). With
    `layout.page` or `layout.width`, `text` is free text ("|" separates paragraphs) written onto a
    page (docs/handwriting.md, "Pages"), and `gcode.*` drives a pen plotter."""

    text: Optional[str] = None  # one line, or several separated by "|"; null: the model's sample_texts
    bias: float = 0.0  # 0 = plain sampling; larger = neater (the paper's b)
    style: Any = None  # priming: a real style index, writer:N, or an IAM-OnDB XML / SVG / JSON file of your handwriting
    style_text: Optional[str] = None  # transcription of a style file that carries none
    styles_dir: Optional[str] = None  # folder of the real styles (style=<index>); null: the model's model.styles_dir
    max_points: Optional[int] = None  # null: 1500 (synthesis) / model.sample_points (prediction)
    unknown_chars: str = "error"  # characters outside the training vocabulary: error | drop
    best_of: int = 1  # N: write each line N times in one batch, keep the one `recognizer` reads best
    recognizer: Optional[str] = None  # a recogniser run or .ckpt: reads the lines (printed) and picks the best of best_of
    layout: LayoutOptions = field(default_factory=LayoutOptions)
    gcode: GcodeOptions = field(default_factory=GcodeOptions)  # written with every page as page.gcode

    def __post_init__(self) -> None:
        within(self, "bias", 0.0)
        if isinstance(self.style, bool) or (isinstance(self.style, int) and self.style < 0) or (
                isinstance(self.style, str) and re.fullmatch(r"\s*-\d+\s*", self.style)):
            raise ConfigValueError("style", self.style, "an index >= 0, writer:N or a style file")
        if self.max_points is not None:
            at_least(self, "max_points", 1)
        one_of(self, "unknown_chars", UNKNOWN_CHARS)
        check_candidates(self.best_of)
        if not self.layout.requested and self.gcode != GcodeOptions():
            raise SeqgenError("gcode.* options apply to a page: give layout.page=A4 or layout.width=40ch as well")


register_schema("data/prepare", "handwriting", HandwritingPrepareConfig)
register_schema("data/datamodule", "handwriting", HandwritingDataModuleConfig)
register_schema("model", "handwriting_prediction", HandwritingPredictionConfig)
register_schema("model", "handwriting_synthesis", HandwritingSynthesisSection)
register_schema("sample", "handwriting", HandwritingSampleOptions)
