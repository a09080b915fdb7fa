"""Derivative clipping inside the network (Graves 2013, Sec. 4.2).

The paper clips "the derivatives with respect to the network inputs to the LSTM layers" to [-10, 10]
and "the output derivatives (with respect to the network outputs y_hat)" to [-100, 100]. This is
clipping of the *backpropagated signal* at a point of the graph, not of the parameter gradients:

    forward:  y = x
    backward: dL/dx = clamp(dL/dy, -limit, limit)
"""

from __future__ import annotations

import math
from typing import Any, Optional

import torch
from torch import Tensor, nn

__all__ = ["ClipGradient", "clip_grad_in_forward", "GradClip"]


class ClipGradient(torch.autograd.Function):
    """Identity forward; elementwise clamp of the incoming gradient to [-limit, limit] backward."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, limit: float) -> Tensor:  # type: ignore[override]
        ctx.limit = limit
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Optional[Tensor], None]:  # type: ignore[override]
        return grad_output.clamp(-ctx.limit, ctx.limit), None


def clip_grad_in_forward(x: Tensor, limit: Optional[float]) -> Tensor:
    """Return ``x`` unchanged; in backward clamp dL/dx to [-limit, limit]. ``limit`` None/inf: no-op."""
    if limit is None or math.isinf(limit):
        return x
    if limit <= 0:
        raise ValueError(f"gradient clip limit must be > 0, got {limit}")
    if not (torch.is_grad_enabled() and x.requires_grad):
        return x
    return ClipGradient.apply(x, float(limit))


class GradClip(nn.Module):
    """Module form of `clip_grad_in_forward` (e.g. inside nn.Sequential)."""

    def __init__(self, limit: Optional[float]) -> None:
        super().__init__()
        self.limit = limit

    def forward(self, x: Tensor) -> Tensor:
        return clip_grad_in_forward(x, self.limit)

    def extra_repr(self) -> str:
        return f"limit={self.limit}"
