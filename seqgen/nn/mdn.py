"""Mixture density heads (Graves 2013, Sec. 4.1 and eq. 61-62) behind one interface, `MixtureHead`:

    params = head(h, bias)                 # hidden -> mixture parameters (bias b >= 0 sharpens)
    head.log_density(params, x)            # log p(x) per leading index
    head.nll(params, x, mask, reduction)   # -log p(x), masked and reduced
    head.sample(params, generator)         # one draw per leading index
    head.to_numpy(params)                  # {field: float32 array} (plots, saving)

Two implementations: `MixtureDensityHead` (bivariate Gaussians with correlation + an end-of-stroke
Bernoulli: pen offsets) and `DiagonalGaussianMixture` (D-dimensional, diagonal covariance: speech
frames). Both apply the sampling bias b of Sec. 5.4 the same way: pi = softmax(pi_hat (1 + b)),
sigma = exp(sigma_hat - b).

The bivariate head:

The network output vector y_hat_t has 1 + 6M units, laid out as

    [ e_hat | pi_hat (M) | mu_x (M) | mu_y (M) | sigma_hat_x (M) | sigma_hat_y (M) | rho_hat (M) ]

and is turned into mixture parameters by (Sec. 4.1; b = the sampling bias of Sec. 5.4, 0 in training):

    e_t      = 1 / (1 + exp(e_hat))            = sigmoid(-e_hat)
    pi_t^j   = softmax_j(pi_hat^j * (1 + b))
    mu_t^j   = mu_hat^j
    sigma_t^j = exp(sigma_hat^j - b)
    rho_t^j  = tanh(rho_hat^j)

`MixtureParams.eos_logit` stores the *logit of e*, i.e. ``eos_logit = -e_hat`` so that
``e = sigmoid(eos_logit)`` is the probability that the pen lifts after this point. All other fields
are stored in log space where that is the stable representation (``log_pi``, ``log_sigma``).

Loss, per time step:

    L = -log sum_j pi_j N(x_{t+1} | mu_j, sigma_j, rho_j) - log(e if eos_{t+1} else 1 - e)

computed with logsumexp over components and binary-cross-entropy-with-logits for the pen term.
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple, Optional

import numpy as np

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqgen.errors import SeqgenError
from seqgen.nn.grad_clip import clip_grad_in_forward

__all__ = [
    "MixtureHead",
    "DiagonalGaussianMixture",
    "DiagonalParams",
    "MixtureParams",
    "MixtureDensityHead",
    "split_mixture_outputs",
    "mixture_log_density",
    "mixture_nll",
    "sum_squared_error",
    "mixture_mean",
    "sample",
    "density_grid",
    "params_to_numpy",
    "LOG_SIGMA_MIN",
    "LOG_SIGMA_MAX",
    "RHO_MAX",
]

#: sigma is clamped to [exp(LOG_SIGMA_MIN), exp(LOG_SIGMA_MAX)] inside the log-density (not in the head),
#: so a component can never become a Dirac spike with unbounded likelihood, and z stays finite.
LOG_SIGMA_MIN: float = -10.0
LOG_SIGMA_MAX: float = 10.0
#: |rho| <= RHO_MAX (tanh saturates to exactly +-1 in float32 for |rho_hat| > ~9).
RHO_MAX: float = 1.0 - 1e-4
#: standardised distances are clamped to +-Z_MAX so the quadratic form can never overflow.
Z_MAX: float = 1e8

_LOG_2PI = math.log(2.0 * math.pi)


class MixtureParams(NamedTuple):
    """Mixture parameters for leading shape ``(...)`` (usually ``(B, T)``), M components.

    eos_logit: (...)        logit of the end-of-stroke probability e (= -e_hat of the paper)
    log_pi:    (..., M)     log mixture weights (log-softmax)
    mu:        (..., M, 2)  means (x, y) in the same (normalised) units as the offsets
    log_sigma: (..., M, 2)  log standard deviations (x, y)
    rho:       (..., M)     correlations, |rho| <= RHO_MAX
    """

    eos_logit: Tensor
    log_pi: Tensor
    mu: Tensor
    log_sigma: Tensor
    rho: Tensor

    def map(self, fn: Callable[[Tensor], Tensor]) -> "MixtureParams":
        """Apply ``fn`` to every field (e.g. ``p.map(lambda t: t[:, i])``, ``p.map(Tensor.detach)``)."""
        return MixtureParams(*(fn(t) for t in self))

    @property
    def n_components(self) -> int:
        return int(self.log_pi.shape[-1])

    @property
    def eos_prob(self) -> Tensor:
        """e_t = sigmoid(-e_hat) = sigmoid(eos_logit)."""
        return torch.sigmoid(self.eos_logit)


def _check_bias(bias: float) -> float:
    b = float(bias)
    if not math.isfinite(b) or b < 0:
        raise SeqgenError(f"sampling bias must be a finite number >= 0 (got {bias}); use e.g. 0.15 or 1.0")
    return b


def split_mixture_outputs(y_hat: Tensor, n_components: int, bias: float = 0.0) -> MixtureParams:
    """Turn raw outputs ``(..., 1 + 6M)`` into `MixtureParams`.

    pi = softmax(pi_hat * (1 + b)); sigma = exp(sigma_hat - b); rho = tanh(rho_hat); e = sigmoid(-e_hat).
    """
    b = _check_bias(bias)
    m = n_components
    if y_hat.shape[-1] != 1 + 6 * m:
        raise ValueError(f"expected last dim 1 + 6*{m} = {1 + 6 * m}, got {y_hat.shape[-1]}")
    e_hat = y_hat[..., 0]
    pi_hat = y_hat[..., 1 : 1 + m]
    mu = torch.stack((y_hat[..., 1 + m : 1 + 2 * m], y_hat[..., 1 + 2 * m : 1 + 3 * m]), dim=-1)
    sigma_hat = torch.stack((y_hat[..., 1 + 3 * m : 1 + 4 * m], y_hat[..., 1 + 4 * m : 1 + 5 * m]), dim=-1)
    rho_hat = y_hat[..., 1 + 5 * m : 1 + 6 * m]
    log_pi = torch.log_softmax(pi_hat * (1.0 + b) if b else pi_hat, dim=-1)  # pi = softmax(pi_hat (1 + b))
    log_sigma = sigma_hat - b if b else sigma_hat  # sigma = exp(sigma_hat - b)
    rho = torch.tanh(rho_hat).clamp(-RHO_MAX, RHO_MAX)  # rho = tanh(rho_hat)
    return MixtureParams(eos_logit=-e_hat, log_pi=log_pi, mu=mu, log_sigma=log_sigma, rho=rho)


class MixtureHead(nn.Module):
    """The interface every mixture density head implements (see the module docstring).

    `event_size`: the width of one drawn point x (3 = dx, dy, pen for handwriting; D for frames).
    """

    event_size: int

    def forward(self, h: Tensor, bias: float = 0.0) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def log_density(self, params: Any, x: Tensor) -> Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def nll(self, params: Any, target: Tensor, mask: Optional[Tensor] = None, reduction: str = "mean") -> Tensor:
        """-log p(target), masked points contribute 0; reductions as `mixture_nll`."""
        mask_b = _prepare_mask(mask, target)
        if mask_b is not None:
            target = torch.where(mask_b.unsqueeze(-1), target, torch.zeros((), dtype=target.dtype, device=target.device))
        return _reduce(-self.log_density(params, target), mask_b, reduction)

    def sample(self, params: Any, generator: Optional[torch.Generator] = None) -> Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def to_numpy(self, params: Any) -> dict[str, np.ndarray]:
        """Detached float32 numpy copies of every parameter field."""
        return params_to_numpy(params)


class MixtureDensityHead(MixtureHead):
    """Linear layer to the 1 + 6M mixture outputs, then the paper's transforms.

    ``output_grad_clip``: if set (the paper uses 100), the gradient w.r.t. the raw outputs y_hat is
    clamped to [-limit, limit] in the backward pass (identity in the forward pass).
    """

    def __init__(self, in_features: int, n_components: int = 20, output_grad_clip: Optional[float] = None) -> None:
        super().__init__()
        if n_components < 1:
            raise ValueError("n_components must be >= 1")
        self.in_features = in_features
        self.n_components = n_components
        self.output_grad_clip = output_grad_clip
        self.linear = nn.Linear(in_features, 1 + 6 * n_components)

    event_size = 3  # (dx, dy, end of stroke)

    @property
    def out_features(self) -> int:
        return 1 + 6 * self.n_components

    def forward(self, h: Tensor, bias: float = 0.0) -> MixtureParams:
        """h: (..., in_features) -> MixtureParams with leading shape (...)."""
        y_hat = self.linear(h)
        if self.output_grad_clip is not None:
            y_hat = clip_grad_in_forward(y_hat, self.output_grad_clip)
        return split_mixture_outputs(y_hat, self.n_components, bias)

    def log_density(self, params: MixtureParams, x: Tensor) -> Tensor:
        """log p(x) for x (..., 3) = (dx, dy, eos): the offset mixture plus the pen Bernoulli.
        (The offset density alone, as in the density figures: `mixture_log_density(params, x[..., :2])`.)"""
        return -mixture_nll(params, x, reduction="none")

    def nll(self, params: MixtureParams, target: Tensor, mask: Optional[Tensor] = None, reduction: str = "mean") -> Tensor:
        return mixture_nll(params, target, mask, reduction)

    def sample(self, params: MixtureParams, generator: Optional[torch.Generator] = None) -> Tensor:
        return sample(params, generator)


def _compute_dtype(t: Tensor) -> torch.dtype:
    return torch.promote_types(t.dtype, torch.float32)


def _component_log_prob(params: MixtureParams, xy: Tensor) -> Tensor:
    """log pi_j + log N(xy | mu_j, sigma_j, rho_j) for every component: (..., M).

    Bivariate normal:
        N = 1 / (2 pi s1 s2 sqrt(1 - rho^2)) exp(-Z / (2 (1 - rho^2)))
        Z = z1^2 + z2^2 - 2 rho z1 z2,  z_i = (x_i - mu_i) / s_i
    written as the sum of squares  Z / (1 - rho^2) = z1^2 + (z2 - rho z1)^2 / (1 - rho^2)  (never inf - inf).
    ``xy`` (..., 2) broadcasts against ``params.mu[..., 0, :]``.
    """
    dt = _compute_dtype(params.mu)
    mu = params.mu.to(dt)
    log_sigma = params.log_sigma.to(dt).clamp(LOG_SIGMA_MIN, LOG_SIGMA_MAX)
    rho = params.rho.to(dt).clamp(-RHO_MAX, RHO_MAX)
    log_pi = params.log_pi.to(dt)
    diff = xy.to(dt).unsqueeze(-2) - mu  # (..., M, 2)
    z = (diff * torch.exp(-log_sigma)).clamp(-Z_MAX, Z_MAX)
    z1, z2 = z[..., 0], z[..., 1]
    one_m_rho2 = (1.0 - rho) * (1.0 + rho)
    quad = z1 * z1 + (z2 - rho * z1).square() / one_m_rho2
    log_norm = -_LOG_2PI - log_sigma.sum(-1) - 0.5 * torch.log(one_m_rho2) - 0.5 * quad
    return log_pi + log_norm


def mixture_log_density(params: MixtureParams, xy: Tensor) -> Tensor:
    """log sum_j pi_j N(xy | mu_j, sigma_j, rho_j) for offsets ``xy`` (..., 2) -> (...)."""
    return torch.logsumexp(_component_log_prob(params, xy), dim=-1)


def _reduce(per_point: Tensor, mask: Optional[Tensor], reduction: str) -> Tensor:
    if mask is not None:
        per_point = torch.where(mask, per_point, torch.zeros((), dtype=per_point.dtype, device=per_point.device))
    if reduction == "none":
        return per_point
    if reduction == "sum":
        return per_point.sum()
    if reduction == "mean":
        count = per_point.numel() if mask is None else mask.sum()
        return per_point.sum() / torch.as_tensor(count, dtype=per_point.dtype, device=per_point.device).clamp_min(1)
    if reduction == "seq_mean":
        n_seq = per_point.shape[0] if per_point.dim() > 0 else 1
        return per_point.sum() / max(n_seq, 1)
    raise ValueError(f"unknown reduction {reduction!r}; use 'none', 'sum', 'mean' or 'seq_mean'")


def _prepare_mask(mask: Optional[Tensor], target: Tensor) -> Optional[Tensor]:
    if mask is None:
        return None
    mask = mask.to(device=target.device)
    if mask.dtype != torch.bool:
        mask = mask != 0
    return mask.expand(target.shape[:-1])


def mixture_nll(
    params: MixtureParams,
    target: Tensor,
    mask: Optional[Tensor] = None,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood (nats) of ``target`` (..., 3) = (dx, dy, eos) under ``params``.

        L = -log sum_j pi_j N(x | mu_j, sigma_j, rho_j) - log(e if eos else 1 - e)

    mask (...): True/1 where the point is real; masked points contribute exactly 0 (their targets may
    be garbage, even NaN). reduction: 'none' (per point, (...)), 'sum', 'mean' (over unmasked points),
    'seq_mean' (sum / size of dim 0: the paper's nats per sequence). Computed in >= float32.
    """
    mask_b = _prepare_mask(mask, target)
    dt = _compute_dtype(params.mu)
    target = target.to(dt)
    if mask_b is not None:
        target = torch.where(mask_b.unsqueeze(-1), target, torch.zeros((), dtype=dt, device=target.device))
    log_mix = mixture_log_density(params, target[..., :2])
    eos_nll = F.binary_cross_entropy_with_logits(params.eos_logit.to(dt), target[..., 2], reduction="none")
    return _reduce(eos_nll - log_mix, mask_b, reduction)


def mixture_mean(params: MixtureParams) -> Tensor:
    """Mean offset of the mixture, sum_j pi_j mu_j: (..., 2)."""
    return (torch.exp(params.log_pi).unsqueeze(-1) * params.mu).sum(-2)


def sum_squared_error(
    params: MixtureParams,
    target: Tensor,
    mask: Optional[Tensor] = None,
    reduction: str = "mean",
    include_eos: bool = False,
) -> Tensor:
    """Squared error per point between the mixture mean and the target offset (the paper's SSE column).

        SSE_t = || sum_j pi_j mu_j - (dx, dy)_{t+1} ||^2   (+ (e - eos)^2 if include_eos)

    Same mask/reduction semantics as `mixture_nll` ('mean' = SSE per point).
    """
    mask_b = _prepare_mask(mask, target)
    dt = _compute_dtype(params.mu)
    target = target.to(dt)
    if mask_b is not None:
        target = torch.where(mask_b.unsqueeze(-1), target, torch.zeros((), dtype=dt, device=target.device))
    err = (mixture_mean(params.map(lambda t: t.to(dt))) - target[..., :2]).square().sum(-1)
    if include_eos:
        err = err + (torch.sigmoid(params.eos_logit.to(dt)) - target[..., 2]).square()
    return _reduce(err, mask_b, reduction)


@torch.no_grad()
def sample(params: MixtureParams, generator: Optional[torch.Generator] = None) -> Tensor:
    """Draw one point (dx, dy, eos) per leading index: (..., 3).

    j ~ Categorical(pi); (dx, dy) ~ N(mu_j, sigma_j, rho_j) via
    dx = mu_x + s_x z1, dy = mu_y + s_y (rho z1 + sqrt(1 - rho^2) z2); eos ~ Bernoulli(e). Apply the
    sampling bias in the head (``head(h, bias=b)``), not here.
    """
    lead = params.eos_logit.shape
    flat = params.map(lambda t: t.reshape(-1, *t.shape[len(lead) :]).float())
    n = flat.eos_logit.shape[0]
    dev = flat.mu.device
    probs = torch.exp(flat.log_pi)
    j = torch.multinomial(probs, 1, generator=generator)  # (N, 1)
    mu = flat.mu.gather(1, j.unsqueeze(-1).expand(n, 1, 2)).squeeze(1)
    sig = torch.exp(flat.log_sigma.clamp(max=LOG_SIGMA_MAX)).gather(1, j.unsqueeze(-1).expand(n, 1, 2)).squeeze(1)
    rho = flat.rho.clamp(-RHO_MAX, RHO_MAX).gather(1, j).squeeze(1)
    z = torch.randn((n, 2), generator=generator, device=dev, dtype=mu.dtype)
    dx = mu[:, 0] + sig[:, 0] * z[:, 0]
    dy = mu[:, 1] + sig[:, 1] * (rho * z[:, 0] + torch.sqrt((1 - rho) * (1 + rho)) * z[:, 1])
    u = torch.rand((n,), generator=generator, device=dev, dtype=mu.dtype)
    eos = (u < torch.sigmoid(flat.eos_logit)).to(mu.dtype)
    return torch.stack((dx, dy, eos), dim=-1).reshape(*lead, 3).to(params.mu.dtype)


@torch.no_grad()
def density_grid(params: MixtureParams, xs: Tensor, ys: Tensor) -> Tensor:
    """Mixture density of the offset (no pen term) on the grid xs x ys: (..., len(ys), len(xs)).

    Row i, column k holds p(dx = xs[k], dy = ys[i]) = sum_j pi_j N((xs[k], ys[i]) | mu_j, sigma_j, rho_j).
    """
    dev = params.mu.device
    xs = torch.as_tensor(xs, device=dev)
    ys = torch.as_tensor(ys, device=dev)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    pts = torch.stack((gx, gy), dim=-1).reshape(-1, 2)  # (P, 2)
    nd = params.eos_logit.dim()
    expanded = params.map(lambda t: t.unsqueeze(nd))  # leading (..., 1)
    logp = mixture_log_density(expanded, pts)  # (..., P)
    return torch.exp(logp).reshape(*params.eos_logit.shape, ys.numel(), xs.numel())


def params_to_numpy(params: NamedTuple) -> dict[str, np.ndarray]:
    """Detached float32 numpy copies of every field, keyed by field name (for plots / saving)."""
    return {k: v.detach().float().cpu().numpy() for k, v in params._asdict().items()}


def params_from_numpy(fields: Any, cls: type = MixtureParams, dtype: torch.dtype = torch.float64) -> Any:
    """`cls` (MixtureParams, DiagonalParams) from tensors or arrays keyed by field name (inverse of
    `params_to_numpy`); an instance of `cls` is only converted to `dtype`."""
    src = fields._asdict() if hasattr(fields, "_asdict") else dict(fields)
    return cls(*(torch.as_tensor(np.asarray(src[name]) if not isinstance(src[name], Tensor) else src[name].detach().cpu()).to(dtype) for name in cls._fields))


# ------------------------------------------------------------------ D-dimensional diagonal mixture


class DiagonalParams(NamedTuple):
    """Diagonal Gaussian mixture over D-dimensional points, K components, leading shape (...).

    log_pi:    (..., K)     log mixture weights
    mu:        (..., K, D)  means
    log_sigma: (..., K, D)  log standard deviations
    """

    log_pi: Tensor
    mu: Tensor
    log_sigma: Tensor

    def map(self, fn: Callable[[Tensor], Tensor]) -> "DiagonalParams":
        return DiagonalParams(*(fn(t) for t in self))

    @property
    def n_components(self) -> int:
        return int(self.log_pi.shape[-1])


class DiagonalGaussianMixture(MixtureHead):
    """hidden -> K weights, K x D means, K x D log-stds: a mixture of diagonal Gaussians (speech frames).

        pi_k    = softmax_k(pi_hat_k (1 + b))                     (Graves 2013, eq. 61)
        sigma_k = exp(sigma_hat_k - b)                            (eq. 62)
        log p(x) = log sum_k pi_k prod_d N(x_d | mu_kd, sigma_kd)

    ``output_grad_clip`` clamps dL/d(raw outputs) in the backward pass, as the bivariate head.
    """

    def __init__(self, in_features: int, dim: int, n_components: int = 8, output_grad_clip: Optional[float] = None) -> None:
        super().__init__()
        if n_components < 1 or dim < 1:
            raise ValueError("n_components and dim must be >= 1")
        self.in_features, self.dim, self.n_components = in_features, dim, n_components
        self.event_size = dim
        self.output_grad_clip = output_grad_clip
        self.linear = nn.Linear(in_features, n_components * (1 + 2 * dim))

    def forward(self, h: Tensor, bias: float = 0.0) -> DiagonalParams:
        """h (..., in_features) -> DiagonalParams with leading shape (...)."""
        b = _check_bias(bias)
        y_hat = self.linear(h)
        if self.output_grad_clip is not None:
            y_hat = clip_grad_in_forward(y_hat, self.output_grad_clip)
        k, d = self.n_components, self.dim
        pi_hat = y_hat[..., :k]
        mu = y_hat[..., k : k + k * d].unflatten(-1, (k, d))
        sigma_hat = y_hat[..., k + k * d :].unflatten(-1, (k, d))
        log_pi = torch.log_softmax(pi_hat * (1.0 + b) if b else pi_hat, dim=-1)
        return DiagonalParams(log_pi, mu, sigma_hat - b if b else sigma_hat)

    def log_density(self, params: DiagonalParams, x: Tensor) -> Tensor:
        """log sum_k pi_k N(x | mu_k, diag sigma_k^2) for x (..., D) -> (...), computed in >= float32."""
        dt = _compute_dtype(params.mu)
        log_sigma = params.log_sigma.to(dt).clamp(LOG_SIGMA_MIN, LOG_SIGMA_MAX)
        z = ((x.to(dt).unsqueeze(-2) - params.mu.to(dt)) * torch.exp(-log_sigma)).clamp(-Z_MAX, Z_MAX)
        log_norm = -0.5 * _LOG_2PI * z.shape[-1] - log_sigma.sum(-1) - 0.5 * z.square().sum(-1)
        return torch.logsumexp(params.log_pi.to(dt) + log_norm, dim=-1)

    def mean(self, params: DiagonalParams) -> Tensor:
        """sum_k pi_k mu_k: (..., D)."""
        return (torch.exp(params.log_pi).unsqueeze(-1) * params.mu).sum(-2)

    @torch.no_grad()
    def sample(self, params: DiagonalParams, generator: Optional[torch.Generator] = None) -> Tensor:
        """k ~ Categorical(pi), x = mu_k + sigma_k * z, z ~ N(0, I): (..., D)."""
        lead = params.log_pi.shape[:-1]
        k, d = self.n_components, self.dim
        log_pi = params.log_pi.reshape(-1, k).float()
        j = torch.multinomial(torch.exp(log_pi), 1, generator=generator)  # (N, 1)
        index = j.unsqueeze(-1).expand(-1, 1, d)
        mu = params.mu.reshape(-1, k, d).float().gather(1, index).squeeze(1)
        sigma = torch.exp(params.log_sigma.reshape(-1, k, d).float().clamp(max=LOG_SIGMA_MAX)).gather(1, index).squeeze(1)
        z = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return (mu + sigma * z).reshape(*lead, d).to(params.mu.dtype)

