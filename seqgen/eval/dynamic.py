"""Dynamic evaluation (Krause et al. 2018, "Dynamic Evaluation of Neural Sequence Models").

The weights keep learning from the text (or the pen strokes) they score. A sequence is scored
segment by segment s_1, s_2, ...; segment s_i is scored with the weights theta_{i-1}, then one
gradient step on its loss L(s_i) (mean nats per unit) gives theta_i, which scores s_{i+1}:

    RMS (the published method, "RMS with an RMS global prior"):
        MS      = mean over training segments of (dL/dtheta)^2        collected once, on training data
        theta_i = theta_{i-1} - lr * grad L(s_i) / (sqrt(MS) + eps)
                  + min(decay * r, 1) * (theta_0 - theta_{i-1})
        r       = sqrt(MS) / mean(sqrt(MS))                            weights with large training
                                                                       gradients return faster
    SGD (the ablation):
        theta_i = theta_{i-1} - lr * grad L(s_i) + decay * (theta_0 - theta_{i-1})

theta_0 are the trained weights; the decay pulls the adapted weights back toward them. With
lr = 0 the procedure is the static evaluation of the same segments in the same order.

Family-agnostic: a model takes part by implementing the `SegmentModel` protocol, its loss on one
segment from a recurrent state and the state at the segment's end. The family cuts its data into
*documents* (a text stream, a handwriting line), each an iterable of segments: the recurrent state
is carried (detached) from one segment to the next and reset where a document starts, while the
weights keep adapting across documents.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import asdict, dataclass, replace
from itertools import product
from typing import Any, Callable, Iterable, Mapping, Protocol

import torch
from torch import nn
from torch.utils._pytree import tree_map

from seqgen.errors import SeqgenError
from seqgen.nn.modes import eval_mode

METHODS = ("rms", "sgd")


class SegmentModel(Protocol):
    """What dynamic evaluation asks of a model."""

    def segment_loss(self, segment: Any, state: Any) -> tuple[torch.Tensor, torch.Tensor, Any]:
        """(summed nats over the segment's scored units, with grad; number of units; state at its end)."""
        ...


@dataclass(frozen=True)
class DynamicSettings:
    """The few settings of dynamic evaluation, chosen on the validation split (`tune`)."""

    method: str = "rms"
    lr: float = 1e-3
    decay: float = 0.0
    segment_length: int = 50
    epsilon: float = 1e-5  # added to sqrt(MS): keeps steps finite for weights with no training gradient
    stats_units: int = 20_000  # training units (symbols, points) the RMS statistics are collected on

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise SeqgenError(f"dynamic_eval.method={self.method!r}: use rms (Krause et al. 2018) or sgd (the ablation)")
        if not (math.isfinite(self.lr) and self.lr >= 0):
            raise SeqgenError(f"dynamic_eval.lr={self.lr}: must be a finite number >= 0")
        if not (math.isfinite(self.decay) and 0 <= self.decay <= 1):
            raise SeqgenError(f"dynamic_eval.decay={self.decay}: must lie in [0, 1]")
        if self.segment_length < 1 or self.stats_units < 1 or not self.epsilon > 0:
            raise SeqgenError("dynamic_eval.segment_length and stats_units must be >= 1 and epsilon > 0")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None, defaults: "DynamicSettings") -> "DynamicSettings":
        """`defaults` (the family's) with the non-null values of the `dynamic_eval` config group."""
        given = {k: v for k, v in dict(cfg or {}).items() if k in cls.__dataclass_fields__ and v is not None}
        types = {"method": str, "segment_length": int, "stats_units": int}
        return replace(defaults, **{k: types.get(k, float)(v) for k, v in given.items()})

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)



def detach(state: Any) -> Any:
    """Truncated backpropagation at a segment boundary, for any nesting of tensors (None kept)."""
    return tree_map(lambda t: t.detach() if isinstance(t, torch.Tensor) else t, state)


def _parameters(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def gradient_statistics(model: nn.Module, documents: Iterable[Iterable[Any]]) -> list[torch.Tensor]:
    """MS: the mean squared gradient of the mean segment loss, per weight, over the given training
    segments (the model's trained weights, no update). One tensor per trainable parameter."""
    params = _parameters(model)
    sums = [torch.zeros_like(p) for p in params]
    segments = 0
    with eval_mode(model):
        for document in documents:
            state = None
            for segment in document:
                nats, units, state = model.segment_loss(segment, state)  # type: ignore[attr-defined]
                if float(units) == 0:
                    state = detach(state)
                    continue
                grads = torch.autograd.grad(nats / units, params, allow_unused=True)
                for total, grad in zip(sums, grads):
                    if grad is not None:
                        total.addcmul_(grad, grad)
                segments += 1
                state = detach(state)
    if segments == 0:
        raise SeqgenError("no training segments for the dynamic-evaluation gradient statistics: check the training data")
    return [total.div_(segments) for total in sums]


def statistics_digest(statistics: list[torch.Tensor]) -> bytes:
    """8 bytes that identify the statistics exactly (the compressor's header records them)."""
    digest = hashlib.blake2b(digest_size=8)
    for tensor in statistics:
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.digest()


class DynamicAdapter:
    """The update rule (module docstring) over a model's trainable weights, in place."""

    def __init__(self, model: nn.Module, settings: DynamicSettings, statistics: list[torch.Tensor] | None = None) -> None:
        self.model = model
        self.settings = settings
        self.params = _parameters(model)
        self.initial = [p.detach().clone() for p in self.params]
        if settings.method == "rms":
            if statistics is None or len(statistics) != len(self.params):
                raise SeqgenError("dynamic_eval.method=rms needs the gradient statistics of every trainable weight")
            rms = [s.sqrt() for s in statistics]
            mean_rms = torch.cat([r.flatten() for r in rms]).mean().clamp_min(torch.finfo(rms[0].dtype).tiny)
            self.step_scale = [lr_scale.reciprocal().mul_(settings.lr) for lr_scale in (r + settings.epsilon for r in rms)]
            self.decay_rate = [(r / mean_rms).mul_(settings.decay).clamp_(max=1.0) for r in rms]
        else:
            self.step_scale = [torch.full((), settings.lr, dtype=p.dtype) for p in self.params]
            self.decay_rate = [torch.full((), settings.decay, dtype=p.dtype) for p in self.params]

    def step(self, loss: torch.Tensor) -> None:
        """One update from the gradient of `loss` (the mean loss per unit of the scored segment)."""
        if self.settings.lr == 0 and self.settings.decay == 0:
            return
        grads = torch.autograd.grad(loss, self.params, allow_unused=True)
        with torch.no_grad():
            for param, grad, scale, rate, initial in zip(self.params, grads, self.step_scale, self.decay_rate, self.initial):
                pull = (initial - param).mul_(rate)
                if grad is not None:
                    pull.addcmul_(grad, scale, value=-1.0)
                param.add_(pull)

    def restore(self) -> None:
        """Back to the trained weights (before another evaluation with the same model)."""
        with torch.no_grad():
            for param, initial in zip(self.params, self.initial):
                param.copy_(initial)


@dataclass
class DynamicResult:
    nats: float
    units: int
    documents: int
    segments: int

    @property
    def nats_per_unit(self) -> float:
        return self.nats / max(self.units, 1)


def evaluate(
    model: nn.Module,
    documents: Iterable[Iterable[Any]],
    settings: DynamicSettings,
    statistics: list[torch.Tensor] | None = None,
    adapt: bool = True,
) -> DynamicResult:
    """Score `documents` in order, segment by segment; with `adapt`, a gradient step after each
    scored segment (the weights are restored afterwards). `adapt=False` is the static evaluation
    of exactly the same segments."""
    adapter = DynamicAdapter(model, settings, statistics) if adapt else None
    nats = 0.0
    units = documents_seen = segments = 0
    try:
        with eval_mode(model), torch.set_grad_enabled(adapt):
            for document in documents:
                state = None
                documents_seen += 1
                for segment in document:
                    segment_nats, segment_units, state = model.segment_loss(segment, state)  # type: ignore[attr-defined]
                    count = int(segment_units)
                    nats += float(segment_nats.detach())
                    units += count
                    segments += 1
                    if adapter is not None and count:
                        adapter.step(segment_nats / count)
                    state = detach(state)
    finally:
        if adapter is not None:
            adapter.restore()
    if not math.isfinite(nats):
        raise SeqgenError("dynamic evaluation diverged (non-finite loss): lower dynamic_eval.lr or raise dynamic_eval.decay")
    return DynamicResult(nats, units, documents_seen, segments)


# --- the evaluation a family runs: settings from the config, tuning on the validation split ------
class DynamicTask(Protocol):
    """A family's side of `seqgen-eval dynamic=true|tune`: its data, cut into documents of segments."""

    metric: str  # the reported figure, lower is better: "bpc" (text), "nll" (nats per line, handwriting)
    defaults: Mapping[str, DynamicSettings]  # per method: the family's settings where the config says null

    def statistics(self, settings: DynamicSettings) -> list[torch.Tensor] | None:
        """The RMS statistics on training data for these settings (None for sgd)."""
        ...

    def score(self, split: str, settings: DynamicSettings, statistics: list[torch.Tensor] | None, adapt: bool) -> float:
        """The metric on `split` ("valid" or "test"), with (adapt) or without dynamic updates."""
        ...

    def extra_metrics(self, settings: DynamicSettings, statistics: list[torch.Tensor] | None) -> dict[str, float]:
        """More test figures of the chosen settings (text: the real size of the coded test bytes)."""
        ...


def tune(task: DynamicTask, base: DynamicSettings, grid: Mapping[str, Iterable[Any]], say: Callable[[str], None] = print) -> tuple[DynamicSettings, list[dict[str, Any]]]:
    """Every combination of the `grid` values (keys: lr, decay, segment_length) on the
    validation split; the best one (lowest metric) and a row per combination, in grid order."""
    keys = [key for key in grid if key in ("lr", "decay", "segment_length")]
    unknown = sorted(set(grid) - set(keys))
    if unknown:
        raise SeqgenError(f"dynamic_eval.grid has unknown keys {unknown}: use lr, decay, segment_length")
    rows: list[dict[str, Any]] = []
    for values in product(*(list(grid[key]) for key in keys)):
        settings = DynamicSettings.from_config(dict(zip(keys, values)), base)
        started = time.process_time()
        value = task.score("valid", settings, task.statistics(settings), adapt=True)
        rows.append({**settings.as_dict(), f"valid/{task.metric}_dynamic": value, "cpu_seconds": time.process_time() - started})
        say(f"[seqgen] tune {_describe(settings)}: valid {task.metric} {value:.4f}")
    if not rows:
        raise SeqgenError("dynamic_eval.grid is empty: give at least one value per key")
    best = min(rows, key=lambda row: row[f"valid/{task.metric}_dynamic"] if math.isfinite(row[f"valid/{task.metric}_dynamic"]) else math.inf)
    return DynamicSettings.from_config(best, base), rows


def _describe(settings: DynamicSettings) -> str:
    return f"{settings.method} lr={settings.lr:g} decay={settings.decay:g} segment_length={settings.segment_length}"


def run_dynamic(task: DynamicTask, settings: DynamicSettings, grid: Mapping[str, Iterable[Any]] | None = None,
                say: Callable[[str], None] = print) -> dict[str, Any]:
    """Static and dynamic figures on the test split with `settings`, or with the best of `grid`
    on the validation split (tuning never sees the test split). Returns {"metrics", "dynamic"}."""
    record: dict[str, Any] = {}
    if grid is not None:
        record["valid_static"] = task.score("valid", settings, None, adapt=False)
        settings, record["tuning"] = tune(task, settings, grid, say)
        say(f"[seqgen] chosen on the validation split (static {record['valid_static']:.4f}): {_describe(settings)}")
    started = time.process_time()
    statistics = task.statistics(settings)
    static = task.score("test", settings, None, adapt=False)
    dynamic = task.score("test", settings, statistics, adapt=True)
    seconds = time.process_time() - started
    change = 100.0 * (dynamic - static) / static if static else float("nan")
    say(f"[seqgen] dynamic evaluation ({_describe(settings)}): test {task.metric} {static:.4f} static -> "
        f"{dynamic:.4f} dynamic ({change:+.1f}%), {seconds:.0f} CPU s")
    record.update({"settings": settings.as_dict(), "cpu_seconds": seconds, "change_percent": change})
    metrics = {f"test/{task.metric}_static": static, f"test/{task.metric}_dynamic": dynamic}
    metrics.update(task.extra_metrics(settings, statistics))
    return {"metrics": metrics, "dynamic": record, "settings": settings}
