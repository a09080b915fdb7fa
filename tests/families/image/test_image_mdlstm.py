"""The MD-LSTM layers: wavefront == cell-by-cell oracle, causality of the scan, 2^n-direction context."""

from __future__ import annotations

import pytest
import torch

from seqgen.nn.mdlstm import MDLSTM, MDLSTMReference, MultiDirectionalMDLSTM, WavefrontScan, build_plan, scan_layout


def _grads(out: torch.Tensor, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
    weights = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)  # a loss that mixes positions
    return list(torch.autograd.grad((out * weights).sum() + out.pow(2).sum(), inputs))


@pytest.mark.parametrize("shape", [(4, 5), (1, 3), (3, 1), (2, 3, 4)])
def test_wavefront_equals_reference(shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    layer = MDLSTM(3, 4, ndim=len(shape), forget_bias=0.5).double()
    x = torch.randn(2, *shape, 3, dtype=torch.double, requires_grad=True)
    fast, slow = layer(x), MDLSTMReference(layer)(x)
    assert fast.shape == (2, *shape, 4)
    torch.testing.assert_close(fast, slow, rtol=1e-12, atol=1e-12)
    params = [x, *layer.parameters()]
    for g_fast, g_slow in zip(_grads(fast, params), _grads(slow, params)):
        torch.testing.assert_close(g_fast, g_slow, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape", [(3, 4), (2, 2, 3), (4,)])
def test_scan_backward_passes_gradcheck(shape: tuple[int, ...]) -> None:
    """The hand-written backward of the whole-scan node against finite differences (float64),
    for every input: the inputs, the input projection's weight and bias, and U."""
    torch.manual_seed(5)
    n, B, C, H = len(shape), 2, 3, 2
    plan = build_plan(shape)
    layout = scan_layout(plan, B, n)
    u = torch.randn(plan.order.numel() * B, C, dtype=torch.double, requires_grad=True)
    weight = torch.randn((3 + n) * H, C, dtype=torch.double, requires_grad=True)
    bias = torch.randn((3 + n) * H, dtype=torch.double, requires_grad=True)
    recurrent = (0.5 * torch.randn(n * H, (3 + n) * H, dtype=torch.double)).requires_grad_(True)
    scan = lambda *args: WavefrontScan.apply(*args, layout, H, n)  # noqa: E731
    assert torch.autograd.gradcheck(scan, (u, weight, bias, recurrent))


def test_2d_scan_reads_predecessors_as_slices() -> None:
    """In 2D every diagonal's predecessors are contiguous runs of the previous diagonal (no gather)."""
    layout = scan_layout(build_plan((5, 7)), 3, 2)
    assert all(isinstance(pred, tuple) for preds in layout.preds for pred in preds)


def test_plan_depth_and_diagonals_contiguous() -> None:
    plan = build_plan((4, 6))
    assert plan.depth == 4 + 6 - 1
    assert sum(plan.sizes) == 24
    # cells listed by increasing i + j
    rows, cols = plan.order // 6, plan.order % 6
    assert torch.all((rows + cols)[1:] >= (rows + cols)[:-1])
    assert torch.equal(plan.order[plan.inverse], torch.arange(24))


def test_causal_scan_never_sees_later_pixels() -> None:
    torch.manual_seed(1)
    layer = MDLSTM(2, 5).double()
    x = torch.randn(1, 5, 6, 2, dtype=torch.double)
    base = layer(x)
    i, j = 2, 3
    changed = x.clone()
    changed[0, i, j] += 3.0
    moved = (layer(changed) - base).abs().amax(-1)[0]
    rows = torch.arange(5)[:, None]
    cols = torch.arange(6)[None, :]
    after = (rows >= i) & (cols >= j)  # only the quadrant below-right of (i, j) may move
    assert torch.all(moved[~after] == 0)
    assert torch.all(moved[after] > 0)
    # The same through gradients: d h(p) / d x(q) is zero unless q <= p component-wise.
    xg = x.clone().requires_grad_(True)
    out = layer(xg)
    for p in [(0, 0), (1, 4), (4, 2), (4, 5)]:
        (grad,) = torch.autograd.grad(out[0, p[0], p[1]].sum(), xg, retain_graph=True)
        seen = grad[0].abs().amax(-1) > 0
        expected = (rows <= p[0]) & (cols <= p[1])
        assert torch.equal(seen, expected), p


@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 3)])
def test_multidirectional_sees_everything(shape: tuple[int, ...]) -> None:
    torch.manual_seed(2)
    n = len(shape)
    layer = MultiDirectionalMDLSTM(2, 3, ndim=n).double()
    assert len(layer.layers) == 2**n and layer.output_size == 3 * 2**n
    x = torch.randn(1, *shape, 2, dtype=torch.double, requires_grad=True)
    out = layer(x)
    assert out.shape == (1, *shape, 3 * 2**n)
    positions = torch.cartesian_prod(*[torch.arange(s) for s in shape]).view(-1, n)
    for pos in positions:
        (grad,) = torch.autograd.grad(out[(0, *pos.tolist())].sum(), x, retain_graph=True)
        assert torch.all(grad[0].abs().amax(-1) > 0), pos.tolist()


def test_multidirectional_sum_matches_directions() -> None:
    torch.manual_seed(3)
    layer = MultiDirectionalMDLSTM(2, 3, combine="sum")
    x = torch.randn(2, 3, 4, 2)
    expected = sum(l(x.flip(d) if d else x).flip(d) if d else l(x) for l, d in zip(layer.layers, layer.flips))
    torch.testing.assert_close(layer(x), expected)


@pytest.mark.gpu
def test_wavefront_on_cuda_equals_cpu_reference() -> None:
    """Same layer on the GPU (plans and gather indices moved with it) as the CPU oracle."""
    torch.manual_seed(4)
    layer = MDLSTM(3, 8).double()
    x = torch.randn(2, 6, 7, 3, dtype=torch.double)
    expected = MDLSTMReference(layer)(x)
    gpu = layer.to("cuda")
    torch.testing.assert_close(gpu(x.cuda()).cpu(), expected, rtol=1e-10, atol=1e-10)
