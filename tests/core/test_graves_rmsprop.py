"""Graves's RMSprop: hand computation of the update equations; minimises a quadratic; state round trip."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from seqgen.optim.graves_rmsprop import GravesRMSprop


def _hand(w: float, grads: list[float], lr: float, a: float, b: float, eps: float) -> list[float]:
    n = m = d = 0.0
    out = []
    for g in grads:
        n = a * n + (1 - a) * g * g
        m = a * m + (1 - a) * g
        d = b * d - lr * g / math.sqrt(n - m * m + eps)
        w = w + d
        out.append(w)
    return out


@pytest.mark.parametrize("foreach", [True, False])
def test_two_steps_match_hand_computation(foreach: bool) -> None:
    lr, a, b, eps = 0.01, 0.95, 0.9, 1e-4
    w = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    opt = GravesRMSprop([w], lr=lr, alpha=a, momentum=b, eps=eps, foreach=foreach)
    grads = [[0.5, -3.0], [0.2, 1.0]]
    want = [_hand(1.0, [g[0] for g in grads], lr, a, b, eps), _hand(-2.0, [g[1] for g in grads], lr, a, b, eps)]
    for step, g in enumerate(grads):
        w.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
        torch.testing.assert_close(w.detach(), torch.tensor([want[0][step], want[1][step]], dtype=torch.float64))


def test_defaults_are_the_papers() -> None:
    opt = GravesRMSprop([torch.zeros(1, requires_grad=True)])
    g = opt.param_groups[0]
    assert (g["lr"], g["alpha"], g["momentum"], g["eps"]) == (1e-4, 0.95, 0.9, 1e-4)


def test_minimises_a_quadratic() -> None:
    torch.manual_seed(0)
    target = torch.randn(10)
    scale = torch.linspace(0.1, 10.0, 10)
    w = torch.zeros(10, requires_grad=True)
    opt = GravesRMSprop([w], lr=1e-2)
    for _ in range(800):
        opt.zero_grad()
        loss = (scale * (w - target) ** 2).sum()
        loss.backward()
        opt.step()
    assert (w.detach() - target).abs().max() < 0.05


def test_state_dict_round_trip_and_foreach_equivalence() -> None:
    torch.manual_seed(0)
    ps = [torch.randn(3, 4, requires_grad=True), torch.randn(5, requires_grad=True)]
    qs = [p.detach().clone().requires_grad_(True) for p in ps]
    o1 = GravesRMSprop(ps, lr=1e-2, foreach=True)
    o2 = GravesRMSprop(qs, lr=1e-2, foreach=False)
    for _ in range(3):
        for p, q in zip(ps, qs):
            g = torch.randn_like(p)
            p.grad, q.grad = g.clone(), g.clone()
        o1.step()
        o2.step()
    for p, q in zip(ps, qs):
        torch.testing.assert_close(p, q)
    # reload o1's state into a fresh optimizer and continue identically
    rs = [p.detach().clone().requires_grad_(True) for p in ps]
    o3 = GravesRMSprop(rs, lr=1e-2)
    o3.load_state_dict(copy.deepcopy(o1.state_dict()))  # as a checkpoint would (state_dict aliases)
    g = [torch.randn_like(p) for p in ps]
    for p, r, gi in zip(ps, rs, g):
        p.grad, r.grad = gi.clone(), gi.clone()
    o1.step()
    o3.step()
    for p, r in zip(ps, rs):
        torch.testing.assert_close(p, r)
    assert set(o3.state[rs[0]]) == {"step", "n", "m", "d"}


def test_params_without_grad_are_skipped() -> None:
    a = torch.ones(2, requires_grad=True)
    b = torch.ones(2, requires_grad=True)
    opt = GravesRMSprop([a, b], lr=0.1)
    a.grad = torch.ones(2)
    opt.step()
    assert (b == 1).all() and (a < 1).all()
