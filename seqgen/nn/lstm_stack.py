"""Graves's prediction network: a stack of LSTM layers with skip connections.

    h^1_t = LSTM(x_t, h^1_{t-1})
    h^n_t = LSTM([x_t, h^{n-1}_t], h^n_{t-1})          (input feeds every layer)
    y_t   = W [h^1_t, ..., h^N_t] + b                   (every layer feeds the output)

A multi-layer `nn.LSTM` cannot express the input-to-every-layer connections, so each layer is its
own single-layer fused `nn.LSTM` run over the whole sequence at once (cuDNN / oneDNN kernels).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

State = list[tuple[torch.Tensor, torch.Tensor]]


class SkipLSTMStack(nn.Module):
    def __init__(self, input_size: int, hidden_size: int, num_layers: int, dropout: float = 0.0, extra_input_size: int = 0) -> None:
        """`extra_input_size`: width of a side input fed to layers 2..N (the synthesis window)."""
        super().__init__()
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.layers = nn.ModuleList(
            nn.LSTM(input_size + (hidden_size + extra_input_size if i else 0), hidden_size, batch_first=True)
            for i in range(num_layers)
        )
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.output_size = hidden_size * num_layers

    def forward(
        self,
        x: torch.Tensor | None,
        state: State | None = None,
        extra: torch.Tensor | None = None,
        first: torch.Tensor | None = None,
        ids: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, State]:
        """x: (B, T, input_size). Returns all layers' outputs concatenated (B, T, N*H) and the new state.

        `first`, if given, is layer 1's output computed elsewhere (the synthesis loop), and only
        layers 2..N run here; `extra` is concatenated to the input of layers 2..N.
        `ids` (B, T) instead of x: the input is one_hot(ids, input_size) (see `forward_onehot`).
        """
        if ids is not None:
            if x is not None or extra is not None or first is not None:
                raise ValueError("SkipLSTMStack: ids replaces x and cannot be combined with x, extra or first")
            if ids.device.type == "cpu":
                return self.forward_onehot(ids, state)
            x = F.one_hot(ids, self.layers[0].input_size).to(self.layers[0].weight_ih_l0.dtype)
        outputs: list[torch.Tensor] = []
        new_state: State = []
        below = first
        for index, layer in enumerate(self.layers):
            if index == 0 and first is not None:
                outputs.append(first)
                new_state.append(state[0] if state is not None else None)  # type: ignore[arg-type]
                continue
            parts = [x] if index == 0 else [x, self.dropout(below)] + ([extra] if extra is not None else [])
            layer_in = parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)
            out, layer_state = layer(layer_in, state[index] if state is not None else None)
            outputs.append(out)
            new_state.append(layer_state)
            below = out
        return torch.cat(outputs, dim=-1), new_state

    def forward_onehot(self, ids: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """The same function as ``forward(one_hot(ids))`` with fewer FLOPs (CPU).

        W_ih one_hot(id) is column `id` of W_ih, so every layer's input part is a gather of its
        weight columns (F.embedding on W_x^T) instead of a (vocab x 4H) GEMM per symbol; the dense
        part [h^{n-1}] of layers 2..N is one GEMM over the whole sequence, and the recurrence runs
        in `LSTMRecurrence`. nn.LSTM's fused kernel cannot take precomputed input projections, so
        on GPUs (where cuDNN's kernel wins over a per-step loop) `forward` keeps the one-hot matmul.
        """
        vocab = self.layers[0].input_size
        ids_t = ids.t()  # time-major (T, B)
        dtype = self.layers[0].weight_ih_l0.dtype
        work = dtype if dtype in (torch.float32, torch.float64) else torch.float32
        outputs: list[torch.Tensor] = []
        new_state: State = []
        below = None
        with torch.autocast(ids.device.type, enabled=False):
            for index, layer in enumerate(self.layers):
                w_ih, w_hh = layer.weight_ih_l0.to(work), layer.weight_hh_l0.to(work)
                bias = (layer.bias_ih_l0 + layer.bias_hh_l0).to(work)
                # (T, B, 4H): the one-hot GEMM as a gather of the columns of W_x (bias folded into the small table)
                xproj = F.embedding(ids_t, w_ih[:, :vocab].t() + bias)
                if below is not None:  # the dense part [h^{n-1}]: one GEMM over the whole sequence
                    xproj = torch.addmm(xproj.view(-1, xproj.shape[-1]), self.dropout(below).reshape(-1, self.hidden_size),
                                        w_ih[:, vocab:].t()).view_as(xproj)
                if state is not None and state[index] is not None:
                    h0, c0 = (s[0].to(work) for s in state[index])
                else:
                    h0 = c0 = xproj.new_zeros(ids.shape[0], self.hidden_size)
                out, c_last = LSTMRecurrence.apply(xproj.contiguous(), w_hh, h0, c0)
                outputs.append(out)
                new_state.append((out[-1].unsqueeze(0).to(dtype), c_last.unsqueeze(0).to(dtype)))
                below = out
        return torch.cat(outputs, dim=-1).transpose(0, 1).to(dtype), new_state

def detach_state(state: State | None) -> State | None:
    """Truncated BPTT: keep the values, cut the graph at the segment boundary."""
    if state is None:
        return None
    return [(h.detach(), c.detach()) if h is not None else None for h, c in state]  # type: ignore[misc]


def lstm_cell_(a: torch.Tensor, i: torch.Tensor, f: torch.Tensor, g: torch.Tensor, o: torch.Tensor,
               c_prev: torch.Tensor, c: torch.Tensor, tanh_c: torch.Tensor, h: torch.Tensor) -> None:
    """One LSTM step in place. `a` (B, 4H) holds the gate pre-activations and i, f, g, o are views
    of it; afterwards it holds the activations. Writes c = f c_prev + i g, tanh_c = tanh(c), h = o tanh(c).

    tanh(x) is computed as 2 sigmoid(2x) - 1: torch's CPU tanh is slower per element than its
    sigmoid (docs/benchmarks.md), and this way one sigmoid call covers all four gates.
    """
    g.mul_(2.0)
    a.sigmoid_()
    g.mul_(2.0).sub_(1.0)
    torch.mul(f, c_prev, out=c)
    c.addcmul_(i, g)
    torch.mul(c, 2.0, out=tanh_c).sigmoid_().mul_(2.0).sub_(1.0)
    torch.mul(o, tanh_c, out=h)


class LSTMCellGrad:
    """Backpropagation through `lstm_cell_`, one step at a time, in place, with scratch buffers
    allocated once per sequence. The activation derivatives are computed per step from the saved
    activations while they are in cache (precomputing them for the whole sequence took ~5x longer:
    memory-bound passes over (T, B, 4H))."""

    def __init__(self, batch: int, hidden: int, like: torch.Tensor) -> None:
        self.deriv = like.new_empty(batch, 4 * hidden)
        self.tmp = like.new_empty(batch, hidden)
        self.one = like.new_ones(())

    def step(self, dh: torch.Tensor, d_c: torch.Tensor, a: torch.Tensor, c_prev: torch.Tensor, tanh_c: torch.Tensor,
             d_gates: torch.Tensor) -> None:
        """dh = dL/dh_t (total); d_c = dL/dc_t through step t + 1 on entry, dL/dc_{t-1} on exit; a the
        step's activated gates [i, f, g, o]; writes dL/d pre-activations into d_gates (B, 4H)."""
        hidden = dh.shape[1]
        i, f, g, o = a[:, :hidden], a[:, hidden : 2 * hidden], a[:, 2 * hidden : 3 * hidden], a[:, 3 * hidden :]
        torch.addcmul(self.one, tanh_c, tanh_c, value=-1.0, out=self.tmp).mul_(o)  # o (1 - tanh^2 c)
        d_c.addcmul_(dh, self.tmp)
        torch.mul(d_c, g, out=d_gates[:, :hidden])
        torch.mul(d_c, c_prev, out=d_gates[:, hidden : 2 * hidden])
        torch.mul(d_c, i, out=d_gates[:, 2 * hidden : 3 * hidden])
        torch.mul(dh, tanh_c, out=d_gates[:, 3 * hidden :])
        d_c.mul_(f)
        torch.addcmul(a, a, a, value=-1.0, out=self.deriv)  # s (1 - s) for i, f, o
        torch.addcmul(self.one, g, g, value=-1.0, out=self.deriv[:, 2 * hidden : 3 * hidden])  # 1 - g^2
        d_gates.mul_(self.deriv)


class LSTMRecurrence(torch.autograd.Function):
    """The recurrent part of one LSTM layer over a whole sequence, from precomputed input projections.

    ``apply(xproj, weight_hh, h0, c0)``: xproj (T, B, 4H) time-major = W_ih x_t + b for every
    step, gates in nn.LSTM's order [i, f, g, o]; weight_hh (4H, H). -> h (T, B, H), c_T (B, H).

        a_t = xproj_t + W_hh h_{t-1};  i, f, o = sigmoid;  g = tanh;  c_t = f c_{t-1} + i g;  h_t = o tanh(c_t)

    Backward: only the dh / dc recurrence runs step by step (dh_{t-1} = da_t W_hh); dW_hh is one
    GEMM over the stacked sequence afterwards, and dxproj (the stacked da) goes back to whatever
    produced the projections (a gather for one-hot inputs, one big GEMM for dense ones). Buffers are
    allocated once per call; steps write into views of them.
    """

    @staticmethod
    def forward(ctx: Any, xproj: torch.Tensor, weight_hh: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor) -> tuple:  # type: ignore[override]
        steps, batch, four_h = xproj.shape
        hidden = four_h // 4
        new = xproj.new_empty
        gates = new(steps, batch, four_h)
        hs = new(steps + 1, batch, hidden)
        cells = new(steps + 1, batch, hidden)
        tanh_c = new(steps, batch, hidden)
        hs[0], cells[0] = h0, c0
        weight_t = weight_hh.t()
        h2, h3 = 2 * hidden, 3 * hidden
        loop = zip(
            xproj, gates, gates[:, :, :hidden], gates[:, :, hidden:h2], gates[:, :, h2:h3], gates[:, :, h3:],
            hs[:-1], hs[1:], cells[:-1], cells[1:], tanh_c,
        )
        for xp, a, i, f, g, o, h_prev, h, c_prev, c, tc in loop:
            torch.addmm(xp, h_prev, weight_t, out=a)
            lstm_cell_(a, i, f, g, o, c_prev, c, tc, h)
        ctx.save_for_backward(weight_hh, gates, hs, cells, tanh_c)
        return hs[1:], cells[-1].clone()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, d_h: torch.Tensor, d_c_last: torch.Tensor) -> tuple:  # type: ignore[override]
        weight_hh, gates, hs, cells, tanh_c = ctx.saved_tensors
        steps, batch, four_h = gates.shape
        hidden = four_h // 4
        d_gates = gates.new_empty(steps, batch, four_h)
        d_hidden = gates.new_zeros(batch, hidden)  # dh_t through step t + 1
        dh = gates.new_empty(batch, hidden)
        d_c = d_c_last.clone()
        cell = LSTMCellGrad(batch, hidden, gates)
        for dh_up, dg, a, c_prev, tc in reversed(list(zip(d_h, d_gates, gates, cells[:-1], tanh_c))):
            torch.add(dh_up, d_hidden, out=dh)
            cell.step(dh, d_c, a, c_prev, tc, dg)
            torch.mm(dg, weight_hh, out=d_hidden)
        d_weight = d_gates.view(steps * batch, four_h).t().mm(hs[:-1].reshape(steps * batch, hidden))
        return d_gates, d_weight, d_hidden, d_c
