"""Graves's prediction network: a stack of LSTM layers with skip connections.

    h^1_t = LSTM(x_t, h^1_{t-1})
    h^n_t = LSTM([x_t, h^{n-1}_t], h^n_{t-1})          (input feeds every layer)
    y_t   = W [h^1_t, ..., h^N_t] + b                   (every layer feeds the output)

A multi-layer `nn.LSTM` cannot express the input-to-every-layer connections, so each layer is its
own single-layer fused `nn.LSTM` run over the whole sequence at once (cuDNN / oneDNN kernels).
"""

from __future__ import annotations

import torch
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
        self, x: torch.Tensor, state: State | None = None, extra: torch.Tensor | None = None, first: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, State]:
        """x: (B, T, input_size). Returns all layers' outputs concatenated (B, T, N*H) and the new state.

        `first`, if given, is layer 1's output computed elsewhere (the synthesis loop), and only
        layers 2..N run here; `extra` is concatenated to the input of layers 2..N.
        """
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


def detach_state(state: State | None) -> State | None:
    """Truncated BPTT: keep the values, cut the graph at the segment boundary."""
    if state is None:
        return None
    return [(h.detach(), c.detach()) if h is not None else None for h, c in state]  # type: ignore[misc]
