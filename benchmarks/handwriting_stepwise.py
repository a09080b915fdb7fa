"""Straightforward versions of the synthesis network, the references `SynthesisNet` is checked
against (tests: same weights, same loss and gradients) and timed beside (benchmarks/handwriting_synthesis.py).

`plain_forward`: layer 1 as an LSTM cell (torch.lstm_cell, as nn.LSTMCell) and the window in the
time loop under autograd, layers 2..N as fused nn.LSTM over the whole sequence, no weight
prepacking and no custom backward: what one writes first once it is clear that only layer 1 and
the window are sequential. With the paper's LSTM derivative clipping it computes layer 1's gates
explicitly (the clip sits at the gate pre-activations, which lstm_cell keeps inside).

`stepwise_forward`: every layer, the window and the head wiring step by step, the obvious loop:

    for t:  h1 = LSTMCell1([x_t, w_{t-1}]);  w = window(h1);
            h2 = LSTMCell2([x_t, h1, w]);  ...;  hN = LSTMCellN([x_t, h_{N-1}, w])
    y = head([h1..hN] for every t)

using the synthesis network's own parameters (nn.LSTM weights read as LSTM cells).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from seqgen.families.handwriting.nets import SynthesisNet
from seqgen.nn.grad_clip import clip_grad_in_forward
from seqgen.nn.mdn import MixtureParams


def _clipped_cell(inp: Tensor, h: Tensor, c: Tensor, weights: tuple, clip: float) -> tuple[Tensor, Tensor]:
    w_ih, w_hh, b_ih, b_hh = weights
    gates = clip_grad_in_forward(F.linear(inp, w_ih, b_ih) + F.linear(h, w_hh, b_hh), clip)
    i, f, g, o = gates.chunk(4, 1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def plain_forward(net: SynthesisNet, x: Tensor, chars: Tensor, char_mask: Tensor) -> MixtureParams:
    """x (B, T, 3), chars (B, U), char_mask (B, U) -> mixture parameters (B, T), like `net(x, chars, char_mask)[0]`."""
    batch = x.shape[0]
    onehot = net.one_hot(chars)
    layer = net.lstm.layers[0]
    h, c = x.new_zeros(batch, net.hidden_size), x.new_zeros(batch, net.hidden_size)
    kappa = net.window.initial_kappa(batch, x.device, x.dtype)
    w = x.new_zeros(batch, net.vocab_size)
    hs, ws = [], []
    weights = (layer.weight_ih_l0, layer.weight_hh_l0, layer.bias_ih_l0, layer.bias_hh_l0)
    for x_t in x.unbind(1):
        if net.clip_lstm_grad is None:
            h, c = torch.lstm_cell(torch.cat((x_t, w), 1), (h, c), *weights)
        else:  # the paper's clipping needs the gate pre-activations, which lstm_cell keeps inside
            h, c = _clipped_cell(torch.cat((x_t, w), 1), h, c, weights, net.clip_lstm_grad)
        w, kappa, _ = net.window.step(h, kappa, onehot, char_mask)
        hs.append(h)
        ws.append(w)
    hidden, _ = net.lstm(x, None, extra=torch.stack(ws, 1), first=torch.stack(hs, 1))
    return net.head(hidden)


def stepwise_forward(net: SynthesisNet, x: Tensor, chars: Tensor, char_mask: Tensor) -> MixtureParams:
    """x (B, T, 3), chars (B, U), char_mask (B, U) -> mixture parameters (B, T), like `net(x, chars, char_mask)[0]`."""
    batch = x.shape[0]
    onehot = net.one_hot(chars)
    layers = list(net.lstm.layers)
    hidden = net.hidden_size
    states = [(x.new_zeros(batch, hidden), x.new_zeros(batch, hidden)) for _ in layers]
    kappa = net.window.initial_kappa(batch, x.device, x.dtype)
    w = x.new_zeros(batch, net.vocab_size)
    outputs = []
    for x_t in x.unbind(1):
        per_layer = []
        below = None
        for index, layer in enumerate(layers):
            inp = torch.cat((x_t, w), 1) if index == 0 else torch.cat((x_t, below, w), 1)
            h, c = torch.lstm_cell(inp, states[index], layer.weight_ih_l0, layer.weight_hh_l0, layer.bias_ih_l0, layer.bias_hh_l0)
            states[index] = (h, c)
            if index == 0:
                w, kappa, _ = net.window.step(h, kappa, onehot, char_mask)
            per_layer.append(h)
            below = h
        outputs.append(torch.cat(per_layer, 1))
    return net.head(torch.stack(outputs, 1))
