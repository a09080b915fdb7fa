"""The fast synthesis loop (seqgen/nn/window_lstm.py: layer 1 + window with a hand-written backward)
computes the same function and gradients as the plain autograd version, and its backward passes
torch.autograd.gradcheck."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

_REPO = next(p for p in Path(__file__).resolve().parents if (p / "benchmarks").is_dir())
sys.path.insert(0, str(_REPO / "benchmarks"))  # the plain reference implementation lives there

from handwriting_stepwise import plain_forward  # noqa: E402

from seqgen.families.handwriting.config import HandwritingSynthesisConfig  # noqa: E402
from seqgen.families.handwriting.nets import SynthesisNet, SynthesisState  # noqa: E402
from seqgen.nn.mdn import mixture_nll  # noqa: E402
from seqgen.nn.window_lstm import windowed_lstm  # noqa: E402


def _data(b: int, t: int, u: int, v: int, dtype: torch.dtype, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, t + 1, 3, generator=g, dtype=dtype)
    x[..., 2] = (torch.rand(b, t + 1, generator=g) < 0.1).to(dtype)
    chars = torch.randint(0, v, (b, u), generator=g)
    char_mask = torch.ones(b, u, dtype=torch.bool)
    char_mask[-1, u - 2 :] = False  # a shorter transcription in the batch
    mask = torch.ones(b, t, dtype=torch.bool)
    mask[0, t - 3 :] = False
    return x, chars, char_mask, mask


def test_gradcheck_of_the_hand_written_backward() -> None:
    """float64, tiny: every differentiable input (sequence, weights, initial state), with the
    derivative clip set too high to act (gradcheck needs a smooth function)."""
    torch.manual_seed(0)
    b, t, d, h, v, k, u = 2, 5, 3, 3, 4, 2, 3
    f64 = dict(dtype=torch.float64)
    x = torch.randn(b, t, d, **f64)
    w_ih, w_hh, bias = torch.randn(4 * h, d + v, **f64) * 0.5, torch.randn(4 * h, h, **f64) * 0.5, torch.randn(4 * h, **f64) * 0.1
    win_w, win_b = torch.randn(3 * k, h, **f64) * 0.5, torch.randn(3 * k, **f64) * 0.3
    h0, c0, w0 = torch.randn(b, h, **f64) * 0.5, torch.randn(b, h, **f64) * 0.5, torch.rand(b, v, **f64)
    kappa0 = torch.rand(b, k, **f64)
    chars = torch.randint(0, v, (b, u))
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]], **f64)
    inputs = [x, w_ih, w_hh, bias, win_w, win_b, h0, c0, kappa0, w0]
    for tensor in inputs:
        tensor.requires_grad_(True)

    def fn(*args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        hs, ws, c, kappa, _ = windowed_lstm(*args, chars, mask, kappa_scale=2.0, clip=1e6)
        return hs, ws, c, kappa

    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("clip", [None, 0.05])
def test_synthesis_net_equals_plain_autograd_version_with_state(clip: float | None) -> None:
    """Loss and every parameter's gradient equal to the plain version (lstm_cell + GaussianWindow
    under autograd, layers 2..N fused), with the paper's clipping acting and from a nonzero state."""
    torch.manual_seed(4)
    net = SynthesisNet(7, HandwritingSynthesisConfig(hidden_size=12, num_layers=3, window_components=3, mixture_components=4, kappa_scale=4.0, clip_lstm_grad=clip, clip_output_grad=None)).double()
    x, chars, char_mask, mask = _data(3, 20, 6, 7, torch.float64)
    fast, state, phi = net(x[:, :-1], chars, char_mask, return_phi=True)
    reference = plain_forward(net, x[:, :-1], chars, char_mask)
    loss_fast = mixture_nll(fast, x[:, 1:], mask, reduction="seq_mean")
    loss_ref = mixture_nll(reference, x[:, 1:], mask, reduction="seq_mean")
    torch.testing.assert_close(loss_fast, loss_ref, rtol=1e-10, atol=1e-10)
    params = list(net.parameters())
    for a, b in zip(torch.autograd.grad(loss_fast, params, retain_graph=True), torch.autograd.grad(loss_ref, params)):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10)
    assert phi.shape == (3, 20, 6) and (phi[-1, :, 4:] == 0).all()

    # a second chunk from the first one's (differentiable) final state: gradients reach the first chunk
    x2 = torch.randn(3, 8, 3, dtype=torch.float64)
    params2, _, _ = net(x2, chars, char_mask, state=SynthesisState(state.h1, state.c1, state.kappa, state.w, None))
    grads = torch.autograd.grad(params2.mu.sum(), [net.lstm.layers[0].weight_hh_l0, net.window.linear.weight])
    assert all(torch.isfinite(g).all() and g.abs().sum() > 0 for g in grads)


def test_autocast_bfloat16_runs_the_loop_in_float32() -> None:
    """bf16-mixed (GPU configs): the window loop itself runs in float32 (kappa needs the precision).
    On CPU only the loop is checked: oneDNN's bf16 nn.LSTM needs CPU support this machine may lack."""
    torch.manual_seed(6)
    net = SynthesisNet(7, HandwritingSynthesisConfig(hidden_size=12, num_layers=2, window_components=3, mixture_components=4, kappa_scale=1.0, clip_lstm_grad=None, clip_output_grad=None))
    x, chars, char_mask, _ = _data(2, 10, 5, 7, torch.float32)
    layer, window = net.lstm.layers[0], net.window
    state = net.initial_state(2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        hs, ws, c, kappa, _ = windowed_lstm(
            x[:, :-1], layer.weight_ih_l0, layer.weight_hh_l0, layer.bias_ih_l0 + layer.bias_hh_l0, window.linear.weight,
            window.linear.bias, state.h1, state.c1, state.kappa, state.w, chars, char_mask.float(), window.kappa_scale,
        )
    assert hs.dtype == ws.dtype == kappa.dtype == torch.float32
    (hs.sum() + ws.sum()).backward()
    assert torch.isfinite(layer.weight_hh_l0.grad).all() and torch.isfinite(window.linear.weight.grad).all()
