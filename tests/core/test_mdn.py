"""Mixture density head: transforms, NLL against scipy, numerical robustness, sampling, helpers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from seqgen.errors import SeqgenError
from seqgen.nn.mdn import (
    RHO_MAX,
    MixtureDensityHead,
    MixtureParams,
    density_grid,
    mixture_mean,
    mixture_nll,
    sample,
    split_mixture_outputs,
    sum_squared_error,
)


def _random_params(lead: tuple[int, ...], m: int, seed: int = 0) -> MixtureParams:
    g = torch.Generator().manual_seed(seed)
    y_hat = torch.randn(*lead, 1 + 6 * m, generator=g, dtype=torch.float64)
    return split_mixture_outputs(y_hat, m)


def _scipy_nll(p: MixtureParams, target: np.ndarray) -> np.ndarray:
    lead = target.shape[:-1]
    out = np.zeros(lead)
    for idx in np.ndindex(*lead):
        pi = np.exp(p.log_pi[idx].numpy())
        mu = p.mu[idx].numpy()
        sig = np.exp(p.log_sigma[idx].numpy())
        rho = p.rho[idx].numpy()
        dens = 0.0
        for j in range(pi.shape[0]):
            cov = np.array(
                [[sig[j, 0] ** 2, rho[j] * sig[j, 0] * sig[j, 1]], [rho[j] * sig[j, 0] * sig[j, 1], sig[j, 1] ** 2]]
            )
            dens += pi[j] * multivariate_normal(mean=mu[j], cov=cov).pdf(target[idx][:2])
        e = 1.0 / (1.0 + np.exp(-p.eos_logit[idx].item()))  # e = sigmoid(-e_hat) = sigmoid(eos_logit)
        pen = e if target[idx][2] > 0.5 else 1.0 - e
        out[idx] = -np.log(dens) - np.log(pen)
    return out


def test_head_shapes_and_paper_transforms() -> None:
    torch.manual_seed(0)
    head = MixtureDensityHead(7, n_components=4)
    assert head.linear.out_features == 1 + 6 * 4
    h = torch.randn(2, 3, 7)
    p = head(h)
    assert p.eos_logit.shape == (2, 3)
    assert p.log_pi.shape == (2, 3, 4)
    assert p.mu.shape == (2, 3, 4, 2)
    assert p.log_sigma.shape == (2, 3, 4, 2)
    assert p.rho.shape == (2, 3, 4)
    y = head.linear(h)
    m = 4
    # b = 0: plain softmax / exp / tanh, e = 1 / (1 + exp(e_hat))
    torch.testing.assert_close(p.log_pi.exp(), torch.softmax(y[..., 1 : 1 + m], -1))
    torch.testing.assert_close(p.mu[..., 0], y[..., 1 + m : 1 + 2 * m])
    torch.testing.assert_close(p.mu[..., 1], y[..., 1 + 2 * m : 1 + 3 * m])
    torch.testing.assert_close(p.log_sigma.exp()[..., 0], torch.exp(y[..., 1 + 3 * m : 1 + 4 * m]))
    torch.testing.assert_close(p.log_sigma.exp()[..., 1], torch.exp(y[..., 1 + 4 * m : 1 + 5 * m]))
    torch.testing.assert_close(p.rho, torch.tanh(y[..., 1 + 5 * m :]))
    torch.testing.assert_close(p.eos_prob, 1.0 / (1.0 + torch.exp(y[..., 0])))
    # bias b: pi = softmax(pi_hat (1 + b)), sigma = exp(sigma_hat - b)
    b = 0.7
    pb = head(h, bias=b)
    torch.testing.assert_close(pb.log_pi.exp(), torch.softmax(y[..., 1 : 1 + m] * (1 + b), -1))
    torch.testing.assert_close(pb.log_sigma, p.log_sigma - b)
    torch.testing.assert_close(pb.mu, p.mu)


def test_negative_bias_is_a_user_error() -> None:
    with pytest.raises(SeqgenError):
        split_mixture_outputs(torch.zeros(1 + 6 * 2), 2, bias=-0.1)


def test_nll_matches_scipy() -> None:
    p = _random_params((3, 5), m=3, seed=1)
    g = torch.Generator().manual_seed(2)
    target = torch.cat(
        [torch.randn(3, 5, 2, generator=g, dtype=torch.float64), (torch.rand(3, 5, 1, generator=g) < 0.3).double()],
        -1,
    )
    got = mixture_nll(p, target, reduction="none")
    want = _scipy_nll(p, target.numpy())
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(mixture_nll(p, target, reduction="sum").item(), want.sum(), rtol=1e-9)
    np.testing.assert_allclose(mixture_nll(p, target, reduction="mean").item(), want.mean(), rtol=1e-9)
    np.testing.assert_allclose(mixture_nll(p, target, reduction="seq_mean").item(), want.sum() / 3, rtol=1e-9)


def test_nll_float32_close_to_float64() -> None:
    p = _random_params((4, 6), m=5, seed=3)
    target = torch.cat([torch.randn(4, 6, 2, dtype=torch.float64), torch.zeros(4, 6, 1, dtype=torch.float64)], -1)
    a = mixture_nll(p, target, reduction="none")
    b = mixture_nll(p.map(lambda t: t.float()), target.float(), reduction="none")
    assert b.dtype == torch.float32
    np.testing.assert_allclose(b.double().numpy(), a.numpy(), rtol=1e-4, atol=1e-4)


def test_mask_zeroes_padding_even_with_nan_targets() -> None:
    p = _random_params((2, 4), m=2, seed=4)
    target = torch.randn(2, 4, 3, dtype=torch.float64)
    target[..., 2] = 0
    mask = torch.tensor([[True, True, True, False], [True, True, False, False]])
    target[~mask] = float("nan")
    per = mixture_nll(p, target, mask=mask, reduction="none")
    assert torch.isfinite(per).all()
    assert (per[~mask] == 0).all()
    full = mixture_nll(p, torch.nan_to_num(target), reduction="none")
    torch.testing.assert_close(per[mask], full[mask])
    torch.testing.assert_close(mixture_nll(p, target, mask=mask, reduction="mean"), full[mask].mean())


@pytest.mark.parametrize("scale", [1e4, 1e8, 1e20, 1e30])
def test_extreme_inputs_never_nan(scale: float) -> None:
    m = 4
    g = torch.Generator().manual_seed(5)
    y_hat = (torch.randn(3, 6, 1 + 6 * m, generator=g) * scale).requires_grad_(True)
    target = torch.randn(3, 6, 3, generator=g) * torch.tensor([scale, scale, 0.0])
    target[..., 2] = (torch.rand(3, 6, generator=g) < 0.5).float()
    for bias in (0.0, 10.0):
        p = split_mixture_outputs(y_hat, m, bias=bias)
        loss = mixture_nll(p, target, reduction="sum")
        assert torch.isfinite(loss), loss
        (grad,) = torch.autograd.grad(loss, y_hat)
        assert torch.isfinite(grad).all()


def test_extreme_targets_and_saturated_rho() -> None:
    m = 2
    y_hat = torch.zeros(5, 1 + 6 * m, requires_grad=True)
    with torch.no_grad():
        y_hat[:, 1 + 5 * m :] = 50.0  # rho -> 1 exactly in float32 without the clamp
        y_hat[:, 1 + 3 * m : 1 + 5 * m] = -80.0  # sigma underflows without the clamp
    p = split_mixture_outputs(y_hat, m)
    assert p.rho.abs().max() <= RHO_MAX
    target = torch.tensor([[1e6, -1e6, 1.0], [0.0, 0.0, 0.0], [1e-30, 1e30, 1.0], [3.0, 3.0, 0.0], [-1e3, 1e3, 0.0]])
    loss = mixture_nll(p, target, reduction="sum")
    assert torch.isfinite(loss)
    (grad,) = torch.autograd.grad(loss, y_hat)
    assert torch.isfinite(grad).all()


def test_eos_term_uses_paper_sign() -> None:
    # a large positive e_hat means e = 1 / (1 + exp(e_hat)) ~ 0: pen-up targets are expensive
    m = 1
    y_hat = torch.zeros(2, 1 + 6 * m)
    y_hat[:, 0] = 20.0
    p = split_mixture_outputs(y_hat, m)
    target = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    per = mixture_nll(p, target, reduction="none")
    base = -multivariate_normal(mean=[0, 0], cov=np.eye(2)).logpdf([0, 0])
    np.testing.assert_allclose(per[0].item(), base + 20.0, rtol=1e-5)
    np.testing.assert_allclose(per[1].item(), base, rtol=1e-5)


def test_sampling_matches_moments_and_bias_sharpens() -> None:
    m = 3
    y_hat = torch.randn(1 + 6 * m, generator=torch.Generator().manual_seed(6))
    y_hat[1 : 1 + m] = torch.tensor([0.0, 1.0, -0.5])  # component 1 leads by 1 logit
    y_hat[1 + 3 * m : 1 + 5 * m] = -1.0
    y_hat[1 + 5 * m :] = torch.tensor([1.0, -0.5, 0.0])  # correlated components
    n = 40000
    p = split_mixture_outputs(y_hat.expand(n, -1), m)
    g = torch.Generator().manual_seed(7)
    xs = sample(p, generator=g)
    assert xs.shape == (n, 3)
    # mean matches sum_j pi_j mu_j, eos frequency matches e
    np.testing.assert_allclose(xs[:, :2].mean(0).numpy(), mixture_mean(p)[0].numpy(), atol=0.03)
    np.testing.assert_allclose(xs[:, 2].mean().item(), p.eos_prob[0].item(), atol=0.015)
    # covariance of the mixture
    pi = p.log_pi[0].exp().double()
    mu = p.mu[0].double()
    sig = p.log_sigma[0].exp().double()
    rho = p.rho[0].double()
    mean = (pi[:, None] * mu).sum(0)
    cov = torch.zeros(2, 2, dtype=torch.float64)
    for j in range(m):
        c = torch.tensor(
            [[sig[j, 0] ** 2, rho[j] * sig[j, 0] * sig[j, 1]], [rho[j] * sig[j, 0] * sig[j, 1], sig[j, 1] ** 2]]
        )
        cov += pi[j] * (c + torch.outer(mu[j] - mean, mu[j] - mean))
    np.testing.assert_allclose(np.cov(xs[:, :2].double().numpy().T), cov.numpy(), atol=0.03)
    # b = 10: pick the most probable component, sigma * e^-10: nearly deterministic
    pb = split_mixture_outputs(y_hat.expand(2000, -1), m, bias=10.0)
    xb = sample(pb, generator=g)
    best = int(torch.argmax(y_hat[1 : 1 + m]))
    assert xb[:, :2].std(0).max() < 1e-3
    torch.testing.assert_close(xb[:, :2].mean(0), p.mu[0, best], atol=1e-3, rtol=0)


def test_sample_reproducible_with_generator() -> None:
    p = _random_params((4, 5), m=3, seed=8)
    a = sample(p, generator=torch.Generator().manual_seed(1))
    b = sample(p, generator=torch.Generator().manual_seed(1))
    assert a.shape == (4, 5, 3)
    torch.testing.assert_close(a, b)
    assert set(a[..., 2].unique().tolist()) <= {0.0, 1.0}


def test_density_grid_integrates_to_one() -> None:
    p = _random_params((2,), m=3, seed=9)
    p = p._replace(log_sigma=p.log_sigma.clamp(-0.5, 0.5))  # resolvable by the grid
    xs = torch.linspace(-12, 12, 241, dtype=torch.float64)
    ys = torch.linspace(-12, 12, 201, dtype=torch.float64)
    dens = density_grid(p, xs, ys)
    assert dens.shape == (2, 201, 241)
    area = (xs[1] - xs[0]) * (ys[1] - ys[0])
    np.testing.assert_allclose((dens.sum((-1, -2)) * area).numpy(), [1.0, 1.0], atol=1e-3)
    # matches the NLL's log density at a grid point
    pt = torch.tensor([xs[10], ys[20], 0.0], dtype=torch.float64)
    nll = mixture_nll(p.map(lambda t: t[0]), pt, reduction="none")
    eos = torch.nn.functional.softplus(p.eos_logit[0])  # -log(1 - e)
    np.testing.assert_allclose(dens[0, 20, 10].log().item(), -(nll - eos).item(), rtol=1e-9)


def test_sum_squared_error() -> None:
    p = _random_params((3, 4), m=2, seed=10)
    target = torch.randn(3, 4, 3, dtype=torch.float64)
    mean = (p.log_pi.exp()[..., None] * p.mu).sum(-2)
    want = ((mean - target[..., :2]) ** 2).sum(-1)
    torch.testing.assert_close(sum_squared_error(p, target, reduction="none"), want)
    torch.testing.assert_close(sum_squared_error(p, target), want.mean())
    mask = torch.ones(3, 4, dtype=torch.bool)
    mask[0, 2:] = False
    torch.testing.assert_close(sum_squared_error(p, target, mask=mask), want[mask].mean())


def test_output_grad_clip_option() -> None:
    torch.manual_seed(0)
    head = MixtureDensityHead(3, n_components=2, output_grad_clip=1e-3)
    h = torch.randn(4, 3)
    loss = mixture_nll(head(h), torch.randn(4, 3).abs().round().clamp(max=1) * 10, reduction="sum")
    loss.backward()
    # every dL/dy_hat was clamped to 1e-3, so the weight gradient is bounded by 1e-3 * sum |h|
    bound = 1e-3 * h.abs().sum(0)
    assert (head.linear.weight.grad.abs() <= bound + 1e-7).all()
