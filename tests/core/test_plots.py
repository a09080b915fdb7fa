"""Analysis plots: files written atomically, non-blank PNGs."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest
import torch

from seqgen.nn.mdn import split_mixture_outputs
from seqgen.render.plots import accumulate_density, alignment_plot, density_plot


def _non_blank(path: Path) -> None:
    assert path.exists() and path.stat().st_size > 1000
    img = mpimg.imread(path)
    assert img.ndim == 3 and img[..., :3].std() > 0.01
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_alignment_plot(tmp_path: Path) -> None:
    text = "hi there"
    t_len, u_len = 60, len(text)
    centre = np.linspace(1, u_len, t_len)[:, None]
    phi = np.exp(-((np.arange(1, u_len + 1)[None] - centre) ** 2))
    out = alignment_plot(phi, text, tmp_path / "sub" / "align.png")
    assert out == tmp_path / "sub" / "align.png"
    _non_blank(out)
    # the past-the-end column is accepted too; a mismatch is an error
    alignment_plot(np.hstack([phi, phi[:, :1]]), text, tmp_path / "align_end.png")
    with pytest.raises(ValueError):
        alignment_plot(phi, "short", tmp_path / "bad.png")


def _fake_prediction(t_len: int, m: int = 3) -> tuple[np.ndarray, object]:
    rng = np.random.default_rng(0)
    offsets = np.zeros((t_len, 3), dtype=np.float32)
    offsets[:, 0] = 0.6 + 0.1 * rng.standard_normal(t_len)
    offsets[:, 1] = np.sin(np.arange(t_len) / 4.0)
    offsets[9::10, 2] = 1.0
    y_hat = torch.zeros(t_len, 1 + 6 * m)
    y_hat[:, 1 + m] = torch.from_numpy(offsets[:, 0])  # component 0 centred on the true offset
    y_hat[:, 1 + 2 * m] = torch.from_numpy(offsets[:, 1])
    y_hat[:, 1 + 3 * m : 1 + 5 * m] = -1.5
    return offsets, split_mixture_outputs(y_hat, m)


def test_density_plot_tensor_and_numpy_params(tmp_path: Path) -> None:
    offsets, params = _fake_prediction(50)
    out = density_plot(offsets, params, tmp_path / "density.png", resolution=150)
    _non_blank(out)
    as_np = {k: v.numpy() for k, v in params._asdict().items()}
    out2 = density_plot(offsets, as_np, tmp_path / "density2.png", resolution=150, flip_y=True)
    _non_blank(out2)


def test_accumulated_mass_sits_on_the_trajectory() -> None:
    offsets, params = _fake_prediction(30)
    img, xs, ys, pos = accumulate_density(offsets, params, resolution=200)
    assert img.shape == (len(ys), len(xs))
    step = xs[1] - xs[0]
    # each step contributes ~1 unit of probability mass (minus what lies beyond the radius)
    total = img.sum() * step * step
    assert 0.8 * len(pos) < total < 1.05 * len(pos)
    iy, ix = np.unravel_index(np.argmax(img), img.shape)
    nearest = np.min(np.hypot(pos[:, 0] - xs[ix], pos[:, 1] - ys[iy]))
    assert nearest < 1.0
