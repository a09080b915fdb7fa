"""The handwriting family (Graves 2013, Sec. 4 and 5): online handwriting prediction and synthesis.

    module.py      HandwritingPrediction / HandwritingSynthesis: mixture NLL, SSE, forward
    nets.py        PredictionNet, SynthesisNet (LSTM stack, Gaussian window, mixture head)
    generate.py    sampling (bias, priming with styles, end-of-text rule)
    kinds.py       per model class: `seqgen-sample`, previews, end-of-run figures
    figures.py     samples, alignments, output densities, real lines side by side
    report.py      handwriting.md: nats and SSE next to the paper's tables
    dynamic.py     dynamic evaluation of the prediction network, in nats per line (seqgen/eval/dynamic.py)
    legibility.py  legibility with a recogniser run (`seqgen-eval recognizer=`, `model.recognizer=`)
    iam.py, hershey.py   the corpora: IAM-OnDB's original layout, synthetic Hershey-font writers
    prepare.py, linestore.py, datamodule.py   corpus -> line shards (flat memory) -> batches
    layout.py      pages: wrapping, baseline and x-height from the strokes, alignment (`write_page`)
    pages.py       a page's files (SVG / PNG / PDF, plotter SVG, G-code) and its quality report

The pen-stroke format (offsets, reading and writing strokes, user style files, the line batch)
is shared in seqgen/data/handwriting/: the recogniser and the demo read it too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional

from seqgen.core.family import Family


class HandwritingFamily(Family):
    name = "handwriting"
    # lazy: `prepare` imports no Lightning (docs/benchmarks.md: prepare's memory)
    module_paths = ("seqgen.families.handwriting.module:HandwritingPrediction", "seqgen.families.handwriting.module:HandwritingSynthesis")
    sample_options = frozenset({"text", "bias", "style", "style_text", "styles_dir", "max_points", "unknown_chars", "layout", "gcode"})
    callback_keys = frozenset({"recognizer", "legibility"})

    def callbacks(self, cfg: Any) -> list[Any]:
        """`model.recognizer=<run>`: legibility at every validation (`model.legibility.*`)."""
        recognizer = cfg.model.get("recognizer")
        if not recognizer:
            return []
        from seqgen.families.handwriting.legibility import LegibilityCallback

        return [LegibilityCallback(str(recognizer), **dict(cfg.model.get("legibility") or {}))]

    def sample_options_for(self, model: Any) -> frozenset[str]:
        # a prediction model writes freely: no text to write, no transcription to check
        return self.sample_options if self.writes_text(model) else self.sample_options - {"text"}

    def kind_label(self, model: Any) -> str:
        from seqgen.families.handwriting.kinds import kind_of

        return kind_of(model).label

    def generate(self, model: Any, cfg: Any, out_dir: Path) -> dict[str, Any]:
        from seqgen.families.handwriting.kinds import kind_of

        return kind_of(model).sample(model, cfg, out_dir)

    def preview(self, model: Any, datamodule: Any, out_dir: Path, tag: str) -> dict[str, Any]:
        from seqgen.families.handwriting.kinds import kind_of

        return kind_of(model).preview(model, out_dir, tag)

    def figures(self, model: Any, run_dir: Path, datamodule: Any, metrics: Mapping[str, float]) -> dict[str, Any]:
        from seqgen.families.handwriting.kinds import kind_of

        out: dict[str, Any] = dict(kind_of(model).figures(model, run_dir, datamodule))
        out.update(self.report(model, run_dir, datamodule, metrics))
        return out

    def report(self, model: Any, out_dir: Path, datamodule: Any, metrics: Mapping[str, float]) -> dict[str, Any]:
        from seqgen.families.handwriting.kinds import kind_of
        from seqgen.families.handwriting.report import report

        kind = kind_of(model)
        return report(out_dir, metrics, kind.label, kind.paper)

    def check_evaluate(self, model: Any, cfg: Any) -> None:
        """`recognizer=`: the model writes given text and the recogniser reads all of its characters."""
        if cfg.get("recognizer"):
            from seqgen.families.handwriting.legibility import recognizer_for

            recognizer_for(model, cfg.recognizer, cfg.device)

    def evaluate(self, model: Any, cfg: Any, datamodule: Any, metrics: dict[str, float], out_dir: Path) -> dict[str, Any]:
        """`seqgen-eval recognizer=<run>`: legibility of a synthesis model (seqgen/eval/legibility.py)."""
        if not cfg.get("recognizer"):
            return {}
        from seqgen.families.handwriting.legibility import evaluate_with_recognizer

        return evaluate_with_recognizer(model, cfg, datamodule, metrics, Path(out_dir))

    # --- the web demo (seqgen/serve) writes through these -----------------------------------------
    def writes_text(self, model: Any) -> bool:
        from seqgen.families.handwriting.module import HandwritingSynthesis

        return isinstance(model, HandwritingSynthesis)

    def write(
        self, model: Any, texts: list[str], bias: float = 0.0, seed: int = 0, style: Optional[tuple[Any, str]] = None,
        max_points: Optional[int] = None, on_step: Any = None,
    ) -> Any:
        """A synthesis model writes `texts` -> `HandwritingSamples` (raw units). style: None or
        (normalised offsets (T, 3), transcription) to prime with; on_step(index, raw points (B, 3))
        streams every step, returning False stops."""
        from seqgen.errors import SeqgenError
        from seqgen.families.handwriting.generate import Prime, write

        if not self.writes_text(model):
            raise SeqgenError(f"a {type(model).__name__} writes no given text: use a synthesis run")
        prime = Prime(style[0], style[1], "style") if style is not None else None
        return write(model, texts, bias, prime, max_points, "error", seed, on_step=on_step)

    def dynamic_task(self, model: Any, datamodule: Any) -> Any:
        from seqgen.families.handwriting.dynamic import HandwritingDynamicTask

        return HandwritingDynamicTask(model, datamodule)

    def default_styles_dir(self, cfg: Any) -> Optional[Path]:
        """The thirteen real IAM-OnDB styles: `paths.styles_dir` (SEQGEN_STYLES, else the shared real
        samples beside the folder the command runs in)."""
        folder = cfg.get("paths", {}).get("styles_dir")
        return Path(str(folder)).expanduser() if folder else None


FAMILY = HandwritingFamily()

__all__ = ["FAMILY", "HandwritingFamily", "HandwritingModel", "HandwritingPrediction", "HandwritingSynthesis"]


def __getattr__(name: str) -> Any:
    """The module classes, imported on first use (so `seqgen-prepare` imports no Lightning)."""
    if name in ("HandwritingModel", "HandwritingPrediction", "HandwritingSynthesis"):
        from seqgen.families.handwriting import module

        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
