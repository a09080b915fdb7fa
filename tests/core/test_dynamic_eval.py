"""Dynamic evaluation (seqgen/eval/dynamic.py): the update rule, the statistics, scoring and tuning."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
from torch import nn

from seqgen.errors import SeqgenError
from seqgen.eval.dynamic import DynamicAdapter, DynamicSettings, evaluate, gradient_statistics, run_dynamic, tune


class Counter(nn.Module):
    """A one-weight 'sequence model': predicts every target with N(w, 1); the state counts segments."""

    def __init__(self, w: float = 0.0) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor([w], dtype=torch.float64))

    def segment_loss(self, segment: torch.Tensor, state: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        nats = 0.5 * (segment - self.w).square().sum() + 0.5 * math.log(2 * math.pi) * len(segment)
        return nats, torch.tensor(len(segment)), (state if state is not None else torch.zeros(())) + 1


def documents(*values: list[float], length: int = 2) -> list[list[torch.Tensor]]:
    """Documents of segments of `length` values each."""
    out = []
    for doc in values:
        data = torch.tensor(doc, dtype=torch.float64)
        out.append([data[i : i + length] for i in range(0, len(data), length)])
    return out


def test_sgd_update_is_the_formula_and_decays_toward_the_trained_weights() -> None:
    model = Counter(0.0)
    adapter = DynamicAdapter(model, DynamicSettings("sgd", lr=0.5, decay=0.25))
    nats, units, _ = model.segment_loss(torch.tensor([2.0, 2.0], dtype=torch.float64), None)
    adapter.step(nats / units)  # grad = w - 2 = -2: w = 0 + 0.5 * 2 = 1
    assert model.w.item() == pytest.approx(1.0)
    nats, units, _ = model.segment_loss(torch.tensor([1.0, 1.0], dtype=torch.float64), None)
    adapter.step(nats / units)  # grad 0: only the decay, w = 1 + 0.25 * (0 - 1)
    assert model.w.item() == pytest.approx(0.75)
    adapter.restore()
    assert model.w.item() == 0.0


def test_rms_update_scales_by_the_training_rms() -> None:
    model = Counter(0.0)
    statistics = [torch.tensor([4.0], dtype=torch.float64)]  # RMS 2
    adapter = DynamicAdapter(model, DynamicSettings("rms", lr=0.5, decay=2.0 / 4, epsilon=1e-9), statistics)
    # a single weight: r = 1, decay rate = min(0.5 * 1, 1)
    nats, units, _ = model.segment_loss(torch.tensor([3.0], dtype=torch.float64), None)
    adapter.step(nats / units)  # w = 0 - 0.5 * (-3) / 2 = 0.75
    assert model.w.item() == pytest.approx(0.75)
    nats, units, _ = model.segment_loss(torch.tensor([0.75], dtype=torch.float64), None)
    adapter.step(nats / units)  # grad 0: w = 0.75 + 0.5 * (0 - 0.75)
    assert model.w.item() == pytest.approx(0.375)
    with pytest.raises(SeqgenError, match="statistics"):
        DynamicAdapter(model, DynamicSettings("rms"), None)


def test_gradient_statistics_are_the_mean_squared_segment_gradients() -> None:
    model = Counter(1.0)
    stats = gradient_statistics(model, documents([2.0, 2.0, 5.0, 5.0]))
    # segment gradients w - mean: -1 and -4 -> mean square 8.5
    assert stats[0].item() == pytest.approx(8.5)
    assert model.w.item() == 1.0


def test_static_is_dynamic_with_lr_zero_and_adaptation_helps_and_state_resets() -> None:
    model = Counter(0.0)
    docs = documents([3.0] * 8, [3.0] * 8)
    settings = DynamicSettings("sgd", lr=0.5, decay=0.0, segment_length=2)
    static = evaluate(model, docs, settings, adapt=False)
    frozen = evaluate(model, docs, replace(settings, lr=0.0), adapt=True)
    assert frozen.nats == pytest.approx(static.nats) and static.units == 16 and static.documents == 2
    dynamic = evaluate(model, docs, settings, adapt=True)
    assert dynamic.nats < static.nats - 10 and dynamic.segments == 8
    assert model.w.item() == 0.0, "the trained weights are restored after the evaluation"


def test_diverging_settings_say_how_to_fix_them() -> None:
    model = Counter(0.0)
    with pytest.raises(SeqgenError, match="lower dynamic_eval.lr"):
        evaluate(model, documents([3.0] * 400), DynamicSettings("sgd", lr=1e6), adapt=True)


def test_settings_from_config_and_their_checks() -> None:
    base = DynamicSettings("rms", lr=1e-3, decay=0.1, segment_length=20)
    assert DynamicSettings.from_config({"lr": 0.01, "decay": None, "grid": {"lr": [1]}}, base) == replace(base, lr=0.01)
    for bad in ({"method": "adam"}, {"lr": -1.0}, {"decay": 2.0}, {"segment_length": 0}):
        with pytest.raises(SeqgenError):
            DynamicSettings.from_config(bad, base)


class CounterTask:
    """The DynamicTask protocol over Counter: validation data near 1, test data near 3."""

    metric = "nll"
    defaults = {"sgd": DynamicSettings("sgd", lr=0.1, segment_length=2)}

    def __init__(self) -> None:
        self.model = Counter(0.0)
        self.seen: list[str] = []

    def statistics(self, settings: DynamicSettings) -> None:
        return None

    def score(self, split: str, settings: DynamicSettings, statistics: object, adapt: bool) -> float:
        self.seen.append(split)
        target = 1.0 if split == "valid" else 3.0
        result = evaluate(self.model, documents([target] * 12), settings, statistics, adapt)
        return result.nats_per_unit

    def extra_metrics(self, settings: DynamicSettings, statistics: object) -> dict[str, float]:
        return {"test/extra": 1.0}


def test_tuning_uses_the_validation_split_only_and_picks_the_best() -> None:
    task = CounterTask()
    best, rows = tune(task, task.defaults["sgd"], {"lr": [0.0, 0.3, 0.9], "decay": [0.0, 0.5]}, say=lambda _: None)
    assert set(task.seen) == {"valid"} and len(rows) == 6
    assert best.lr == 0.9 and best.decay == 0.0
    assert min(r["valid/nll_dynamic"] for r in rows) == rows[4]["valid/nll_dynamic"]
    with pytest.raises(SeqgenError, match="unknown keys"):
        tune(task, task.defaults["sgd"], {"momentum": [0.9]}, say=lambda _: None)
    out = run_dynamic(task, task.defaults["sgd"], {"lr": [0.3, 0.9]}, say=lambda _: None)
    assert out["settings"].lr == 0.9 and out["metrics"]["test/extra"] == 1.0
    assert out["metrics"]["test/nll_dynamic"] < out["metrics"]["test/nll_static"]
    assert task.seen.count("test") == 2  # static and dynamic, after the choice


def test_eval_checks_the_dynamic_options_before_evaluating() -> None:
    from omegaconf import OmegaConf

    from seqgen.cli.evaluate import dynamic_plan
    from seqgen.core.family import Family

    class Scorable(Family):
        name = "scorable"

        def dynamic_task(self, model, datamodule):  # noqa: ANN001, ANN201
            return type("Task", (), {"defaults": {"rms": DynamicSettings(lr=1e-3), "sgd": DynamicSettings("sgd", lr=0.1)}})()

    assert dynamic_plan(OmegaConf.create({"dynamic": False}), Family(), None, None) is None
    with pytest.raises(SeqgenError, match="no dynamic evaluation"):
        dynamic_plan(OmegaConf.create({"dynamic": True}), Family(), None, None)
    with pytest.raises(SeqgenError, match="use false, true or tune"):
        dynamic_plan(OmegaConf.create({"dynamic": "yes"}), Scorable(), None, None)
    with pytest.raises(SeqgenError, match="method"):
        dynamic_plan(OmegaConf.create({"dynamic": True, "dynamic_eval": {"method": "adam"}}), Scorable(), None, None)
    _, settings = dynamic_plan(OmegaConf.create({"dynamic": "tune", "dynamic_eval": {"method": "sgd", "decay": 0.5}}), Scorable(), None, None)
    assert (settings.method, settings.lr, settings.decay) == ("sgd", 0.1, 0.5), "the family's default, the given value over it"
