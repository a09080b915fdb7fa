"""The speech synthesis network: Graves's synthesis network over audio frames (plain nn.Module).

Inputs per step: the previous frame x_{t-1} (zeros at t = 0) and the speaker embedding s;
conditioning: the symbol sequence c (phonemes or characters, one-hot), read through the soft
Gaussian window of `seqgen.nn.window` (``window: exp`` = Graves's parameterisation,
``softplus`` = the step-limited one):

    h1_t = LSTM1([x_{t-1}, s, w_{t-1}], h1_{t-1})          the only recurrence through the window
    (w_t, kappa_t, phi_t) = window(h1_t, kappa_{t-1}, c)
    h^n_t = LSTMn([x_{t-1}, s, h^{n-1}_t, w_t], h^n_{t-1})  n = 2..N   (fused nn.LSTM, whole sequence)
    p(x_t | ...) = sum_j pi_j N(x_t | mu_j, diag(sigma_j^2))  from [h^1_t .. h^N_t]

Only layer 1 and the window run step by step: layer 1's input part W [x, s] + b is projected for
the whole sequence before the loop, each step adds [w_{t-1}, h_{t-1}] @ W_rec (one GEMM); the
upper layers and the head then run once over the whole sequence.

End of an utterance (sampling): the window has passed the last symbol, phi(t, U+1) > phi(t, u)
for every real u (`GaussianWindow.step_with_end`), decided per row.

WORLD frames (`voicing_index` set) get `VoicedFrameMixture`: the voicing flag v_t in {0, 1} is a
Bernoulli of its own, the other columns (continuous log F0, mel-cepstrum, band aperiodicity) the
diagonal mixture, as handwriting's pen-lift bit beside its offsets:

    p(x_t) = sum_j pi_j N(x_t without v | mu_j, diag sigma_j^2) * e_t^v_t (1 - e_t)^(1 - v_t)
    e_t = sigmoid(v_hat_t (1 + b))       (sampling bias b sharpens it as it sharpens pi)
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqgen.families.speech.config import SpeechSynthesisConfig
from seqgen.nn.lstm_stack import SkipLSTMStack
from seqgen.nn.mdn import DiagonalGaussianMixture, DiagonalParams, MixtureHead
from seqgen.nn.window import make_window


class VoicedParams(NamedTuple):
    """`DiagonalParams` over the continuous columns plus the voicing logit (..., )."""

    log_pi: Tensor
    mu: Tensor
    log_sigma: Tensor
    voicing_logit: Tensor

    @property
    def continuous(self) -> DiagonalParams:
        return DiagonalParams(self.log_pi, self.mu, self.log_sigma)


class VoicedFrameMixture(MixtureHead):
    """A diagonal-Gaussian mixture over every column but `voicing_index`, and a Bernoulli for it."""

    def __init__(self, in_features: int, dim: int, n_components: int, voicing_index: int) -> None:
        super().__init__()
        if not 0 <= voicing_index < dim:
            raise ValueError(f"voicing_index {voicing_index} outside a {dim}-column frame")
        self.event_size, self.voicing_index = dim, int(voicing_index)
        self.mixture = DiagonalGaussianMixture(in_features, dim - 1, n_components)
        self.voicing = nn.Linear(in_features, 1)
        keep = [c for c in range(dim) if c != voicing_index]
        self.register_buffer("continuous_columns", torch.tensor(keep), persistent=False)
        # sampled (continuous, v) -> frame order: v goes back to its column
        self.register_buffer("frame_order", torch.argsort(torch.tensor(keep + [voicing_index])), persistent=False)

    @property
    def linear(self) -> nn.Linear:  # the weight whose dtype and device the network follows
        return self.mixture.linear

    def forward(self, h: Tensor, bias: float = 0.0) -> VoicedParams:
        p = self.mixture(h, bias)
        return VoicedParams(p.log_pi, p.mu, p.log_sigma, self.voicing(h).squeeze(-1) * (1.0 + float(bias)))

    def log_density(self, params: VoicedParams, x: Tensor) -> Tensor:
        voiced = x[..., self.voicing_index]
        log_voicing = -F.binary_cross_entropy_with_logits(params.voicing_logit.float(), voiced.float(), reduction="none")
        return self.mixture.log_density(params.continuous, x.index_select(-1, self.continuous_columns)) + log_voicing

    @torch.no_grad()
    def sample(self, params: VoicedParams, generator: Optional[torch.Generator] = None) -> Tensor:
        continuous = self.mixture.sample(params.continuous, generator)
        u = torch.rand(params.voicing_logit.shape, generator=generator, device=continuous.device)
        voiced = (u < torch.sigmoid(params.voicing_logit.float())).to(continuous.dtype).unsqueeze(-1)
        return torch.cat((continuous, voiced), -1).index_select(-1, self.frame_order)


class SpeechState(NamedTuple):
    h1: Tensor  # (B, H)
    c1: Tensor  # (B, H)
    kappa: Tensor  # (B, K)
    w: Tensor  # (B, V)
    upper: Optional[list]  # nn.LSTM states of layers 2..N (index 0 unused)


class SpeechSynthesisNet(nn.Module):
    def __init__(self, frame_dim: int, vocab_size: int, n_speakers: int, config: SpeechSynthesisConfig,
                 voicing_index: int | None = None) -> None:
        """`frame_dim`, `vocab_size`, `n_speakers` and `voicing_index` (world: the voicing flag's
        column) are the data's; the sizes, the window and the input dropout come from `config`."""
        super().__init__()
        c = config
        hidden_size, speaker_dim = c.hidden_size, c.speaker_dim
        self.frame_dim, self.vocab_size, self.hidden_size = frame_dim, vocab_size, hidden_size
        self.speaker = nn.Embedding(max(n_speakers, 1), speaker_dim)
        in_size = frame_dim + speaker_dim
        self.in_size = in_size
        self.lstm = SkipLSTMStack(in_size, hidden_size, c.num_layers, extra_input_size=vocab_size)
        # layer 1 sees [x, s, w_{t-1}]; it runs step by step in `forward`, nn.LSTM only holds its weights
        self.lstm.layers[0] = nn.LSTM(in_size + vocab_size, hidden_size, batch_first=True)
        self.window = make_window(c.window, hidden_size, c.window_components, c.kappa_scale, c.max_step)
        self.head: DiagonalGaussianMixture | VoicedFrameMixture = (
            DiagonalGaussianMixture(self.lstm.output_size, frame_dim, c.mixture_components) if voicing_index is None
            else VoicedFrameMixture(self.lstm.output_size, frame_dim, c.mixture_components, voicing_index)
        )
        self.input_dropout = nn.Dropout(c.input_dropout) if c.input_dropout > 0 else nn.Identity()

    # --- helpers -------------------------------------------------------------------------------
    def layer1_weights(self) -> tuple[Tensor, Tensor, Tensor]:
        """(W_x (4H, in), W_rec (V + H, 4H) = [W_w; W_hh]^T, b = b_ih + b_hh)."""
        layer = self.lstm.layers[0]
        w_ih = layer.weight_ih_l0
        return w_ih[:, : self.in_size], torch.cat((w_ih[:, self.in_size :], layer.weight_hh_l0), 1).t(), layer.bias_ih_l0 + layer.bias_hh_l0

    @staticmethod
    def _cell(gates: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        i, f, g, o = gates.chunk(4, dim=1)  # nn.LSTM's gate order
        c = torch.addcmul(torch.sigmoid(f) * c, torch.sigmoid(i), torch.tanh(g))
        return torch.sigmoid(o) * torch.tanh(c), c

    def one_hot(self, symbols: Tensor) -> Tensor:
        return F.one_hot(symbols, self.vocab_size).to(self.head.linear.weight.dtype)

    def inputs(self, frames: Tensor, speakers: Tensor) -> Tensor:
        """[x_{t-1}, s] for every step: (B, T, in) from the target frames (B, T, D)."""
        prev = torch.cat((torch.zeros_like(frames[:, :1]), frames[:, :-1]), dim=1)
        spk = self.speaker(speakers).unsqueeze(1).expand(-1, frames.shape[1], -1)
        return torch.cat((self.input_dropout(prev), spk), dim=-1)

    def initial_state(self, batch: int, device: torch.device | None = None) -> SpeechState:
        ref = self.head.linear.weight
        device = device or ref.device
        zeros = torch.zeros(batch, self.hidden_size, device=device, dtype=ref.dtype)
        return SpeechState(zeros, zeros.clone(), self.window.initial_kappa(batch, device, ref.dtype),
                           torch.zeros(batch, self.vocab_size, device=device, dtype=ref.dtype), None)

    # --- whole sequences (training, evaluation, priming) ---------------------------------------
    def forward(
        self, x: Tensor, symbols: Tensor, symbol_mask: Tensor, state: SpeechState | None = None, return_phi: bool = False
    ) -> tuple[DiagonalParams, SpeechState, Optional[Tensor]]:
        """x (B, T, in) = `inputs(...)` -> (mixture params (B, T), final state, phi (B, T, U) or None)."""
        onehot = self.one_hot(symbols)
        state = state or self.initial_state(x.shape[0], x.device)
        w_x, w_rec, bias = self.layer1_weights()
        xproj = F.linear(x, w_x, bias)  # layer 1's input part, all steps at once
        h, c, kappa, w = state.h1, state.c1, state.kappa, state.w
        hs, ws, phis = [], [], []
        for xproj_t in xproj.unbind(1):
            h, c = self._cell(torch.addmm(xproj_t, torch.cat((w, h), 1), w_rec), c)
            w, kappa, phi = self.window(h, kappa, onehot, symbol_mask)
            hs.append(h)
            ws.append(w)
            if return_phi:
                phis.append(phi)
        hidden, upper = self.lstm(x, state.upper, extra=torch.stack(ws, 1), first=torch.stack(hs, 1))
        return self.head(hidden), SpeechState(h, c, kappa, w, upper), (torch.stack(phis, 1) if return_phi else None)

    # --- one step (sampling) -------------------------------------------------------------------
    def step_weights(self) -> list[tuple[Tensor, Tensor]]:
        """Per upper layer ([W_ih | W_hh]^T, b): one GEMM per layer and step while sampling."""
        with torch.no_grad():
            return [
                (torch.cat((l.weight_ih_l0, l.weight_hh_l0), 1).t().contiguous(), l.bias_ih_l0 + l.bias_hh_l0)
                for l in list(self.lstm.layers)[1:]
            ]

    @torch.no_grad()
    def step(
        self, x_t: Tensor, state: SpeechState, onehot: Tensor, symbol_mask: Tensor, bias: float = 0.0,
        weights: list[tuple[Tensor, Tensor]] | None = None,
    ) -> tuple[DiagonalParams, Tensor, Tensor, SpeechState]:
        """x_t (B, in) -> (params (B,), phi (B, U), done (B,) by the window end rule, new state)."""
        weights = weights if weights is not None else self.step_weights()
        w_x, w_rec, b = self.layer1_weights()
        h, c = self._cell(torch.addmm(F.linear(x_t, w_x, b), torch.cat((state.w, state.h1), 1), w_rec), state.c1)
        (w, kappa, phi), done = self.window.step_with_end(h, state.kappa, onehot, symbol_mask)
        outputs, upper, below = [h], [None], h
        for index, (weight, bias_n) in enumerate(weights, start=1):
            prev = state.upper[index] if state.upper is not None else None
            h_prev = prev[0][0] if prev is not None else torch.zeros_like(h)
            c_prev = prev[1][0] if prev is not None else torch.zeros_like(h)
            below, c_n = self._cell(torch.addmm(bias_n, torch.cat((x_t, below, w, h_prev), 1), weight), c_prev)
            outputs.append(below)
            upper.append((below[None], c_n[None]))  # nn.LSTM's (1, B, H) state layout
        return self.head(torch.cat(outputs, 1), bias), phi, done, SpeechState(h, c, kappa, w, upper)
