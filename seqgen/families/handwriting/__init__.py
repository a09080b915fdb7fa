"""The handwriting family (Graves 2013, Sec. 4 and 5): online handwriting prediction and synthesis.

    module.py    HandwritingPrediction / HandwritingSynthesis: mixture NLL, SSE, forward
    nets.py      PredictionNet, SynthesisNet (LSTM stack, Gaussian window, mixture head)
    generate.py  sampling (bias, priming with styles, end-of-text rule), `seqgen-sample`, previews
    figures.py   end-of-run samples, alignments, output densities, real lines side by side
    report.py    handwriting.md: nats and SSE next to the paper's tables
    dynamic.py   dynamic evaluation of the prediction network, in nats per line (seqgen/eval/dynamic.py)

Data (IAM-OnDB reader, Hershey writers, strokes, styles, datamodule) is a shared layer in
seqgen/data/handwriting/: other families (recognition) and the demo read it too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional

from seqgen.families.base import Family


class HandwritingFamily(Family):
    name = "handwriting"
    # lazy: `prepare` imports no Lightning (~0.25 GB of memory)
    module_paths = ("seqgen.families.handwriting.module:HandwritingPrediction", "seqgen.families.handwriting.module:HandwritingSynthesis")
    sample_options = frozenset({"text", "bias", "style", "style_text", "styles_dir", "max_points", "unknown_chars"})

    def generate(self, model: Any, cfg: Any, out_dir: Path) -> dict[str, Any]:
        from seqgen.families.handwriting.generate import sample_command

        return sample_command(model, cfg, out_dir)

    def preview(self, model: Any, out_dir: Path, tag: str) -> dict[str, Any]:
        from seqgen.families.handwriting.generate import preview

        return preview(model, out_dir, tag)

    def figures(self, model: Any, run_dir: Path, datamodule: Any, metrics: Mapping[str, float]) -> dict[str, Any]:
        from seqgen.families.handwriting.figures import run_figures

        out = run_figures(model, run_dir, datamodule)
        out.update(self.report(model, run_dir, datamodule, metrics))
        return out

    def report(self, model: Any, out_dir: Path, datamodule: Any, metrics: Mapping[str, float]) -> dict[str, Any]:
        from seqgen.families.handwriting.report import report

        return report(model, out_dir, metrics)

    # --- legibility (seqgen/eval/legibility.py) and the web demo (seqgen/serve) write through these --
    def write(
        self, model: Any, texts: list[str], bias: float = 0.0, seed: int = 0, style: Optional[tuple[Any, str]] = None,
        max_points: Optional[int] = None, on_step: Any = None,
    ) -> Any:
        """A synthesis model writes `texts` -> `HandwritingSamples` (raw units). style: None or
        (normalised offsets (T, 3), transcription) to prime with; on_step(index, raw points (B, 3))
        streams every step, returning False stops."""
        from seqgen.errors import SeqgenError
        from seqgen.families.handwriting.generate import Prime, write

        if getattr(model, "kind", None) != "synthesis":
            raise SeqgenError(f"a handwriting {getattr(model, 'kind', '')} model writes no given text: use a synthesis run")
        prime = Prime(style[0], style[1], "style") if style is not None else None
        return write(model, texts, bias, prime, max_points, "error", seed, on_step=on_step)

    def dynamic_task(self, model: Any, datamodule: Any) -> Any:
        from seqgen.families.handwriting.dynamic import HandwritingDynamicTask

        return HandwritingDynamicTask(model, datamodule)

    def default_styles_dir(self) -> Path:
        """Where the thirteen real IAM-OnDB styles live when the shared samples are present."""
        from seqgen.families.handwriting.generate import DEFAULT_STYLES_DIR

        return DEFAULT_STYLES_DIR


FAMILY = HandwritingFamily()

__all__ = ["FAMILY", "HandwritingFamily", "HandwritingModel", "HandwritingPrediction", "HandwritingSynthesis"]


def __getattr__(name: str) -> Any:
    """The module classes, imported on first use (so `seqgen-prepare` imports no Lightning)."""
    if name in ("HandwritingModel", "HandwritingPrediction", "HandwritingSynthesis"):
        from seqgen.families.handwriting import module

        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
