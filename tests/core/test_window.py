"""Gaussian soft window: hand computation of the paper's equations, monotone kappa, masking, end rule."""

from __future__ import annotations

import math

import torch

from seqgen.nn.window import GaussianWindow, finished, phi_past_end, window_phi


def _window_with_bias(hats: list[float], k: int, kappa_scale: float = 1.0) -> GaussianWindow:
    win = GaussianWindow(in_features=2, n_components=k, kappa_scale=kappa_scale).double()
    with torch.no_grad():
        win.linear.weight.zero_()
        win.linear.bias.copy_(torch.tensor(hats, dtype=torch.float64))
    return win


def test_hand_computed_step() -> None:
    # K = 2, U = 4, V = 3; hats = (alpha_hat_1, alpha_hat_2, beta_hat_1, beta_hat_2, kappa_hat_1, kappa_hat_2)
    hats = [0.2, -0.4, 0.1, -1.0, 0.3, 0.9]
    win = _window_with_bias(hats, k=2)
    text = [0, 2, 1, 2]  # character ids c_1..c_4
    chars = torch.nn.functional.one_hot(torch.tensor([text]), 3).double()  # (1, 4, 3)
    kappa_prev = torch.tensor([[1.5, 0.25]], dtype=torch.float64)
    w, kappa, phi = win.step(torch.randn(1, 2, dtype=torch.float64), kappa_prev, chars)

    alpha = [math.exp(0.2), math.exp(-0.4)]
    beta = [math.exp(0.1), math.exp(-1.0)]
    kap = [1.5 + math.exp(0.3), 0.25 + math.exp(0.9)]
    phi_hand = [sum(alpha[k] * math.exp(-beta[k] * (kap[k] - u) ** 2) for k in range(2)) for u in (1, 2, 3, 4)]
    w_hand = [0.0, 0.0, 0.0]
    for u, c in enumerate(text):
        w_hand[c] += phi_hand[u]
    torch.testing.assert_close(kappa, torch.tensor([kap], dtype=torch.float64))
    torch.testing.assert_close(phi, torch.tensor([phi_hand], dtype=torch.float64))
    torch.testing.assert_close(w, torch.tensor([w_hand], dtype=torch.float64))
    a, b, k2 = win.params(torch.zeros(1, 2, dtype=torch.float64), kappa_prev)
    torch.testing.assert_close(a, torch.tensor([alpha], dtype=torch.float64))
    torch.testing.assert_close(b, torch.tensor([beta], dtype=torch.float64))


def test_kappa_scale_divides_the_step() -> None:
    win = _window_with_bias([0.0, 0.0, math.log(25.0)], k=1, kappa_scale=25.0)
    chars = torch.eye(3, dtype=torch.float64)[None]
    _, kappa, _ = win.step(torch.zeros(1, 2, dtype=torch.float64), torch.zeros(1, 1, dtype=torch.float64), chars)
    torch.testing.assert_close(kappa, torch.ones(1, 1, dtype=torch.float64))


def test_kappa_never_decreases_and_gradients_flow() -> None:
    torch.manual_seed(0)
    win = GaussianWindow(in_features=5, n_components=3)
    b, u, v, t_len = 2, 6, 4, 12
    chars = torch.nn.functional.one_hot(torch.randint(0, v, (b, u)), v).float()
    kappa = win.initial_kappa(b)
    assert kappa.shape == (b, 3) and (kappa == 0).all()
    h = (torch.randn(t_len, b, 5) * 5).requires_grad_(True)
    total = torch.zeros(())
    for t in range(t_len):
        w, new_kappa, phi = win.step(h[t], kappa, chars)
        assert w.shape == (b, v) and phi.shape == (b, u)
        assert (new_kappa >= kappa).all()
        kappa = new_kappa
        total = total + w.sum() + kappa.sum()
    total.backward()
    assert torch.isfinite(h.grad).all() and h.grad.abs().sum() > 0
    assert torch.isfinite(win.linear.weight.grad).all()


def test_padding_characters_get_zero_weight() -> None:
    win = _window_with_bias([0.0, -1.0, math.log(3.0)], k=1)  # kappa jumps to 3
    ids = torch.tensor([[1, 2, 3, 0, 0], [1, 2, 3, 1, 2]])
    mask = torch.tensor([[True, True, True, False, False], [True] * 5])
    chars = torch.nn.functional.one_hot(ids, 4).double() * mask[..., None]
    w, _, phi = win.step(torch.zeros(2, 2, dtype=torch.float64), torch.zeros(2, 1, dtype=torch.float64), chars, mask)
    assert (phi[0, 3:] == 0).all()
    assert (phi[1, 3:] > 0).all()
    torch.testing.assert_close(phi[0, :3], phi[1, :3])
    # w of row 0 only sees the 3 real characters
    torch.testing.assert_close(w[0], (phi[0, :3, None] * chars[0, :3]).sum(0))
    # a garbage one-hot at a padded position must not leak either
    chars_bad = chars.clone()
    chars_bad[0, 3:] = 1.0
    w_bad, _, _ = win.step(torch.zeros(2, 2, dtype=torch.float64), torch.zeros(2, 1, dtype=torch.float64), chars_bad, mask)
    torch.testing.assert_close(w_bad, w)


def test_end_rule_fires_after_u_plus_half() -> None:
    # K = 1, alpha = beta = 1: phi(U+1) > phi(u) for all u <= U  <=>  kappa > U + 0.5
    u_len = 4
    one = torch.ones(1, 1, dtype=torch.float64)
    grid = torch.arange(1, u_len + 1, dtype=torch.float64)
    for kap in (0.0, 2.0, 4.0, 4.49, 4.5):
        kappa = torch.full((1, 1), kap, dtype=torch.float64)
        phi = window_phi(one, one, kappa, grid)
        end = phi_past_end(one, one, kappa, torch.tensor([u_len]))
        assert not finished(phi, end).item(), kap
    for kap in (4.51, 5.0, 7.0):
        kappa = torch.full((1, 1), kap, dtype=torch.float64)
        phi = window_phi(one, one, kappa, grid)
        end = phi_past_end(one, one, kappa, torch.tensor([u_len]))
        assert finished(phi, end).item(), kap


def test_step_with_end_per_sequence_lengths_and_far_past_end() -> None:
    # beta = e^3 ~ 20 so that far past the end every phi underflows; the log-space rule still fires
    ids = torch.tensor([[1, 2, 3, 1, 0, 0], [1, 2, 3, 1, 2, 3]])
    mask = torch.tensor([[True] * 4 + [False] * 2, [True] * 6])
    chars = torch.nn.functional.one_hot(ids, 4).float()
    win = GaussianWindow(in_features=2, n_components=1)
    with torch.no_grad():
        win.linear.weight.zero_()
        win.linear.bias.copy_(torch.tensor([0.0, 3.0, -30.0]))  # kappa barely moves
    h = torch.zeros(2, 2)
    expected = {2.0: [False, False], 4.4: [False, False], 4.6: [True, False], 6.6: [True, True], 60.0: [True, True]}
    for kap, want in expected.items():
        kappa_prev = torch.full((2, 1), kap)
        out, done = win.step_with_end(h, kappa_prev, chars, mask)
        assert done.tolist() == want, (kap, done)
        assert out.phi.shape == (2, 6)
