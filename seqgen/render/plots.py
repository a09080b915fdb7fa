"""Analysis figures of Graves 2013: window alignment (Fig. "Window weights") and output density heat maps
("Output Density" / "Synthesis Density"). Matplotlib with the Agg canvas only (no pyplot state), written
atomically (`seqgen.io.atomic_path`). The density is the mixture head's own (`seqgen.nn.mdn`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from seqgen.io import atomic_path

__all__ = ["alignment_plot", "density_plot", "accumulate_density", "error_by_bias_plot", "save_figure_atomic"]

PathLike = Union[str, os.PathLike]


def save_figure_atomic(fig: Figure, path: PathLike, dpi: int = 120) -> Path:
    """Render ``fig`` to ``path`` (format from the suffix, default png) atomically."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    FigureCanvasAgg(fig)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight")
    return path


def error_by_bias_plot(
    biases: Sequence[float],
    errors: Sequence[float],
    label: str,
    floors: Sequence[tuple[float, str, str, str]],
    ylabel: str,
    title: str,
    path: PathLike,
    legend_size: int = 8,
) -> Path:
    """An error rate (fraction) of generated samples against the sampling bias, with horizontal
    floors `(value, label, colour, linestyle)` beside it (the recogniser on real data, a vocoder)."""
    fig = Figure(figsize=(5.0, 3.4))
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(list(biases), [100 * e for e in errors], "o-", label=label)
    for value, floor_label, colour, style in floors:
        ax.axhline(100 * value, color=colour, linestyle=style, label=floor_label)
    ax.set_xlabel("sampling bias b")
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=legend_size)
    return save_figure_atomic(fig, path)



def _char_label(ch: str) -> str:
    return "\u2423" if ch == " " else ch


def alignment_plot(phi: np.ndarray, text: str, path: PathLike, title: Optional[str] = None) -> Path:
    """Window weights phi(t, u) as an image: x = time step t, y = characters of ``text`` (top to bottom).

    phi: (T, U) with U == len(text) (a (T, U+1) array with the past-the-end column is also accepted; the
    extra row is labelled '<end>').
    """
    phi = np.asarray(phi, dtype=np.float64)
    if phi.ndim != 2:
        raise ValueError(f"phi must be (T, U), got shape {phi.shape}")
    t_len, u_len = phi.shape
    labels = [_char_label(c) for c in text]
    if u_len == len(text) + 1:
        labels.append("<end>")
    elif u_len != len(text):
        raise ValueError(f"phi has {u_len} character columns but text has {len(text)} characters")
    height = max(2.5, min(0.18 * u_len + 1.0, 30.0))
    width = max(4.0, min(0.012 * t_len + 3.0, 30.0))
    fig = Figure(figsize=(width, height))
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(
        phi.T, aspect="auto", origin="upper", interpolation="nearest", cmap="Greys",
        extent=(-0.5, t_len - 0.5, u_len - 0.5, -0.5),
    )
    ax.set_yticks(np.arange(u_len))
    ax.set_yticklabels(labels, fontsize=7 if u_len > 40 else 9, family="monospace")
    ax.set_xlabel("time step t")
    ax.set_ylabel("character u")
    ax.set_title(title or "Window weights phi(t, u)")
    fig.colorbar(im, ax=ax, fraction=0.03, pad=0.01)
    return save_figure_atomic(fig, path)


def _log_density(params: Any) -> Any:
    """params (MixtureParams, or a mapping of its fields as tensors/arrays) -> pts (n, P, 2) -> (n, P):
    the offset density of the mixture head, `seqgen.nn.mdn.mixture_log_density` (one implementation)."""
    import torch

    from seqgen.nn.mdn import MixtureParams, mixture_log_density, params_from_numpy

    if not (isinstance(params, Mapping) or hasattr(params, "_asdict")):
        raise TypeError("params must be MixtureParams or a mapping with keys " + ", ".join(MixtureParams._fields))
    fields = params._asdict() if hasattr(params, "_asdict") else dict(params)
    fields.setdefault("eos_logit", np.zeros(np.shape(fields["log_pi"])[:-1]))  # the pen term is not drawn
    full = params_from_numpy(fields, MixtureParams, torch.float64)

    def log_density(rows: slice, pts: np.ndarray) -> np.ndarray:
        part = full.map(lambda t: t[rows].unsqueeze(1))  # (c, 1, ...) against pts (c, P, 2)
        return mixture_log_density(part, torch.from_numpy(pts)).numpy()

    return log_density, int(full.log_pi.shape[0])


def accumulate_density(
    offsets: np.ndarray,
    params: Any,
    resolution: int = 400,
    radius: float = 4.0,
    margin: float = 2.0,
    chunk: int = 64,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Heat map of the predicted next-point densities over the absolute trajectory.

    offsets (T, 3) rows (dx, dy, eos); params: MixtureParams (tensors or numpy) or a dict with fields
    log_pi (T, M), mu (T, M, 2), log_sigma (T, M, 2), rho (T, M), where ``params[t]`` is the predicted
    distribution of ``offsets[t]`` (i.e. already aligned with the targets). Offsets and params must be in
    the same units. Absolute positions P_t = sum_{s<=t} offsets[s, :2], P_{-1} = 0; step t's density
    p_t(P - P_{t-1}) is evaluated on the cells within ``radius`` units of P_t and accumulated.
    Returns (image (ny, nx), xs (nx,), ys (ny,), positions (T, 2)).
    """
    off = np.asarray(offsets, dtype=np.float64)
    if off.ndim != 2 or off.shape[1] < 2:
        raise ValueError(f"offsets must be (T, 3), got {off.shape}")
    log_density, n_params = _log_density(params)
    n = min(off.shape[0], n_params)
    off = off[:n]
    pos = np.cumsum(off[:, :2], axis=0)
    prev = np.vstack([np.zeros((1, 2)), pos[:-1]])
    lo = pos.min(0) - margin
    hi = pos.max(0) + margin
    step = float(max(hi - lo)) / max(resolution, 2)
    step = step if step > 0 else 1.0
    nx = int(np.ceil((hi[0] - lo[0]) / step)) + 1
    ny = int(np.ceil((hi[1] - lo[1]) / step)) + 1
    xs = lo[0] + step * np.arange(nx)
    ys = lo[1] + step * np.arange(ny)
    img = np.zeros((ny, nx))
    r = max(1, int(np.ceil(radius / step)))
    r = min(r, 60)
    d = np.arange(-r, r + 1)
    dy_idx, dx_idx = np.meshgrid(d, d, indexing="ij")
    dx_idx, dy_idx = dx_idx.ravel(), dy_idx.ravel()
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        cx = np.rint((pos[s:e, 0] - lo[0]) / step).astype(int)
        cy = np.rint((pos[s:e, 1] - lo[1]) / step).astype(int)
        ix = np.clip(cx[:, None] + dx_idx[None], 0, nx - 1)  # (c, P)
        iy = np.clip(cy[:, None] + dy_idx[None], 0, ny - 1)
        pts = np.stack([xs[ix] - prev[s:e, 0:1], ys[iy] - prev[s:e, 1:2]], axis=-1)  # offsets (c, P, 2)
        dens = np.exp(log_density(slice(s, e), pts))
        # duplicated clipped indices at the border would double count: keep only in-range cells
        ok = (cx[:, None] + dx_idx[None] >= 0) & (cx[:, None] + dx_idx[None] < nx)
        ok &= (cy[:, None] + dy_idx[None] >= 0) & (cy[:, None] + dy_idx[None] < ny)
        np.add.at(img, (iy[ok], ix[ok]), dens[ok])
    return img, xs, ys, pos


def density_plot(
    offsets: np.ndarray,
    params: Any,
    path: PathLike,
    title: Optional[str] = None,
    resolution: int = 400,
    radius: float = 4.0,
    flip_y: bool = False,
    show_strokes: bool = True,
    gamma: float = 0.5,
) -> Path:
    """Output-density heat map over the absolute trajectory (see `accumulate_density` for the contract).

    The accumulated density is shown with a power-law colour scale (``gamma``, 1 = linear) so faint
    regions stay visible; ``show_strokes`` overlays the pen-down trajectory; ``flip_y`` for data whose y
    axis points down.
    """
    img, xs, ys, pos = accumulate_density(offsets, params, resolution=resolution, radius=radius)
    shown = np.power(img / img.max(), gamma) if img.max() > 0 else img
    span = (xs[-1] - xs[0], ys[-1] - ys[0])
    aspect = span[1] / span[0] if span[0] > 0 else 1.0
    width = 12.0
    fig = Figure(figsize=(width, max(1.5, min(width * aspect + 0.8, 12.0))))
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(
        shown, origin="lower", cmap="magma", interpolation="bilinear", aspect="equal",
        extent=(xs[0], xs[-1], ys[0], ys[-1]),
    )
    if show_strokes:
        off = np.asarray(offsets, dtype=np.float64)[: len(pos)]
        eos = off[:, 2] > 0.5 if off.shape[1] > 2 else np.zeros(len(pos), bool)
        start = 0
        for t in range(len(pos)):
            if eos[t] or t == len(pos) - 1:
                seg = pos[start : t + 1]
                ax.plot(seg[:, 0], seg[:, 1], color="cyan", linewidth=0.4, alpha=0.6)
                start = t + 1
    if flip_y:
        ax.invert_yaxis()
    ax.set_axis_off()
    ax.set_title(title or "Output density")
    return save_figure_atomic(fig, path)
