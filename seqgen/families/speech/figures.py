"""Figures of the speech family: spectrograms (generated beside real), window alignment, WAVs.

Drawing only: `seqgen.families.speech.generate` generates and calls these (`compare_with_real`
at the end of training, `preview` after validations, `seqgen-sample`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from matplotlib.figure import Figure

from seqgen.render.plots import alignment_plot, save_figure_atomic

log = logging.getLogger(__name__)


def spectrogram_image(model: Any, frames: np.ndarray) -> np.ndarray:
    """(rows, T) image of normalised frames: the features themselves, or for WORLD frames the
    log of the decoded spectral envelope on the mel bands (F0 and aperiodicity are not shown)."""
    raw = model.denormalise(frames)
    if model.spec.kind != "world":
        return raw.T
    from seqgen.families.speech.features import Features

    return np.log(Features(model.spec).mel_power(raw).numpy() + model.spec.floor)


YLABELS = {"mel": "mel bin", "linear": "frequency bin", "mfcc": "cepstral coef.", "world": "mel band (WORLD envelope)"}


def spectrogram_png(model: Any, panels: Sequence[tuple[str, np.ndarray]], path: Path) -> Path:
    """One panel per (title, normalised frames (T, D)), frequency up, shared colour scale (dB-like log units)."""
    images = [spectrogram_image(model, frames) for _, frames in panels]
    lo = min(float(np.percentile(im, 2)) for im in images) if images else 0.0
    hi = max(float(im.max()) for im in images) if images else 1.0
    width = max(6.0, min(0.02 * max(im.shape[1] for im in images) + 3.0, 24.0))
    fig = Figure(figsize=(width, 2.4 * len(panels) + 0.4), layout="constrained")
    kind = model.spec.kind
    for index, ((title, _), image) in enumerate(zip(panels, images)):
        ax = fig.add_subplot(len(panels), 1, index + 1)
        im = ax.imshow(image, aspect="auto", origin="lower", interpolation="nearest", cmap="magma", vmin=lo, vmax=hi)
        ax.set_title(title, fontsize=9)
        ax.set_ylabel(YLABELS[kind])
        fig.colorbar(im, ax=ax, fraction=0.02, pad=0.01)
    ax.set_xlabel(f"frame ({1000 * model.spec.frame_seconds:.1f} ms each)")
    return save_figure_atomic(fig, path)


def alignment_png(sample: Any, path: Path) -> Path:
    labels = [s if s != " " else "\u2423" for s in sample.symbols]
    title = f"Window weights phi(t, u), speaker {sample.speaker}" + ("" if sample.finished else " (stopped by the frame limit)")
    return alignment_plot(sample.phi, labels, path, title=title)  # a list of labels: one per row
