"""Action-conditional frame predictors that predict the *change* from the last frame.

Two cores share one encoder, action transform, decoder and output:

    s_t     = [x_{t-H+1}, ..., x_t]                     the last H frames as channels
    e_t     = relu(W_e Enc(s_t))                        stride-2 convolutions -> vector
    h_t     = LSTM(e_t, h_{t-1})   (core = lstm)        recurrent model
            = e_t                  (core = feedforward) Oh et al. (2015)'s feed-forward model
    z_t     = W_dec ((W_h h_t) ⊙ (W_a a_t)) + b          multiplicative (factored) action transform
    Δ_t, g_t = Dec(z_t [+ Enc's feature maps])           deconvolutions (with `skips`: U-Net sums)
    m_t     = σ(g_t)                                    per-pixel gate, starts closed (σ(-4) ≈ 0.02)
    c_t     = m_t ⊙ Δ_t,  set to 0 where |c_t| < τ       dead zone (τ = min_change)
    x̂_{t+1} = round_255(clip(x_t + c_t, 0, 1))          gated residual on the real frames' 8-bit grid

The last deconvolution's Δ channel starts at zero, so an untrained model predicts x̂_{t+1} = x_t
exactly: the copy-the-last-frame baseline is where training starts, and the gate has to open
before any pixel changes. Intensities are continuous up to the 8-bit grid of the real frames,
so every real intensity is representable. The dead zone and the rounding keep a long rollout's
static pixels exactly static: a change smaller than τ is not applied, so small errors cannot
add up over a hundred fed-back frames. The dead zone, the clip and the rounding pass the gradient
straight through (as if x̂ were x_t + c_t): a closed gate still learns to open, and a pixel pushed
past black or white is still pulled back.

`forward` runs the first `observed` steps on real frames (teacher forcing: every step's encoder,
transform and decoder in one batched call, the LSTM in one fused call); from there each input
frame is the model's own previous prediction (the k-step curriculum, rollouts), one step at a
time because each step needs the one before.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from seqgen.families.atari.config import AtariModelConfig
from seqgen.nn.reproducible import ThreadInvariantConv2d, ThreadInvariantConvTranspose2d

State = tuple[torch.Tensor, torch.Tensor]
GATE_BIAS = -4.0  # the gate's starting logit: nearly closed, but with a gradient to open


def _conv_sizes(size: int, layers: int) -> list[int]:
    """Spatial size before each stride-2 convolution (kernel 4, padding 1), then the bottom size."""
    sizes = [size]
    for _ in range(layers):
        sizes.append((sizes[-1] + 2 - 4) // 2 + 1)
    return sizes


class FramePredictor(nn.Module):
    def __init__(self, size: int, num_actions: int, config: AtariModelConfig) -> None:
        """`size` x `size` frames and `num_actions` actions (the data's); the rest from `config`."""
        super().__init__()
        channels, hidden_size, factors = tuple(config.channels), config.hidden_size, config.factors
        self.size, self.num_actions, self.core, self.history, self.skips = size, num_actions, config.core, config.history, config.skips
        self.min_change = config.min_change
        self.sizes = _conv_sizes(size, len(channels))
        widths = [self.history, *channels]
        self.encoder = nn.ModuleList(ThreadInvariantConv2d(a, b, kernel_size=4, stride=2, padding=1) for a, b in zip(widths[:-1], widths[1:]))
        self.bottom_shape = (channels[-1], self.sizes[-1], self.sizes[-1])
        flat = channels[-1] * self.sizes[-1] ** 2
        self.encode_fc = nn.Linear(flat, hidden_size)
        self.lstm = nn.LSTM(hidden_size, hidden_size, batch_first=True) if self.core == "lstm" else None
        self.w_h = nn.Linear(hidden_size, factors, bias=False)
        self.w_a = nn.Linear(num_actions, factors, bias=False)
        self.w_dec = nn.Linear(factors, hidden_size)
        self.decode_fc = nn.Linear(hidden_size, flat)
        up = [*channels[::-1], 2]  # the last layer gives Δ and the gate logit g
        # thread-invariant weight gradients: the calibration may then use every core (seqgen/nn/reproducible.py)
        self.decoder = nn.ModuleList(
            ThreadInvariantConvTranspose2d(a, b, kernel_size=4, stride=2, padding=1) for a, b in zip(up[:-1], up[1:])
        )
        last = self.decoder[-1]
        with torch.no_grad():  # Δ = 0 and a nearly closed gate: an untrained model copies the last frame
            last.weight[:, 0].zero_()
            last.bias[0] = 0.0
            last.bias[1] = GATE_BIAS

    # --- pieces ---------------------------------------------------------------------------------
    def encode(self, stacks: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(N, H, S, S) frame stacks in [0, 1] -> (N, hidden) vectors and each layer's feature maps."""
        x = stacks * 2.0 - 1.0
        maps = []
        for conv in self.encoder:
            x = F.relu(conv(x))
            maps.append(x)
        return F.relu(self.encode_fc(x.flatten(1))), maps

    def transform(self, hidden: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """The multiplicative action transform: (..., hidden), (...) action ids -> (..., hidden)."""
        one_hot = F.one_hot(actions, self.num_actions).to(hidden.dtype)
        return F.relu(self.w_dec(self.w_h(hidden) * self.w_a(one_hot)))

    def decode(self, z: torch.Tensor, maps: list[torch.Tensor], last: torch.Tensor) -> torch.Tensor:
        """(N, hidden) transformed vectors, the encoder's maps, (N, S, S) last frames -> (N, S, S) x̂."""
        x = F.relu(self.decode_fc(z)).view(-1, *self.bottom_shape)
        for index, deconv in enumerate(self.decoder):
            if self.skips:
                x = x + maps[-1 - index]
            x = deconv(x, output_size=(self.sizes[-2 - index],) * 2)
            if index < len(self.decoder) - 1:
                x = F.relu(x)
        change, gate = x.unbind(1)
        change = torch.sigmoid(gate) * change
        applied = change * (change.abs() > self.min_change)
        predicted = last + change
        return predicted + (((last + applied).clamp(0.0, 1.0) * 255.0).round() / 255.0 - predicted).detach()

    def predict(self, window: torch.Tensor, actions: torch.Tensor, state: State | None) -> tuple[torch.Tensor, State | None]:
        """The next frame after each of T steps.

        `window` (B, H-1+T, S, S) holds the H-1 frames before step 0 and the T frames of the steps;
        `actions` (B, T). Returns (B, T, S, S) predictions and the recurrent state.
        """
        b, steps = actions.shape
        stacks = window.unfold(1, self.history, 1).movedim(-1, 2)  # (B, T, H, S, S)
        encoded, maps = self.encode(stacks.reshape(b * steps, self.history, self.size, self.size))
        encoded = encoded.view(b, steps, -1)
        if self.lstm is not None:
            encoded, state = self.lstm(encoded, state)
        z = self.transform(encoded, actions).flatten(0, 1)
        predicted = self.decode(z, maps, window[:, self.history - 1 :].reshape(b * steps, self.size, self.size))
        return predicted.view(b, steps, self.size, self.size), state

    # --- whole sequences ------------------------------------------------------------------------
    def forward(self, frames: torch.Tensor, actions: torch.Tensor, observed: int | None = None) -> torch.Tensor:
        """Predict frames 1..N from `frames` (B, >= observed, S, S) and `actions` (B, N).

        actions[:, t] leads from frame t to frame t+1. The first `observed` inputs are real frames
        (teacher forcing); from there on the input is the model's own previous prediction, so
        frames[:, observed:] are never read. Returns (B, N, S, S) predictions in [0, 1].
        """
        steps = actions.shape[1]
        observed = steps if observed is None else max(1, min(int(observed), steps))
        padding = frames[:, :1].expand(-1, self.history - 1, -1, -1)  # the first frame stands in for earlier ones
        window = torch.cat([padding, frames[:, :observed]], dim=1)
        predicted, state = self.predict(window, actions[:, :observed], None)
        outputs = [predicted]
        recent = list(window[:, observed:].unbind(1)) + [predicted[:, -1]]  # the last H frames, oldest first
        for t in range(observed, steps):  # own predictions fed back: truly sequential
            predicted, state = self.predict(torch.stack(recent[-self.history :], dim=1), actions[:, t : t + 1], state)
            outputs.append(predicted)
            recent = recent[len(recent) - self.history + 1 :] + [predicted[:, 0]]
        return torch.cat(outputs, dim=1)

    @torch.no_grad()
    def rollout(self, prefix: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Warm up on the real frames `prefix` (B, P, S, S), then generate N frames.

        `actions` (B, P + N - 1) holds every action from the one after the first prefix frame on:
        actions[:, P-1] leads from the last real frame to the first generated one, actions[:, P-1+j]
        from generated frame j to j+1. Returns (B, N, S, S) in [0, 1].
        """
        observed = prefix.shape[1]
        if actions.shape[1] < observed:
            raise ValueError(f"actions must cover the prefix ({observed} frames) plus at least one generated frame")
        return self(prefix, actions, observed)[:, observed - 1 :]
