"""Multidimensional LSTM (Graves, Fernández & Schmidhuber 2007), computed by anti-diagonal wavefronts.

An n-dimensional LSTM cell at position x of an n-D grid has one recurrent connection per dimension,
to its predecessor x - e_d (zero outside the grid), and one forget gate per dimension:

    z_x   = W u_x + b + sum_d U_d h_{x-e_d}                   (all gates at once, (3+n)·H values)
    i, o  = sigma(z_i), sigma(z_o)
    f_d   = sigma(z_{f_d})                                     d = 1..n
    g     = tanh(z_g)
    c_x   = i * g + sum_d f_d * c_{x-e_d}
    h_x   = o * tanh(c_x)

h_x depends on the inputs u_y for every y <= x (component-wise): a scan from the origin corner.

Wavefront computation: every cell on the anti-diagonal k = x_1 + ... + x_n depends only on cells
of diagonal k - 1, so all cells of one diagonal are computed at once and the sequential depth is
sum_d (S_d - 1) + 1 (H + W - 1 for an H x W image) instead of prod_d S_d. The input projection
W u + b is one matmul over the whole grid; a `WavefrontPlan` (cached per shape) holds the
precomputed permutation to diagonal order (so each diagonal is a contiguous slice) and, per
diagonal, the index of each cell's predecessor along each dimension in the previous diagonal
(or a zero row when it lies outside the grid). Each step is then: a gather of h and of c, one
addmm, the gates; nothing is recomputed or reindexed per step beyond that.

`MDLSTMReference` computes the same layer cell by cell in raster order: the test oracle.
`MultiDirectionalMDLSTM` runs 2^n layers on the 2^n flips of the input so that every output
position sees the whole grid (Graves et al. 2007, Fig. 3), and concatenates or sums them.

Tensors are channels-last: input (B, S_1, ..., S_n, C_in), output (B, S_1, ..., S_n, H).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

State = tuple[torch.Tensor, torch.Tensor]  # (h, c) of one diagonal: (L_k·B, H) each, rows (cell, b)


@dataclass(frozen=True)
class WavefrontPlan:
    """Precomputed indices of the diagonal-order computation for one grid shape.

    order:  (N,) flat raster index of each cell, cells sorted by diagonal (stable: raster order within)
    inverse: (N,) position in `order` of each raster cell (undoes the permutation)
    sizes:  number of cells of each diagonal (their slices of `order` are contiguous)
    preds:  per diagonal, (L_k * n,) index into the previous diagonal's cells of each cell's
            predecessor along each dimension, cell-major; L_{k-1} (one past the end) = zero state.
    """

    shape: tuple[int, ...]
    order: torch.Tensor
    inverse: torch.Tensor
    sizes: tuple[int, ...]
    preds: tuple[torch.Tensor, ...]

    @property
    def depth(self) -> int:
        return len(self.sizes)

    def to(self, device: torch.device) -> "WavefrontPlan":
        if self.order.device == device:
            return self
        return WavefrontPlan(
            self.shape, self.order.to(device), self.inverse.to(device), self.sizes, tuple(p.to(device) for p in self.preds)
        )


def build_plan(shape: Sequence[int]) -> WavefrontPlan:
    """The wavefront plan of an n-D grid `shape` (pure index arithmetic, done once per shape)."""
    shape = tuple(int(s) for s in shape)
    if not shape or min(shape) < 1:
        raise ValueError(f"grid shape must have positive sizes, got {shape}")
    coords = torch.stack(torch.meshgrid(*[torch.arange(s) for s in shape], indexing="ij"), -1).reshape(-1, len(shape))
    diag = coords.sum(1)
    order = torch.argsort(diag, stable=True)
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(len(order))
    depth = int(diag.max()) + 1
    sizes = torch.bincount(diag, minlength=depth)
    starts = torch.cumsum(sizes, 0) - sizes
    strides = [math.prod(shape[d + 1 :]) for d in range(len(shape))]
    preds = []
    for k in range(depth):
        cells = order[int(starts[k]) : int(starts[k]) + int(sizes[k])]
        cell_coords = coords[cells]
        if k == 0:
            preds.append(torch.zeros(len(cells) * len(shape), dtype=torch.long))  # the one zero row
            continue
        prev_size = int(sizes[k - 1])
        index = torch.full((len(cells), len(shape)), prev_size, dtype=torch.long)
        for d, stride in enumerate(strides):
            valid = cell_coords[:, d] > 0
            pred_flat = cells[valid] - stride
            index[valid, d] = inverse[pred_flat] - int(starts[k - 1])
        preds.append(index.reshape(-1))
    return WavefrontPlan(shape, order, inverse, tuple(int(s) for s in sizes), tuple(preds))


class MDLSTM(nn.Module):
    """One n-dimensional LSTM layer scanning from the origin corner, by anti-diagonal wavefronts.

    Gates are laid out [i, o, f_1..f_n, g] (H each). `forget_bias` is added to every forget gate's
    bias at initialisation; the default 0 keeps sum_d f_d near 1, so the cell state does not grow
    along the n paths that meet at every cell.
    """

    def __init__(self, input_size: int, hidden_size: int, ndim: int = 2, forget_bias: float = 0.0) -> None:
        super().__init__()
        if ndim < 1:
            raise ValueError("ndim must be >= 1")
        self.input_size, self.hidden_size, self.ndim = input_size, hidden_size, ndim
        gates = (3 + ndim) * hidden_size
        self.input_proj = nn.Linear(input_size, gates)
        # U_d stacked: rows d·H:(d+1)·H multiply h_{x-e_d}.
        self.recurrent = nn.Parameter(torch.empty(ndim * hidden_size, gates))
        bound = 1.0 / math.sqrt(hidden_size)
        nn.init.uniform_(self.recurrent, -bound, bound)
        with torch.no_grad():
            self.input_proj.bias[2 * hidden_size : (2 + ndim) * hidden_size] += forget_bias
        self._plans: dict[tuple[int, ...], WavefrontPlan] = {}
        self._rows: dict[tuple, torch.Tensor] = {}

    # --- one cell update, shared by the wavefront, the reference and the samplers ---------------
    def cell(self, z_in: torch.Tensor, h_pred: torch.Tensor, c_pred: torch.Tensor) -> State:
        """z_in: (M, G) input projection; h_pred: (M, n·H) and c_pred: (M, n, H) predecessor states.

        Gates are cut with `split` (its backward is one concatenation) rather than by slicing
        (each slice's backward allocates and fills a gradient of the whole gate tensor).
        """
        H, n = self.hidden_size, self.ndim
        z = torch.addmm(z_in, h_pred, self.recurrent)
        z_sig, z_g = z.split([(2 + n) * H, H], 1)
        i, o, f = torch.sigmoid(z_sig).split([H, H, n * H], 1)
        c = i * torch.tanh(z_g) + (f.view(-1, n, H) * c_pred).sum(1)
        h = o * torch.tanh(c)
        return h, c

    # --- wavefront ------------------------------------------------------------------------------
    def plan(self, shape: Sequence[int], device: torch.device) -> WavefrontPlan:
        key = tuple(shape)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = build_plan(key)
        plan = plan.to(device)
        self._plans[key] = plan
        return plan

    def row_index(self, plan: WavefrontPlan, k: int, batch: int) -> torch.Tensor:
        """Rows (cell·B + b) of diagonal k-1's (L·B + B, H) state holding each predecessor of
        diagonal k's cells, ordered (cell, b, d): a gather of them views as (L·B, n·H) directly.
        Rows past the diagonal's end are the zero rows standing for "outside the grid"."""
        key = (plan.shape, k, batch, plan.order.device)
        index = self._rows.get(key)
        if index is None:
            b = torch.arange(batch, device=plan.order.device)
            index = self._rows[key] = (plan.preds[k].view(-1, 1, self.ndim) * batch + b[None, :, None]).reshape(-1)
        return index

    def step(self, plan: WavefrontPlan, k: int, z_k: torch.Tensor, prev: State | None, zero: torch.Tensor | None = None) -> State:
        """Diagonal k from its cells' input projections z_k (L_k·B, G), cell-major, and diagonal
        k-1's state (h, c), each (L_{k-1}·B, H); returns diagonal k's (h, c). `zero`: (B, H)
        zeros, the state outside the grid (pass one tensor for all steps to save an allocation)."""
        H, n = self.hidden_size, self.ndim
        batch = z_k.shape[0] // plan.sizes[k]
        if prev is None:
            zeros = z_k.new_zeros(z_k.shape[0], n * H)
            return self.cell(z_k, zeros, zeros.view(-1, n, H))
        index = self.row_index(plan, k, batch)
        zero = z_k.new_zeros(batch, H) if zero is None else zero
        h_pred = torch.cat([prev[0], zero]).index_select(0, index).view(-1, n * H)
        c_pred = torch.cat([prev[1], zero]).index_select(0, index).view(-1, n, H)
        return self.cell(z_k, h_pred, c_pred)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, S_1..S_n, C_in) -> h: (B, S_1..S_n, H)."""
        if x.dim() != self.ndim + 2:
            raise ValueError(f"MDLSTM(ndim={self.ndim}) expects (B, S_1..S_{self.ndim}, C), got shape {tuple(x.shape)}")
        B, shape = x.shape[0], tuple(x.shape[1:-1])
        plan = self.plan(shape, x.device)
        # Whole-grid input projection, permuted once to diagonal order: rows (cell, b), (N·B, G).
        z = self.input_proj(x.reshape(B, -1, x.shape[-1])).transpose(0, 1).index_select(0, plan.order).flatten(0, 1)
        outputs = []
        state: State | None = None
        zero = z.new_zeros(B, self.hidden_size)
        for k, z_k in enumerate(torch.split(z, [size * B for size in plan.sizes], 0)):
            state = self.step(plan, k, z_k, state, zero)
            outputs.append(state[0])
        h = torch.cat(outputs, 0).view(-1, B, self.hidden_size).index_select(0, plan.inverse)  # back to raster order
        return h.transpose(0, 1).reshape(B, *shape, self.hidden_size)


class MDLSTMReference(nn.Module):
    """The same layer computed one cell at a time in raster order (the oracle of the tests).

    Wraps an `MDLSTM` to share its parameters; only for tiny grids.
    """

    def __init__(self, layer: MDLSTM) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        layer = self.layer
        B, shape = x.shape[0], tuple(x.shape[1:-1])
        n, H = layer.ndim, layer.hidden_size
        zero = x.new_zeros(B, H)
        h: dict[tuple[int, ...], torch.Tensor] = {}
        c: dict[tuple[int, ...], torch.Tensor] = {}
        for pos in itertools.product(*[range(s) for s in shape]):
            preds = [tuple(p - (d == e) for e, p in enumerate(pos)) for d in range(n)]
            h_pred = torch.cat([h[q] if min(q) >= 0 else zero for q in preds], 1)
            c_pred = torch.stack([c[q] if min(q) >= 0 else zero for q in preds], 1)
            z = layer.input_proj(x[(slice(None), *pos)])
            h[pos], c[pos] = layer.cell(z, h_pred, c_pred)
        out = torch.stack([h[pos] for pos in itertools.product(*[range(s) for s in shape])], 1)
        return out.reshape(B, *shape, H)


class MultiDirectionalMDLSTM(nn.Module):
    """2^n MD-LSTM layers, one per corner: layer m scans the input flipped along the dimensions in
    the bit set of m, and its output is flipped back. Every output position then sees every input
    position. combine: "concat" (2^n·H channels) or "sum" (H channels)."""

    def __init__(self, input_size: int, hidden_size: int, ndim: int = 2, combine: str = "concat", forget_bias: float = 0.0) -> None:
        super().__init__()
        if combine not in ("concat", "sum"):
            raise ValueError(f"combine must be 'concat' or 'sum', got {combine!r}")
        self.ndim, self.combine = ndim, combine
        self.layers = nn.ModuleList(MDLSTM(input_size, hidden_size, ndim, forget_bias) for _ in range(2**ndim))
        self.flips = [tuple(1 + d for d in range(ndim) if (m >> d) & 1) for m in range(2**ndim)]
        self.output_size = hidden_size * (2**ndim if combine == "concat" else 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = []
        for layer, dims in zip(self.layers, self.flips):
            y = layer(x.flip(dims) if dims else x)
            outs.append(y.flip(dims) if dims else y)
        return torch.cat(outs, -1) if self.combine == "concat" else torch.stack(outs, 0).sum(0)
