"""Sampling pixel by pixel, and completing images whose known pixels are given.

Causal 2D LSTM: pixel x_ij depends only on the pixels of its top-left quadrant, none of which
lies on its own anti-diagonal i + j, so the pixels of one diagonal are conditionally independent
given the earlier diagonals: `H + W - 1` wavefront steps draw exact samples of p(x), each step
running every layer on one diagonal (the same `MDLSTM.step` as training).

The Row LSTM peer is sampled in raster order: each pixel recomputes its row (every layer, from
the cached states of the row above), so a pixel costs one row step, not a pass over the image.
Any other network falls back to one full pass per pixel.

Completion: pixels where `known_mask` is true are clamped to `known`; the others are drawn
from p(x_ij | everything before it), so the bottom half is sampled given the top half.
"""

from __future__ import annotations

import torch

from seqgen.families.image.nets import CausalMDLSTMNet, RowLSTMNet, causal_inputs
from seqgen.nn.modes import evaluates_first_arg


def draw(logits: torch.Tensor, temperature: float, generator: torch.Generator | None) -> torch.Tensor:
    """One pixel value per logits row (..., 1 | L) -> (...) int64."""
    logits = logits / temperature
    if logits.shape[-1] == 1:
        return torch.bernoulli(torch.sigmoid(logits[..., 0]), generator=generator).long()
    probs = torch.softmax(logits, -1)
    return torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1, generator=generator).view(probs.shape[:-1])


@evaluates_first_arg
@torch.no_grad()
def sample_images(
    model: torch.nn.Module,
    num_samples: int,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
    known: torch.Tensor | None = None,
    known_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """(num_samples, H, W) int64 images in 0..levels-1 drawn from the model (optionally completed)."""
    height, width = model.image_shape
    device = next(model.parameters()).device
    images = torch.zeros(num_samples, height, width, dtype=torch.long, device=device)
    if known is not None:
        known = known.to(device).long()
        known_mask = (torch.ones_like(known, dtype=torch.bool) if known_mask is None else known_mask.to(device)).expand_as(known)
        images = torch.where(known_mask, known, images)
    net = model.net
    if isinstance(net, CausalMDLSTMNet):
        return _sample_wavefront(net, images, temperature, generator, known_mask)
    if isinstance(net, RowLSTMNet):
        return _sample_rows(net, images, temperature, generator, known_mask)
    return _sample_raster(net, images, temperature, generator, known_mask)


def _sample_wavefront(
    net: CausalMDLSTMNet, images: torch.Tensor, temperature: float, generator: torch.Generator | None, known_mask: torch.Tensor | None
) -> torch.Tensor:
    n, height, width = images.shape
    plan = net.layers[0].plan((height, width), images.device)
    flat = images.view(n, -1)
    mask = None if known_mask is None else known_mask.reshape(n, -1)
    states: list = [None] * len(net.layers)
    for k, cells in enumerate(torch.split(plan.order, plan.sizes)):
        u_k = causal_inputs(images, net.levels).view(n, -1, CausalMDLSTMNet.INPUTS)[:, cells].transpose(0, 1)
        values = draw(net.diagonal_logits(plan, k, u_k, states), temperature, generator).T  # (n, L_k)
        if mask is not None:
            values = torch.where(mask[:, cells], flat[:, cells], values)
        flat[:, cells] = values
    return images


def _sample_raster(
    net: torch.nn.Module, images: torch.Tensor, temperature: float, generator: torch.Generator | None, known_mask: torch.Tensor | None
) -> torch.Tensor:
    _, height, width = images.shape
    for i in range(height):
        for j in range(width):
            if known_mask is not None and bool(known_mask[:, i, j].all()):
                continue
            values = draw(net(images)[:, i, j], temperature, generator)
            images[:, i, j] = values if known_mask is None else torch.where(known_mask[:, i, j], images[:, i, j], values)
    return images


def _sample_rows(
    net: RowLSTMNet, images: torch.Tensor, temperature: float, generator: torch.Generator | None, known_mask: torch.Tensor | None
) -> torch.Tensor:
    _, height, width = images.shape
    states: list = [None] * len(net.layers)
    for i in range(height):
        for j in range(width):
            if known_mask is not None and bool(known_mask[:, i, j].all()):
                continue
            logits, _ = net.row_logits(images, i, states)
            values = draw(logits[:, j], temperature, generator)
            images[:, i, j] = values if known_mask is None else torch.where(known_mask[:, i, j], images[:, i, j], values)
        _, states = net.row_logits(images, i, states)  # the finished row's states feed the next row
    return images


def top_half_mask(height: int, width: int) -> torch.Tensor:
    """True for the known rows (the top half) of an image."""
    return (torch.arange(height) < height // 2)[:, None].expand(height, width)
