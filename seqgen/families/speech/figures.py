"""Figures of the speech family: spectrograms (generated beside real), window alignment, WAVs.

`run_figures` (end of training, and `seqgen-eval` through the report) takes the first validation
utterance, generates the same symbols in the same speaker's voice, and writes to the run folder:
``speech-real.png``/``speech-generated.png`` side by side in ``speech-spectrograms.png``, the
alignment plot, and both WAVs (the real one is its features through Griffin-Lim, so the two
differ only in the model, not in the vocoder). Logged to W&B (images and audio) when a W&B run
is active.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from seqgen.render.plots import alignment_plot, save_figure_atomic

log = logging.getLogger(__name__)


def spectrogram_image(model: Any, frames: np.ndarray) -> np.ndarray:
    """(rows, T) image of normalised frames: the features themselves, or for WORLD frames the
    log of the decoded spectral envelope on the mel bands (F0 and aperiodicity are not shown)."""
    raw = model.denormalise(frames)
    if model.spec.kind != "world":
        return raw.T
    from seqgen.families.speech.features import Features

    return np.log(Features(model.spec).mel_power(raw).numpy() + model.spec.floor)


YLABELS = {"mel": "mel bin", "linear": "frequency bin", "mfcc": "cepstral coef.", "world": "mel band (WORLD envelope)"}


def spectrogram_png(model: Any, panels: Sequence[tuple[str, np.ndarray]], path: Path) -> Path:
    """One panel per (title, normalised frames (T, D)), frequency up, shared colour scale (dB-like log units)."""
    images = [spectrogram_image(model, frames) for _, frames in panels]
    lo = min(float(np.percentile(im, 2)) for im in images) if images else 0.0
    hi = max(float(im.max()) for im in images) if images else 1.0
    width = max(6.0, min(0.02 * max(im.shape[1] for im in images) + 3.0, 24.0))
    fig = Figure(figsize=(width, 2.4 * len(panels) + 0.4), layout="constrained")
    kind = model.spec.kind
    for index, ((title, _), image) in enumerate(zip(panels, images)):
        ax = fig.add_subplot(len(panels), 1, index + 1)
        im = ax.imshow(image, aspect="auto", origin="lower", interpolation="nearest", cmap="magma", vmin=lo, vmax=hi)
        ax.set_title(title, fontsize=9)
        ax.set_ylabel(YLABELS[kind])
        fig.colorbar(im, ax=ax, fraction=0.02, pad=0.01)
    ax.set_xlabel(f"frame ({1000 * model.spec.frame_seconds:.1f} ms each)")
    return save_figure_atomic(fig, path)


def alignment_png(sample: Any, path: Path) -> Path:
    labels = [s if s != " " else "\u2423" for s in sample.symbols]
    title = f"Window weights phi(t, u), speaker {sample.speaker}" + ("" if sample.finished else " (stopped by the frame limit)")
    return alignment_plot(sample.phi, labels, path, title=title)  # a list of labels: one per row


def log_to_wandb(files: Mapping[str, Path], step: int | None = None) -> None:
    """Images and audio to the active W&B run, if any (never fails the caller)."""
    try:
        import wandb

        if wandb.run is None:
            return
        payload = {}
        for key, path in files.items():
            path = Path(path)
            if path.suffix == ".png":
                payload[f"speech/{key}"] = wandb.Image(str(path))
            elif path.suffix == ".wav":
                payload[f"speech/{key}"] = wandb.Audio(str(path))
        if payload:
            wandb.log(payload, step=step)
    except Exception as err:  # logging must never stop a run
        log.warning("could not log speech figures to W&B: %s", err)


def compare_with_real(model: Any, utterance: dict[str, Any], out_dir: Path, stem: str, bias: float, seed: int = 0) -> dict[str, Path]:
    """Generate the utterance's symbols in its speaker's voice; write spectrograms, alignment, both WAVs."""
    from seqgen.families.speech.features import Features
    from seqgen.families.speech.generate import SpeechSample, sample_wav, synthesise

    table = model.table
    symbols = [table.symbols[int(i) - 1] for i in utterance["symbols"]]  # ids 1..V (0 = padding)
    sample = synthesise(model, [symbols], [utterance["speaker_name"]], bias=bias, seed=seed)[0]
    real = utterance["frames"].numpy() if hasattr(utterance["frames"], "numpy") else np.asarray(utterance["frames"])
    features = Features(model.spec)
    out_dir = Path(out_dir)
    real_sample = SpeechSample(real, np.zeros((len(real), 1)), symbols, utterance["speaker_name"], True)
    files = {
        f"{stem}-spectrograms": spectrogram_png(
            model, [(f"real: {utterance['text']!r} ({utterance['speaker_name']})", real), ("generated", sample.frames)],
            out_dir / f"{stem}-spectrograms.png"),
        f"{stem}-alignment": alignment_png(sample, out_dir / f"{stem}-alignment.png"),
        f"{stem}-generated": sample_wav(model, sample, out_dir / f"{stem}-generated.wav", features),
        f"{stem}-real": sample_wav(model, real_sample, out_dir / f"{stem}-real.wav", features),
    }
    return files


def preview(model: Any, out_dir: Path, tag: str) -> dict[str, Any]:
    """During training: one sentence of a real primes' speaker, spectrogram + alignment + WAV."""
    from seqgen.families.speech.generate import sample_wav, synthesise

    if not model.primes:
        return {}
    prime = model.primes[0]
    symbols = prime["phones"] if model.table.units == "phonemes" else list(" ".join(prime["text"].lower().split()))
    try:
        model.table.encode(symbols)
    except Exception:
        return {}
    sample = synthesise(model, [symbols], [prime["speaker"]], bias=float(model.hparams.preview_bias), seed=model.global_step,
                        max_frames=min(int(model.hparams.max_sample_frames), 4 * len(prime["frames"])))[0]
    out_dir = Path(out_dir)
    return {
        "samples/spectrogram": spectrogram_png(model, [("real", np.asarray(prime["frames"], np.float32)), ("generated", sample.frames)], out_dir / f"{tag}.png"),
        "samples/alignment": alignment_png(sample, out_dir / f"{tag}-alignment.png"),
        "samples/audio": sample_wav(model, sample, out_dir / f"{tag}.wav"),
    }
