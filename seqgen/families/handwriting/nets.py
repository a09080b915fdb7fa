"""The two handwriting networks of Graves 2013 as plain nn.Modules (no Lightning): prediction and synthesis.

PredictionNet (Sec. 4): x_t = (dx, dy, eos) -> skip-connected LSTM stack -> mixture density head,
predicting x_{t+1}.

SynthesisNet (Sec. 5): as the prediction network, plus a Gaussian window over the one-hot
transcription computed from layer 1's output:

    h1_t = LSTM1([x_t, w_{t-1}], h1_{t-1})           the only recurrence through the window
    (w_t, kappa_t, phi_t) = window(h1_t, kappa_{t-1}, c)
    h^n_t = LSTMn([x_t, h^{n-1}_t, w_t], h^n_{t-1})   n = 2..N
    y_t = head([h^1_t, ..., h^N_t])

Only layer 1 and the window are sequential: they run step by step as ONE autograd node with a
hand-written backward (`seqgen.nn.window_lstm.windowed_lstm`: layer 1's input projection
W x_t + b for the whole sequence before the loop, one GEMM per step for [w_{t-1}, h_{t-1}] times
the stacked recurrent matrix, preallocated buffers, and in the backward only the dh recurrence per
step with every weight gradient one GEMM after the loop). Layers 2..N then run as fused nn.LSTM
calls over the whole sequence (`SkipLSTMStack(first=h1, extra=w)`). Layer 1's weights live in ``lstm.layers[0]``
(an ``nn.LSTM(3 + V, H)`` used as the parameter container, same layout as nn.LSTMCell), so every
layer has the same parameter names and a straightforward per-step implementation
(benchmarks/handwriting_stepwise.py) can run the same weights.

Derivative clipping (paper Sec. 4.2, `clip_lstm_grad` / `clip_output_grad`): the output
derivatives dL/dy_hat are clamped to [-100, 100] in the head; the LSTM derivatives are clamped to
[-10, 10] at the gate pre-activations in layer 1's loop (exactly the paper's place) and, for the
fused nn.LSTM layers whose gates are inside the kernel, at each layer's output sequence.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqgen.families.handwriting.config import HandwritingPredictionConfig, HandwritingSynthesisConfig
from seqgen.nn.grad_clip import clip_grad_in_forward
from seqgen.nn.lstm_stack import SkipLSTMStack, State
from seqgen.nn.mdn import MixtureDensityHead, MixtureParams
from seqgen.nn.window import GaussianWindow
from seqgen.nn.window_lstm import windowed_lstm


def _clip_outputs_hook(limit: float):
    def hook(module: nn.Module, inputs: tuple, output: tuple) -> tuple:
        out, state = output
        return clip_grad_in_forward(out, limit), state

    return hook


def clip_fused_layers(layers: list[nn.Module], limit: Optional[float]) -> None:
    """Clamp the derivatives w.r.t. the output sequences of fused nn.LSTM layers (forward hooks)."""
    if limit is None:
        return
    for layer in layers:
        layer.register_forward_hook(_clip_outputs_hook(float(limit)))


class PredictionNet(nn.Module):
    def __init__(self, config: HandwritingPredictionConfig) -> None:
        super().__init__()
        c = config
        self.lstm = SkipLSTMStack(3, c.hidden_size, c.num_layers, c.dropout)
        self.head = MixtureDensityHead(self.lstm.output_size, c.mixture_components, output_grad_clip=c.clip_output_grad)
        clip_fused_layers(list(self.lstm.layers), c.clip_lstm_grad)

    def forward(self, x: Tensor, state: State | None = None, bias: float = 0.0) -> tuple[MixtureParams, State]:
        """x (B, T, 3) -> mixture parameters (B, T) predicting x_{t+1}, new state."""
        hidden, state = self.lstm(x, state)
        return self.head(hidden, bias), state


def _onednn_packing_available() -> bool:
    ops = getattr(torch.ops, "mkldnn", None)
    try:
        return bool(
            torch.backends.mkldnn.is_available()
            and hasattr(ops, "_reorder_linear_weight")
            and hasattr(ops, "_linear_pointwise")
        )
    except (AttributeError, RuntimeError):  # pragma: no cover - builds without oneDNN
        return False


_ONEDNN_PACKING = _onednn_packing_available()


def _packed_linear(inputs: Tensor, packed: Tensor) -> Tensor:
    return torch.ops.mkldnn._linear_pointwise(inputs, packed, None, "none", [], "")


class SynthesisState(NamedTuple):
    """Recurrent state of the synthesis network between steps (sampling) or chunks."""

    h1: Tensor  # (B, H)
    c1: Tensor  # (B, H)
    kappa: Tensor  # (B, K)
    w: Tensor  # (B, V) window of the previous step (feeds layer 1 now)
    upper: Optional[State]  # states of layers 2..N (index 0 unused)


class SynthesisNet(nn.Module):
    def __init__(self, vocab_size: int, config: HandwritingSynthesisConfig) -> None:
        """`vocab_size` characters (the data's); the sizes, window and clipping from `config`."""
        super().__init__()
        c = config
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size = c.hidden_size
        self.clip_lstm_grad = c.clip_lstm_grad
        self.lstm = SkipLSTMStack(3, hidden_size, c.num_layers, extra_input_size=vocab_size)
        # layer 1 sees [x_t, w_{t-1}]; it is run step by step in `forward`, never as nn.LSTM
        self.lstm.layers[0] = nn.LSTM(3 + vocab_size, hidden_size, batch_first=True)
        self.window = GaussianWindow(hidden_size, c.window_components, c.kappa_scale)
        self.head = MixtureDensityHead(self.lstm.output_size, c.mixture_components, output_grad_clip=c.clip_output_grad)
        clip_fused_layers(list(self.lstm.layers)[1:], c.clip_lstm_grad)

    # --- layer 1 -------------------------------------------------------------------------------
    def layer1_weights(self) -> tuple[Tensor, Tensor, Tensor]:
        """(W_x (4H, 3), W_rec (V + H, 4H) = [W_w; W_hh]^T, b = b_ih + b_hh): one matrix per step."""
        layer = self.lstm.layers[0]
        w_ih = layer.weight_ih_l0
        return w_ih[:, :3], torch.cat((w_ih[:, 3:], layer.weight_hh_l0), dim=1).t(), layer.bias_ih_l0 + layer.bias_hh_l0

    def _cell(self, xproj_t: Tensor, inputs: Tensor, c: Tensor, w_rec: Tensor, matmul: Any = None) -> tuple[Tensor, Tensor]:
        """One LSTM step (sampling) from the precomputed input part and [w_{t-1}, h_{t-1}] (`inputs`)."""
        gates = torch.addmm(xproj_t, inputs, w_rec) if matmul is None else xproj_t + matmul(inputs)
        hidden = c.shape[1]
        act = torch.sigmoid(gates)  # one call for i, f, o (g's columns are recomputed with tanh below)
        i, f, _, o = act.chunk(4, dim=1)  # nn.LSTM's gate order
        c = torch.addcmul(f * c, i, torch.tanh(gates[:, 2 * hidden : 3 * hidden]))
        h = o * torch.tanh(c)
        return h, c

    #: CPU float32 sampling (`step`): run the per-step GEMMs on oneDNN-prepacked weights (set False to
    #: compare). The training loop does not prepack (docs/benchmarks.md).
    use_packed_weights: bool = True

    def _can_pack(self, x: Tensor) -> bool:
        if not (self.use_packed_weights and _ONEDNN_PACKING and x.device.type == "cpu" and x.dtype == torch.float32):
            return False
        try:
            return not torch.is_autocast_enabled("cpu")
        except TypeError:  # pragma: no cover - older torch
            return not torch.is_autocast_cpu_enabled()

    def _packed_matmul(self, w_rec: Tensor, batch: int) -> Any:
        """A function inputs -> inputs @ w_rec (w_rec (V + H, 4H)) on prepacked weights (sampling: no gradients)."""
        weight = w_rec.detach().t().contiguous()  # (4H, V + H), nn.Linear layout
        packed = torch.ops.mkldnn._reorder_linear_weight(weight, batch)
        return lambda inputs: _packed_linear(inputs, packed)

    def initial_state(self, batch_size: int, device: torch.device | None = None, dtype: torch.dtype | None = None) -> SynthesisState:
        ref = self.head.linear.weight
        device, dtype = device or ref.device, dtype or ref.dtype
        zeros = torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)
        return SynthesisState(
            zeros, zeros.clone(), self.window.initial_kappa(batch_size, device, dtype),
            torch.zeros(batch_size, self.vocab_size, device=device, dtype=dtype), None,
        )

    def one_hot(self, chars: Tensor) -> Tensor:
        return F.one_hot(chars, self.vocab_size).to(self.head.linear.weight.dtype)

    # --- whole sequences (training, evaluation, priming) ----------------------------------------
    def forward(
        self,
        x: Tensor,
        chars: Tensor,
        char_mask: Tensor,
        state: SynthesisState | None = None,
        return_phi: bool = False,
    ) -> tuple[MixtureParams, SynthesisState, Optional[Tensor]]:
        """x (B, T, 3), chars (B, U) ids, char_mask (B, U) -> (params (B, T), final state, phi (B, T, U) or None)."""
        batch = x.shape[0]
        mask = char_mask.to(x.dtype) if char_mask is not None else x.new_ones(chars.shape)
        state = state or self.initial_state(batch, x.device, x.dtype)
        layer = self.lstm.layers[0]
        h1, windows, c, kappa, phi = windowed_lstm(
            x, layer.weight_ih_l0, layer.weight_hh_l0, layer.bias_ih_l0 + layer.bias_hh_l0,
            self.window.linear.weight, self.window.linear.bias, state.h1, state.c1, state.kappa, state.w,
            chars, mask, self.window.kappa_scale, self.clip_lstm_grad,
        )
        h1, windows = h1.transpose(0, 1), windows.transpose(0, 1)  # (B, T, .) views
        hidden_all, upper = self.lstm(x, state.upper, extra=windows, first=h1)
        params = self.head(hidden_all)
        final = SynthesisState(h1[:, -1], c, kappa, windows[:, -1], upper)
        return params, final, (phi.transpose(0, 1) if return_phi else None)

    # --- one step (sampling) -------------------------------------------------------------------
    def step_weights(self, batch: int) -> "StepWeights":
        """Every layer's weights arranged for `step`, computed once per sampling loop: layer 1 as in
        `forward`; layers 2..N as one matrix [W_ih | W_hh] each (one GEMM per layer and step). On CPU
        float32 they are prepacked for oneDNN; calling the fused nn.LSTM with one time step instead
        re-prepares its weights on every call (~2/3 of the sampling time at the paper's size)."""
        with torch.no_grad():
            w_x, w_rec, b = (t.detach() for t in self.layer1_weights())
            pack = self._can_pack(w_rec)
            layer1 = self._packed_matmul(w_rec, batch) if pack else None
            upper = []
            for layer in list(self.lstm.layers)[1:]:
                weight = torch.cat((layer.weight_ih_l0, layer.weight_hh_l0), dim=1).detach()  # (4H, in + H)
                bias = (layer.bias_ih_l0 + layer.bias_hh_l0).detach()
                if pack:
                    packed = torch.ops.mkldnn._reorder_linear_weight(weight.contiguous(), batch)
                    upper.append((bias, lambda inputs, packed=packed: _packed_linear(inputs, packed)))
                else:
                    upper.append((bias, lambda inputs, weight_t=weight.t(): inputs.mm(weight_t)))
        return StepWeights(w_x, w_rec, b, layer1, upper)

    def step(
        self,
        x_t: Tensor,
        state: SynthesisState,
        onehot: Tensor,
        char_mask: Tensor,
        bias: float = 0.0,
        weights: "StepWeights | None" = None,
    ) -> tuple[MixtureParams, Tensor, Tensor, SynthesisState]:
        """x_t (B, 3) -> (params (B,), phi (B, U), done (B,) by the paper's end rule, new state).

        The same network as `forward`, one step (sampling, no gradients needed); `weights`:
        `step_weights(B)` computed once for the whole loop.
        """
        weights = weights if weights is not None else self.step_weights(x_t.shape[0])
        h, c = self._cell(
            F.linear(x_t, weights.w_x, weights.b), torch.cat((state.w, state.h1), dim=1), state.c1, weights.w_rec, weights.layer1
        )
        (w, kappa, phi), done = self.window.step_with_end(h, state.kappa, onehot, char_mask)
        outputs, upper = [h], [None if state.upper is None else state.upper[0]]
        below = h
        for index, (b_n, matmul) in enumerate(weights.upper, start=1):
            if state.upper is not None and state.upper[index] is not None:
                h_prev, c_prev = state.upper[index][0][0], state.upper[index][1][0]
            else:
                h_prev, c_prev = torch.zeros_like(h), torch.zeros_like(h)
            gates = matmul(torch.cat((x_t, below, w, h_prev), dim=1)) + b_n
            act = torch.sigmoid(gates)
            i, f, _, o = act.chunk(4, dim=1)
            c_n = torch.addcmul(f * c_prev, i, torch.tanh(gates[:, 2 * self.hidden_size : 3 * self.hidden_size]))
            below = o * torch.tanh(c_n)
            outputs.append(below)
            upper.append((below[None], c_n[None]))  # nn.LSTM's (num_layers=1, B, H) state layout
        params = self.head(torch.cat(outputs, dim=1), bias)
        return params, phi, done, SynthesisState(h, c, kappa, w, upper)


class StepWeights(NamedTuple):
    """`SynthesisNet.step_weights`: layer 1 (w_x, w_rec, b, packed matmul or None) and, per upper
    layer, (bias, inputs -> inputs @ [W_ih | W_hh]^T)."""

    w_x: Tensor
    w_rec: Tensor
    b: Tensor
    layer1: Any
    upper: list
