"""The sequential core of a windowed network (Graves 2013, Sec. 5): LSTM layer 1 and the Gaussian
window, run over a whole sequence as ONE autograd node with a hand-written backward pass.

Forward, for t = 1..T (gates in nn.LSTM's order [i, f, g, o]):

    a_t = xproj_t + [w_{t-1}, h_{t-1}] W^T                  one GEMM per step (xproj = W_x x_t + b, all t at once)
    i, f, o = sigmoid;  g = tanh          (tanh as 2 sigmoid(2x) - 1: one sigmoid call, `lstm_cell_`)
    c_t = f c_{t-1} + i g;  h_t = o tanh(c_t)
    (alpha, beta, s) = exp(min(W_win h_t + b_win, HAT_MAX));  kappa_t = kappa_{t-1} + s / kappa_scale
    E_t[k, u] = alpha_k exp(-beta_k (kappa_k - u)^2);  phi_t = (sum_k E_t[k]) * mask;  w_t = phi_t C   (C: one-hot characters)

Backward (backpropagation through time in one loop, newest step first). With dw_t, dh_t the total
derivatives of the loss w.r.t. w_t and h_t (from the layers above and from step t + 1):

    dphi = (C dw_t) * mask;  Q = E_t * dphi
    dkappa_t = dkappa_{t+1} - 2 beta sum_u Q (kappa - u);  dbeta = -sum_u Q (kappa - u)^2
    dhat = [sum_u Q, dbeta beta, dkappa_t s / kappa_scale] * [hat <= HAT_MAX]
    dh_t += dhat W_win;  dc_t = dc_{t+1} f_{t+1} + dh_t o (1 - tanh^2 c_t)
    da_t = [dc_t g, dc_t c_{t-1}, dc_t i, dh_t tanh c_t] * [s(1 - s), s(1 - s), 1 - g^2, s(1 - s)]   (clamped to +-clip)
    [dw_{t-1}, dh_{t-1}] += da_t W

Only that recurrence is in the loop. The weight gradients are each ONE GEMM over the stacked
sequence after it: dW = sum_t da_t^T [w_{t-1}, h_{t-1}], dW_win = sum_t dhat_t^T h_t, and dxproj is
the stacked da (the caller's F.linear backprops it to W_x and the bias). Every buffer is allocated
once per call and every step writes into views of it (``out=`` / in-place ops); nothing is
recorded by autograd inside the loop.

`clip` is the paper's LSTM derivative clipping (Sec. 4.2) at the gate pre-activations.
This module is checked against the plain autograd version (GaussianWindow + torch.lstm_cell) and
with torch.autograd.gradcheck in tests/test_synthesis_speed_equiv.py.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from seqgen.nn.lstm_stack import LSTMCellGrad, lstm_cell_
from seqgen.nn.window import HAT_MAX

#: floor of the window's exponent log alpha - beta (kappa - u)^2: exp(-80) ~ 2e-35 changes no result that
#: matters, and below ~-87 torch's vectorised CPU exp leaves its fast path (docs/benchmarks.md)
EXPONENT_MIN: float = -80.0

__all__ = ["WindowedLSTMLoop", "windowed_lstm"]


class WindowedLSTMLoop(torch.autograd.Function):
    """``apply(xproj, weight, win_weight, win_bias, h0, c0, kappa0, w0, chars, mask, kappa_scale, clip)``

    xproj (T, B, 4H) time-major, gates [i, f, g, o]; weight (4H, V + H) = [W_w | W_hh] (same gate
    order); win_weight (3K, H), win_bias (3K,); h0, c0 (B, H); kappa0 (B, K); w0 (B, V);
    chars (B, U) symbol ids (long); mask (B, U) float (1 = real character); clip float or None.
    -> h (T, B, H), w (T, B, V), c_T (B, H), kappa_T (B, K), phi (T, B, U) (phi is not differentiable).
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        xproj: Tensor,
        weight: Tensor,
        win_weight: Tensor,
        win_bias: Tensor,
        h0: Tensor,
        c0: Tensor,
        kappa0: Tensor,
        w0: Tensor,
        chars: Tensor,
        mask: Tensor,
        kappa_scale: float,
        clip: Optional[float],
    ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        steps, batch, four_h = xproj.shape
        hidden = four_h // 4
        vocab = w0.shape[1]
        n_k = kappa0.shape[1]
        n_u = chars.shape[1]
        h3, k1, k2 = 3 * hidden, n_k, 2 * n_k
        new = xproj.new_empty
        gates = new(steps, batch, four_h)  # activated gates (i, f, g, o), kept for backward
        inputs = new(steps + 1, batch, vocab + hidden)  # [w_{t-1}, h_{t-1}]: row t + 1 holds step t's outputs
        cells = new(steps + 1, batch, hidden)
        tanh_c = new(steps, batch, hidden)
        hats = new(steps, batch, 3 * n_k)  # W_win h_t + b_win before the clamp
        exps = new(steps, batch, 3 * n_k)  # (log alpha, beta, exp(kappa_hat)) after the clamp
        kappas = new(steps + 1, batch, n_k)
        gauss = new(steps, batch, n_k, n_u)  # alpha exp(-beta (kappa - u)^2)
        phis = new(steps, batch, n_u)
        inputs[0, :, :vocab] = w0
        inputs[0, :, vocab:] = h0
        cells[0] = c0
        kappas[0] = kappa0
        u = torch.arange(1, n_u + 1, device=xproj.device, dtype=xproj.dtype)
        weight_t, win_weight_t = weight.t(), win_weight.t()
        step_scale = 1.0 / kappa_scale
        addmm, mul, add, sub, sum_, clamp = torch.addmm, torch.mul, torch.add, torch.sub, torch.sum, torch.clamp
        # every per-step view made once here, not in the loop
        loop = zip(
            xproj, gates, gates[:, :, :hidden], gates[:, :, hidden : 2 * hidden], gates[:, :, 2 * hidden : h3], gates[:, :, h3:],  # i f g o
            inputs[:-1], inputs[1:, :, vocab:], inputs[1:, :, :vocab], cells[:-1], cells[1:], tanh_c,
            hats, exps, exps[:, :, k1:], exps[:, :, k2:], exps[:, :, :k1, None], exps[:, :, k1:k2, None],
            kappas[:-1], kappas[1:], kappas[1:, :, :, None], gauss, phis,
        )
        for xp, a, i, f, g, o, inp, h, w, c_prev, c, tc, hat, ex, ex_exp, s, log_alpha, beta, k_prev, k, k_col, e, phi in loop:
            addmm(xp, inp, weight_t, out=a)
            lstm_cell_(a, i, f, g, o, c_prev, c, tc, h)
            # window: alpha exp(-beta (kappa - u)^2) = exp(log alpha - beta (kappa - u)^2)
            addmm(win_bias, h, win_weight_t, out=hat)
            clamp(hat, max=HAT_MAX, out=ex)
            ex_exp.exp_()
            add(k_prev, s, alpha=step_scale, out=k)
            sub(k_col, u, out=e)
            e.square_().mul_(beta)
            sub(log_alpha, e, out=e).clamp_(min=EXPONENT_MIN).exp_()
            sum_(e, 1, out=phi)
            phi.mul_(mask)
            w.zero_().scatter_add_(1, chars, phi)  # w_t = phi_t C without the one-hot matmul
        ctx.save_for_backward(weight, win_weight, chars, mask, gates, inputs, cells, tanh_c, hats, exps, kappas, gauss)
        ctx.kappa_scale, ctx.clip = kappa_scale, clip
        ctx.mark_non_differentiable(phis)
        outputs = inputs[1:]
        return outputs[:, :, vocab:], outputs[:, :, :vocab], cells[-1].clone(), kappas[-1].clone(), phis

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, d_h: Tensor, d_w: Tensor, d_c_last: Tensor, d_kappa_last: Tensor, _d_phi: Tensor) -> tuple:  # type: ignore[override]
        weight, win_weight, chars, mask, gates, inputs, cells, tanh_c, hats, exps, kappas, gauss = ctx.saved_tensors
        steps, batch, four_h = gates.shape
        hidden = four_h // 4
        vocab = inputs.shape[2] - hidden
        n_k = kappas.shape[2]
        n_u = chars.shape[1]
        k1, k2 = n_k, 2 * n_k
        new = gates.new_empty
        # per-step factors, computed for the whole sequence at once
        cell = LSTMCellGrad(batch, hidden, gates)
        scale = (hats <= HAT_MAX).to(exps.dtype)  # the clamp's derivative
        scale[..., k1:k2].mul_(exps[..., k1:k2]).neg_()  # dbeta_hat = -beta sum_u Q (kappa - u)^2
        scale[..., k2:].mul_(exps[..., k2:]).mul_(1.0 / ctx.kappa_scale)  # dkappa_hat = dkappa s / kappa_scale
        d_gates = new(steps, batch, four_h)
        d_hats = new(steps, batch, 3 * n_k)
        d_inp = gates.new_zeros(batch, vocab + hidden)  # d[w_t, h_t] through step t + 1 (none after the last step)
        d_c = d_c_last.clone()
        d_kappa = d_kappa_last.clone()
        dh = new(batch, hidden)
        dw = new(batch, vocab)
        dphi = new(batch, n_u)
        dphi_row = dphi.unsqueeze(1)
        q = new(batch, n_k, n_u)
        dist = new(batch, n_k, n_u)
        s1 = new(batch, n_k)
        u = torch.arange(1, n_u + 1, device=gates.device, dtype=gates.dtype)
        clip = ctx.clip
        add, mul, sub, mm, sum_, gather = torch.add, torch.mul, torch.sub, torch.mm, torch.sum, torch.gather
        loop = zip(
            d_h, d_w, d_gates, gates, cells[:-1], tanh_c,
            d_hats, d_hats[:, :, :k1], d_hats[:, :, k1:k2], d_hats[:, :, k2:], scale, exps[:, :, k1:k2],
            kappas[1:, :, :, None], gauss,
        )
        for dh_up, dw_up, dg, a, c_prev, tc, dhat, dhat_a, dhat_b, dhat_k, sc, beta, k_col, e in reversed(
            list(loop)
        ):
            # window: phi_t = sum_k alpha_k exp(-beta_k (kappa_k - u)^2) (masked), w_t = phi_t C
            add(dw_up, d_inp[:, :vocab], out=dw)
            gather(dw, 1, chars, out=dphi).mul_(mask)
            mul(e, dphi_row, out=q)  # Q = alpha E dphi
            sum_(q, -1, out=dhat_a)  # dalpha_hat = alpha dalpha
            sub(k_col, u, out=dist)
            sum_(q.mul_(dist), -1, out=s1)
            sum_(q.mul_(dist), -1, out=dhat_b)
            d_kappa.addcmul_(beta, s1, value=-2.0)
            dhat_k.copy_(d_kappa)
            dhat.mul_(sc)
            # h_t: from the layers above, from step t + 1 (through W_hh) and from the window
            add(dh_up, d_inp[:, vocab:], out=dh)
            dh.addmm_(dhat, win_weight)
            cell.step(dh, d_c, a, c_prev, tc, dg)
            if clip is not None:
                dg.clamp_(-clip, clip)
            mm(dg, weight, out=d_inp)
        # weight gradients: one GEMM each over the whole sequence
        flat_gates = d_gates.view(steps * batch, four_h)
        d_weight = flat_gates.t().mm(inputs[:-1].reshape(steps * batch, -1))
        flat_hats = d_hats.view(steps * batch, 3 * n_k)
        d_win_weight = flat_hats.t().mm(inputs[1:, :, vocab:].reshape(steps * batch, hidden))
        d_win_bias = flat_hats.sum(0)
        return (
            d_gates, d_weight, d_win_weight, d_win_bias,
            d_inp[:, vocab:].clone(), d_c, d_kappa, d_inp[:, :vocab].clone(),
            None, None, None, None,
        )


def windowed_lstm(
    x: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias: Tensor,
    win_weight: Tensor,
    win_bias: Tensor,
    h0: Tensor,
    c0: Tensor,
    kappa0: Tensor,
    w0: Tensor,
    chars: Tensor,
    mask: Tensor,
    kappa_scale: float,
    clip: Optional[float] = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Layer 1 + window over a whole sequence (module docstring), from nn.LSTM-layout weights.

    x (B, T, D) the network input; weight_ih (4H, D + V) as nn.LSTM's (input [x_t, w_{t-1}]),
    weight_hh (4H, H), bias (4H,) = b_ih + b_hh, gates [i, f, g, o]; the rest as `WindowedLSTMLoop`.
    -> h (T, B, H), w (T, B, V), c_T, kappa_T, phi (T, B, U), time-major.
    Runs in float32 or float64 with autocast off (lower precisions in float32, outputs cast back).
    The per-step GEMMs use plain torch.addmm / torch.mm into preallocated buffers: oneDNN-prepacked
    weights were no faster here in side-by-side runs (within +-4%, either sign), so they were dropped.
    """
    dtype = x.dtype
    work = dtype if dtype in (torch.float32, torch.float64) else torch.float32
    n_in = x.shape[-1]
    clip = None if clip is None or clip == float("inf") else float(clip)
    with torch.autocast(x.device.type, enabled=False):
        weight_ih, weight_hh, bias = (t.to(work) for t in (weight_ih, weight_hh, bias))
        xproj = F.linear(x.to(work).transpose(0, 1), weight_ih[:, :n_in], bias).contiguous()  # all steps at once
        weight = torch.cat((weight_ih[:, n_in:], weight_hh), dim=1)  # (4H, V + H): one GEMM per step
        tensors = [t.to(work) for t in (win_weight, win_bias, h0, c0, kappa0, w0)]
        out = WindowedLSTMLoop.apply(xproj, weight, *tensors, chars, mask.to(work), float(kappa_scale), clip)
    if work != dtype:
        out = tuple(o.to(dtype) for o in out)
    return out
