"""ThreadInvariantConvTranspose2d: the same gradients at any thread count, and a drop-in ConvTranspose2d."""

from __future__ import annotations

import torch
from torch import nn

from seqgen.nn.reproducible import ThreadInvariantConvTranspose2d


def gradients(layer: nn.Module, x: torch.Tensor, threads: int) -> list[torch.Tensor]:
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        x = x.clone().requires_grad_(True)
        y = layer(x, output_size=(84, 84))
        (y * torch.linspace(-1, 1, y.numel()).view_as(y)).sum().backward()
        out = [x.grad.clone(), layer.weight.grad.clone(), layer.bias.grad.clone()]
        layer.zero_grad(set_to_none=True)
        return out
    finally:
        torch.set_num_threads(before)


def test_gradients_do_not_depend_on_the_thread_count_and_match_conv_transpose() -> None:
    torch.manual_seed(0)
    # the shape where oneDNN splits the weight gradient's reduction among threads: few outputs, many pixels
    layer = ThreadInvariantConvTranspose2d(16, 2, kernel_size=4, stride=2, padding=1)
    x = torch.randn(48, 16, 42, 42)
    one, two = gradients(layer, x, 1), gradients(layer, x, 2)
    assert all(torch.equal(a, b) for a, b in zip(one, two))
    assert torch.get_num_threads() >= 1  # the thread count is put back
    plain = nn.ConvTranspose2d(16, 2, kernel_size=4, stride=2, padding=1)
    plain.load_state_dict(layer.state_dict())  # same parameters, same state_dict keys
    for ours, reference in zip(one, gradients(plain, x, 1)):
        torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        assert torch.equal(layer(x, output_size=(84, 84)), plain(x, output_size=(84, 84)))


def test_thread_count_is_restored_after_backward() -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        layer = ThreadInvariantConvTranspose2d(4, 2, kernel_size=4, stride=2, padding=1)
        layer(torch.randn(2, 4, 5, 5, requires_grad=True)).sum().backward()
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
