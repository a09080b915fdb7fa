"""Derivative clipping inside the forward pass: identity forward, clamped backward."""

from __future__ import annotations

import torch

from seqgen.nn.grad_clip import GradClip, clip_grad_in_forward


def test_identity_forward_clamped_backward() -> None:
    x = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = clip_grad_in_forward(x, 10.0)
    torch.testing.assert_close(y, x)
    (y * torch.tensor([100.0, -100.0, 5.0])).sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([10.0, -10.0, 5.0]))


def test_clip_applies_to_signal_not_to_downstream_chain() -> None:
    # dL/dy = 50, clipped to 1 at y, then multiplied by dy/dx = 3 upstream
    x = torch.tensor([2.0], requires_grad=True)
    y = clip_grad_in_forward(3 * x, 1.0)
    (50 * y).sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([3.0]))


def test_none_and_inf_are_noops_and_module_form() -> None:
    x = torch.randn(4, requires_grad=True)
    assert clip_grad_in_forward(x, None) is x
    assert clip_grad_in_forward(x, float("inf")) is x
    m = GradClip(0.5)
    (m(x) * 10).sum().backward()
    torch.testing.assert_close(x.grad, torch.full((4,), 0.5))
    assert "limit=0.5" in repr(m)


def test_no_grad_context_passes_through() -> None:
    x = torch.randn(3)
    with torch.no_grad():
        assert clip_grad_in_forward(x, 1.0) is x
