"""Graves's RMSprop variant with momentum (Graves 2013, Sec. 4.2).

    n_i = a n_i + (1 - a) g_i^2
    m_i = a m_i + (1 - a) g_i
    d_i = b d_i - lr g_i / sqrt(n_i - m_i^2 + eps)
    w_i = w_i + d_i

with a = 0.95, b = 0.9 (momentum), lr = 1e-4, eps = 1e-4 in the paper. n - m^2 is an estimate of the
gradient variance; it is >= 0 in exact arithmetic and is clamped at 0 before adding eps to absorb
rounding. State per parameter: ``n``, ``m``, ``d`` (all zero-initialised), so ``state_dict`` round
trips like any torch optimizer.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Optional, Union

import torch
from torch import Tensor
from torch.optim import Optimizer

__all__ = ["GravesRMSprop"]

ParamsT = Union[Iterable[Tensor], Iterable[dict[str, Any]]]


class GravesRMSprop(Optimizer):
    """``GravesRMSprop(params, lr=1e-4, alpha=0.95, momentum=0.9, eps=1e-4, foreach=None)``.

    alpha is the paper's a (decay of both moving averages), momentum its b. ``foreach`` None: use the
    multi-tensor ``torch._foreach_*`` path (False: plain per-parameter loop; same numbers).
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-4,
        alpha: float = 0.95,
        momentum: float = 0.9,
        eps: float = 1e-4,
        foreach: Optional[bool] = None,
    ) -> None:
        if not lr >= 0.0:
            raise ValueError(f"invalid learning rate {lr}")
        if not 0.0 <= alpha < 1.0:
            raise ValueError(f"invalid alpha {alpha} (need 0 <= alpha < 1)")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"invalid momentum {momentum} (need 0 <= momentum < 1)")
        if not eps > 0.0:
            raise ValueError(f"invalid eps {eps} (need > 0)")
        defaults = dict(lr=lr, alpha=alpha, momentum=momentum, eps=eps, foreach=foreach)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Optional[Callable[[], Tensor]] = None) -> Optional[Tensor]:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params: list[Tensor] = []
            grads: list[Tensor] = []
            ns: list[Tensor] = []
            ms: list[Tensor] = []
            ds: list[Tensor] = []
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("GravesRMSprop does not support sparse gradients")
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = torch.zeros((), dtype=torch.float32)
                    state["n"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["m"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["d"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                params.append(p)
                grads.append(p.grad)
                ns.append(state["n"])
                ms.append(state["m"])
                ds.append(state["d"])
            if not params:
                continue
            lr, a, b, eps = group["lr"], group["alpha"], group["momentum"], group["eps"]
            use_foreach = group.get("foreach")
            if use_foreach is None:
                use_foreach = True
            if use_foreach:
                _foreach_update(params, grads, ns, ms, ds, lr, a, b, eps)
            else:
                for p, g, n, m, d in zip(params, grads, ns, ms, ds):
                    n.mul_(a).addcmul_(g, g, value=1 - a)  # n = a n + (1-a) g^2
                    m.mul_(a).add_(g, alpha=1 - a)  # m = a m + (1-a) g
                    denom = torch.addcmul(n, m, m, value=-1).clamp_min_(0).add_(eps).sqrt_()
                    d.mul_(b).addcdiv_(g, denom, value=-lr)  # d = b d - lr g / sqrt(n - m^2 + eps)
                    p.add_(d)  # w = w + d
        return loss


def _foreach_update(
    params: list[Tensor],
    grads: list[Tensor],
    ns: list[Tensor],
    ms: list[Tensor],
    ds: list[Tensor],
    lr: float,
    a: float,
    b: float,
    eps: float,
) -> None:
    torch._foreach_mul_(ns, a)
    torch._foreach_addcmul_(ns, grads, grads, value=1 - a)  # n = a n + (1-a) g^2
    torch._foreach_mul_(ms, a)
    torch._foreach_add_(ms, grads, alpha=1 - a)  # m = a m + (1-a) g
    denom = torch._foreach_addcmul(ns, ms, ms, value=-1)  # n - m^2
    torch._foreach_clamp_min_(denom, 0.0)
    torch._foreach_add_(denom, eps)
    torch._foreach_sqrt_(denom)
    torch._foreach_mul_(ds, b)
    torch._foreach_addcdiv_(ds, grads, denom, value=-lr)  # d = b d - lr g / sqrt(n - m^2 + eps)
    torch._foreach_add_(params, ds)  # w = w + d
