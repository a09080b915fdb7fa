"""Personalisation: a few bounded steps of adaptation of the synthesis network to a writer's own lines.

Dynamic evaluation (Krause et al. 2018) applied to the synthesis network: beyond priming (the
network reads the writer's strokes before it writes), its weights take a few gradient steps on the
mixture NLL of the writer's lines given their transcriptions,

    L(theta) = (1 / P) sum_lines sum_t -log Pr(x_{t+1} | x_{1:t}, c; theta)      (P: points)
    theta_{k+1} = update(theta_k, grad L(theta_k))                             k < steps, CPU time < seconds

on a *copy* of the model: the loaded model, and so the checkpoint on disk, never change. The
update rule is an object with `step(loss)`: `update=` takes e.g. `seqgen.eval.dynamic.DynamicAdapter`
(the text family's rule, SGD or RMS with a decay toward the trained weights); the default is Adam,
whose per-weight step size needs no gradient statistics of the training data, which the demo's
server does not have. Both bounds hold: `steps` gradient steps at most, and the adapting thread's
CPU time (`time.thread_time`, so the same on a busy and an idle machine) at most `seconds`.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional, Protocol, Sequence

import numpy as np
import torch

from seqgen.errors import SeqgenError
from seqgen.families.handwriting.best_of import line_batch
from seqgen.nn.mdn import mixture_nll


class UpdateRule(Protocol):
    def step(self, loss: torch.Tensor) -> None:
        """One update of the adapted weights from the gradient of `loss`."""
        ...


class AdamUpdate:
    """Adam over every trainable weight of `model` (the default update rule)."""

    def __init__(self, model: torch.nn.Module, lr: float) -> None:
        self.optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)

    def step(self, loss: torch.Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()


@dataclass(frozen=True)
class AdaptSettings:
    """Bounds and step size of a personalisation: at most `steps` steps and `seconds` of CPU time."""

    steps: int = 20
    seconds: float = 30.0
    lr: float = 1e-3

    def __post_init__(self) -> None:
        if not 0 <= int(self.steps) <= 1000:
            raise SeqgenError(f"adapt_steps={self.steps}: give a number of steps in [0, 1000]")
        if not (math.isfinite(self.seconds) and self.seconds > 0):
            raise SeqgenError(f"adapt_seconds={self.seconds}: give a positive number of CPU seconds")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise SeqgenError(f"adapt_lr={self.lr}: give a positive learning rate")


@dataclass
class Adapted:
    """The adapted copy and what it took: steps, CPU seconds, NLL per point before and after."""

    model: Any
    steps: int
    seconds: float
    nll_before: float
    nll_after: float

    def describe(self) -> dict[str, float]:
        return {"steps": self.steps, "seconds": round(self.seconds, 3), "nll_before": round(self.nll_before, 4), "nll_after": round(self.nll_after, 4)}


def personalise(
    model: Any,
    lines: Sequence[np.ndarray],
    texts: Sequence[str],
    settings: AdaptSettings = AdaptSettings(),
    update: Optional[Callable[[torch.nn.Module], UpdateRule]] = None,
    stop: Optional[Callable[[], bool]] = None,
) -> Adapted:
    """A copy of the synthesis `model` adapted to `lines` (normalised offsets, start row first) with
    their `texts` (module docstring); `stop()` returning True ends it early (a client gone)."""
    if not lines or len(lines) != len(texts):
        raise SeqgenError(f"personalisation needs the writer's lines with their texts: got {len(lines)} lines, {len(texts)} texts")
    adapted = copy.deepcopy(model)
    adapted.eval()  # no dropout or weight noise while adapting: the copy writes with its mean weights
    batch = line_batch(adapted, lines, texts, normalised=True)
    points = batch.target_mask.sum().clamp_min(1)
    rule = update(adapted.net) if update is not None else AdamUpdate(adapted.net, settings.lr)

    def loss() -> torch.Tensor:
        params, _, _ = adapted.net(batch.inputs, batch.chars, batch.char_mask)
        return mixture_nll(params, batch.targets, batch.target_mask, reduction="sum") / points

    start = time.thread_time()
    with torch.enable_grad():
        current = loss()
        before, steps = float(current.detach()), 0
        while steps < settings.steps and time.thread_time() - start < settings.seconds and not (stop and stop()):
            rule.step(current)
            steps += 1
            current = loss()
    for p in adapted.parameters():
        p.grad = None
        p.requires_grad_(False)
    return Adapted(adapted, steps, time.thread_time() - start, before, float(current.detach()))
