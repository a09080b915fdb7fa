"""The straightforward synthesis network: every layer, the window and the head wiring run step by step.

This is the reference the fused implementation (`seqgen.families.handwriting.nets.SynthesisNet`) is
checked against (tests/families/handwriting/test_handwriting_models.py: same weights, same loss) and the baseline of
benchmarks/handwriting_synthesis.py. It is deliberately the obvious loop one would write first:

    for t:  h1 = LSTMCell1([x_t, w_{t-1}]);  w = window(h1);
            h2 = LSTMCell2([x_t, h1, w]);  ...;  hN = LSTMCellN([x_t, h_{N-1}, w])
    y = head([h1..hN] for every t)

using the synthesis network's own parameters (nn.LSTM weights read as LSTM cells).
"""

from __future__ import annotations

import torch
from torch import Tensor

from seqgen.families.handwriting.nets import SynthesisNet
from seqgen.nn.mdn import MixtureParams


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
