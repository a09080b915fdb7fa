"""Sampling speech frames: bias, priming with a real utterance, per-row stopping, WAV via Griffin-Lim.

One loop step (`SpeechSynthesisNet.step`): the previous frame and the speaker embedding in, a
frame drawn from the diagonal-Gaussian mixture out (bias b: pi = softmax(pi_hat (1 + b)),
sigma = exp(sigma_hat - b), as handwriting's Sec. 5.4). A row stops at the first step where the
window has passed its last symbol (phi(t, U+1) > phi(t, u) for all u); guard: at most
``min(max_sample_frames, max_frames_per_symbol * U)`` frames, and such a row is marked unfinished.

Priming (continue a real speaker's voice, as handwriting priming continues a writer's style):
the symbols are the prime's followed by the new ones; the network reads the prime's real frames
(teacher forcing) and then generates from where the prime ends; only the generated frames are kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from seqgen.errors import SeqgenError
from seqgen.families.speech.features import Features, write_wav
from seqgen.nn.modes import eval_mode
from seqgen.sampling.autoregressive import OnStep, StepOutput, sample_autoregressive


@dataclass
class SpeechSample:
    frames: np.ndarray  # (T, D) normalised
    phi: np.ndarray  # (T, U) window weights over all symbols (prime's included)
    symbols: list[str]
    speaker: str
    finished: bool  # the window passed the last symbol (False: stopped by the step limit)
    prime_symbols: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def _check_bias(bias: float) -> float:
    b = float(bias)
    if not math.isfinite(b) or b < 0:
        raise SeqgenError(f"bias={bias}: must be a finite number >= 0 (0 = plain sampling; 1-3 = cleaner)")
    return b


@torch.no_grad()
def synthesise(
    model: Any,
    symbol_lists: Sequence[list[str]],
    speakers: Sequence[str],
    bias: float = 0.0,
    prime: dict[str, Any] | None = None,
    seed: int = 0,
    max_frames: int | None = None,
    on_step: OnStep | None = None,
) -> list[SpeechSample]:
    """One sample per row (symbols, speaker name). `prime`: {"frames" (normalised), "symbols", "speaker"}.

    The loop is `seqgen.sampling.autoregressive.sample_autoregressive` (per-row stopping, step
    limits, `on_step` streaming of the sampled normalised frames)."""
    bias = _check_bias(bias)
    net, table = model.net, model.table
    if len(symbol_lists) != len(speakers) or not symbol_lists:
        raise SeqgenError("give one speaker per sentence (and at least one sentence)")
    device = next(net.parameters()).device
    prime_syms = list(prime["symbols"]) if prime else []
    rows = [prime_syms + list(s) for s in symbol_lists]
    ids = [table.encode(r, "sampling") for r in rows]
    batch, u_max = len(rows), max(len(r) for r in ids)
    symbols = torch.zeros(batch, u_max, dtype=torch.long, device=device)
    for b, r in enumerate(ids):
        symbols[b, : len(r)] = torch.as_tensor(r)
    mask = torch.arange(u_max, device=device)[None] < torch.tensor([len(r) for r in ids], device=device)[:, None]
    spk = torch.tensor([table.speaker_id(s) for s in speakers], device=device)
    generator = torch.Generator(device=device).manual_seed(int(seed))
    hp = model.hparams
    cap = int(max_frames or hp.max_sample_frames)
    limits = torch.tensor([min(cap, max(1, int(math.ceil(hp.max_frames_per_symbol * len(s))))) for s in symbol_lists], device=device)
    with eval_mode(model):
        onehot = net.one_hot(symbols)
        state = net.initial_state(batch, device)
        spk_emb = net.speaker(spk)
        weights = net.step_weights()
        first = torch.zeros(batch, net.frame_dim, device=device)
        if prime:  # one fused pass reads the prime (inputs zeros, f_0 .. f_{P-2}); `step` then feeds f_{P-1}
            frames = torch.as_tensor(np.asarray(prime["frames"], np.float32), device=device).unsqueeze(0).expand(batch, -1, -1)
            _, state, _ = net(net.inputs(frames, spk), symbols, mask, state)
            first = frames[:, -1]

        def step(x: torch.Tensor) -> StepOutput:
            nonlocal state
            params, phi, done, state = net.step(torch.cat((x, spk_emb), 1), state, onehot, mask, bias, weights)
            return StepOutput(params, done, None, {"phi": phi.float()})

        result = sample_autoregressive(
            step, lambda params: net.head.sample(params, generator), start=step(first), max_steps=limits, on_step=on_step
        )
    samples = []
    for b in range(batch):
        n = int(result.counts[b])
        phi = result.records["phi"][b, :n, : len(ids[b])] if n else torch.zeros(0, len(ids[b]))
        samples.append(SpeechSample(result.points[b, :n].cpu().numpy(), phi.cpu().numpy(), rows[b], speakers[b],
                                    bool(result.ended[b]), len(prime_syms)))
    return samples


def sample_wav(model: Any, sample: SpeechSample, path: Path, features: Features | None = None) -> Path:
    """Griffin-Lim of the (denormalised) frames -> a 16-bit WAV at the features' sample rate."""
    features = features or Features(model.spec)
    audio = features.to_audio(model.denormalise(sample.frames))
    return write_wav(path, audio, model.spec.sample_rate)


# ------------------------------------------------------------------------------ seqgen-sample


def text_to_symbols(model: Any, text: str, speaker: str | None = None) -> list[str]:
    """A sentence -> the model's symbols: characters directly; phonemes through espeak-ng (the
    phoneme events of the embedded corpus's synthesiser, so the same inventory as training)."""
    if not text.strip():
        raise SeqgenError("text is empty: give a sentence, e.g. text='hello world'")
    if model.table.units == "chars":
        from seqgen.families.speech.prepare import text_symbols

        return text_symbols(text)
    settings = model.hparams.data_info.get("corpus_settings") or {}
    if settings.get("kind") != "espeak":
        raise SeqgenError("this model reads phonemes of a corpus without a phonemiser (e.g. TIMIT): pass phonemes='h# hh ah l ow' instead of text")
    from seqgen.families.speech.espeak import Espeak, events_to_segments

    voices = {s["name"]: s["voice"] for s in settings.get("speakers", [])}
    pcm, events = Espeak.get().synth(text, voices.get(speaker or "", "en-us"), 175, 50, 50)
    return [p for _, _, p in events_to_segments(events, len(pcm))]


def resolve_prime(model: Any, index: Any) -> dict[str, Any] | None:
    if index is None or str(index).lower() in ("none", "null", ""):
        return None
    try:
        if int(index) < 0:  # not Python's count from the end
            raise IndexError(index)
        prime = model.primes[int(index)]
    except (ValueError, IndexError) as err:
        raise SeqgenError(f"style={index}: give the index of a real utterance, 0..{len(model.primes) - 1}") from err
    units = model.table.units
    from seqgen.families.speech.prepare import text_symbols

    symbols = prime["phones"] if units == "phonemes" else text_symbols(prime["text"]) + [" "]
    return {"frames": prime["frames"], "symbols": symbols, "speaker": prime["speaker"], "text": prime["text"]}


def sample_command(model: Any, cfg: Any, out_dir: Path) -> dict[str, Any]:
    """`seqgen-sample ckpt=<speech run> text="hello world|second sentence" speaker=s003 style=0 bias=1.0`."""
    from seqgen.families.speech.figures import alignment_png, spectrogram_png

    out_dir = Path(out_dir)
    prime = resolve_prime(model, cfg.get("style"))
    if cfg.get("speaker") is not None and str(cfg.speaker) not in model.table.speakers:
        known = ", ".join(model.table.speakers[:20]) or "none"
        raise SeqgenError(f"speaker={cfg.speaker} is not a training speaker of this model; its speakers are: {known}")
    speaker = str(cfg.get("speaker") or (prime["speaker"] if prime else (model.table.speakers or ["unknown"])[0]))
    if cfg.get("phonemes"):
        sentences = [p.split() for p in str(cfg.phonemes).split("|")]
        labels = [" ".join(s) for s in sentences]
    else:
        labels = [t.strip() for t in str(cfg.get("text") or "hello world").split("|")]
        sentences = [text_to_symbols(model, t, speaker) for t in labels]
    n = max(int(cfg.get("num_samples") or 1), 1)
    rows = [s for s in sentences for _ in range(n)]
    samples = synthesise(model, rows, [speaker] * len(rows), float(cfg.get("bias") or 0.0), prime, int(cfg.get("seed") or 0), cfg.get("max_frames"))
    features = Features(model.spec)
    files: dict[str, Any] = {}
    for i, sample in enumerate(samples):
        stem = f"sample-{i:02d}"
        files[f"{stem}.wav"] = str(sample_wav(model, sample, out_dir / f"{stem}.wav", features))
        files[f"{stem}.png"] = str(spectrogram_png(model, [("generated: " + labels[i // n], sample.frames)], out_dir / f"{stem}.png"))
        files[f"{stem}-alignment.png"] = str(alignment_png(sample, out_dir / f"{stem}-alignment.png"))
        if not sample.finished:
            print(f"[seqgen] {stem}: stopped by the frame limit before the window passed the last symbol")
    for path in files.values():
        print(f"wrote {path}")
    return files


def compare_with_real(model: Any, utterance: dict[str, Any], out_dir: Path, stem: str, bias: float, seed: int = 0) -> dict[str, Path]:
    """Generate the utterance's symbols in its speaker's voice; write spectrograms, alignment, both WAVs
    (the real one is its features through Griffin-Lim, so the two differ only in the model, not in
    the vocoder)."""
    from seqgen.families.speech.figures import alignment_png, spectrogram_png

    table = model.table
    symbols = [table.symbols[int(i) - 1] for i in utterance["symbols"]]  # ids 1..V (0 = padding)
    sample = synthesise(model, [symbols], [utterance["speaker_name"]], bias=bias, seed=seed)[0]
    real = np.asarray(utterance["frames"])
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
    from seqgen.families.speech.figures import alignment_png, spectrogram_png

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
