"""Adaptive weight noise: diagonal-Gaussian variational inference (Graves 2011, "Practical Variational
Inference for Neural Networks"; used in Graves 2013 Sec. 4.2/5.2 with initial std 0.075).

Posterior Q(w) = prod_i N(w_i | mu_i, sigma_i^2), mu_i = the wrapped module's own parameter,
log sigma_i = a new parameter (same shape). Prior P(w) = N(mu, s^2) shared by all noisy weights, set to
its optimum for the current Q:

    mu  = mean_i(mu_i)
    s^2 = mean_i(sigma_i^2 + (mu_i - mu)^2)

Loss (minimum description length):  L = L_E + L_C with

    L_E = E_Q[-log p(D | w)]           one weight sample per forward (= per minibatch) in training
    L_C = KL(Q || P) / B = (1/B) sum_i [ ln(s / sigma_i) + ((mu_i - mu)^2 + sigma_i^2 - s^2) / (2 s^2) ]

spread evenly over the B minibatches of an epoch (`complexity_loss(B)`).

Gradients. L_C is differentiated with the prior held fixed (detached); because the prior is the exact
minimiser of KL over (mu, s^2), this equals the total derivative (envelope theorem) and gives the
paper's dL_C/dmu_i = (mu_i - mu) / s^2 and dL_C/dsigma_i^2 = (1/s^2 - 1/sigma_i^2) / 2.
L_E is differentiated with the *reparameterisation* gradient, w = mu + sigma * eps, eps ~ N(0, I):
dL_E/dmu_i = g_i and dL_E/dlog sigma_i = g_i eps_i sigma_i (unbiased). Graves 2011 instead used the
biased estimator dL_E/dsigma_i^2 ~ g_i^2 / 2; this implementation deliberately does not.

At eval time (``module.eval()``) the module runs with the means mu.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Callable, Iterator, Optional

import torch
from torch import Tensor, nn
from torch.func import functional_call

__all__ = ["AdaptiveWeightNoise"]


def _key(name: str) -> str:
    return name.replace(".", "__")


class AdaptiveWeightNoise(nn.Module):
    """``AdaptiveWeightNoise(module, init_std=0.075, param_filter=None)``: wraps any nn.Module.

    * training: each call samples w = mu + sigma * eps once and runs ``module`` with those weights
      (``torch.func.functional_call``); inside ``with awn.shared_sample():`` all calls share one sample
      (use it when the wrapped module is called several times per minibatch, e.g. once per time step).
    * eval: runs ``module`` with its own parameters (the means).
    * ``param_filter(name, param) -> bool`` selects the noisy parameters (default: all that require
      grad); the others are used as plain point estimates and are excluded from L_C.
    Parameters: ``module.<name>`` (mu) and ``log_sigma.<name with '.' -> '__'>``; give all of
    ``awn.parameters()`` to the optimizer.
    """

    def __init__(
        self,
        module: nn.Module,
        init_std: float = 0.075,
        param_filter: Optional[Callable[[str, nn.Parameter], bool]] = None,
    ) -> None:
        super().__init__()
        if not init_std > 0:
            raise ValueError(f"init_std must be > 0, got {init_std}")
        self.module = module
        self.init_std = float(init_std)
        self._names: list[str] = []
        self.log_sigma = nn.ParameterDict()
        for name, p in module.named_parameters():
            if not p.requires_grad or (param_filter is not None and not param_filter(name, p)):
                continue
            self._names.append(name)
            self.log_sigma[_key(name)] = nn.Parameter(torch.full_like(p, math.log(init_std)))
        if not self._names:
            raise ValueError("AdaptiveWeightNoise: the wrapped module has no (selected) trainable parameters")
        self._shared: Optional[dict[str, Tensor]] = None

    # ----------------------------------------------------------------- weights
    @property
    def noisy_names(self) -> list[str]:
        """Names (in ``module``) of the parameters that carry noise."""
        return list(self._names)

    def _pairs(self) -> Iterator[tuple[str, Tensor, Tensor]]:
        params = dict(self.module.named_parameters())
        for name in self._names:
            yield name, params[name], self.log_sigma[_key(name)]

    def num_noisy(self) -> int:
        """Number of scalar weights with noise (N in the complexity loss)."""
        return sum(p.numel() for _, p, _ in self._pairs())

    def sample_weights(self, generator: Optional[torch.Generator] = None) -> dict[str, Tensor]:
        """One posterior sample {name: mu + exp(log_sigma) * eps}; differentiable w.r.t. mu and log_sigma."""
        out: dict[str, Tensor] = {}
        for name, mu, log_sigma in self._pairs():
            eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
            out[name] = mu + torch.exp(log_sigma) * eps
        return out

    @contextlib.contextmanager
    def shared_sample(self, generator: Optional[torch.Generator] = None) -> Iterator[None]:
        """Within the block, every training-mode call uses the same single weight sample."""
        prev = self._shared
        self._shared = self.sample_weights(generator) if self.training else None
        try:
            yield
        finally:
            self._shared = prev

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if not self.training:
            return self.module(*args, **kwargs)
        weights = self._shared if self._shared is not None else self.sample_weights()
        return functional_call(self.module, weights, args, kwargs)

    # ----------------------------------------------------------------- complexity
    @torch.no_grad()
    def optimal_prior(self) -> tuple[Tensor, Tensor]:
        """(mu, s^2) as float64 scalars: mu = mean(mu_i), s^2 = mean(sigma_i^2 + (mu_i - mu)^2)."""
        n = self.num_noisy()
        total = sum(torch.sum(mu, dtype=torch.float64) for _, mu, _ in self._pairs())
        prior_mu = total / n
        s2 = sum(
            torch.sum(torch.exp(2 * ls) + (mu - prior_mu.to(mu.dtype)).square(), dtype=torch.float64)
            for _, mu, ls in self._pairs()
        ) / n
        return prior_mu, s2

    def complexity_loss(self, n_batches_per_epoch: int = 1) -> Tensor:
        """L_C = KL(Q || P) / B with the optimal prior (see module docstring); a scalar >= 0.

        KL = sum_i [ ln(s / sigma_i) + ((mu_i - mu)^2 + sigma_i^2 - s^2) / (2 s^2) ], accumulated in float64.
        """
        if n_batches_per_epoch < 1:
            raise ValueError(f"n_batches_per_epoch must be >= 1, got {n_batches_per_epoch}")
        prior_mu, s2 = self.optimal_prior()
        n = self.num_noisy()
        kl = torch.zeros((), dtype=torch.float64, device=prior_mu.device)
        for _, mu, ls in self._pairs():
            m = prior_mu.to(mu.dtype)
            quad = torch.sum((mu - m).square() + torch.exp(2 * ls), dtype=torch.float64)
            kl = kl - torch.sum(ls, dtype=torch.float64) + quad / (2 * s2)
        # the constant part: sum_i [ ln s - s^2 / (2 s^2) ] = N (0.5 ln s^2 - 0.5)
        kl = kl + n * (0.5 * torch.log(s2) - 0.5)
        out_dtype = next(iter(self.log_sigma.values())).dtype
        return (kl / n_batches_per_epoch).to(torch.promote_types(out_dtype, torch.float32))

    @torch.no_grad()
    def sigma_stats(self) -> dict[str, float]:
        """Mean / min / max of sigma over the noisy weights (for logging)."""
        sig = torch.cat([torch.exp(ls).flatten().float() for _, _, ls in self._pairs()])
        return {"sigma_mean": sig.mean().item(), "sigma_min": sig.min().item(), "sigma_max": sig.max().item()}

    def extra_repr(self) -> str:
        return f"init_std={self.init_std}, noisy_tensors={len(self._names)}"
