"""Diagonal-Gaussian mixture over whole frames (TEMPORARY until the shared head in seqgen/nn/mdn.py lands).

Output layout per step: [pi_hat (M) | mu (M x D) | sigma_hat (M x D)];
pi = softmax(pi_hat (1 + b)), sigma = exp(sigma_hat - b) (b = sampling bias, 0 in training);

    log p(x) = logsumexp_j [ log pi_j - sum_d ( log sigma_jd + (x_d - mu_jd)^2 / (2 sigma_jd^2) ) ] - D/2 log 2 pi
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple, Optional

import torch
from torch import Tensor, nn

LOG_SIGMA_MIN, LOG_SIGMA_MAX = -7.0, 7.0
_LOG_2PI = math.log(2 * math.pi)


class DiagParams(NamedTuple):
    log_pi: Tensor  # (..., M)
    mu: Tensor  # (..., M, D)
    log_sigma: Tensor  # (..., M, D)

    def map(self, fn: Callable[[Tensor], Tensor]) -> "DiagParams":
        return DiagParams(*(fn(t) for t in self))


class DiagonalGaussianMixture(nn.Module):
    def __init__(self, in_features: int, dim: int, n_components: int) -> None:
        super().__init__()
        self.dim, self.n_components = dim, n_components
        self.linear = nn.Linear(in_features, n_components * (1 + 2 * dim))

    def forward(self, h: Tensor, bias: float = 0.0) -> DiagParams:
        y = self.linear(h)
        m, d = self.n_components, self.dim
        pi_hat = y[..., :m]
        mu = y[..., m : m + m * d].unflatten(-1, (m, d))
        sigma_hat = y[..., m + m * d :].unflatten(-1, (m, d))
        log_pi = torch.log_softmax(pi_hat * (1.0 + bias) if bias else pi_hat, dim=-1)
        return DiagParams(log_pi, mu, sigma_hat - bias if bias else sigma_hat)


def log_density(p: DiagParams, x: Tensor) -> Tensor:
    log_sigma = p.log_sigma.clamp(LOG_SIGMA_MIN, LOG_SIGMA_MAX)
    z = (x.unsqueeze(-2) - p.mu) * torch.exp(-log_sigma)
    comp = p.log_pi - (log_sigma + 0.5 * z.square()).sum(-1) - 0.5 * x.shape[-1] * _LOG_2PI
    return torch.logsumexp(comp, dim=-1)


def nll(p: DiagParams, x: Tensor, mask: Optional[Tensor] = None, reduction: str = "mean") -> Tensor:
    per = -log_density(p, x)
    if mask is not None:
        per = torch.where(mask, per, torch.zeros((), dtype=per.dtype))
    if reduction == "none":
        return per
    if reduction == "sum":
        return per.sum()
    count = per.numel() if mask is None else mask.sum().clamp_min(1)
    return per.sum() / count


@torch.no_grad()
def sample(p: DiagParams, generator: Optional[torch.Generator] = None) -> Tensor:
    j = torch.multinomial(torch.exp(p.log_pi.reshape(-1, p.log_pi.shape[-1])), 1, generator=generator).reshape(p.log_pi.shape[:-1])
    idx = j[..., None, None].expand(*j.shape, 1, p.mu.shape[-1])
    mu = p.mu.gather(-2, idx).squeeze(-2)
    sigma = torch.exp(p.log_sigma.clamp(max=LOG_SIGMA_MAX)).gather(-2, idx).squeeze(-2)
    return mu + sigma * torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
