"""Action-conditional recurrent frame predictor (after Oh, Guo, Lee, Lewis, Singh 2015, "recurrent" model).

    e_t     = Enc(x_t)                              conv encoder -> vector
    h_t     = LSTM(e_t, h_{t-1})                    recurrent core
    z_t     = W_dec ((W_h h_t) ⊙ (W_a a_t)) + b     multiplicative (factored) action transform
    x̂_{t+1} = Dec(z_t)                              deconv decoder

The factored transform makes the action gate every factor of the hidden state, so an action can
change *what* moves rather than add a constant offset. With `residual` (default on) the decoder
predicts a change: the categorical logits get s · onehot(level of x_t) added (s learned, starting
at 3), the mse head adds x_t itself, so an untrained model starts at the copy-the-last-frame
baseline and training spends its steps on what moves. The decoder's output is either logits of a
per-pixel categorical over `levels` quantised intensities (NLL in bits per pixel) or one value per
pixel (Gaussian with fixed variance = mean squared error), chosen by `head`.

Teacher forcing runs the whole observed prefix through the fused `nn.LSTM` in one call; only steps
that feed the model's own prediction back in (the k-step curriculum, rollouts) loop in Python.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

State = tuple[torch.Tensor, torch.Tensor]
Head = Literal["categorical", "mse"]


def _conv_stack(size: int, channels: list[int]) -> tuple[nn.Sequential, list[tuple[int, int]]]:
    """Stride-2 convolutions; returns the stack and the spatial size before each layer."""
    layers: list[nn.Module] = []
    sizes: list[tuple[int, int]] = []
    current = size
    previous = 1
    for width in channels:
        sizes.append((current, current))
        layers += [nn.Conv2d(previous, width, kernel_size=4, stride=2, padding=1), nn.ReLU(inplace=True)]
        current = (current + 2 - 4) // 2 + 1
        previous = width
    return nn.Sequential(*layers), sizes + [(current, current)]


class ActionConditionalPredictor(nn.Module):
    def __init__(
        self,
        size: int = 84,
        num_actions: int = 18,
        channels: tuple[int, ...] = (32, 64, 64),
        hidden_size: int = 512,
        factors: int = 512,
        head: Head = "categorical",
        levels: int = 32,
        residual: bool = True,
    ) -> None:
        super().__init__()
        self.size, self.num_actions, self.head_kind, self.levels = size, num_actions, head, levels
        self.encoder, self.sizes = _conv_stack(size, list(channels))
        bottom = self.sizes[-1]
        self.bottom_shape = (channels[-1], bottom[0], bottom[1])
        flat = channels[-1] * bottom[0] * bottom[1]
        self.encode_fc = nn.Linear(flat, hidden_size)
        self.lstm = nn.LSTM(hidden_size, hidden_size, batch_first=True)
        self.w_h = nn.Linear(hidden_size, factors, bias=False)
        self.w_a = nn.Linear(num_actions, factors, bias=False)
        self.w_dec = nn.Linear(factors, hidden_size)
        self.decode_fc = nn.Linear(hidden_size, flat)
        out_channels = levels if head == "categorical" else 1
        widths = list(channels[::-1][1:]) + [out_channels]
        self.deconvs = nn.ModuleList()
        previous = channels[-1]
        for width in widths:
            self.deconvs.append(nn.ConvTranspose2d(previous, width, kernel_size=4, stride=2, padding=1))
            previous = width
        self.residual = residual
        self.skip_scale = nn.Parameter(torch.tensor(3.0)) if residual and head == "categorical" else None
        centres = (torch.arange(levels, dtype=torch.float32) + 0.5) / levels
        self.register_buffer("level_centres", centres, persistent=False)

    # --- pieces ---------------------------------------------------------------------------------
    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, T, S, S) in [0, 1] -> (B, T, hidden)."""
        b, t = frames.shape[:2]
        x = self.encoder(frames.reshape(b * t, 1, self.size, self.size) * 2.0 - 1.0)
        return F.relu(self.encode_fc(x.flatten(1))).view(b, t, -1)

    def transform(self, hidden: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """The multiplicative action transform: (B, T, H), (B, T) ids -> (B, T, H)."""
        one_hot = F.one_hot(actions, self.num_actions).to(hidden.dtype)
        return F.relu(self.w_dec(self.w_h(hidden) * self.w_a(one_hot)))

    def decode(self, z: torch.Tensor, inputs: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, H) -> (B, T, levels or 1, S, S) logits / values; `inputs` (B, T, S, S) are the frames
        the predictions follow (the residual connection)."""
        b, t = z.shape[:2]
        x = F.relu(self.decode_fc(z)).view(b * t, *self.bottom_shape)
        sizes = self.sizes[::-1][1:]
        for index, deconv in enumerate(self.deconvs):
            x = deconv(x, output_size=sizes[index])
            if index < len(self.deconvs) - 1:
                x = F.relu(x)
        out = x.view(b, t, x.shape[1], self.size, self.size)
        if self.residual and inputs is not None:
            if self.skip_scale is not None:
                out = out + self.skip_scale * F.one_hot(self.quantise(inputs), self.levels).movedim(-1, 2).to(out.dtype)
            else:
                out = out + inputs[:, :, None]
        return out

    def expected_frame(self, out: torch.Tensor) -> torch.Tensor:
        """Decoder output -> the predicted frame in [0, 1] (expected intensity for the categorical head)."""
        if self.head_kind == "categorical":
            return torch.einsum("btlhw,l->bthw", out.softmax(dim=2), self.level_centres)
        return out[:, :, 0].clamp(0.0, 1.0)

    def quantise(self, frames: torch.Tensor) -> torch.Tensor:
        """[0, 1] intensities -> level ids 0..levels-1."""
        return (frames * self.levels).long().clamp_(0, self.levels - 1)

    # --- whole sequences ------------------------------------------------------------------------
    def forward(self, frames: torch.Tensor, actions: torch.Tensor, observed: int | None = None, state: State | None = None) -> tuple[torch.Tensor, State]:
        """Predict frames 1..T-1 from frames 0..T-2 and actions 0..T-2.

        The first `observed` inputs are real frames (teacher forcing, one fused LSTM call); from
        there on the input is the model's own previous prediction (k-step prediction, Oh et al.'s
        curriculum). Returns decoder outputs (B, T-1, C, S, S) and the final LSTM state.
        """
        steps = frames.shape[1] - 1
        observed = steps if observed is None else max(1, min(int(observed), steps))
        outputs = []
        hidden, state = self.lstm(self.encode(frames[:, :observed]), state)
        out = self.decode(self.transform(hidden, actions[:, :observed]), frames[:, :observed])
        outputs.append(out)
        previous = self.expected_frame(out[:, -1:])
        for t in range(observed, steps):  # own predictions fed back: truly sequential
            hidden, state = self.lstm(self.encode(previous), state)
            out = self.decode(self.transform(hidden, actions[:, t : t + 1]), previous)
            outputs.append(out)
            previous = self.expected_frame(out)
        return torch.cat(outputs, dim=1), state

    @torch.no_grad()
    def rollout(self, prefix: torch.Tensor, actions: torch.Tensor, sample: bool = False, generator: torch.Generator | None = None) -> torch.Tensor:
        """Warm up on the real frames `prefix` (B, P, S, S), then generate N frames.

        `actions` (B, P + N - 1) holds every action from the one after the first prefix frame on:
        actions[:, P-1] leads from the last real frame to the first generated one, actions[:, P-1+j]
        from generated frame j to j+1. Returns (B, N, S, S) in [0, 1]: expected frames, or frames
        sampled pixel by pixel from the categorical head when `sample`.
        """
        observed = prefix.shape[1]
        count = actions.shape[1] - observed + 1
        if count < 1:
            raise ValueError(f"actions must cover the prefix ({observed} frames) plus at least one generated frame")
        frames = prefix.new_empty(prefix.shape[0], count, self.size, self.size)
        hidden, state = self.lstm(self.encode(prefix), None)
        out = self.decode(self.transform(hidden[:, -1:], actions[:, observed - 1 : observed]), prefix[:, -1:])
        for step in range(count):
            frames[:, step : step + 1] = self._draw(out, sample, generator)
            if step + 1 < count:
                hidden, state = self.lstm(self.encode(frames[:, step : step + 1]), state)
                out = self.decode(self.transform(hidden, actions[:, observed + step : observed + step + 1]), frames[:, step : step + 1])
        return frames

    def _draw(self, out: torch.Tensor, sample: bool, generator: torch.Generator | None) -> torch.Tensor:
        if sample and self.head_kind == "categorical":
            probs = out.softmax(dim=2).movedim(2, -1)
            ids = torch.multinomial(probs.reshape(-1, self.levels), 1, generator=generator).view(probs.shape[:-1])
            return self.level_centres[ids]
        return self.expected_frame(out)
