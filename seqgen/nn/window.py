"""Gaussian soft window over the one-hot transcription (Graves 2013, Sec. 5.1).

From the first hidden layer's output h1_t, with K mixture components:

    (alpha_hat, beta_hat, kappa_hat) = W h1_t + b
    alpha_t = exp(alpha_hat)                  importance of each window component
    beta_t  = exp(beta_hat)                   width (precision) of each component
    kappa_t = kappa_{t-1} + exp(kappa_hat) / kappa_scale     location, never decreases
    phi(t, u) = sum_k alpha_t^k exp(-beta_t^k (kappa_t^k - u)^2),   u = 1..U (1-based, as the paper)
    w_t = sum_u phi(t, u) c_u

``kappa_scale`` is 1 in the paper. Many reimplementations divide exp(kappa_hat) by ~25 (roughly the
number of pen points per character) so that an untrained window moves about one character every 25
steps instead of one per step; it only rescales the initial operating point and is a constructor
argument. Padded characters (char_mask False) get phi = 0. The three hat vectors are clamped to
<= HAT_MAX before exp so the window can never produce inf (inactive in any sane regime).

End of sampling: stop at the first t where phi(t, U+1) > phi(t, u) for all 1 <= u <= U.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch
from torch import Tensor, nn

__all__ = ["GaussianWindow", "SoftplusGaussianWindow", "make_window", "WINDOW_KINDS", "WindowStep", "window_phi", "log_window_phi", "phi_past_end", "finished", "HAT_MAX"]

#: alpha_hat, beta_hat, kappa_hat are clamped to <= HAT_MAX before exp (exp(30) ~ 1e13).
HAT_MAX: float = 30.0


class WindowStep(NamedTuple):
    """One window step. w: (B, V), kappa: (B, K), phi: (B, U) (zero at padded characters)."""

    w: Tensor
    kappa: Tensor
    phi: Tensor


def window_phi(alpha: Tensor, beta: Tensor, kappa: Tensor, u: Tensor) -> Tensor:
    """phi(t, u) = sum_k alpha_k exp(-beta_k (kappa_k - u)^2).

    alpha, beta, kappa: (B, K); u: (U,) or (B, U) positions (1-based character indices) -> (B, U).
    """
    if u.dim() == 1:
        u = u.unsqueeze(0)
    d = kappa.unsqueeze(-1) - u.unsqueeze(1)  # (B, K, U)
    return (alpha.unsqueeze(-1) * torch.exp(-beta.unsqueeze(-1) * d.square())).sum(1)


def log_window_phi(alpha: Tensor, beta: Tensor, kappa: Tensor, u: Tensor) -> Tensor:
    """log phi(t, u) = logsumexp_k(log alpha_k - beta_k (kappa_k - u)^2): (B, U); never underflows."""
    if u.dim() == 1:
        u = u.unsqueeze(0)
    d = kappa.unsqueeze(-1) - u.unsqueeze(1)  # (B, K, U)
    return torch.logsumexp(torch.log(alpha).unsqueeze(-1) - beta.unsqueeze(-1) * d.square(), dim=1)


def phi_past_end(alpha: Tensor, beta: Tensor, kappa: Tensor, lengths: Tensor) -> Tensor:
    """phi(t, U_b + 1) for each sequence b with U_b = lengths[b] real characters -> (B,)."""
    u_end = (lengths.to(kappa.dtype) + 1.0).unsqueeze(-1)  # (B, 1)
    return window_phi(alpha, beta, kappa, u_end).squeeze(-1)


def finished(phi: Tensor, phi_end: Tensor, char_mask: Optional[Tensor] = None) -> Tensor:
    """The paper's stopping rule: phi(t, U+1) > phi(t, u) for all real u. -> BoolTensor (B,).

    phi: (B, U) window weights over the characters, phi_end: (B,) from `phi_past_end`. Works the
    same on log phi (monotone), which is what `GaussianWindow.step_with_end` uses: far past the end
    every phi underflows to 0 in float32 and ``0 > 0`` would never fire.
    """
    if char_mask is not None:
        phi = phi.masked_fill(~char_mask.bool(), float("-inf"))
    return phi_end > phi.max(dim=-1).values


class GaussianWindow(nn.Module):
    """``GaussianWindow(in_features, n_components=10, kappa_scale=1.0)``: Linear(in_features, 3K) + window.

    Call `step` once per time step; start from ``kappa = initial_kappa(B)`` (zeros).
    """

    def __init__(self, in_features: int, n_components: int = 10, kappa_scale: float = 1.0) -> None:
        super().__init__()
        if n_components < 1:
            raise ValueError("n_components must be >= 1")
        if not kappa_scale > 0:
            raise ValueError(f"kappa_scale must be > 0, got {kappa_scale}")
        self.in_features = in_features
        self.n_components = n_components
        self.kappa_scale = float(kappa_scale)
        self.linear = nn.Linear(in_features, 3 * n_components)
        # cached 1-based positions 1..n (grown on demand, sliced as a view per call)
        self._u_cache: Optional[Tensor] = None

    def initial_kappa(
        self, batch_size: int, device: Optional[torch.device] = None, dtype: Optional[torch.dtype] = None
    ) -> Tensor:
        """kappa_0 = 0: (B, K)."""
        dtype = dtype or self.linear.weight.dtype
        device = device or self.linear.weight.device
        return torch.zeros(batch_size, self.n_components, device=device, dtype=dtype)

    def u_grid(self, n: int, device: torch.device, dtype: torch.dtype) -> Tensor:
        """Positions u = 1..n as a (n,) tensor; cached, so repeated calls allocate nothing."""
        c = self._u_cache
        if c is None or c.numel() < n or c.device != device or c.dtype != dtype:
            c = torch.arange(1, max(n, 64) + 1, device=device, dtype=dtype)
            self._u_cache = c
        return c[:n]

    def params(self, h1_t: Tensor, kappa_prev: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(alpha, beta, kappa_t), each (B, K):
        alpha = exp(alpha_hat); beta = exp(beta_hat); kappa_t = kappa_{t-1} + exp(kappa_hat) / kappa_scale.
        """
        hats = self.linear(h1_t)
        # at least float32: under bf16 autocast kappa (~U, up to 100s) would lose the sub-character precision
        hats = hats.to(torch.promote_types(hats.dtype, torch.float32)).clamp(max=HAT_MAX)
        alpha_hat, beta_hat, kappa_hat = hats.chunk(3, dim=-1)
        alpha = torch.exp(alpha_hat)
        beta = torch.exp(beta_hat)
        step = torch.exp(kappa_hat)
        if self.kappa_scale != 1.0:
            step = step / self.kappa_scale
        return alpha, beta, kappa_prev + step

    def _step(
        self, h1_t: Tensor, kappa_prev: Tensor, chars_onehot: Tensor, char_mask: Optional[Tensor], with_end: bool
    ) -> tuple[WindowStep, Optional[Tensor]]:
        alpha, beta, kappa = self.params(h1_t, kappa_prev)
        n_u = chars_onehot.shape[1]
        # phi over u = 1..U+1: column U_b (0-based) is phi(t, U_b + 1) for a sequence of length U_b
        phi_all = window_phi(alpha, beta, kappa, self.u_grid(n_u + 1, kappa.device, kappa.dtype))
        phi = phi_all[:, :n_u]
        if char_mask is not None:
            phi = phi * char_mask.to(phi.dtype)
        # w_t = sum_u phi(t, u) c_u : (B, 1, U) @ (B, U, V) -> (B, V)
        w = torch.bmm(phi.unsqueeze(1), chars_onehot.to(phi.dtype)).squeeze(1)
        done = None
        if with_end:
            if char_mask is None:
                lengths = torch.full((phi.shape[0],), n_u, device=phi.device, dtype=torch.long)
            else:
                lengths = char_mask.long().sum(-1)
            log_phi = log_window_phi(alpha, beta, kappa, self.u_grid(n_u + 1, kappa.device, kappa.dtype))
            log_phi_end = log_phi.gather(1, lengths.unsqueeze(-1)).squeeze(-1)
            done = finished(log_phi[:, :n_u], log_phi_end, char_mask)
        return WindowStep(w, kappa, phi), done

    def step(
        self, h1_t: Tensor, kappa_prev: Tensor, chars_onehot: Tensor, char_mask: Optional[Tensor] = None
    ) -> WindowStep:
        """One window step.

        h1_t (B, H), kappa_prev (B, K), chars_onehot (B, U, V), char_mask (B, U) bool (True = real char)
        -> WindowStep(w (B, V), kappa (B, K), phi (B, U)); unpacks as ``w, kappa, phi``.
        """
        out, _ = self._step(h1_t, kappa_prev, chars_onehot, char_mask, with_end=False)
        return out

    def step_with_end(
        self, h1_t: Tensor, kappa_prev: Tensor, chars_onehot: Tensor, char_mask: Optional[Tensor] = None
    ) -> tuple[WindowStep, Tensor]:
        """`step` plus the stopping rule: returns (WindowStep, done (B,) bool) where done is
        phi(t, U_b+1) > phi(t, u) for all 1 <= u <= U_b (U_b = number of real characters of row b)."""
        out, done = self._step(h1_t, kappa_prev, chars_onehot, char_mask, with_end=True)
        assert done is not None
        return out, done

    def forward(
        self, h1_t: Tensor, kappa_prev: Tensor, chars_onehot: Tensor, char_mask: Optional[Tensor] = None
    ) -> WindowStep:
        return self.step(h1_t, kappa_prev, chars_onehot, char_mask)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, n_components={self.n_components}, kappa_scale={self.kappa_scale}"


class SoftplusGaussianWindow(GaussianWindow):
    """The softplus / step-limited parameterisation (GMM attention "V2", Battenberg et al. 2019),
    more robust than exp on long sequences (an exp step can explode and skip the text):

        alpha_t = softmax_k(alpha_hat)                        weights sum to 1
        sigma_t = softplus(beta_hat) + 1e-2,  beta_t = 1 / (2 sigma_t^2)
        kappa_t = kappa_{t-1} + min(softplus(kappa_hat), max_step) / kappa_scale

    Same interface, state and stopping rule as `GaussianWindow`; `max_step` bounds how far the
    window can jump in one step (in symbols, before kappa_scale).
    """

    def __init__(self, in_features: int, n_components: int = 10, kappa_scale: float = 1.0, max_step: float = 1.0) -> None:
        super().__init__(in_features, n_components, kappa_scale)
        if not max_step > 0:
            raise ValueError(f"max_step must be > 0, got {max_step}")
        self.max_step = float(max_step)

    def params(self, h1_t: Tensor, kappa_prev: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        hats = self.linear(h1_t)
        hats = hats.to(torch.promote_types(hats.dtype, torch.float32))
        alpha_hat, beta_hat, kappa_hat = hats.chunk(3, dim=-1)
        alpha = torch.softmax(alpha_hat, dim=-1)
        sigma = nn.functional.softplus(beta_hat) + 1e-2
        beta = 0.5 / sigma.square()
        step = nn.functional.softplus(kappa_hat).clamp(max=self.max_step)
        if self.kappa_scale != 1.0:
            step = step / self.kappa_scale
        return alpha, beta, kappa_prev + step

    def extra_repr(self) -> str:
        return super().extra_repr() + f", max_step={self.max_step}"


WINDOW_KINDS = ("exp", "softplus")


def make_window(kind: str, in_features: int, n_components: int = 10, kappa_scale: float = 1.0, max_step: float = 1.0) -> GaussianWindow:
    """``exp``: Graves's parameterisation (`GaussianWindow`); ``softplus``: `SoftplusGaussianWindow`."""
    if kind == "exp":
        return GaussianWindow(in_features, n_components, kappa_scale)
    if kind == "softplus":
        return SoftplusGaussianWindow(in_features, n_components, kappa_scale, max_step)
    raise ValueError(f"unknown window kind {kind!r}: use one of {', '.join(WINDOW_KINDS)}")
