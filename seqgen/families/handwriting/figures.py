"""End-of-run figures of a handwriting model: samples (PNG + SVG), window alignments, the output
density along a sampled and along a real line (the paper's "Output Density" figures), and real
validation lines side by side with the model's own."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from seqgen.errors import SeqgenError
from seqgen.families.handwriting.generate import HandwritingSamples, params_to_raw
from seqgen.nn.modes import eval_mode

log = logging.getLogger(__name__)


def write_figures(model: Any, samples: HandwritingSamples, out_dir: Path, stem: str, density: bool = True) -> dict[str, Path]:
    """PNG + SVG of every line, alignment plot (synthesis) and density plot of row 0."""
    from seqgen.render.plots import alignment_plot, density_plot
    from seqgen.render.strokes import render_png, render_svg

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "png": render_png(samples.offsets, out_dir / f"{stem}.png"),
        "svg": render_svg(samples.offsets, out_dir / f"{stem}.svg"),
    }
    seen: set[str] = set()
    for text, phi in zip(samples.texts, samples.phis):
        if phi is None or text in seen or len(phi) == 0:
            continue
        suffix = "" if not seen else f"-{len(seen)}"
        seen.add(text)
        files[f"alignment{suffix}"] = alignment_plot(phi, text, out_dir / f"{stem}-alignment{suffix}.png", title=f"Window weights: {text!r}")
    if density and samples.params and samples.params[0] is not None and len(samples.offsets[0]) > 2:
        files["density"] = density_plot(
            samples.offsets[0][1:], samples.params[0], out_dir / f"{stem}-density.png",
            title="Output density of the sampled line", radius=_radius(model),
        )
    return files


def _radius(model: Any) -> float:
    return 3.0 * float(np.max(model.norm.std))


def real_rows(model: Any, datamodule: Any, limit: int) -> list[tuple[str, np.ndarray]]:
    """Up to `limit` validation lines in raw units, labelled "real: <text>"."""
    try:
        lines = datamodule.read_lines("valid", limit)
    except (SeqgenError, OSError, AttributeError) as err:
        log.warning("no real lines for the side-by-side figure: %s", err)
        return []
    return [(f"real: {line['text']}", model.norm.invert(line["offsets"].numpy())) for line in lines]


@torch.no_grad()
def real_density(model: Any, datamodule: Any, path: Path) -> Optional[Path]:
    """The paper's output-density figure: predicted densities along a real validation line."""
    from seqgen.data.handwriting.batch import collate_lines
    from seqgen.render.plots import density_plot

    try:
        lines = datamodule.read_lines("valid", 1)
    except (SeqgenError, OSError, AttributeError):
        return None
    if not lines:
        return None
    batch = collate_lines(lines).to(model.device)
    with eval_mode(model):
        params = params_to_raw(model.run_network(batch), model.norm).map(lambda p: p[0])
    raw = model.norm.invert(lines[0]["offsets"].numpy())
    return density_plot(raw[1:], params, path, title=f"Output density: {lines[0]['text']!r}", radius=_radius(model))
