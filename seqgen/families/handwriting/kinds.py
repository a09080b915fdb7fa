"""What the handwriting family does with each kind of model: one class per Lightning module class.

    PredictionKind   `HandwritingPrediction` (Sec. 4): unconditional lines
    SynthesisKind    `HandwritingSynthesis` (Sec. 5): lines of given text, with window alignments

`kind_of(model)` is the one place that looks at a model's class. `seqgen-sample` (`sample`), the
previews after validations (`preview`), the end-of-run figures (`figures`) and the report (`label`,
`paper`: the paper's validation numbers, Tables 3 and 4: nats per sequence, SSE per point) ask
the kind of the model at hand.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional

from seqgen.errors import SeqgenError
from seqgen.families.handwriting.figures import real_density, real_rows, write_figures
from seqgen.families.handwriting.generate import (
    DEFAULT_TEXTS,
    HandwritingSamples,
    Prime,
    check_texts,
    known_text,
    predict,
    resolve_style,
    styles_dir,
    write,
)
from seqgen.families.handwriting.best_of import write_best_of
from seqgen.families.handwriting.config import HandwritingSampleOptions
from seqgen.families.handwriting.module import HandwritingModel, HandwritingPrediction, HandwritingSynthesis

Rows = list[tuple[str, Any]]
SYNTHESIS_MAX_POINTS = 1500  # seqgen-sample's max_points of a synthesis model when none is given


def announce_files(files: dict[str, Path]) -> dict[str, str]:
    """Print what `seqgen-sample` wrote and return it for the caller."""
    for path in files.values():
        print(f"wrote {path}")
    return {key: str(path) for key, path in files.items()}


def sample_settings(cfg: Any) -> HandwritingSampleOptions:
    """`seqgen-sample`'s handwriting options (null: the default), checked."""
    from seqgen.core.family import get_family

    return get_family("handwriting").sample_settings(cfg)


class PredictionKind:
    """Unconditional handwriting: lines of `sample_points` points, optionally primed with a style."""

    label = "prediction"
    paper = [("1 layer", -1025.7, 0.40), ("3 layer", -1041.0, 0.41), ("3 layer + adaptive weight noise", -1057.7, 0.41)]

    def prime(self, model: Any, options: HandwritingSampleOptions) -> Optional[Prime]:
        """The style prime that the options ask for (style, style_text), or None."""
        return resolve_style(options.style, options.style_text, model.norm, model.train_styles, styles_dir(model, options.styles_dir))

    def sample(self, model: Any, cfg: Any, out_dir: Path) -> dict[str, Any]:
        """`seqgen-sample`: num_samples lines, bias, optional style prime, max_points (at most model.sample_points)."""
        options = sample_settings(cfg)
        if options.layout.requested:
            raise SeqgenError("a page (layout.*) is written from a text: use a handwriting synthesis run")
        length = min(options.max_points or model.config.sample_points, model.config.sample_points)
        samples = predict(model, int(cfg.num_samples), length, options.bias, self.prime(model, options), int(cfg.seed), True)
        return announce_files(write_figures(model, samples, Path(out_dir), "samples"))

    def preview(self, model: Any, out_dir: Path, tag: str) -> dict[str, Any]:
        """Two lines after a validation."""
        from seqgen.render.strokes import render_png

        samples = predict(model, 2, int(model.hparams.preview_points), float(model.hparams.preview_bias), seed=model.global_step)
        return {"samples/handwriting": render_png(samples.offsets, Path(out_dir) / f"{tag}.png")}

    def figure_samples(self, model: Any, datamodule: Any) -> tuple[HandwritingSamples, Rows]:
        """Four sampled lines, and the rows of the side-by-side figure: the samples, then real lines."""
        samples = predict(model, 4, int(model.hparams.sample_points), float(model.hparams.preview_bias), seed=0, keep_params=True)
        rows = [(f"sample {i}", o) for i, o in enumerate(samples.offsets)] + real_rows(model, datamodule, 4)
        return samples, rows

    def figures(self, model: Any, run_dir: Path, datamodule: Any) -> dict[str, Path]:
        """End of training (rank 0): samples, alignments, densities, and real lines beside samples."""
        from seqgen.render.strokes import side_by_side_png

        run_dir = Path(run_dir)
        samples, rows = self.figure_samples(model, datamodule)
        files = write_figures(model, samples, run_dir, "samples")
        files["side_by_side"] = side_by_side_png(rows, run_dir / "side_by_side.png")
        density = real_density(model, datamodule, run_dir / "density_real.png")
        if density is not None:
            files["density_real"] = density
        return {f"figure_{k}": Path(v) for k, v in files.items()}


def sample_reader(model: Any, recognizer: Optional[str]) -> Any:
    """`recognizer=` of `seqgen-sample`: its `read`, checked against what the model writes (None without)."""
    if not recognizer:
        return None
    from seqgen.families.handwriting.legibility import recognizer_for

    return recognizer_for(model, recognizer, model.device).read


class SynthesisKind(PredictionKind):
    """Handwriting of given text: the window's alignment is drawn beside every distinct line."""

    label = "synthesis"
    paper = [("synthesis", -1096.9, 0.23), ("synthesis + adaptive weight noise", -1128.2, 0.23)]

    def prime(self, model: Any, options: HandwritingSampleOptions) -> Optional[Prime]:
        """The style prime, its transcription checked against the vocabulary (it is fed as text)."""
        prime = super().prime(model, options)
        if prime is not None:
            prime.text = check_texts([prime.text], model.vocab, options.unknown_chars)[0]
        return prime

    def sample(self, model: Any, cfg: Any, out_dir: Path) -> dict[str, Any]:
        """`seqgen-sample`: text ("a|b": lines), bias, style (+ style_text), max_points, unknown_chars,
        num_samples (each line is written num_samples times), seed. With layout.page or layout.width:
        the text is free text ("|" separates paragraphs) written onto a page (`pages.page_command`)."""
        options = sample_settings(cfg)
        prime = self.prime(model, options)
        if options.layout.requested:
            from seqgen.families.handwriting.pages import page_command

            return announce_files(page_command(model, options, int(cfg.seed), Path(out_dir), prime))
        lines = options.text.split("|") if options.text is not None else list(model.config.sample_texts or DEFAULT_TEXTS)
        texts = [t for t in lines for _ in range(max(int(cfg.get("num_samples") or 1), 1))]
        reader = sample_reader(model, options.recognizer)
        start = time.perf_counter()
        samples = write_best_of(
            model, texts, options.best_of, reader, options.bias, prime, options.max_points or SYNTHESIS_MAX_POINTS,
            options.unknown_chars, int(cfg.seed), keep_params=True,
        )
        seconds = time.perf_counter() - start
        files = write_figures(model, samples, Path(out_dir), "samples")
        if prime is not None:
            print(f"primed with {prime.name}: {prime.text!r}")
        for row, (text, ended, offsets) in enumerate(zip(samples.texts, samples.ended, samples.offsets)):
            how = "end of text" if ended else "max_points reached"
            read = f", read as {samples.reads[row]!r}" if samples.reads else ""
            print(f"line {row}: {text!r}: {len(offsets) - 1} points ({how}){read}")
        print(f"wrote {len(texts)} line(s), best of {options.best_of}, in {seconds:.1f} s ({seconds / len(texts):.2f} s per line)")
        return announce_files(files)

    def preview(self, model: Any, out_dir: Path, tag: str) -> dict[str, Any]:
        """The preview text, twice, and its alignment."""
        from seqgen.render.plots import alignment_plot
        from seqgen.render.strokes import render_png

        out_dir = Path(out_dir)
        text = known_text(model, model.hparams.preview_text)
        samples = write(model, [text, text], float(model.hparams.preview_bias), seed=model.global_step)
        out = {"samples/handwriting": render_png(samples.offsets, out_dir / f"{tag}.png")}
        if samples.phis[0] is not None and len(samples.phis[0]):
            out["samples/alignment"] = alignment_plot(samples.phis[0], text, out_dir / f"{tag}-alignment.png", title=f"step {model.global_step}")
        return out

    def figure_samples(self, model: Any, datamodule: Any) -> tuple[HandwritingSamples, Rows]:
        """The sample texts and the texts of three real lines, written; each real line beside its copy."""
        real = real_rows(model, datamodule, 3)
        texts = [known_text(model, t) for t in (model.hparams.sample_texts or DEFAULT_TEXTS)]
        texts += [label[len("real: "):] for label, _ in real]
        texts = [t[: int(model.hparams.max_text_chars)] for t in texts]
        samples = write(model, texts, float(model.hparams.preview_bias), seed=0, unknown_chars="drop", keep_params=True)
        rows = [(f"sample: {t}", o) for t, o in zip(samples.texts, samples.offsets)]
        n_own = len(texts) - len(real)
        return samples, rows[:n_own] + [r for pair in zip(rows[n_own:], real) for r in pair]


KINDS: dict[type[HandwritingModel], PredictionKind] = {HandwritingPrediction: PredictionKind(), HandwritingSynthesis: SynthesisKind()}


def kind_of(model: HandwritingModel) -> PredictionKind:
    """The kind of a handwriting model, by its class."""
    for cls, kind in KINDS.items():
        if isinstance(model, cls):
            return kind
    raise SeqgenError(f"{type(model).__name__} is not a handwriting prediction or synthesis model")
