"""Features: spectrogram -> Griffin-Lim audio -> spectrogram round trip, MFCC inversion, WAV I/O, stats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from seqgen.errors import SeqgenError
from seqgen.families.speech.features import Features, FeatureSpec, NormAccumulator, read_wav, write_wav


def _chirp(seconds: float = 0.8, rate: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.4 * np.sin(2 * np.pi * (200 + 600 * t) * t) + 0.2 * np.sin(2 * np.pi * 1500 * t)).astype(np.float32)


@pytest.mark.parametrize("kind", ["linear", "mel"])
def test_round_trip_through_griffin_lim(kind: str) -> None:
    torch.manual_seed(0)
    feats = Features(FeatureSpec(kind=kind, n_mels=40, griffin_lim_iters=60))
    audio = _chirp()
    frames = feats(audio)
    assert frames.shape == (feats.n_frames(len(audio)), feats.spec.dim)
    again = feats(feats.to_audio(frames))
    # log power spectra agree where there is energy (Griffin-Lim re-estimates the phase, and the
    # WAV level may be scaled down to avoid clipping: compare up to a constant offset)
    assert again.shape == frames.shape
    loud = frames > np.percentile(frames, 50)
    diff = again - frames
    err = np.abs(diff - np.median(diff[loud]))[loud]
    assert np.median(err) < 1.5  # log power units (1.5 ~ 6.5 dB), against a dynamic range of ~25
    assert np.corrcoef(frames[loud], again[loud])[0, 1] > 0.9


def test_mfcc_inverts_to_mel_when_complete() -> None:
    audio = _chirp(0.3)
    mel = Features(FeatureSpec(kind="mel", n_mels=24))
    mfcc = Features(FeatureSpec(kind="mfcc", n_mels=24, n_mfcc=24))
    power_from_mfcc = mfcc.mel_power(mfcc(audio)).numpy()
    power_from_mel = mel.mel_power(mel(audio)).numpy()
    assert np.allclose(np.log(power_from_mfcc + 1e-5), np.log(power_from_mel + 1e-5), atol=1e-2)
    assert mfcc.to_audio(mfcc(audio)).shape[0] > 0


def test_spec_validation() -> None:
    with pytest.raises(SeqgenError, match="data.features.kind"):
        FeatureSpec(kind="wavelet")
    with pytest.raises(SeqgenError, match="hop_length"):
        FeatureSpec(hop_length=0)
    with pytest.raises(SeqgenError, match="n_mfcc"):
        FeatureSpec(kind="mfcc", n_mfcc=80, n_mels=40)


def test_wav_io_and_errors(tmp_path: Path) -> None:
    audio = _chirp(0.25)
    path = write_wav(tmp_path / "a.wav", audio, 16000)
    back, rate = read_wav(path, 16000)
    assert rate == 16000 and len(back) == len(audio) and np.abs(back - audio).max() < 1e-3
    with pytest.raises(SeqgenError, match="22050"):
        read_wav(path, 22050)
    (tmp_path / "bad.wav").write_bytes(b"RIFF....not audio")
    with pytest.raises(SeqgenError, match="not a readable audio file"):
        read_wav(tmp_path / "bad.wav")


def test_streaming_norm_matches_numpy() -> None:
    rng = np.random.default_rng(0)
    chunks = [rng.normal(3.0, 2.0, size=(n, 4)) for n in (5, 17, 9)]
    acc = NormAccumulator(4)
    for chunk in chunks:
        acc.add(chunk)
    stats = acc.result()
    every = np.concatenate(chunks)
    assert np.allclose(stats["mean"], every.mean(0)) and np.allclose(stats["std"], every.std(0)) and stats["frames"] == 31


def test_mel_cepstrum_scale() -> None:
    """log|X(w)| = c_0 + 2 sum_m c_m cos(m w): a log amplitude a cos(2 w) has c_2 = a / 2, the rest ~0."""
    feats = Features(FeatureSpec(kind="mel", n_mels=32))
    k = np.arange(32)
    log_amp = 0.8 * np.cos(np.pi * 2 * (k + 0.5) / 32)
    ceps = feats.mel_cepstrum(np.tile(2 * log_amp, (3, 1)), n_ceps=5)  # mel features are log power = 2 log amplitude
    assert ceps.shape == (3, 6)
    assert np.allclose(ceps[:, 2], 0.4, atol=1e-3) and np.allclose(np.delete(ceps, 2, axis=1), 0.0, atol=1e-3)
