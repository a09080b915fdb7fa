"""WORLD features: F0 and voicing recovered from a known signal, continuous log F0, resynthesis
keeps the spectrum, binary columns stay unnormalised, and the voiced mixture head's density."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from seqgen.errors import SeqgenError
from seqgen.families.speech.features import Features, FeatureSpec, NormAccumulator
from seqgen.families.speech.config import SpeechSynthesisConfig
from seqgen.families.speech.nets import SpeechSynthesisNet, VoicedFrameMixture
from seqgen.families.speech.report import mcd_dtw
from seqgen.families.speech.world import LF0, MCEP, VUV, continuous_log_f0

RATE = 16000


def voiced_then_silent(f0: float = 150.0, voiced_s: float = 0.6, silent_s: float = 0.3) -> np.ndarray:
    """A vowel-like harmonic signal at `f0` (decaying harmonics), then near silence."""
    t = np.arange(int(voiced_s * RATE)) / RATE
    voiced = sum((0.5 / k) * np.sin(2 * np.pi * k * f0 * t) for k in range(1, 30) if k * f0 < RATE / 2)
    quiet = 1e-4 * np.random.default_rng(0).standard_normal(int(silent_s * RATE))
    return np.concatenate([0.3 * voiced, quiet]).astype(np.float32)


def test_analysis_recovers_f0_and_voicing() -> None:
    world = Features(FeatureSpec(kind="world", n_mcep=24))
    audio = voiced_then_silent(150.0)
    frames = world(audio)
    assert frames.shape == (world.n_frames(len(audio)), world.spec.dim) and world.spec.dim == 2 + 24 + 1
    voiced_part, silent_part = frames[5:40], frames[-15:]
    assert voiced_part[:, VUV].min() == 1.0 and silent_part[:, VUV].max() == 0.0
    assert np.allclose(np.exp(voiced_part[:, LF0]), 150.0, rtol=0.03)
    # continuous log F0: held through the unvoiced tail, never a gap
    assert np.allclose(silent_part[:, LF0], frames[40, LF0], atol=0.05)


def test_continuous_log_f0_interpolates_and_holds() -> None:
    f0 = np.array([0.0, 100.0, 0.0, 0.0, 400.0, 0.0])
    lf0 = continuous_log_f0(f0)
    assert lf0[0] == pytest.approx(math.log(100)) and lf0[-1] == pytest.approx(math.log(400))
    assert lf0[2] == pytest.approx(math.log(100) + (math.log(400) - math.log(100)) / 3)
    assert np.all(np.isfinite(continuous_log_f0(np.zeros(4))))


def test_world_resynthesis_keeps_pitch_and_spectrum() -> None:
    world = Features(FeatureSpec(kind="world"))
    mel = Features(FeatureSpec(kind="mel"))
    audio = voiced_then_silent(200.0)
    frames = world(audio)
    again = world.to_audio(frames)
    assert abs(len(again) - len(audio)) < 2 * world.spec.hop_length and np.abs(again).max() <= 0.99 + 1e-6
    reanalysed = world(again)
    voiced = frames[:, VUV] > 0.5
    assert np.mean(reanalysed[voiced, VUV] > 0.5) > 0.9
    assert np.allclose(np.exp(reanalysed[voiced, LF0][3:-3]), 200.0, rtol=0.05)
    distortion = mcd_dtw(mel.mel_cepstrum(mel(again)), mel.mel_cepstrum(mel(audio)))
    assert 0.0 < distortion < 6.0, distortion  # dB; a mismatched spectrum is well above 10
    # unvoiced frames synthesise noise, not a pitch at the held F0
    unvoiced = frames.copy()
    unvoiced[:, VUV] = 0.0
    assert np.mean(world(world.to_audio(unvoiced))[:, VUV]) < 0.5


def test_world_spec_validation_and_binary_columns() -> None:
    with pytest.raises(SeqgenError, match="f0_method"):
        FeatureSpec(kind="world", f0_method="yin")
    with pytest.raises(SeqgenError, match="f0_floor"):
        FeatureSpec(kind="world", f0_floor=500.0, f0_ceil=300.0)
    spec = FeatureSpec(kind="world", n_mcep=8)
    assert spec.voicing_index == VUV and FeatureSpec(kind="mel").voicing_index is None
    assert "griffin_lim_iters" not in spec.describe() and spec.describe()["kind"] == "world"
    acc = NormAccumulator(3)
    acc.add(np.array([[1.0, 0.0, 5.0], [3.0, 1.0, 7.0]], np.float32))
    norm = acc.result(binary=[1])
    assert norm["mean"] == [2.0, 0.0, 6.0] and norm["std"][1] == 1.0 and norm["std"][0] == pytest.approx(1.0)


def test_voiced_mixture_density_and_sampling() -> None:
    torch.manual_seed(0)
    head = VoicedFrameMixture(6, dim=4, n_components=2, voicing_index=1)
    h = torch.randn(3, 6)
    x = torch.tensor([[0.1, 1.0, -0.2, 0.3], [0.0, 0.0, 0.5, -1.0], [1.0, 1.0, 0.0, 0.0]])
    params = head(h)
    continuous = x[:, [0, 2, 3]]
    expected = head.mixture.log_density(params.continuous, continuous) + torch.where(
        x[:, 1] > 0.5, torch.nn.functional.logsigmoid(params.voicing_logit), torch.nn.functional.logsigmoid(-params.voicing_logit))
    assert torch.allclose(head.log_density(params, x), expected, atol=1e-5)
    # a large bias makes the voicing draw deterministic, and the flag lands in its own column
    with torch.no_grad():
        head.voicing.bias.fill_(3.0)
        head.voicing.weight.zero_()
    drawn = head.sample(head(h[:1].expand(200, 6).contiguous(), bias=5.0), torch.Generator().manual_seed(1))
    assert drawn.shape == (200, 4) and torch.all(drawn[:, 1] == 1.0)
    assert torch.unique(drawn[:, 0]).numel() > 100  # the continuous columns are drawn from the mixture


def test_world_network_forward_equals_step() -> None:
    torch.manual_seed(0)
    config = SpeechSynthesisConfig(hidden_size=8, num_layers=2, window_components=2, mixture_components=2, speaker_dim=3)
    net = SpeechSynthesisNet(frame_dim=MCEP + 3, vocab_size=5, n_speakers=2, config=config, voicing_index=VUV).eval()
    frames, speakers = torch.randn(1, 4, MCEP + 3), torch.tensor([1])
    frames[..., VUV] = torch.tensor([0.0, 1.0, 1.0, 0.0])
    symbols = torch.tensor([[1, 2, 3]])
    x = net.inputs(frames, speakers)
    with torch.no_grad():
        params, _, _ = net(x, symbols, symbols > 0)
    state, onehot, weights = net.initial_state(1), net.one_hot(symbols), net.step_weights()
    for t in range(4):
        p_t, _, _, state = net.step(x[:, t], state, onehot, symbols > 0, 0.0, weights)
        assert torch.allclose(p_t.voicing_logit, params.voicing_logit[:, t], atol=1e-5)
    assert torch.isfinite(net.head.nll(params, frames, torch.ones(1, 4, dtype=torch.bool)))
