"""Mixture heads behind one interface (nn/mdn.py) and the generic autoregressive loop (sampling/)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import distributions as D

from seqgen.errors import SeqgenError
from seqgen.nn.mdn import (
    DiagonalGaussianMixture,
    MixtureDensityHead,
    MixtureHead,
    mixture_log_density,
    mixture_nll,
    params_from_numpy,
)
from seqgen.sampling.autoregressive import StepOutput, sample_autoregressive


def _reference(params, x: torch.Tensor) -> torch.Tensor:
    mix = D.Categorical(logits=params.log_pi.double())
    comp = D.Independent(D.Normal(params.mu.double(), params.log_sigma.double().exp()), 1)
    return D.MixtureSameFamily(mix, comp).log_prob(x.double())


def test_diagonal_head_density_matches_torch_distributions() -> None:
    torch.manual_seed(0)
    head = DiagonalGaussianMixture(8, dim=5, n_components=4)
    assert isinstance(head, MixtureHead) and head.event_size == 5
    params = head(torch.randn(3, 7, 8))
    assert params.log_pi.shape == (3, 7, 4) and params.mu.shape == (3, 7, 4, 5) and params.log_sigma.shape == (3, 7, 4, 5)
    x = torch.randn(3, 7, 5)
    torch.testing.assert_close(head.log_density(params, x).double(), _reference(params, x), rtol=1e-5, atol=1e-5)
    # masked points contribute exactly 0, even with NaN targets
    mask = torch.ones(3, 7, dtype=torch.bool)
    mask[:, -2:] = False
    x[:, -2:] = float("nan")
    per_point = head.nll(params, x, mask, reduction="none")
    assert torch.all(per_point[:, -2:] == 0) and torch.isfinite(per_point).all()
    np_params = head.to_numpy(params)
    assert set(np_params) == {"log_pi", "mu", "log_sigma"} and np_params["mu"].dtype == np.float32


def test_diagonal_head_bias_is_graves_eq_61_62() -> None:
    torch.manual_seed(1)
    head = DiagonalGaussianMixture(6, dim=2, n_components=3)
    h = torch.randn(4, 6)
    plain, biased = head(h), head(h, bias=1.5)
    torch.testing.assert_close(biased.log_sigma, plain.log_sigma - 1.5)  # sigma = exp(sigma_hat - b)
    pi_hat = head.linear(h)[:, :3]
    torch.testing.assert_close(biased.log_pi, torch.log_softmax(pi_hat * 2.5, -1))  # pi = softmax(pi_hat (1 + b))
    with pytest.raises(SeqgenError, match="bias"):
        head(h, bias=-1.0)


def test_diagonal_head_samples_have_the_mixture_moments() -> None:
    head = DiagonalGaussianMixture(2, dim=3, n_components=2)
    with torch.no_grad():
        head.linear.weight.zero_()
        head.linear.bias.zero_()
        head.linear.bias[2:8] = torch.tensor([-2.0, 0.0, 1.0, 2.0, 0.0, -1.0])  # mu_0, mu_1
        head.linear.bias[8:] = math.log(0.5)
    params = head(torch.zeros(20000, 2))
    draws = head.sample(params, torch.Generator().manual_seed(0))
    assert draws.shape == (20000, 3)
    torch.testing.assert_close(draws.mean(0), head.mean(params)[0], atol=0.03, rtol=0)
    expected_var = 0.25 + torch.tensor([4.0, 0.0, 1.0])  # within-component + between-component
    torch.testing.assert_close(draws.var(0), expected_var, atol=0.06, rtol=0)
    again = head.sample(params, torch.Generator().manual_seed(0))
    assert torch.equal(draws, again)


def test_bivariate_head_implements_the_interface() -> None:
    torch.manual_seed(2)
    head = MixtureDensityHead(5, n_components=3)
    assert isinstance(head, MixtureHead) and head.event_size == 3
    params = head(torch.randn(2, 4, 5))
    x = torch.cat((torch.randn(2, 4, 2), torch.randint(0, 2, (2, 4, 1)).float()), -1)
    torch.testing.assert_close(head.log_density(params, x), -mixture_nll(params, x, reduction="none"))
    assert head.sample(params, torch.Generator().manual_seed(0)).shape == (2, 4, 3)
    back = params_from_numpy(head.to_numpy(params), type(params), torch.float32)
    torch.testing.assert_close(mixture_log_density(back, x[..., :2]), mixture_log_density(params, x[..., :2]), rtol=1e-6, atol=1e-6)


def _counter_step(batch: int, finish_at: list[int] | None = None):
    """A toy step: params = the step count; `done` fires for row b at step finish_at[b]."""
    calls = {"n": 0}

    def step(x: torch.Tensor) -> StepOutput:
        calls["n"] += 1
        n = torch.full((batch,), float(calls["n"]))
        done = None if finish_at is None else n >= torch.tensor(finish_at, dtype=torch.float32)
        return StepOutput(n, done, None, {"n": n.clone()})

    return step, calls


def test_loop_prime_limits_and_per_row_finish() -> None:
    step, calls = _counter_step(3, finish_at=[4, 6, 100])
    prime = torch.zeros(2, 3, 1)  # two clamped inputs
    out = sample_autoregressive(step, lambda p: p[:, None], prime=prime, max_steps=torch.tensor([10, 10, 5]))
    assert out.counts.tolist() == [2, 4, 5]  # rows 0/1 end by the rule (before emitting), row 2 by its limit
    assert out.ended.tolist() == [True, True, False]
    assert out.points[0, :2, 0].tolist() == [2.0, 3.0]  # the first point is drawn from the prime's last output
    assert torch.equal(out.records["n"][:, :, None], out.points)


def test_loop_patience_and_on_step_stops_early() -> None:
    def step(x: torch.Tensor) -> StepOutput:
        return StepOutput(torch.ones(2), None, torch.tensor([True, False]))

    out = sample_autoregressive(step, lambda p: p[:, None], start=step(None), max_steps=50, patience=3)
    assert out.counts.tolist() == [3, 50] and out.ended.tolist() == [True, False]

    seen: list[tuple[int, list[float]]] = []

    def on_step(index: int, points: torch.Tensor) -> bool:
        seen.append((index, points[:, 0].tolist()))
        return index < 6  # a client that disconnects after the 7th step

    out = sample_autoregressive(step, lambda p: p[:, None], start=step(None), max_steps=50, patience=3, on_step=on_step)
    assert out.stopped_early and len(seen) == 7 and out.counts.tolist() == [3, 7]
    assert seen[2][1] == [1.0, 1.0] and math.isnan(seen[3][1][0])  # stopped rows stream NaN


def test_prediction_sampling_equals_a_plain_loop() -> None:
    """The generic loop draws exactly what the straightforward loop draws (same generator, same order)."""
    from seqgen.data.handwriting.strokes import NormStats
    from seqgen.families.handwriting.generate import sample_prediction
    from seqgen.families.handwriting.config import HandwritingPredictionConfig
    from seqgen.families.handwriting.nets import PredictionNet
    from seqgen.nn.mdn import sample

    torch.manual_seed(0)
    net = PredictionNet(HandwritingPredictionConfig(hidden_size=12, num_layers=2, mixture_components=3, clip_lstm_grad=None, clip_output_grad=None)).eval()
    norm = NormStats()
    got = sample_prediction(net, norm, 2, 15, bias=0.5, generator=torch.Generator().manual_seed(7))
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        params, state = net(torch.as_tensor(norm.start_row()[None], dtype=torch.float32)[None].expand(2, -1, 3), None, 0.5)
        params = params.map(lambda p: p[:, -1])
        points = []
        for _ in range(15):
            x = sample(params, gen)
            points.append(x)
            params, state = net(x[:, None], state, 0.5)
            params = params.map(lambda p: p[:, 0])
    expected = torch.stack(points, 1).numpy()
    for row in range(2):
        np.testing.assert_array_equal(got.offsets[row][1:, :2], norm.invert(expected[row])[:, :2])


def test_synthesis_streams_raw_points_and_stops_on_request() -> None:
    from seqgen.data.handwriting.strokes import NormStats
    from seqgen.families.handwriting.generate import sample_synthesis
    from seqgen.families.handwriting.config import HandwritingSynthesisConfig
    from seqgen.families.handwriting.nets import SynthesisNet

    torch.manual_seed(0)
    vocab = list(" abc")
    net = SynthesisNet(len(vocab), HandwritingSynthesisConfig(hidden_size=12, num_layers=2, window_components=2, mixture_components=3, kappa_scale=5.0, clip_lstm_grad=None, clip_output_grad=None))
    norm = NormStats(mean=np.array([1.0, -1.0]), std=np.array([2.0, 3.0]))
    full = sample_synthesis(net, norm, vocab, ["abc", "ab"], max_points=30, generator=torch.Generator().manual_seed(1))
    streamed: list[torch.Tensor] = []
    part = sample_synthesis(
        net, norm, vocab, ["abc", "ab"], max_points=30, generator=torch.Generator().manual_seed(1),
        on_step=lambda i, pts: streamed.append(pts.clone()) or i < 4,
    )
    assert len(streamed) == 5 and all(len(o) == 6 for o in part.offsets)
    for row in range(2):
        np.testing.assert_allclose(torch.stack(streamed)[:, row, :2].numpy(), full.offsets[row][1:6, :2], rtol=1e-5, atol=1e-5)


@pytest.mark.gpu
def test_heads_and_loop_on_cuda() -> None:
    """The heads and the loop keep everything on the GPU (generator, draws, records)."""
    from seqgen.data.handwriting.strokes import NormStats
    from seqgen.families.handwriting.generate import sample_synthesis
    from seqgen.families.handwriting.config import HandwritingSynthesisConfig
    from seqgen.families.handwriting.nets import SynthesisNet

    device = torch.device("cuda")
    head = DiagonalGaussianMixture(8, dim=4, n_components=3).to(device)
    params = head(torch.randn(5, 8, device=device), bias=0.5)
    draws = head.sample(params, torch.Generator(device=device).manual_seed(0))
    assert draws.device.type == "cuda" and torch.isfinite(head.log_density(params, draws)).all()
    torch.manual_seed(0)
    net = SynthesisNet(4, HandwritingSynthesisConfig(hidden_size=12, num_layers=2, window_components=2, mixture_components=3, kappa_scale=5.0, clip_lstm_grad=None, clip_output_grad=None)).to(device)
    out = sample_synthesis(net, NormStats(), list(" abc"), ["abc", "ab"], max_points=20, generator=torch.Generator(device=device).manual_seed(1))
    assert all(1 < len(o) <= 21 for o in out.offsets) and out.phis[0].shape[1] == 3
