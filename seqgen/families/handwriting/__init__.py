"""The handwriting family (Graves 2013, Sec. 4 and 5): online handwriting prediction and synthesis.

    module.py    HandwritingPrediction / HandwritingSynthesis: mixture NLL, SSE, forward
    nets.py      PredictionNet, SynthesisNet (LSTM stack, Gaussian window, mixture head)
    generate.py  sampling (bias, priming with styles, end-of-text rule), `seqgen-sample`, previews
    figures.py   end-of-run samples, alignments, output densities, real lines side by side
    report.py    handwriting.md: nats and SSE next to the paper's tables

Data (IAM-OnDB reader, Hershey writers, strokes, styles, datamodule) is a shared layer in
seqgen/data/handwriting/: other families (recognition) and the demo read it too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional

from seqgen.families.base import Family, program


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

    # --- the end of `seqgen-train` -------------------------------------------------------------
    def headline(self, result: Mapping[str, Any]) -> Optional[str]:
        """Legibility (the recogniser's CER at bias 1) beside the recogniser's CER on the real lines
        of the same texts, when `model.recognizer` is configured; else the test NLL."""
        metrics = result.get("metrics") or {}
        for stage in ("test", "val"):
            if f"{stage}/cer" in metrics:
                real = metrics.get(f"{stage}/cer_real")
                floor = f"; on the real lines of the same texts {real:.1%} (the recogniser's own error)" if real is not None else ""
                return f"legibility ({stage} texts): the recogniser reads the written lines with CER {metrics[f'{stage}/cer']:.1%}{floor}"
        if "test/nll" not in metrics:
            return None
        hint = "; legibility: model.recognizer=<recogniser run>, or seqgen-eval ... recognizer=<recogniser run>" if self._synthesis(result) else ""
        return f"test: {metrics['test/nll']:.1f} nats per line ({metrics.get('test/nll_per_point', float('nan')):.3f} per point){hint}"

    def next_commands(self, run: str, result: Mapping[str, Any]) -> list[str]:
        if not self._synthesis(result):
            return [f"{program('seqgen-sample')} ckpt={run} num_samples=4 bias=0.5", f"{program('seqgen-eval')} ckpt={run}"]
        return [
            f"""{program('seqgen-sample')} ckpt={run} "text='hello world|second line'" bias=1.0""",
            f"{program('seqgen-eval')} ckpt={run}",
            f"{program('seqgen-serve')} ckpt={run}",
        ]

    @staticmethod
    def _synthesis(result: Mapping[str, Any]) -> bool:
        return result.get("model_class") == "HandwritingSynthesis"


FAMILY = HandwritingFamily()

__all__ = ["FAMILY", "HandwritingFamily", "HandwritingModel", "HandwritingPrediction", "HandwritingSynthesis"]


def __getattr__(name: str) -> Any:
    """The module classes, imported on first use (so `seqgen-prepare` imports no Lightning)."""
    if name in ("HandwritingModel", "HandwritingPrediction", "HandwritingSynthesis"):
        from seqgen.families.handwriting import module

        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
