"""A TextLSTM one symbol at a time for B streams, in buffers allocated once (the compressor's loop).

Per step and layer n (the skip stack of `seqgen.nn.lstm_stack`, gates in nn.LSTM's order):

    a^n_t = T^n[x_t] + W^n_below h^{n-1}_t + W^n_hh h^n_{t-1}       T^n = W^n_x X + b^n, a (V, 4H) table
    c^n_t, h^n_t = lstm_cell_(a^n_t, c^n_{t-1})                      the training code's cell
    logits_t = b + sum_n W^n_out h^n_t

X is the identity for one-hot inputs (T^n holds W^n_x's columns) or the embedding matrix. The
tables are rebuilt by `refresh()` after the weights change (dynamic evaluation). Encoder and
decoder run exactly this code on the same shapes and threads, so their probabilities agree bit for
bit; the values equal the whole-sequence forward to float32 rounding.
"""

from __future__ import annotations

from typing import Any

import torch

from seqgen.nn.lstm_stack import State, lstm_cell_


class TextStepper:
    def __init__(self, model: Any, batch: int) -> None:
        self.model = model
        lstm = model.lstm
        hidden, layers = lstm.hidden_size, lstm.num_layers
        self.hidden_size = hidden
        weight = lstm.layers[0].weight_ih_l0
        new = lambda *shape: weight.new_zeros(*shape)  # noqa: E731
        self.h = new(layers, batch, hidden)
        self.cells = new(2, layers, batch, hidden)  # c_{t-1} and c_t swap roles every step
        self.tanh_c = new(layers, batch, hidden)
        self.gates = new(layers, batch, 4 * hidden)
        self.logits = new(batch, model.head.out_features)
        self.parity = 0
        quarter = [slice(k * hidden, (k + 1) * hidden) for k in range(4)]
        self.gate_views = [tuple(self.gates[n][:, q] for q in quarter) for n in range(layers)]
        self.refresh()

    @torch.no_grad()
    def refresh(self) -> None:
        """Rebuild the input tables from the current weights (after an in-place update)."""
        model, layers = self.model, self.model.lstm.layers
        inputs = layers[0].input_size
        source = model.embed.weight.detach() if model.embed is not None else None
        self.tables, self.w_below, self.w_hh, self.w_out = [], [], [], []
        hidden = self.hidden_size
        for n, layer in enumerate(layers):
            w_x = layer.weight_ih_l0.detach()[:, :inputs]
            bias = layer.bias_ih_l0.detach() + layer.bias_hh_l0.detach()
            table = (w_x.t() if source is None else source @ w_x.t()) + bias
            self.tables.append(table.contiguous())
            self.w_below.append(layer.weight_ih_l0.detach()[:, inputs:].t() if n else None)
            self.w_hh.append(layer.weight_hh_l0.detach().t())
            self.w_out.append(model.head.weight.detach()[:, n * hidden : (n + 1) * hidden].t())
        self.bias_out = model.head.bias.detach()

    def reset(self) -> None:
        self.h.zero_()
        self.cells.zero_()

    def state(self) -> State:
        """The recurrent state as the model's forward takes it (copies)."""
        cells = self.cells[self.parity]
        return [(self.h[n].unsqueeze(0).clone(), cells[n].unsqueeze(0).clone()) for n in range(len(self.tables))]

    @torch.no_grad()
    def step(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (B,) long -> next-symbol logits (B, V), a view of a buffer overwritten by the next step."""
        previous, current = self.cells[self.parity], self.cells[1 - self.parity]
        for n, table in enumerate(self.tables):
            gates = self.gates[n]
            torch.index_select(table, 0, ids, out=gates)
            if n:
                gates.addmm_(self.h[n - 1], self.w_below[n])
            gates.addmm_(self.h[n], self.w_hh[n])
            lstm_cell_(gates, *self.gate_views[n], previous[n], current[n], self.tanh_c[n], self.h[n])
        self.parity = 1 - self.parity
        torch.addmm(self.bias_out, self.h[0], self.w_out[0], out=self.logits)
        for n in range(1, len(self.tables)):
            self.logits.addmm_(self.h[n], self.w_out[n])
        return self.logits
