"""Speech network: mixture NLL vs a direct computation, forward == step, window forms, MCD/DTW by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from seqgen.nn.mdn import DiagonalGaussianMixture
from seqgen.families.speech.features import mcd_constant
from seqgen.families.speech.config import SpeechSynthesisConfig
from seqgen.families.speech.nets import SpeechSynthesisNet
from seqgen.families.speech.report import dtw_path, mcd_dtw, monotonicity
from seqgen.nn.window import GaussianWindow, SoftplusGaussianWindow, make_window


def test_diagonal_mixture_nll_matches_direct_computation() -> None:
    torch.manual_seed(0)
    head = DiagonalGaussianMixture(6, dim=3, n_components=4)
    h, x = torch.randn(2, 5, 6), torch.randn(2, 5, 3)
    params = head(h)
    ours = head.nll(params, x, reduction="none")
    pi = torch.exp(params.log_pi)
    sigma = torch.exp(params.log_sigma)
    direct = torch.zeros(2, 5)
    for b in range(2):
        for t in range(5):
            p = sum(
                pi[b, t, j] * torch.exp(torch.distributions.Normal(params.mu[b, t, j], sigma[b, t, j]).log_prob(x[b, t]).sum())
                for j in range(4)
            )
            direct[b, t] = -torch.log(p)
    assert torch.allclose(ours, direct, atol=1e-4)
    mask = torch.tensor([[True] * 5, [True, True, False, False, False]])
    assert torch.isclose(head.nll(params, x, mask), direct[mask].mean(), atol=1e-4)
    # bias sharpens: pi = softmax(pi_hat (1 + b)), sigma = exp(sigma_hat - b)
    biased = head(h, bias=2.0)
    assert torch.allclose(biased.log_sigma, params.log_sigma - 2.0)
    assert head.sample(biased, torch.Generator().manual_seed(0)).shape == (2, 5, 3)


@pytest.mark.parametrize("window", ["exp", "softplus"])
def test_forward_equals_stepwise(window: str) -> None:
    torch.manual_seed(0)
    config = SpeechSynthesisConfig(hidden_size=8, num_layers=3, window_components=2, mixture_components=2, speaker_dim=4, window=window)
    net = SpeechSynthesisNet(frame_dim=5, vocab_size=7, n_speakers=3, config=config).eval()
    frames, speakers = torch.randn(2, 6, 5), torch.tensor([1, 2])
    symbols = torch.tensor([[1, 2, 3, 4], [5, 6, 0, 0]])
    mask = symbols > 0
    x = net.inputs(frames, speakers)
    with torch.no_grad():
        params, _, phi = net(x, symbols, mask, return_phi=True)
    state, onehot, weights = net.initial_state(2), net.one_hot(symbols), net.step_weights()
    for t in range(6):
        p_t, phi_t, _, state = net.step(x[:, t], state, onehot, mask, 0.0, weights)
        assert torch.allclose(p_t.mu, params.mu[:, t], atol=1e-5) and torch.allclose(p_t.log_pi, params.log_pi[:, t], atol=1e-5)
        assert torch.allclose(phi_t, phi[:, t], atol=1e-5)
    assert torch.all(phi[1, :, 2:] == 0)  # padded symbols get no weight


def test_window_forms() -> None:
    assert type(make_window("exp", 4)) is GaussianWindow and type(make_window("softplus", 4)) is SoftplusGaussianWindow
    with pytest.raises(ValueError, match="unknown window kind"):
        make_window("cosine", 4)
    window = SoftplusGaussianWindow(4, 3, kappa_scale=2.0, max_step=0.5)
    with torch.no_grad():
        window.linear.bias.fill_(20.0)  # a huge kappa_hat: exp would jump ~e^20 symbols
    alpha, beta, kappa = window.params(torch.zeros(1, 4), torch.zeros(1, 3))
    assert torch.allclose(kappa, torch.full((1, 3), 0.25))  # min(softplus, 0.5) / 2
    assert torch.allclose(alpha.sum(-1), torch.ones(1)) and torch.all(beta > 0)


def test_mcd_hand_computed() -> None:
    k = 10 * math.sqrt(2) / math.log(10)  # 6.14185...
    assert abs(k - 6.141851) < 1e-6 and k == mcd_constant()
    # one frame each: c0 differs (excluded), c1..c2 differ by (3, 4) -> distance 5
    assert math.isclose(mcd_dtw(np.array([[9.0, 0.0, 0.0]]), np.array([[1.0, 3.0, 4.0]])), 5 * k, rel_tol=1e-9)
    # DTW: the generated sequence repeats a frame; the path pairs both copies with the real frame
    gen = np.array([[0, 0.0], [0, 0.0], [0, 1.0]])
    real = np.array([[0, 0.0], [0, 1.0]])
    assert dtw_path(np.abs(gen[:, None, 1] - real[None, :, 1])) == [(0, 0), (1, 0), (2, 1)]
    assert mcd_dtw(gen, real) == 0.0
    # a mismatch the path cannot avoid: mean distance over the 2-step path = (0 + 2) / 2
    assert math.isclose(mcd_dtw(np.array([[0, 0.0], [0, 2.0]]), np.array([[0, 0.0], [0, 0.0]])), k * 1.0, rel_tol=1e-9)


def test_monotonicity() -> None:
    phi = np.eye(4)
    assert monotonicity(phi) == 1.0
    assert monotonicity(phi[[0, 2, 1, 3]]) == pytest.approx(2 / 3)


def test_alignment_loss_follows_the_phone_boundaries() -> None:
    from seqgen.families.speech.datamodule import collate_utterances
    from seqgen.families.speech.module import SpeechSynthesis

    info = {"family": "speech", "units": "phonemes", "vocab": {"phonemes": ["a", "b", "c"], "chars": ["x"]}, "speakers": ["s"],
            "norm": {"mean": [0.0] * 4, "std": [1.0] * 4}, "features": {"kind": "mel", "n_mels": 4}}
    item = {"frames": torch.randn(6, 4), "symbols": torch.tensor([1, 2, 3]), "speaker": 1, "speaker_name": "s",
            "bounds": np.array([0, 2, 5]), "text": "", "uid": "u"}
    batch = collate_utterances([item, {**item, "frames": torch.randn(3, 4)}])
    assert batch["frame_phone"].tolist() == [[0, 0, 1, 1, 1, 2], [0, 0, 1, -1, -1, -1]]
    model = SpeechSynthesis(info, hidden_size=8, window_components=1, mixture_components=1, align_weight=1.0)
    on_target = torch.nn.functional.one_hot(batch["frame_phone"].clamp_min(0), 3).float() + 1e-9
    off_target = on_target.roll(1, dims=-1)
    assert model.alignment_loss(on_target, batch["frame_phone"]) < 1e-3 < 5.0 < model.alignment_loss(off_target, batch["frame_phone"])
    loss, logs = model.compute_loss(batch)
    loss.backward()
    assert float(loss) == pytest.approx(float(logs["nll"] + logs["align"]), rel=1e-5)
    assert model.net.window.linear.weight.grad.abs().sum() > 0
    with pytest.raises(Exception, match="units=phonemes"):
        SpeechSynthesis({**info, "units": "chars"}, align_weight=1.0)
