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

from seqgen.core.family import Family, program
from seqgen.families.handwriting.config import HandwritingSampleOptions


class HandwritingFamily(Family):
    name = "handwriting"
    # lazy: `prepare` imports no Lightning (docs/benchmarks.md: prepare's memory)
    module_paths = ("seqgen.families.handwriting.module:HandwritingPrediction", "seqgen.families.handwriting.module:HandwritingSynthesis")
    sample_schema = HandwritingSampleOptions
    callback_keys = frozenset({"recognizer", "legibility"})

    def callbacks(self, cfg: Any) -> list[Any]:
        """`model.recognizer=<run>`: legibility at every validation (`model.legibility.*`)."""
        recognizer = cfg.model.get("recognizer")
        if not recognizer:
            return []
        from seqgen.families.handwriting.legibility import LegibilityCallback

        return [LegibilityCallback(str(recognizer), **dict(cfg.model.get("legibility") or {}))]

    def sample_options_for(self, model: Any) -> frozenset[str]:
        # a prediction model writes freely: no text to write, no transcription to check or read
        return self.sample_options if self.writes_text(model) else self.sample_options - {"text", "best_of", "recognizer"}

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
        """`recognizer=`: the model writes given text and the recogniser reads all of its characters;
        `style=true`: a synthesis model and a writer classifier that knows its embedded writers."""
        from seqgen.errors import SeqgenError
        from seqgen.families.handwriting.best_of import best_of_counts

        if cfg.get("recognizer"):
            from seqgen.families.handwriting.legibility import recognizer_for

            recognizer_for(model, cfg.recognizer, cfg.device)
        elif max(best_of_counts(cfg.get("best_of"))) > 1:
            raise SeqgenError("best_of > 1 keeps the candidate a recogniser reads best: give recognizer=<recogniser run>")
        if cfg.get("style"):
            if not self.writes_text(model):
                raise SeqgenError(f"style=true measures lines written in a writer's style: a {type(model).__name__} writes no given text")
            if not cfg.get("writer_id"):
                raise SeqgenError("style=true attributes lines to writers with a writer classifier: give writer_id=<writer_id run> "
                                  "(seqgen-train experiment=writer_id_sparse)")
            from seqgen.families.handwriting.style import load_writer_classifier

            load_writer_classifier(model, cfg.writer_id, cfg.device)

    def evaluate(self, model: Any, cfg: Any, datamodule: Any, metrics: dict[str, float], out_dir: Path) -> dict[str, Any]:
        """`seqgen-eval recognizer=<run>`: legibility of a synthesis model (seqgen/eval/legibility.py);
        `style=true writer_id=<run>`: style accuracy and distance (style.py)."""
        out: dict[str, Any] = {}
        if cfg.get("recognizer"):
            from seqgen.families.handwriting.legibility import evaluate_with_recognizer

            out.update(evaluate_with_recognizer(model, cfg, datamodule, metrics, Path(out_dir)))
        if cfg.get("style"):
            from seqgen.families.handwriting.style import style_measures

            result = style_measures(model, cfg, datamodule, Path(out_dir), self.default_styles_dir(cfg))
            metrics.update(result.pop("metrics"))
            out.update(result)
        return out

    # --- the web demo (seqgen/serve) writes through these -----------------------------------------
    def writes_text(self, model: Any) -> bool:
        from seqgen.families.handwriting.module import HandwritingSynthesis

        return isinstance(model, HandwritingSynthesis)

    def write(
        self, model: Any, texts: list[str], bias: float = 0.0, seed: int = 0, style: Optional[tuple[Any, str]] = None,
        max_points: Optional[int] = None, on_step: Any = None, best_of: int = 1, reader: Any = None,
    ) -> Any:
        """A synthesis model writes `texts` -> `HandwritingSamples` (raw units). style: None or
        (normalised offsets (T, 3), transcription) to prime with; on_step(index, raw points (B, 3))
        streams every step, returning False stops; best_of > 1 keeps per text the candidate that
        `reader` (raw strokes -> texts) reads best (`best_of.write_best_of`)."""
        from seqgen.errors import SeqgenError
        from seqgen.families.handwriting.best_of import write_best_of
        from seqgen.families.handwriting.generate import Prime

        if not self.writes_text(model):
            raise SeqgenError(f"a {type(model).__name__} writes no given text: use a synthesis run")
        prime = Prime(style[0], style[1], "style") if style is not None else None
        return write_best_of(model, texts, best_of, reader, bias, prime, max_points, "error", seed, on_step=on_step)

    def dynamic_task(self, model: Any, datamodule: Any) -> Any:
        from seqgen.families.handwriting.dynamic import HandwritingDynamicTask

        return HandwritingDynamicTask(model, datamodule)

    def default_styles_dir(self, cfg: Any) -> Optional[Path]:
        """The thirteen real IAM-OnDB styles: `paths.styles_dir` (SEQGEN_STYLES, else the shared real
        samples beside the folder the command runs in)."""
        folder = cfg.get("paths", {}).get("styles_dir")
        return Path(str(folder)).expanduser() if folder else None

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
