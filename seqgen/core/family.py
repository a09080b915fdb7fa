"""The family contract: what the platform asks of a model family, and nothing more.

A *family* (text, handwriting, speech, image, ...) lives in `seqgen/families/<name>/` and owns its
corpora, `prepare`, datamodule, networks, Lightning module(s), generation, figures and report. The
platform (the CLI, training, evaluation, sweeps, the demo server) never probes a model with
`hasattr`; it looks the family up by the name stored in `meta.json` and in every checkpoint, and
calls the named methods of one `Family` object:

    family = get_family(name)                     # registry: name -> Family
    module_cls = family.module_class(class_name)  # allow-list for checkpoint loading
    family.callbacks(cfg)                         # `seqgen-train`: the family's Lightning callbacks
    family.preview(model, datamodule, out_dir, tag)       # samples logged during training
    family.figures(model, run_dir, datamodule, metrics)   # end of a training run
    family.report(model, out_dir, datamodule, metrics)    # `seqgen-eval` and end of training
    family.check_evaluate(model, cfg)             # `seqgen-eval`: its options checked before evaluating
    family.evaluate(model, cfg, datamodule, metrics, out_dir)   # `seqgen-eval` options beyond the report
    family.dynamic_task(model, datamodule)        # `seqgen-eval dynamic=true` (seqgen/eval/dynamic.py)
    family.generate(model, cfg, out_dir)          # `seqgen-sample`
    family.sample_settings(cfg)                   # its sampling options, typed (`sample_schema`)
    family.writes_text(model), family.write(model, texts, bias, seed)   # the web demo
    family.default_styles_dir(cfg)                # the demo's `styles_dir=auto`
    family.summary(run, result)                   # the last lines of `seqgen-train`

Media: `preview` and `figures` return `{key: value}`; a `Path` value is a file (PNG/JPG image,
WAV audio, GIF/MP4 video are sent to the experiment loggers by the platform's one media logger,
`seqgen.training.loggers.log_media`), a `str` from `preview` is a text sample. A family never
talks to W&B itself.

The datamodule and the Lightning module are built from the Hydra config (`data.datamodule`,
`model`), so they are not methods here; `module_classes` lists the LightningModules a checkpoint
of this family may hold (checkpoints name their class; only listed classes are ever built).

Adding a family: see docs/architecture.md ("Adding a family").
"""

from __future__ import annotations

import dataclasses
import importlib
import sys
from pathlib import Path
from typing import Any, ClassVar, Mapping, Optional, Sequence

from seqgen.errors import SeqgenError


class Family:
    """Base class of every family; override what the family supports.

    Class attributes:
      name: the family's name, as stored in `meta.json` ("family") and in checkpoints.
      module_classes: the Lightning module classes of this family (checkpoint allow-list).
      module_paths: the same as "package.module:Class" strings, imported on first use, so that
        importing the family (e.g. for `prepare`) does not import Lightning.
      sample_options: the `seqgen-sample` options this family reads (others are refused, so a
        user who passes `temperature=` to a handwriting model hears about it).
      exclusive_options: groups of sampling options that cannot be given together (speech: text
        or phonemes).
      callback_keys: keys of the `model` config that configure the family's callbacks
        (`callbacks(cfg)`), not its module: they are not passed to the module's constructor.
      config_rules: value ranges of the family's own config keys (`seqgen.validate.Rule`), checked
        with the platform's before any work starts. A family with typed configs
        (`seqgen.core.config`) needs none: its dataclasses check their own keys.
      sample_schema: the dataclass of the family's `seqgen-sample` options (`conf/sample/<name>.yaml`
        lists their names); `sample_options` is then its field names, and `sample_settings(cfg)`
        builds it from the options given.
    """

    name: ClassVar[str] = ""
    module_classes: ClassVar[tuple[type, ...]] = ()
    module_paths: ClassVar[tuple[str, ...]] = ()
    sample_options: ClassVar[frozenset[str]] = frozenset()
    exclusive_options: ClassVar[tuple[tuple[str, ...], ...]] = ()
    callback_keys: ClassVar[frozenset[str]] = frozenset()
    config_rules: ClassVar[Sequence[Any]] = ()
    sample_schema: ClassVar[Optional[type]] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.sample_schema is not None and "sample_options" not in cls.__dict__:
            cls.sample_options = frozenset(f.name for f in dataclasses.fields(cls.sample_schema))

    def classes(self) -> tuple[type, ...]:
        """Every Lightning module class of the family (`module_classes` + `module_paths`)."""
        lazy = []
        for path in self.module_paths:
            module_name, _, class_name = path.partition(":")
            lazy.append(getattr(importlib.import_module(module_name), class_name))
        return (*self.module_classes, *lazy)

    # --- checkpoints ----------------------------------------------------------------------------
    def module_class(self, class_name: str) -> type:
        """The module class a checkpoint names, if it belongs to this family (the allow-list).

        Matched by class name only (`HandwritingSynthesis`; a dotted path written by older versions,
        `seqgen.models.handwriting.HandwritingSynthesis`, matches by its last part): nothing is
        imported from a name stored in a file."""
        name = str(class_name).rpartition(".")[2]
        classes = self.classes()
        for cls in classes:
            if name == cls.__qualname__:
                return cls
        known = ", ".join(cls.__qualname__ for cls in classes) or "none"
        raise SeqgenError(f"the checkpoint names model class '{class_name}', which the {self.name} family does not have (it has: {known})")

    # --- training -------------------------------------------------------------------------------
    def callbacks(self, cfg: Any) -> list[Any]:
        """Lightning callbacks this family adds to a training run (they run before the platform's,
        so metrics they log, e.g. handwriting's `val/cer`, can select checkpoints). Default: none."""
        return []

    def preview(self, model: Any, datamodule: Any, out_dir: Path, tag: str) -> dict[str, Any]:
        """A few samples after a validation: {log key: text (str) or media file (Path)}. Default: none."""
        return {}

    def figures(self, model: Any, run_dir: Path, datamodule: Any, metrics: Mapping[str, float]) -> dict[str, Any]:
        """End of a training run (rank 0, not after preemption): samples and figures, returned as
        metrics.json entries (`Path` values: media files, logged too). Default: the report."""
        return self.report(model, run_dir, datamodule, metrics)

    # --- evaluation and sampling ----------------------------------------------------------------
    def report(self, model: Any, out_dir: Path, datamodule: Any, metrics: Mapping[str, float]) -> dict[str, Any]:
        """`seqgen-eval`: a Markdown/JSON report beside metrics.json; returns extra metrics.json entries."""
        return {}

    def check_evaluate(self, model: Any, cfg: Any) -> None:
        """Refuse `seqgen-eval` options that `evaluate` cannot honour for `model`, before any
        evaluation runs (handwriting: a recogniser that cannot read what the model writes)."""
        if cfg.get("recognizer"):
            raise SeqgenError(f"recognizer= measures the legibility of written text: {self.name} models cannot write text")
        if cfg.get("style"):
            raise SeqgenError(f"style=true measures the likeness of handwriting written in a writer's style: {self.name} models write none")

    def evaluate(self, model: Any, cfg: Any, datamodule: Any, metrics: dict[str, float], out_dir: Path) -> dict[str, Any]:
        """`seqgen-eval` measurements its config asks for beyond the report (handwriting: legibility
        with `recognizer=`); may add to `metrics`; returns extra metrics.json entries."""
        self.check_evaluate(model, cfg)
        return {}

    def generate(self, model: Any, cfg: Any, out_dir: Path) -> dict[str, Any]:
        """`seqgen-sample`: write samples to `out_dir`, return {name: path or value}."""
        raise SeqgenError(f"{self.name} models cannot be sampled from")

    def sample_settings(self, cfg: Any) -> Any:
        """The `seqgen-sample` options given in `cfg` (null: the schema's default) as `sample_schema`,
        types and ranges checked (one SeqgenError naming the option, its value and the range)."""
        from seqgen.core.config import build, given_options

        if self.sample_schema is None:
            raise SeqgenError(f"the {self.name} family declares no sample_schema")
        return build(self.sample_schema, given_options(self.sample_schema, cfg), "")

    def sample_options_for(self, model: Any) -> frozenset[str]:
        """The sampling options that apply to this `model` (a family with several kinds of model
        narrows `sample_options`, e.g. a handwriting prediction model writes no given text)."""
        return self.sample_options

    def kind_label(self, model: Any) -> str:
        """The kind of `model` within the family, named in messages ("prediction"); "" for none."""
        return ""

    def check_sample_options(self, cfg: Any, all_options: frozenset[str], model: Any = None) -> None:
        """Refuse sampling options that do not apply to this model: another family's, another kind
        of model's, empty ones, and exclusive ones given together."""
        given = {key for key in all_options if _given(cfg.get(key))}
        applicable = self.sample_options_for(model) if model is not None else self.sample_options
        foreign = sorted(given - applicable)
        if foreign:
            mine = ", ".join(sorted(applicable)) or "none"
            label = self.kind_label(model) if model is not None else ""
            kind = f"{label} " if label else ""
            raise SeqgenError(
                f"{', '.join(foreign)} do(es) not apply to a {self.name} {kind}model; its sampling options are: {mine}"
            )
        for key in sorted(given):
            if isinstance(cfg.get(key), str) and not cfg.get(key).strip():
                raise SeqgenError(f"{key} is empty: give a value (e.g. {key}=\"...\") or leave {key} out for the default")
        for group in self.exclusive_options:
            both = [key for key in group if key in given]
            if len(both) > 1:
                raise SeqgenError(f"{' and '.join(both)} were both given: pass only one of {', '.join(group)}")
        if self.sample_schema is not None:
            self.sample_settings(cfg)  # types and ranges, before any model work

    # --- writing text (the web demo) ------------------------------------------------------------
    def writes_text(self, model: Any) -> bool:
        """True when `model` writes given text (`write`). Default: no model of the family does."""
        return False

    def write(self, model: Any, texts: list[str], bias: float = 0.0, seed: int = 0, **options: Any) -> Any:
        """One line per text at sampling `bias` -> an object with `.offsets` (raw-unit (T, 3) strokes,
        start row first) and `.ended` (True where the end-of-text rule stopped the line). Options a
        family may take: `style`, `max_points`, `on_step` (streaming). Default: cannot."""
        raise SeqgenError(f"{self.name} models cannot write text")

    def dynamic_task(self, model: Any, datamodule: Any) -> Any:
        """`seqgen-eval dynamic=true|tune`: the family's `seqgen.eval.dynamic.DynamicTask` (its data in
        documents of segments; the model implements `segment_loss`). Default: not supported."""
        raise SeqgenError(f"{self.name} models have no dynamic evaluation (it needs a model that scores a sequence segment by segment)")

    def default_styles_dir(self, cfg: Any) -> Optional[Path]:
        """The folder of real styles to prime with when the config says `styles_dir: auto`
        (the demo); None: the family has none."""
        return None

    # --- the end of `seqgen-train`: its last lines ------------------------------------------------
    def headline(self, result: Mapping[str, Any]) -> Optional[str]:
        """The run's headline metric beside its baseline, one line; None when the run has none.
        `result`: what `seqgen.training.run.train` returns (metrics.json: `metrics`, the entries
        `figures` added, `model_class`)."""
        return None

    def next_commands(self, run: str, result: Mapping[str, Any]) -> list[str]:
        """Commands to run next on the run folder `run`, exactly as they work when typed."""
        return [f"{program('seqgen-eval')} ckpt={run}"]

    def summary(self, run: str, result: Mapping[str, Any]) -> list[str]:
        """The headline beside its baseline, then the next commands (printed after the run folder)."""
        lines = []
        headline = self.headline(result)
        if headline:
            lines.append(f"[seqgen] {headline}")
        commands = self.next_commands(run, result)
        if commands:
            lines += ["[seqgen] next:", *(f"  {command}" for command in commands)]
        return lines


def _given(value: Any) -> bool:
    """An option is given when it is set; a group of options (layout.*) when any of them is."""
    if isinstance(value, Mapping) or hasattr(value, "items"):
        return any(_given(v) for _, v in value.items())
    return value is not None


def program(name: str) -> str:
    """How to type the console script `name` here: the one beside this Python (a virtual
    environment's bin/), relative to the working folder when it is inside it."""
    script = Path(sys.executable).parent / name
    if not script.exists():
        return name
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def versus(value: float, baseline: float) -> str:
    """"4.4% better" / "2.1% worse": a lower-is-better `value` relative to `baseline`."""
    if not baseline:
        return "no baseline"
    change = (baseline - value) / abs(baseline)
    return f"{abs(change):.1%} {'better' if change >= 0 else 'worse: the model does not beat it'}"


# Family name -> module that defines `FAMILY`. Imported lazily: a command pays only for its family.
_FAMILY_MODULES: dict[str, str] = {
    "text": "seqgen.families.text",
    "handwriting": "seqgen.families.handwriting",
    "atari": "seqgen.families.atari",
    "speech": "seqgen.families.speech",
    "image": "seqgen.families.image",
    "recognizer": "seqgen.families.recognizer",
    "writer_id": "seqgen.families.writer_id",
}
_LOADED: dict[str, Family] = {}


def register_family_module(name: str, module: str) -> None:
    """Make a family available under `name` (the registry's one entry point for new families); its
    typed configs (`<module>.config`, if any) are registered with Hydra at once."""
    from seqgen.core.config import register_family_configs

    _FAMILY_MODULES[name] = module
    register_family_configs({name: module})


def register_builtin_configs() -> None:
    """Register the typed configs of every known family (when `seqgen` is imported, before any
    config is composed: the YAML in conf/ names their schemas)."""
    from seqgen.core.config import register_family_configs

    register_family_configs(_FAMILY_MODULES)


def family_names() -> list[str]:
    return sorted(_FAMILY_MODULES)


def get_family(name: str) -> Family:
    """The family registered under `name` (as stored in meta.json and checkpoints)."""
    if name in _LOADED:
        return _LOADED[name]
    module_name = _FAMILY_MODULES.get(str(name))
    if module_name is None:
        raise SeqgenError(f"unknown model family '{name}': known families are {', '.join(family_names())}")
    family = getattr(importlib.import_module(module_name), "FAMILY", None)
    if not isinstance(family, Family) or family.name != name:
        raise SeqgenError(f"{module_name} does not define FAMILY = <Family named '{name}'>")
    _LOADED[name] = family
    return family


def family_of(model: Any) -> Family:
    """The family of a Lightning module (its class attribute `family`)."""
    name = getattr(type(model), "family", None)
    if not name:
        raise SeqgenError(f"{type(model).__name__} is not a seqgen model (no family)")
    return get_family(name)
