"""Adaptive weight noise: sampling in training, means in eval, complexity loss and its gradients."""

from __future__ import annotations

import math

import torch
from torch import nn

from seqgen.nn.weight_noise import AdaptiveWeightNoise


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))


def test_parameters_and_init() -> None:
    net = _net()
    awn = AdaptiveWeightNoise(net, init_std=0.075)
    names = {n for n, _ in awn.named_parameters()}
    assert "module.0.weight" in names and "log_sigma.0__weight" in names
    assert awn.num_noisy() == sum(p.numel() for p in net.parameters())
    for ls in awn.log_sigma.values():
        torch.testing.assert_close(ls.exp(), torch.full_like(ls, 0.075))


def test_training_samples_differ_eval_uses_means() -> None:
    net = _net()
    awn = AdaptiveWeightNoise(net)
    x = torch.randn(5, 4)
    awn.train()
    a, b = awn(x), awn(x)
    assert not torch.allclose(a, b)
    with awn.shared_sample():
        c, d = awn(x), awn(x)
    torch.testing.assert_close(c, d)
    awn.eval()
    torch.testing.assert_close(awn(x), net(x))
    torch.testing.assert_close(awn(x), awn(x))


def test_reparameterisation_gradients_reach_mu_and_sigma() -> None:
    net = _net()
    awn = AdaptiveWeightNoise(net)
    x = torch.randn(16, 4)
    loss = awn(x).square().mean() + awn.complexity_loss(10)
    loss.backward()
    for n, p in awn.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), n
        assert p.grad.abs().sum() > 0, n


def test_optimal_prior_and_kl_formula() -> None:
    net = _net()
    awn = AdaptiveWeightNoise(net, init_std=0.05)
    with torch.no_grad():  # make the sigmas heterogeneous
        for ls in awn.log_sigma.values():
            ls.add_(torch.randn_like(ls) * 0.3)
    mus = torch.cat([p.detach().flatten() for p in net.parameters()]).double()
    sig = torch.cat([awn.log_sigma[n.replace(".", "__")].detach().exp().flatten() for n, _ in net.named_parameters()])
    sig = sig.double()
    mu0 = mus.mean()
    s2 = (sig**2 + (mus - mu0) ** 2).mean()
    pm, ps2 = awn.optimal_prior()
    torch.testing.assert_close(pm, mu0)
    torch.testing.assert_close(ps2, s2)
    kl = (torch.log(s2.sqrt() / sig) + ((mus - mu0) ** 2 + sig**2 - s2) / (2 * s2)).sum()
    n_batches = 7
    lc = awn.complexity_loss(n_batches)
    assert lc.item() >= 0
    torch.testing.assert_close(lc.double(), kl / n_batches, rtol=1e-5, atol=1e-6)
    # at the optimal prior KL reduces to N/2 ln s^2 - sum ln sigma_i
    torch.testing.assert_close(kl, 0.5 * mus.numel() * torch.log(s2) - torch.log(sig).sum())


def test_complexity_gradients_match_paper() -> None:
    net = _net()
    awn = AdaptiveWeightNoise(net)
    with torch.no_grad():
        for ls in awn.log_sigma.values():
            ls.add_(torch.randn_like(ls) * 0.3)
    awn.complexity_loss(1).backward()
    pm, s2 = awn.optimal_prior()
    w = net[0].weight
    ls = awn.log_sigma["0__weight"]
    # dL_C/dmu_i = (mu_i - mu) / s^2
    torch.testing.assert_close(w.grad.double(), (w.detach().double() - pm) / s2, rtol=1e-4, atol=1e-6)
    # dL_C/dsigma_i^2 = (1/s^2 - 1/sigma_i^2) / 2  and  d/dlog sigma = 2 sigma^2 d/dsigma^2
    sig2 = (2 * ls.detach().double()).exp()
    want = 2 * sig2 * 0.5 * (1 / s2 - 1 / sig2)
    torch.testing.assert_close(ls.grad.double(), want, rtol=1e-4, atol=1e-6)


def test_complexity_zero_when_posterior_equals_a_shared_prior() -> None:
    lin = nn.Linear(3, 3)
    with torch.no_grad():
        lin.weight.fill_(0.2)
        lin.bias.fill_(0.2)
    awn = AdaptiveWeightNoise(lin, init_std=0.1)
    lc = awn.complexity_loss(1)
    assert abs(lc.item()) < 1e-5  # float32 rounding of exp(2 log sigma)
    lc.backward()  # gradient path works even at the minimum
    assert torch.isfinite(lin.weight.grad).all()
    assert lin.weight.grad.abs().max() < 1e-6


def test_param_filter_and_lstm() -> None:
    torch.manual_seed(1)
    lstm = nn.LSTM(3, 5, batch_first=True)
    awn = AdaptiveWeightNoise(lstm, param_filter=lambda n, p: n.startswith("weight"))
    assert sorted(awn.noisy_names) == ["weight_hh_l0", "weight_ih_l0"]
    x = torch.randn(2, 6, 3)
    out1, _ = awn(x)
    out2, _ = awn(x)
    assert not torch.allclose(out1, out2)
    awn.eval()
    torch.testing.assert_close(awn(x)[0], lstm(x)[0])
    assert math.isfinite(awn.complexity_loss(3).item())
