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
(or a zero row when it lies outside the grid). `MDLSTM.step` (one diagonal, used by the
samplers) is then: a gather of h and of c, one addmm, the gates.

`MDLSTM.forward` runs `WavefrontScan`, an autograd Function for the whole scan. Its h and c
buffers are skewed and padded (`ScanLayout`: each diagonal a block of cells ordered by row with a
zero cell at each end), so that in 2D the predecessors of a diagonal along each dimension are one
contiguous run of the previous block: slices, not gathers (3D falls back to a gather where they
are not). Its forward writes every diagonal's predecessors' h (concatenated, for ONE recurrent
addmm_ per diagonal), gates, c and tanh(c) into buffers preallocated for the whole grid (no
allocation per step), and its hand-written backward walks the diagonals in reverse, propagating
only the recurrence. With A = activated gates, P = [h_{x-e_1} .. h_{x-e_n}]:

    dc_x  = dC_x + dh_x * o * (1 - tanh^2 c_x)       dC_x: sum over successors of f_d * dc
    da_i  = dc_x * g,   da_o = dh_x * tanh c_x,   da_{f_d} = dc_x * c_{x-e_d},   da_g = dc_x * i
    dz_x  = da * sigma'(.) (i, o, f) or da * (1 - g^2) (g)
    dP_x  = dz_x U^T   (scattered to the predecessors' dh),   f_d * dc_x  (to their dc)

and the weight gradients are ONE matmul each over all cells after the loop: dU = P^T dZ,
dW = dZ^T u, db = sum dZ, du = dZ W (the input projection z_in = W u + b is folded into the
node: one matmul for the whole grid, written straight into the gate buffer). The node returns h
already gathered in (b, raster cell) order, so its backward starts from a buffer it owns (one
copy back into the padded rows, no clone). Where the time goes at hidden 128 (28x28, batch 16,
1 thread): ~70% in the three recurrent products, which no layout avoids (docs/benchmarks.md).

`MDLSTMReference` computes the same layer cell by cell in raster order: the test oracle.
`MultiDirectionalMDLSTM` runs 2^n layers on the 2^n flips of the input so that every output
position sees the whole grid (Graves et al. 2007, Fig. 3), and concatenates or sums them.

Tensors are channels-last: input (B, S_1, ..., S_n, C_in), output (B, S_1, ..., S_n, H).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

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


Pred = tuple[int, int] | torch.Tensor  # rows [start, stop) of the state buffer, or a gather index


@dataclass(frozen=True)
class ScanLayout:
    """Row layout of one scan (a plan and a batch size) for `WavefrontScan`.

    Gates, gathered predecessors and tanh(c) are compact, in diagonal order, rows (cell, b):
    diagonal k holds `counts[k]` = L_k·B rows. The h and c buffers are padded: diagonal k's block
    is one zero cell, its L_k cells, one zero cell (B rows each), so a predecessor outside the
    grid is a zero row next to its diagonal. In 2D the predecessors of diagonal k along each
    dimension are then ONE contiguous run of diagonal k-1's block (the skew of PixelRNN: cells are
    ordered by row, the up neighbour is one slot back, the left one in the same slot): a slice,
    no gather. Elsewhere (3D) a predecessor that is not a run falls back to a gather index.

    counts:  compact rows of each diagonal
    states:  first padded row of each diagonal's cells
    preds:   per diagonal k >= 1, per dimension d: (start, stop) padded rows, or a (L_k·B,) index
    slots:   total padded rows
    outputs: (B·N,) padded row of each (b, raster cell): one gather gives the (B, S_1..S_n, H) output
    pads:    the padded rows of the zero cells (the only rows of h and c read before being written)
    """

    counts: tuple[int, ...]
    states: tuple[int, ...]
    preds: tuple[tuple[Pred, ...], ...]
    slots: int
    outputs: torch.Tensor
    pads: torch.Tensor


def scan_layout(plan: WavefrontPlan, batch: int, ndim: int) -> ScanLayout:
    """The `ScanLayout` of `plan` for batch size `batch` (index arithmetic, once per shape)."""
    device = plan.order.device
    b = torch.arange(batch, device=device)
    block = [0]  # first slot (the leading zero) of each diagonal's block
    for size in plan.sizes:
        block.append(block[-1] + size + 2)
    preds: list[tuple[Pred, ...]] = [()]
    for k in range(1, plan.depth):
        size, prev = plan.sizes[k], plan.sizes[k - 1]
        lead, trail = block[k - 1], block[k - 1] + prev + 1  # the zero slots of diagonal k-1
        local = plan.preds[k].view(size, ndim).cpu()
        per_dim: list[Pred] = []
        for d in range(ndim):
            valid = local[:, d] < prev
            slot = torch.where(valid, lead + 1 + local[:, d], torch.full_like(local[:, d], lead))
            q = torch.arange(size)
            first = int(q[valid][0]) if bool(valid.any()) else 0
            start = int(slot[first]) - first
            run = start + q
            zero_ok = (run[~valid] == lead) | (run[~valid] == trail)
            if bool(torch.equal(run[valid], slot[valid])) and bool(zero_ok.all()) and start >= lead and start + size <= trail + 1:
                per_dim.append((start * batch, (start + size) * batch))
            else:
                per_dim.append((slot.to(device)[:, None] * batch + b).reshape(-1))
        preds.append(tuple(per_dim))
    cell_slot = torch.cat([block[k] + 1 + torch.arange(size, device=device) for k, size in enumerate(plan.sizes)])
    raster_slot = cell_slot.index_select(0, plan.inverse)
    pad_slot = torch.tensor([slot for k, size in enumerate(plan.sizes) for slot in (block[k], block[k] + size + 1)], device=device)
    return ScanLayout(
        counts=tuple(size * batch for size in plan.sizes),
        states=tuple((block[k] + 1) * batch for k in range(plan.depth)),
        preds=tuple(preds),
        slots=block[-1] * batch,
        outputs=(raster_slot[None, :] * batch + b[:, None]).reshape(-1),
        pads=(pad_slot[:, None] * batch + b).reshape(-1),
    )


def _pred(buffer: torch.Tensor, pred: Pred) -> torch.Tensor:
    """The rows of `buffer` that `pred` names: a view for a run, a gather otherwise."""
    if isinstance(pred, tuple):
        return buffer[pred[0] : pred[1]]
    return buffer.index_select(0, pred)


def _scan_forward(
    u: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, recurrent: torch.Tensor, layout: ScanLayout, hidden: int, ndim: int
) -> tuple[torch.Tensor, ...]:
    """The wavefront over all diagonals into whole-grid buffers. u: (N·B, C) inputs in diagonal
    order; weight (G, C), bias (G): the input projection, done for the whole grid in one matmul
    straight into the gate buffer, which each step completes in place with its recurrent addmm_.
    Returns the padded h and c (slots, H), and for the backward the predecessors' h, P (N·B, n·H),
    the activated gates A (N·B, G) and tanh(c) (N·B, H), all compact.

    tanh is computed as 2 sigma(2x) - 1 (exact up to rounding): torch's CPU sigmoid is ~3.7x
    faster per element than its tanh (AVX2, 1 thread), and the gates then take one sigmoid call."""
    H, n = hidden, ndim
    NB = u.shape[0]
    # F.linear, not addmm(bias, ...): addmm first copies the broadcast bias into its (N·B, G)
    # output, which costs 3x the product itself at C = 4.
    gates = F.linear(u, weight, bias)
    # Every cell row is written before it is read: only the zero pads need filling.
    h_all, c_all = u.new_empty(layout.slots, H), u.new_empty(layout.slots, H)
    h_all.index_fill_(0, layout.pads, 0)
    c_all.index_fill_(0, layout.pads, 0)
    h_pred, tanh_c = u.new_empty(NB, n * H), u.new_empty(NB, H)
    # Per-diagonal views, cut once (split is one call; indexing in the loop costs per view).
    steps = zip(layout.counts, layout.states, layout.preds, h_pred.split(layout.counts), gates.split(layout.counts), tanh_c.split(layout.counts))
    for count, row, preds, hp, a, tc in steps:
        h, c = h_all[row : row + count], c_all[row : row + count]
        sig, g = a.split([(2 + n) * H, H], 1)
        if preds:
            for d, block in enumerate(hp.split(H, 1)):
                block.copy_(_pred(h_all, preds[d]))
            a.addmm_(hp, recurrent)
        else:
            hp.zero_()  # diagonal 0: every predecessor is outside the grid
        # One sigmoid over all G gates (contiguous rows), tanh(x) = 2 sigma(2x) - 1 for g.
        g.mul_(2)
        a.sigmoid_()
        g.mul_(2).sub_(1)
        i, o, *f = sig.split(H, 1)
        torch.mul(i, g, out=c)
        for d, pred in enumerate(preds):
            c.addcmul_(f[d], _pred(c_all, pred))
        torch.mul(c, 2, out=tc).sigmoid_().mul_(2).sub_(1)  # tanh(c), as for g
        torch.mul(o, tc, out=h)
    return h_all, c_all, h_pred, gates, tanh_c


# Fused derivative kernels (one pass each): grad * (1 - y^2) and grad * y * (1 - y), y the output.
_tanh_backward = torch.ops.aten.tanh_backward.grad_input
_sigmoid_backward = torch.ops.aten.sigmoid_backward.grad_input


def _scan_backward(
    grad_h_all: torch.Tensor, recurrent: torch.Tensor, layout: ScanLayout, hidden: int, ndim: int, c_all: torch.Tensor, gates: torch.Tensor, tanh_c: torch.Tensor
) -> torch.Tensor:
    """dL/dz (N·B, G), z the gate pre-activations, from dL/dh (slots, H), diagonals in reverse.
    `grad_h_all` is consumed: the successors' dh are added into it in place (its pad rows may hold
    anything: they are added to, never read)."""
    H, n = hidden, ndim
    NB, G = gates.shape
    S = (2 + n) * H  # sigmoid gates [i, o, f_1..f_n], then g
    grad_c_all = torch.zeros_like(grad_h_all)  # only the successors' f_d * dc: accumulated
    grad_z = gates.new_empty(NB, G)
    widest = max(layout.counts)
    tmp_h, grad_pred = gates.new_empty(widest, H), gates.new_empty(widest, n * H)
    recurrent_t = recurrent.t()
    steps = list(zip(layout.counts, layout.states, layout.preds, gates.split(layout.counts), tanh_c.split(layout.counts), grad_z.split(layout.counts)))
    for count, row, preds, a, tc, dz in reversed(steps):
        dh, dc = grad_h_all[row : row + count], grad_c_all[row : row + count]
        sig, g = a.split([S, H], 1)
        i, o, *f = sig.split(H, 1)
        dz_sig, dz_g = dz.split([S, H], 1)
        dz_i, dz_o, *dz_f = dz_sig.split(H, 1)
        t = torch.mul(dh, o, out=tmp_h[:count])  # dc += dh * o * (1 - tanh^2 c)
        dc.add_(_tanh_backward(t, tc, grad_input=t))
        # dL/da for each activated gate, then times its derivative, in place.
        torch.mul(dc, g, out=dz_i)
        torch.mul(dh, tc, out=dz_o)
        for d, pred in enumerate(preds):
            torch.mul(dc, _pred(c_all, pred), out=dz_f[d])
        if not preds:
            for block in dz_f:
                block.zero_()
        torch.mul(dc, i, out=dz_g)
        _sigmoid_backward(dz_sig, sig, grad_input=dz_sig)
        _tanh_backward(dz_g, g, grad_input=dz_g)
        if not preds:
            break  # diagonal 0's predecessors are all outside the grid
        dp = torch.mm(dz, recurrent_t, out=grad_pred[:count]).split(H, 1)
        for d, pred in enumerate(preds):
            if isinstance(pred, tuple):
                grad_h_all[pred[0] : pred[1]].add_(dp[d])
                grad_c_all[pred[0] : pred[1]].addcmul_(dc, f[d])
            else:
                grad_h_all.index_add_(0, pred, dp[d])
                grad_c_all.index_add_(0, pred, dc * f[d])
    return grad_z


class WavefrontScan(torch.autograd.Function):
    """h (B·N, H), rows (b, raster cell), from the inputs u (N·B, C) in diagonal order, the input
    projection (weight (G, C), bias (G)) and U (n·H, G): the whole layer as one autograd node.
    Backward: `_scan_backward` gives dZ; then one matmul each for du, dW, dU and one sum for db."""

    @staticmethod
    def forward(
        ctx: Any, u: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, recurrent: torch.Tensor, layout: ScanLayout, hidden: int, ndim: int
    ) -> torch.Tensor:
        h_all, c_all, h_pred, gates, tanh_c = _scan_forward(u, weight, bias, recurrent, layout, hidden, ndim)
        ctx.save_for_backward(u, weight, recurrent, c_all, h_pred, gates, tanh_c)
        ctx.layout, ctx.hidden, ctx.ndim = layout, hidden, ndim
        return h_all.index_select(0, layout.outputs)  # padded slots -> (b, raster cell)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_h: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        u, weight, recurrent, c_all, h_pred, gates, tanh_c = ctx.saved_tensors
        layout = ctx.layout
        # The output gather is a permutation onto the cell rows: its backward is a copy back into
        # a buffer that the scan then owns (pads left unset: never read).
        grad_h_all = grad_h.new_empty(layout.slots, ctx.hidden).index_copy_(0, layout.outputs, grad_h)
        grad_z = _scan_backward(grad_h_all, recurrent, layout, ctx.hidden, ctx.ndim, c_all, gates, tanh_c)
        need = ctx.needs_input_grad
        # du and dW as transposed products: with few input channels MKL is several times faster
        # with the long N·B dimension as the product's columns (same result).
        return (
            (weight.t() @ grad_z.t()).t() if need[0] else None,
            (u.t() @ grad_z).t() if need[1] else None,
            grad_z.sum(0) if need[2] else None,
            h_pred.t() @ grad_z if need[3] else None,
            None,
            None,
            None,
        )


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
        self._rows: dict[tuple, torch.Tensor | ScanLayout] = {}  # step gather indices and scan layouts

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
        key = ("scan", plan.shape, B, x.device)
        layout = self._rows.get(key)
        if layout is None:
            layout = self._rows[key] = scan_layout(plan, B, self.ndim)
        # Inputs permuted to diagonal order (C_in wide, cheaper than permuting the G-wide
        # projection); the projection itself is one matmul inside the scan node.
        u = x.reshape(B, -1, x.shape[-1]).transpose(0, 1).index_select(0, plan.order).flatten(0, 1)
        args = (u, self.input_proj.weight, self.input_proj.bias, self.recurrent)
        device_type = x.device.type
        if torch.is_autocast_enabled(device_type):
            # The node's in-place ops are not autocast: run it in the autocast dtype, cast in-graph.
            dtype = torch.get_autocast_dtype(device_type)
            args = tuple(arg.to(dtype) for arg in args)
        with torch.autocast(device_type, enabled=False):
            h = WavefrontScan.apply(*args, layout, self.hidden_size, self.ndim)
        return h.view(B, *shape, self.hidden_size)


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
