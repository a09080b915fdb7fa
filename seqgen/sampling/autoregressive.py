"""The generic autoregressive sampling loop: priming, per-row stopping, step limits, streaming.

A family describes one step of its network and its head; this loop does the rest:

    out = step(x_t)                 # feed input x_t (B, D) -> StepOutput(params, done, overdue, record)
    x_{t+1} ~ draw(out.params)      # e.g. head.sample(params, generator): bias is applied in the head
                                    # (pi = softmax(pi_hat (1 + b)), sigma = exp(sigma_hat - b))

* Priming: the prime's inputs (T_p, B, D) are fed one by one with the outputs discarded, except
  the last step's, which predicts the first new point (clamped inputs, Graves 2013 Sec. 5.5).
  A family that primes faster (one fused call over the whole prime) passes that last output as
  `start` instead.
* Per-row stopping: the family's finish rule sets `out.done` (B,) for rows that end *before*
  emitting this step's point (handwriting synthesis: the window has moved past the text, Sec. 5.3).
  `out.overdue` (B,) counts towards `patience`: a row stops once it was overdue on more than
  `patience` steps (a guard for a rule that may never fire).
* Step limits: a row stops after `max_steps` emitted points (an int, or a (B,) tensor per row).
* Streaming: `on_step(index, points)` is called after every step with the step's sampled points
  (B, D) (NaN in rows that emitted nothing at this step); returning False stops the loop early
  (e.g. a web client disconnected). The points are the loop's own inputs (the family's units).

Rows that have stopped keep being computed with the batch (cheaper than re-batching); their
draws are simply not emitted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import torch
from torch import Tensor

from seqgen.errors import SeqgenError


@dataclass
class StepOutput:
    """What a family's `step` returns for input x_t.

    params:  head parameters predicting x_{t+1}
    done:    (B,) bool or None: the finish rule fired (the row ends without emitting this step)
    overdue: (B,) bool or None: the row is past where it should have ended (counts to `patience`)
    record:  per-step tensors to keep for emitted points (e.g. window weights), {name: (B, ...)}
    """

    params: Any
    done: Optional[Tensor] = None
    overdue: Optional[Tensor] = None
    record: dict[str, Tensor] = field(default_factory=dict)


@dataclass
class Sampled:
    """The loop's result. points (B, T, D): row b's first counts[b] are its emitted points;
    ended (B,): stopped by the finish rule or patience (False: max_steps or on_step);
    records: {name: (B, T, ...)} aligned with points; params: per step, the head parameters the
    point was drawn from (only with keep_params); stopped_early: on_step returned False."""

    points: Tensor
    counts: Tensor
    ended: Tensor
    records: dict[str, Tensor]
    params: list[Any]
    stopped_early: bool = False


OnStep = Callable[[int, Tensor], Optional[bool]]


@torch.no_grad()
def sample_autoregressive(
    step: Callable[[Tensor], StepOutput],
    draw: Callable[[Any], Tensor],
    *,
    prime: Optional[Tensor] = None,
    start: Optional[StepOutput] = None,
    max_steps: int | Tensor,
    patience: Optional[int] = None,
    keep_params: bool = False,
    on_step: Optional[OnStep] = None,
) -> Sampled:
    """Run the loop; give exactly one of `prime` (T_p, B, D) inputs or `start` (the output that
    predicts the first point). `draw(params) -> (B, D)` samples one point per row."""
    if (prime is None) == (start is None):
        raise ValueError("give exactly one of prime= (inputs to feed) or start= (the first step's output)")
    out = start
    if prime is not None:
        if prime.shape[0] < 1:
            raise ValueError("prime needs at least one input row")
        for x in prime.unbind(0):  # clamped: the prime's own points are the inputs
            out = step(x)
    assert out is not None
    batch = _batch_size(out, prime)
    device = prime.device if prime is not None else _device(out)
    limit = torch.as_tensor(max_steps, device=device).expand(batch)
    if bool((limit < 1).any()):
        raise SeqgenError(f"the number of points to sample must be >= 1, got {max_steps}")
    active = torch.ones(batch, dtype=torch.bool, device=device)
    ended = torch.zeros(batch, dtype=torch.bool, device=device)
    count = torch.zeros(batch, dtype=torch.long, device=device)
    overdue = torch.zeros(batch, dtype=torch.long, device=device)
    points: list[Tensor] = []
    records: dict[str, list[Tensor]] = {}
    params: list[Any] = []
    stopped_early = False
    index = 0
    while True:
        if out.overdue is not None:
            overdue = torch.where(out.overdue, overdue + 1, overdue)
        if out.done is not None or patience is not None:
            finish = out.done if out.done is not None else torch.zeros_like(active)
            if patience is not None:
                finish = finish | (overdue > patience)
            stop = active & finish
            ended |= stop
            active &= ~stop
            if not bool(active.any()):
                break
        x = draw(out.params)
        points.append(x)
        for name, value in out.record.items():
            records.setdefault(name, []).append(value)
        if keep_params:
            params.append(out.params)
        emitted = active.clone() if on_step is not None else active
        count += active.long()
        active &= count < limit
        if on_step is not None:
            shown = torch.where(emitted.unsqueeze(-1), x, torch.full_like(x, float("nan")))
            if on_step(index, shown) is False:
                stopped_early = True
                break
        if not bool(active.any()):
            break
        out = step(x)
        index += 1
    dim = points[0].shape[-1] if points else (prime.shape[-1] if prime is not None else 0)
    stacked = torch.stack(points, 1) if points else torch.zeros(batch, 0, dim, device=device)
    return Sampled(stacked, count, ended, {k: torch.stack(v, 1) for k, v in records.items()}, params, stopped_early)


def _batch_size(out: StepOutput, prime: Optional[Tensor]) -> int:
    if prime is not None:
        return int(prime.shape[1])
    first = next(iter(out.params)) if isinstance(out.params, tuple) else out.params
    return int(first.shape[0])


def _device(out: StepOutput) -> torch.device:
    first = next(iter(out.params)) if isinstance(out.params, tuple) else out.params
    return first.device
