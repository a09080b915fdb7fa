"""Layers whose gradients are bitwise the same whatever torch's CPU thread count.

The thread policy (`seqgen/training/threads.py`) lets `auto` use more than one thread only when
1 and N threads give bitwise the same loss and gradients, so that a run trains the same model on
every machine. A convolution (plain or transposed) breaks that on the CPU: its weight gradient

    dL/dW[i, o, kh, kw] = sum over (batch, h, w) of x[b, i, h, w] * dL/dy[b, o, s*h + kh - p, s*w + kw - p]

has few outputs and a reduction over batch x pixels (hundreds of thousands of terms), so oneDNN
splits the *reduction* among the threads and adds the partial sums: the rounding depends on the
thread count. The forward pass and the input gradient are split over their outputs and do not.
A full `.sum()` of more than ATen's grain size is split the same way (`thread_invariant_sum`).

`ThreadInvariantConv2d` / `ThreadInvariantConvTranspose2d` compute the weight and bias gradients
with one thread, always (the forward pass and the input gradient keep every thread). That costs
those gradients at one thread, and buys the model the same numbers at any thread count. They
are `nn.Conv2d` / `nn.ConvTranspose2d`: the same parameters, `state_dict` and forward.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


class _OneThreadWeightGrad(torch.autograd.Function):
    """A 2-d convolution (plain or transposed) whose weight and bias gradients are summed by one
    thread on the CPU."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride: Any, padding: Any,
                dilation: Any, transposed: bool, output_padding: Any, groups: int) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.settings = (list(stride), list(padding), list(dilation), transposed, list(output_padding), groups, bias is not None)
        return torch.ops.aten.convolution(x, weight, bias, stride, padding, dilation, transposed, output_padding, groups)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:
        x, weight = ctx.saved_tensors
        stride, padding, dilation, transposed, output_padding, groups, has_bias = ctx.settings
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        out_channels = weight.shape[1] * groups if transposed else weight.shape[0]
        bias_sizes = [out_channels] if has_bias else None

        def backward_of(mask: list[bool]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            return torch.ops.aten.convolution_backward(
                grad, x, weight, bias_sizes, stride, padding, dilation, transposed, output_padding, groups, mask
            )

        grad_x = backward_of([True, False, False])[0] if need_x else None
        grad_w = grad_b = None
        if need_w or (need_b and has_bias):
            threads = torch.get_num_threads()
            one_thread = grad.device.type == "cpu" and threads > 1
            if one_thread:
                torch.set_num_threads(1)
            try:
                _, grad_w, grad_b = backward_of([False, bool(need_w), bool(need_b and has_bias)])
            finally:
                if one_thread:
                    torch.set_num_threads(threads)
        return grad_x, grad_w, grad_b, None, None, None, None, None, None


class ThreadInvariantConv2d(nn.Conv2d):
    """`nn.Conv2d` with thread-count-independent parameter gradients (module docstring)."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if self.padding_mode != "zeros" or isinstance(self.padding, str):
            raise ValueError("only padding_mode='zeros' with numeric padding is supported")
        return _OneThreadWeightGrad.apply(input, self.weight, self.bias, self.stride, self.padding, self.dilation,
                                          False, (0, 0), self.groups)


class ThreadInvariantConvTranspose2d(nn.ConvTranspose2d):
    """`nn.ConvTranspose2d` with thread-count-independent parameter gradients (module docstring)."""

    def forward(self, input: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        if self.padding_mode != "zeros":
            raise ValueError("only padding_mode='zeros' is supported for ConvTranspose2d")
        output_padding = self._output_padding(input, output_size, self.stride, self.padding, self.kernel_size, 2, self.dilation)
        return _OneThreadWeightGrad.apply(input, self.weight, self.bias, self.stride, self.padding, self.dilation,
                                          True, output_padding, self.groups)


SUM_CHUNK = 4096  # below ATen's parallel grain size (32,768): one chunk is always summed by one thread


def thread_invariant_sum(x: torch.Tensor) -> torch.Tensor:
    """The sum of every element of `x`, bitwise the same at any thread count.

    A full reduction of more than ATen's grain size is split among the threads, each adding its
    own part, so `x.sum()` rounds differently with 1 and 2 threads. Here the elements are summed in
    fixed chunks of SUM_CHUNK (zero-padded), each chunk by one thread, then the chunk sums in order:
    the grouping of the additions no longer depends on the thread count.
    """
    flat = x.reshape(-1)
    pad = (-flat.numel()) % SUM_CHUNK
    if pad:
        flat = F.pad(flat, (0, pad))
    return flat.view(-1, SUM_CHUNK).sum(1).sum()
