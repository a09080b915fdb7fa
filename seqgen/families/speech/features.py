"""Audio <-> frames: torchaudio transforms one way, Griffin-Lim the other; WAV I/O with soundfile.

Feature kinds (``data.features.kind``), all on frames of `win_length` samples every `hop_length`:

    linear:  X = log(|STFT|^2 + floor)                        n_fft/2 + 1 bins
    mel:     X = log(Mel(|STFT|^2) + floor)                   n_mels bins
    mfcc:    X = DCT_ortho(10 log10(Mel(|STFT|^2)))[:n_mfcc]  torchaudio.transforms.MFCC
    world:   [log F0, voicing, mel-cepstrum (n_mcep), band aperiodicity]   world.py (pyworld)

Normalisation: per-bin mean and standard deviation over every training frame (streamed: running
sums in float64), stored in meta.json; the model sees (X - mean) / std.

Back to sound: linear -> |STFT|^2 = exp(X) -> GriffinLim; mel -> InverseMelScale (least squares
onto the linear bins, refined to non-negative power by multiplicative updates) -> GriffinLim; mfcc -> the transposed (orthonormal) DCT gives the dB mel
spectrum back (exactly if n_mfcc == n_mels, otherwise its smooth envelope) -> as mel; world ->
WORLD's own synthesis from F0, voicing, envelope and aperiodicity (no phase to guess).
Binary columns (world's voicing flag) are not normalised (mean 0, std 1): they stay 0/1.

Mel cepstra for the MCD (`mel_cepstrum`): the real cepstrum of the natural-log amplitude over the
mel axis (world: the decoded envelope through the same mel filterbank), c_m = (1/N) sum_k log|X_k| cos(pi m (k + 1/2) / N) (N mel bins), so that
log|X(w)| = c_0 + 2 sum_{m>=1} c_m cos(m w): the convention (SPTK's, without frequency warping,
which the mel filterbank already does) behind the 10 sqrt(2) / ln 10 constant of the
mel-cepstral distortion. c_1..c_D are compared (c_0, the energy, excluded by the caller).
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
import torchaudio.functional as AF
import torchaudio.transforms as T

from seqgen.errors import SeqgenError
from seqgen.families.speech.config import FeatureSpec



class Features:
    """The transforms of one `FeatureSpec` (built once, reused for every utterance)."""

    def __init__(self, spec: FeatureSpec) -> None:
        self.spec = spec
        s = spec
        self.power = T.Spectrogram(n_fft=s.n_fft, win_length=s.win_length, hop_length=s.hop_length, power=2.0)
        n_stft = s.n_fft // 2 + 1
        self.mel = T.MelScale(n_mels=s.n_mels, sample_rate=s.sample_rate, f_min=s.f_min, f_max=s.f_max, n_stft=n_stft)
        self.inverse_mel = T.InverseMelScale(n_stft=n_stft, n_mels=s.n_mels, sample_rate=s.sample_rate, f_min=s.f_min, f_max=s.f_max)
        self.griffin_lim = T.GriffinLim(n_fft=s.n_fft, n_iter=s.griffin_lim_iters, win_length=s.win_length, hop_length=s.hop_length, power=2.0)
        self.to_db = T.AmplitudeToDB(stype="power", top_db=None)
        # (n_mels, n_mfcc), orthonormal: mfcc = db @ dct, db ~ mfcc @ dct.T
        self.dct = AF.create_dct(s.n_mfcc, s.n_mels, norm="ortho")
        self.world = None
        if s.kind == "world":
            from seqgen.families.speech.world import World

            self.world = World(s.sample_rate, s.hop_length, s.n_mcep, s.f0_floor, s.f0_ceil, s.f0_method)
            # the decoded envelope has fft_size / 2 + 1 bins: its own filterbank onto the same mel bands
            self.mel = T.MelScale(n_mels=s.n_mels, sample_rate=s.sample_rate, f_min=s.f_min, f_max=s.f_max,
                                  n_stft=self.world.fft_size // 2 + 1)

    # --- audio -> frames -------------------------------------------------------------------------
    def __call__(self, audio: np.ndarray | torch.Tensor) -> np.ndarray:
        """float audio (N,) at spec.sample_rate -> (T, dim) float32 frames."""
        if self.world is not None:
            return self.world.analyse(np.asarray(audio))
        wave = torch.as_tensor(np.asarray(audio, dtype=np.float32))
        with torch.no_grad():
            power = self.power(wave)  # (F, T)
            if self.spec.kind == "linear":
                out = torch.log(power + self.spec.floor)
            else:
                mel = self.mel(power)
                if self.spec.kind == "mel":
                    out = torch.log(mel + self.spec.floor)
                else:
                    out = (self.to_db(mel + self.spec.floor).T @ self.dct).T
        return out.T.contiguous().numpy().astype(np.float32)

    def n_frames(self, n_samples: int) -> int:
        return n_samples // self.spec.hop_length + 1  # torch.stft with center=True

    # --- frames -> power spectra / audio ---------------------------------------------------------
    def mel_power(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """(T, dim) features -> (n_mels, T) mel power (linear features: projected with the filterbank)."""
        if self.world is not None:
            envelope = torch.as_tensor(self.world.envelope(np.asarray(frames)), dtype=torch.float32)
            return self.mel(envelope.T)
        x = torch.as_tensor(np.asarray(frames, dtype=np.float32)).T
        if self.spec.kind == "linear":
            return self.mel(torch.exp(x).clamp_min(0))
        if self.spec.kind == "mel":
            return torch.exp(x)
        db = (x.T @ self.dct.T).T  # (n_mels, T)
        return torch.pow(10.0, db / 10.0)

    def linear_power(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """(T, dim) features -> (n_fft/2 + 1, T) power spectrogram (InverseMelScale for mel/mfcc)."""
        if self.spec.kind == "linear":
            return torch.exp(torch.as_tensor(np.asarray(frames, dtype=np.float32)).T)
        with torch.no_grad():
            mel = self.mel_power(frames)
            fb = self.mel.fb  # (n_stft, n_mels): mel = fb^T S
            # InverseMelScale solves the underdetermined least squares; clamping its negative bins
            # to 0 loses much of the energy, so refine non-negatively (multiplicative updates for
            # min ||mel - fb^T S||^2, S >= 0), starting from it plus each mel band spread over its bins.
            spread = (fb @ mel) / fb.sum(1, keepdim=True).clamp_min(1e-8)
            power = self.inverse_mel(mel).clamp_min(0) + 1e-3 * spread + 1e-10
            numerator = fb @ mel
            for _ in range(self.spec.inverse_mel_iters):
                power = power * numerator / (fb @ (fb.T @ power)).clamp_min(1e-12)
            return power

    def to_audio(self, frames: np.ndarray | torch.Tensor) -> np.ndarray:
        """The vocoder (WORLD for world features, else Griffin-Lim): (T, dim) features -> float32
        audio in [-1, 1] at spec.sample_rate."""
        if self.world is not None:
            wave = torch.as_tensor(self.world.synthesise(np.asarray(frames)), dtype=torch.float32)
        else:
            with torch.no_grad():
                wave = self.griffin_lim(self.linear_power(frames))
        peak = float(wave.abs().max()) if wave.numel() else 0.0
        if peak > 0.99:  # never clip the WAV: scale down only when needed
            wave = wave * (0.99 / peak)
        return wave.numpy().astype(np.float32)

    def mel_cepstrum(self, frames: np.ndarray | torch.Tensor, n_ceps: int = 13) -> np.ndarray:
        """(T, dim) features -> (T, n_ceps + 1) mel cepstra c_0..c_D (see the module docstring)."""
        log_amp = 0.5 * torch.log(self.mel_power(frames) + self.spec.floor)  # natural log amplitude
        n = self.spec.n_mels
        dct = AF.create_dct(min(n_ceps + 1, n), n, norm="ortho")
        # the real cepstrum's scale: c_m = (1/N) sum_k log|X_k| cos(pi m (k + 1/2) / N), i.e. the
        # orthonormal DCT / sqrt(2N) (m >= 1), so that log|X(w)| = c_0 + 2 sum_m c_m cos(m w)
        return (log_amp.T @ dct).numpy().astype(np.float64) / math.sqrt(2.0 * n)


class NormAccumulator:
    """Streaming per-bin mean / std (float64 sums; flat memory for any corpus size)."""

    def __init__(self, dim: int) -> None:
        self.n = 0
        self.total = np.zeros(dim, np.float64)
        self.squares = np.zeros(dim, np.float64)

    def add(self, frames: np.ndarray) -> None:
        x = frames.astype(np.float64)
        self.n += len(x)
        self.total += x.sum(0)
        self.squares += np.square(x).sum(0)

    def result(self, binary: list[int] | tuple[int, ...] = ()) -> dict[str, list[float]]:
        """Mean and std per column; `binary` columns get mean 0, std 1 (they stay 0/1)."""
        if self.n == 0:
            raise SeqgenError("no training frames: cannot compute normalisation statistics")
        mean = self.total / self.n
        std = np.sqrt(np.maximum(self.squares / self.n - mean**2, 1e-8))
        mean[list(binary)], std[list(binary)] = 0.0, 1.0
        return {"mean": mean.tolist(), "std": std.tolist(), "frames": int(self.n)}


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """torch on one intra-op thread inside the block: features that do not depend on the machine.

    The mel projection is a matrix product, and MKL's sgemm splits its sums differently with 4 or
    more threads: the same audio gave other float32 frames on 4 threads than on 1 or 2 (torch's
    default is one thread per core). One utterance's features are a few small products, so one
    thread costs prepare nothing measurable.
    """
    before = torch.get_num_threads()
    if before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def resample(audio: np.ndarray, rate: int, target: int) -> np.ndarray:
    if rate == target:
        return audio
    return AF.resample(torch.as_tensor(audio, dtype=torch.float32), int(rate), int(target)).numpy()


# ------------------------------------------------------------------------------------------- WAV


def write_wav(path: str | Path, audio: np.ndarray, rate: int) -> Path:
    """16-bit PCM WAV, atomically (seqgen.io.atomic_path)."""
    import soundfile as sf

    from seqgen.io import atomic_path

    with atomic_path(path) as tmp:
        sf.write(str(tmp), np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0), int(rate), subtype="PCM_16", format="WAV")
    return Path(path)


def read_wav(path: str | Path, expected_rate: int | None = None) -> tuple[np.ndarray, int]:
    """A WAV (or any libsndfile format) -> (mono float32 audio, rate); clear errors for bad files."""
    import soundfile as sf

    try:
        audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as err:
        raise SeqgenError(f"{path} is not a readable audio file ({err})") from err
    if expected_rate is not None and rate != expected_rate:
        raise SeqgenError(f"{path}: sample rate {rate} Hz, the config expects {expected_rate} Hz")
    return audio.mean(axis=1), int(rate)


def mcd_constant() -> float:
    """10 sqrt(2) / ln 10: natural-log mel cepstra -> dB."""
    return 10.0 * math.sqrt(2.0) / math.log(10.0)
