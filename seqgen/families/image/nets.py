"""Networks of the image family.

Causal 2D-LSTM density model (after Graves et al. 2007; Theis & Bethge 2015): pixel x_{ij} with
L intensity levels, p(x) = prod_{ij} p(x_ij | x_<ij). The input at cell (i, j) is

    u_ij = [x_{i,j-1}/(L-1), 1{j>0}, x_{i-1,j}/(L-1), 1{i>0}]

so the top-left scan's state h_ij sees every pixel of the quadrant (i' <= i, j' <= j) except x_ij
itself: the model is causal, and all pixels of one anti-diagonal can be sampled at once. Layers
are skip-connected as in Graves 2013 (each layer sees u and the layer below; the head sees all).
Output: one Bernoulli logit (binary images) or L softmax logits (grey images).

Row LSTM (van den Oord et al. 2016, PixelRNN Sec. 3.1), the peer: a k x k convolution masked to
the rows above and the pixels to the left (mask A), then Row LSTM layers computing a whole row at
once: input-to-state = masked 1x3 convolution of the layer input (mask B: j-1, j), state-to-state
= 1x3 convolution of the previous row's h; gates [o, f, i, g]: c_i = f*c_{i-1} + i*g,
h_i = o*tanh(c_i); residual connections; ReLU + 1x1 convolution head. Sequential depth: H rows.

Classifier: 4-direction 2D-LSTM layers (MultiDirectionalMDLSTM, outputs concatenated, tanh),
mean over positions, linear softmax over classes. `patch` > 1 reads p x p blocks as one cell.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from seqgen.families.image.config import ImageClassifierConfig, ImageMDLSTMConfig, ImageRowLSTMConfig
from seqgen.nn.mdlstm import MDLSTM, MultiDirectionalMDLSTM, State, WavefrontPlan


def causal_inputs(images: torch.Tensor, levels: int) -> torch.Tensor:
    """(B, H, W) integer pixels -> (B, H, W, 4) inputs [left, has-left, up, has-up]."""
    x = images.to(torch.float32) / (levels - 1)
    left = F.pad(x, (1, 0))[:, :, :-1]
    up = F.pad(x, (0, 0, 1, 0))[:, :-1, :]
    ones = torch.ones_like(x)
    has_left = F.pad(ones, (1, 0))[:, :, :-1]
    has_up = F.pad(ones, (0, 0, 1, 0))[:, :-1, :]
    return torch.stack([left, has_left, up, has_up], -1)


def output_size(levels: int) -> int:
    return 1 if levels == 2 else levels


class CausalMDLSTMNet(nn.Module):
    INPUTS = 4

    def __init__(self, levels: int, config: ImageMDLSTMConfig) -> None:
        super().__init__()
        self.levels = levels
        hidden_size, num_layers = config.hidden_size, config.num_layers
        self.layers = nn.ModuleList(
            MDLSTM(self.INPUTS + (hidden_size if index else 0), hidden_size, ndim=2) for index in range(num_layers)
        )
        self.head = nn.Linear(hidden_size * num_layers, output_size(levels))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, H, W) pixels -> logits (B, H, W, 1 or L), each pixel's from the pixels before it."""
        u = causal_inputs(images, self.levels)
        hidden, below = [], None
        for layer in self.layers:
            below = layer(u if below is None else torch.cat([u, below], -1))
            hidden.append(below)
        return self.head(torch.cat(hidden, -1))

    # --- wavefront sampling: one diagonal of every layer per step ---------------------------------
    def diagonal_logits(self, plan: WavefrontPlan, k: int, u_k: torch.Tensor, states: list[State | None]) -> torch.Tensor:
        """Logits (L_k, B, out) of diagonal k's cells from their inputs u_k (L_k, B, 4); updates `states`."""
        cells, batch = u_k.shape[:2]
        u_k = u_k.reshape(cells * batch, -1)
        below = None
        hidden = []
        for index, layer in enumerate(self.layers):
            inputs = u_k if below is None else torch.cat([u_k, below], -1)
            states[index] = layer.step(plan, k, layer.input_proj(inputs), states[index])
            below = states[index][0]
            hidden.append(below)
        return self.head(torch.cat(hidden, -1)).view(cells, batch, -1)


class MaskedConv2d(nn.Conv2d):
    """A convolution that sees only rows above and, in its own row, pixels to the left (mask A)
    or to the left and the centre (mask B)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: tuple[int, int], mask: str) -> None:
        super().__init__(in_channels, out_channels, kernel, padding=(kernel[0] // 2, kernel[1] // 2))
        kh, kw = kernel
        weight_mask = torch.ones(kh, kw)
        weight_mask[kh // 2, kw // 2 + (mask == "B") :] = 0
        weight_mask[kh // 2 + 1 :] = 0
        self.register_buffer("mask", weight_mask[None, None], persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, self.stride, self.padding)


class RowLSTMLayer(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.input_to_state = MaskedConv2d(channels, 4 * channels, (1, 3), "B")
        self.state_to_state = nn.Conv1d(channels, 4 * channels, 3, padding=1)

    def cell(self, z_in: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One row: z_in (B, 4C, W) input-to-state, (h, c) of the row above -> (h, c) of this row."""
        C = self.channels
        z = z_in + self.state_to_state(h)
        o, f, i = torch.sigmoid(z[:, : 3 * C]).chunk(3, 1)
        c = f * c + i * torch.tanh(z[:, 3 * C :])
        return o * torch.tanh(c), c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W) -> (B, C, H, W); one step per row."""
        B, C, H, W = x.shape
        projected = self.input_to_state(x).unbind(2)  # whole image at once; rows as views
        h = c = x.new_zeros(B, C, W)
        rows = []
        for z_in in projected:
            h, c = self.cell(z_in, h, c)
            rows.append(h)
        return torch.stack(rows, 2) + x  # residual (PixelRNN)


class RowLSTMNet(nn.Module):
    def __init__(self, levels: int, config: ImageRowLSTMConfig) -> None:
        super().__init__()
        self.levels = levels
        hidden_size, num_layers, kernel = config.hidden_size, config.num_layers, config.kernel
        self.first = MaskedConv2d(1, hidden_size, (kernel, kernel), "A")
        self.layers = nn.ModuleList(RowLSTMLayer(hidden_size) for _ in range(num_layers))
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(hidden_size, hidden_size, 1), nn.ReLU(), nn.Conv2d(hidden_size, output_size(levels), 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.first((images.to(torch.float32) / (self.levels - 1))[:, None])
        for layer in self.layers:
            x = layer(x)
        return self.head(x).permute(0, 2, 3, 1)  # (B, H, W, out)

    def row_logits(self, images: torch.Tensor, i: int, states: list) -> tuple[torch.Tensor, list]:
        """Logits of row i (B, W, out) from the image so far and each layer's (h, c) of row i-1
        (None for row 0): the same arithmetic as `forward`, one row at a time (for sampling)."""
        B, H, W = images.shape
        pad = self.first.kernel_size[0] // 2
        x = F.pad((images.to(torch.float32) / (self.levels - 1))[:, None], (0, 0, pad, pad))[:, :, i : i + 2 * pad + 1]
        row = F.conv2d(x, self.first.weight * self.first.mask, self.first.bias, padding=(0, self.first.kernel_size[1] // 2))
        new_states = []
        for layer, state in zip(self.layers, states):
            h, c = state if state is not None else (row.new_zeros(B, layer.channels, W),) * 2
            h, c = layer.cell(layer.input_to_state(row)[:, :, 0], h, c)
            row = h[:, :, None] + row
            new_states.append((h, c))
        return self.head(row)[:, :, 0].transpose(1, 2), new_states


class MDLSTMClassifierNet(nn.Module):
    def __init__(self, levels: int, num_classes: int, config: ImageClassifierConfig) -> None:
        super().__init__()
        hidden_size, num_layers, patch = config.hidden_size, config.num_layers, config.patch
        self.levels, self.patch = levels, patch
        sizes = [patch * patch] + [hidden_size * 4] * num_layers
        self.layers = nn.ModuleList(MultiDirectionalMDLSTM(sizes[i], hidden_size, ndim=2) for i in range(num_layers))
        self.head = nn.Linear(hidden_size * 4, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        B, H, W = images.shape
        p = self.patch
        x = images.to(torch.float32) / (self.levels - 1)
        x = F.pad(x, (0, -W % p, 0, -H % p))
        x = x.unfold(1, p, p).unfold(2, p, p).reshape(B, x.shape[1] // p, x.shape[2] // p, p * p)
        for layer in self.layers:
            x = torch.tanh(layer(x))
        return self.head(x.mean((1, 2)))
