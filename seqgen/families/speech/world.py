"""WORLD vocoder features (Morise et al. 2016, through the pip package `pyworld-prebuilt`).

One frame every `hop_length` samples (WORLD's frame period), laid out as

    [ lf0, vuv, c_0 .. c_{M-1}, a_1 .. a_B ]

* F0: DIO + StoneMask (``f0_method: dio``, fast) or Harvest (``harvest``, slower, fewer voicing
  errors), between `f0_floor` and `f0_ceil` Hz.
* vuv = 1 where F0 > 0 (voiced), else 0: the model predicts it with a Bernoulli of its own.
* lf0 = log F0 on voiced frames, linearly interpolated through unvoiced ones and held at the
  ends (continuous F0, Yu and Young 2011): the Gaussian mixture always has a smooth target, and
  vuv alone decides whether a frame is voiced.
* c = WORLD's CodeSpectralEnvelope of the CheapTrick power envelope P(w): log P on a mel axis,
  then a DCT, i.e. a mel-cepstrum of M = `n_mcep` coefficients.
* a = CodeAperiodicity of D4C's aperiodicity: B band aperiodicities in dB (B = 1 at 16 kHz,
  one band per 3 kHz above 3 kHz).

Synthesis: f0 = exp(lf0) where vuv > 0.5 else 0 (unvoiced), the decoded envelope and
aperiodicity, WORLD's Synthesis. WORLD keeps the excitation (pitch, voicing, noise) apart from
the envelope, so a resynthesis keeps the speaker's voice; Griffin-Lim must guess the phase of a
magnitude spectrogram instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from seqgen.errors import SeqgenError

INSTALL_HINT = "the WORLD vocoder needs pyworld: `pip install pyworld-prebuilt` (a seqgen dependency; prebuilt wheels, no compiler)"
F0_METHODS = ("dio", "harvest")
LF0, VUV, MCEP = 0, 1, 2  # column of log F0, of the voicing flag, of the first mel-cepstral coefficient


def pyworld() -> Any:
    try:
        import pyworld as pw
    except ImportError as err:
        raise SeqgenError(INSTALL_HINT) from err
    return pw


def n_band_aperiodicities(sample_rate: int) -> int:
    return int(pyworld().get_num_aperiodicities(int(sample_rate)))


def frame_dim(n_mcep: int, sample_rate: int) -> int:
    return MCEP + int(n_mcep) + n_band_aperiodicities(sample_rate)


def continuous_log_f0(f0: np.ndarray) -> np.ndarray:
    """log F0 on voiced frames, linear interpolation through unvoiced ones, held at both ends."""
    voiced = f0 > 0
    if not voiced.any():
        return np.full(len(f0), np.log(100.0))  # no pitch anywhere: a neutral constant (vuv says unvoiced)
    index = np.arange(len(f0))
    return np.interp(index, index[voiced], np.log(f0[voiced]))


class World:
    """Analysis and synthesis of one feature configuration (sample rate, frame period, sizes)."""

    def __init__(self, sample_rate: int, hop_length: int, n_mcep: int, f0_floor: float, f0_ceil: float, f0_method: str) -> None:
        if f0_method not in F0_METHODS:
            raise SeqgenError(f"data.features.f0_method={f0_method!r}: use one of {', '.join(F0_METHODS)}")
        self.pw = pyworld()
        self.rate, self.hop = int(sample_rate), int(hop_length)
        self.period_ms = 1000.0 * hop_length / sample_rate
        self.n_mcep = int(n_mcep)
        self.f0_floor, self.f0_ceil, self.f0_method = float(f0_floor), float(f0_ceil), f0_method
        self.fft_size = int(self.pw.get_cheaptrick_fft_size(self.rate, self.f0_floor))

    def analyse(self, audio: np.ndarray) -> np.ndarray:
        """float audio (N,) -> (N // hop + 1, 2 + M + B) float32 frames (layout: module docstring)."""
        pw = self.pw
        x = np.ascontiguousarray(audio, dtype=np.float64)
        if self.f0_method == "harvest":
            f0, times = pw.harvest(x, self.rate, f0_floor=self.f0_floor, f0_ceil=self.f0_ceil, frame_period=self.period_ms)
        else:
            f0, times = pw.dio(x, self.rate, f0_floor=self.f0_floor, f0_ceil=self.f0_ceil, frame_period=self.period_ms)
            f0 = pw.stonemask(x, f0, times, self.rate)
        envelope = pw.cheaptrick(x, f0, times, self.rate, f0_floor=self.f0_floor, fft_size=self.fft_size)
        aperiodicity = pw.d4c(x, f0, times, self.rate, fft_size=self.fft_size)
        mcep = pw.code_spectral_envelope(envelope, self.rate, self.n_mcep)
        bap = pw.code_aperiodicity(aperiodicity, self.rate)
        vuv = (f0 > 0).astype(np.float64)
        return np.column_stack([continuous_log_f0(f0), vuv, mcep, bap]).astype(np.float32)

    def envelope(self, frames: np.ndarray) -> np.ndarray:
        """(T, dim) frames -> (T, fft_size / 2 + 1) power envelope (the decoded mel-cepstrum)."""
        mcep = np.ascontiguousarray(frames[:, MCEP : MCEP + self.n_mcep], dtype=np.float64)
        return self.pw.decode_spectral_envelope(mcep, self.rate, self.fft_size)

    def synthesise(self, frames: np.ndarray) -> np.ndarray:
        """(T, dim) frames -> float64 audio of hop (T - 1) samples (as Griffin-Lim's: analysing it
        again gives T frames)."""
        frames = np.asarray(frames, dtype=np.float64)
        if len(frames) == 0:
            return np.zeros(0)
        f0 = np.where(frames[:, VUV] > 0.5, np.exp(frames[:, LF0]), 0.0)
        f0 = np.ascontiguousarray(np.clip(f0, 0.0, self.rate / 2.0))
        bap = np.ascontiguousarray(np.minimum(frames[:, MCEP + self.n_mcep :], 0.0))  # aperiodicity <= 1 (0 dB)
        aperiodicity = self.pw.decode_aperiodicity(bap, self.rate, self.fft_size)
        audio = self.pw.synthesize(f0, self.envelope(frames), aperiodicity, self.rate, self.period_ms)
        return audio[: self.hop * (len(frames) - 1)]
