"""The family contract: what the platform asks of a model family, and nothing more.

A *family* (text, handwriting, speech, image, ...) lives in `seqgen/families/<name>/` and owns its
corpora, `prepare`, datamodule, networks, Lightning module(s), generation, figures and report. The
platform (the CLI, training, sweeps, the demo server) never probes a model with `hasattr`; it
looks the family up by the name stored in `meta.json` and in every checkpoint, and calls the
named methods of one `Family` object:

    family = get_family(name)                     # registry: name -> Family
    module_cls = family.module_class(class_name)  # allow-list for checkpoint loading
    family.generate(model, cfg, out_dir)          # `seqgen-sample`
    family.preview(model, out_dir, tag)           # samples logged during training
    family.figures(model, run_dir, datamodule, metrics)   # end of a training run
    family.report(model, out_dir, datamodule, metrics)    # `seqgen-eval` and end of training
    family.write(model, texts, bias, seed)                # strokes of texts (legibility evaluation)
    family.dynamic_task(model, datamodule)                # `seqgen-eval dynamic=true` (seqgen/eval/dynamic.py)

The datamodule and the Lightning module are built from the Hydra config (`data.datamodule`,
`model`), so they are not methods here; `module_classes` lists the LightningModules a checkpoint
of this family may hold (checkpoints name their class; only listed classes are ever built).

Adding a family: see docs/architecture.md ("Adding a family").
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, ClassVar, Mapping

from seqgen.errors import SeqgenError


class Family:
    """Base class of every family; override what the family supports.

    Class attributes:
      name: the family's name, as stored in `meta.json` ("family") and in checkpoints.
      module_classes: the Lightning module classes of this family (checkpoint allow-list).
      sample_options: the `seqgen-sample` options this family reads (others are refused, so a
        user who passes `temperature=` to a handwriting model hears about it).
    """

    name: ClassVar[str] = ""
    module_classes: ClassVar[tuple[type, ...]] = ()
    # The same allow-list as "package.module:Class" strings, imported on first use: a family whose
    # `prepare` must stay light (no Lightning import, flat memory) lists its modules here.
    module_paths: ClassVar[tuple[str, ...]] = ()
    sample_options: ClassVar[frozenset[str]] = frozenset()

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

    # --- what the platform asks of a family ------------------------------------------------------
    def generate(self, model: Any, cfg: Any, out_dir: Path) -> dict[str, Any]:
        """`seqgen-sample`: write samples to `out_dir`, return {name: path or value}."""
        raise SeqgenError(f"{self.name} models cannot be sampled from")

    def preview(self, model: Any, out_dir: Path, tag: str) -> dict[str, Any]:
        """A few samples during training, logged to W&B; {log key: path/str}. Default: none."""
        return {}

    def figures(self, model: Any, run_dir: Path, datamodule: Any, metrics: Mapping[str, float]) -> dict[str, Any]:
        """End of a training run (rank 0, not after preemption): samples and figures. Default: the report."""
        return self.report(model, run_dir, datamodule, metrics)

    def report(self, model: Any, out_dir: Path, datamodule: Any, metrics: Mapping[str, float]) -> dict[str, Any]:
        """`seqgen-eval`: a Markdown/JSON report beside metrics.json; returns extra metrics.json entries."""
        return {}

    def write(self, model: Any, texts: list[str], bias: float = 0.0, seed: int = 0, **options: Any) -> Any:
        """Families that write text as strokes (legibility, seqgen/eval/legibility.py; the web demo):
        one line per text at sampling `bias` -> an object with `.offsets` (raw-unit (T, 3) strokes,
        start row first) and `.ended` (True where the end-of-text rule stopped the line). Options a
        family may take: `style`, `max_points`, `on_step` (streaming). Default: cannot."""
        raise SeqgenError(f"{self.name} models cannot write text, so their legibility cannot be measured")

    def dynamic_task(self, model: Any, datamodule: Any) -> Any:
        """`seqgen-eval dynamic=true|tune`: the family's `seqgen.eval.dynamic.DynamicTask` (its data in
        documents of segments; the model implements `segment_loss`). Default: not supported."""
        raise SeqgenError(f"{self.name} models have no dynamic evaluation (it needs a model that scores a sequence segment by segment)")

    def check_sample_options(self, cfg: Any, all_options: frozenset[str]) -> None:
        """Refuse sampling options that belong to other families (silently ignored before)."""
        given = {key for key in all_options if cfg.get(key) is not None}
        foreign = sorted(given - self.sample_options)
        if foreign:
            mine = ", ".join(sorted(self.sample_options)) or "none"
            raise SeqgenError(
                f"{', '.join(foreign)} do(es) not apply to a {self.name} model; its sampling options are: {mine}"
            )


# Family name -> module that defines `FAMILY`. Imported lazily: a command pays only for its family.
_FAMILY_MODULES: dict[str, str] = {
    "text": "seqgen.families.text",
    "handwriting": "seqgen.families.handwriting",
    "atari": "seqgen.families.atari",
    "speech": "seqgen.families.speech",
    "image": "seqgen.families.image",
    "recognizer": "seqgen.families.recognizer",
}
_LOADED: dict[str, Family] = {}


def register_family_module(name: str, module: str) -> None:
    """Make a family available under `name` (the registry's one entry point for new families)."""
    _FAMILY_MODULES[name] = module


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
