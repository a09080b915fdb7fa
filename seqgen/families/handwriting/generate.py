"""Sampling handwriting from the prediction and synthesis networks (Graves 2013, Sec. 4 and 5.3-5.5).

* Batches: several lines at once (texts padded, per-row character masks); each row stops on its own.
* Biased sampling (Sec. 5.4): ``bias`` b >= 0, sigma = exp(sigma_hat - b), pi = softmax(pi_hat (1 + b));
  b = 0 is plain sampling.
* Primed sampling (Sec. 5.5): the text becomes ``prime transcription + " " + new text``; for the first
  T steps the inputs are clamped to the prime's strokes, then the network writes on. Only the new
  part is returned (and its window columns only in the alignment).
* End of sampling (Sec. 5.3): stop at the first step where phi(t, U+1) > phi(t, u) for every real
  character u (`GaussianWindow.step_with_end`), i.e. the window has moved past the last character.
  The point of that step is not emitted. Guards: `max_points` per row, and `end_patience` steps
  after the window's weighted mean location has passed U + 1 (for a window whose components split
  and never satisfy the rule).
* Styles for priming (`resolve_style`): an integer picks one of the thirteen real IAM-OnDB styles
  (../shared/real-samples/iam-ondb/styles) when that folder exists, else one of the training
  writers kept in meta.json; ``writer:N`` always picks training writer N; a path loads a user file
  (IAM-OnDB XML, SVG, JSON, .npy) with `load_prime`. Foreign lines (real styles, user files) are
  in other units: the real styles are divided by their own median step length (not mean/std
  normalised), user files are in whatever units they were drawn in. `NormStats.adapt` rescales
  any such line so that its median pen-down step equals the training data's median step, then
  applies the training mean/std: the prime then has the training data's scale whatever its source.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch

from seqgen.data.handwriting.strokes import NormStats
from seqgen.errors import SeqgenError
from seqgen.nn.mdn import MixtureParams, sample as sample_point
from seqgen.nn.modes import evaluates_first_arg

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[3]
DEFAULT_STYLES_DIR = REPO.parent / "shared" / "real-samples" / "iam-ondb" / "styles"


# --------------------------------------------------------------------------------------- texts


def check_texts(
    texts: Sequence[str], vocab: Sequence[str], unknown_chars: str = "error", max_chars: Optional[int] = None
) -> list[str]:
    """Validate the lines to write: known characters, not empty, not too long. Returns the (cleaned) lines.

    unknown_chars: ``error`` (SeqgenError naming every unknown character) or ``drop`` (remove them).
    """
    if unknown_chars not in ("error", "drop"):
        raise SeqgenError(f"unknown_chars must be error or drop, got {unknown_chars!r}")
    known = set(vocab)
    out = []
    for text in texts:
        text = str(text)
        if not text.strip():
            raise SeqgenError("cannot write an empty line: give text=\"some words\" (lines separated by |)")
        unknown = sorted({ch for ch in text if ch not in known})
        if unknown:
            if unknown_chars == "error":
                names = ", ".join(repr(ch) for ch in unknown)
                raise SeqgenError(
                    f"characters not in the model's vocabulary: {names} (in {text!r}); remove them or pass "
                    "unknown_chars=drop to drop them"
                )
            text = "".join(ch for ch in text if ch in known)
            log.warning("dropped characters %s not in the vocabulary: writing %r", "".join(unknown), text)
            if not text.strip():
                raise SeqgenError("nothing left to write after dropping the unknown characters")
        if max_chars is not None and len(text) > max_chars:
            raise SeqgenError(
                f"line of {len(text)} characters is longer than the maximum of {max_chars} ({text[:30]!r}...): "
                "split it into several lines with | (or raise model.max_text_chars)"
            )
        out.append(text)
    if not out:
        raise SeqgenError("no text to write: give text=\"some words\"")
    return out


def encode_texts(texts: Sequence[str], vocab: Sequence[str], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Lines -> padded ids (B, U) and mask (B, U); every character must be in `vocab`."""
    index = {ch: i for i, ch in enumerate(vocab)}
    u_max = max(len(t) for t in texts)
    chars = torch.zeros(len(texts), u_max, dtype=torch.long)
    mask = torch.zeros(len(texts), u_max, dtype=torch.bool)
    for row, text in enumerate(texts):
        chars[row, : len(text)] = torch.tensor([index[ch] for ch in text], dtype=torch.long)
        mask[row, : len(text)] = True
    return chars.to(device), mask.to(device)


# --------------------------------------------------------------------------------------- styles


@dataclass
class Prime:
    """A line to prime with: normalised offsets (T, 3) starting with the start row, its transcription."""

    offsets: np.ndarray
    text: str
    name: str


def resolve_style(
    style: Any,
    style_text: Optional[str],
    norm: NormStats,
    train_styles: Sequence[dict[str, Any]] = (),
    styles_dir: Optional[str | Path] = None,
) -> Optional[Prime]:
    """`style` (None, int, ``writer:N``, or a file path) -> a `Prime` in the model's normalised units."""
    if style is None or (isinstance(style, str) and not style.strip()):
        return None
    folder = Path(styles_dir) if styles_dir else DEFAULT_STYLES_DIR
    text = style if isinstance(style, str) else None
    if isinstance(style, bool):
        raise SeqgenError(f"style={style} is not a style: give an index, writer:N or a file")
    if isinstance(style, int) or (text is not None and text.strip().lstrip("-").isdigit()):
        number = int(style)
        if folder.is_dir() and any(folder.glob("style-*-strokes.npy")):
            from seqgen.data.handwriting.user_styles import load_real_styles

            real = load_real_styles(folder)
            if not 0 <= number < len(real):
                raise SeqgenError(f"style={number}: there are {len(real)} real styles (0..{len(real) - 1}) in {folder}")
            line = real[number]
            return Prime(norm.adapt(line.offsets), style_text or line.text, f"real style {number} ({line.writer})")
        return _train_style(number, train_styles, f"style={number} (no real styles in {folder}): ")
    if text is not None and text.startswith("writer:"):
        try:
            number = int(text.split(":", 1)[1])
        except ValueError:
            raise SeqgenError(f"style={text!r}: use writer:N with a number N") from None
        return _train_style(number, train_styles, "")
    from seqgen.data.handwriting.user_styles import load_prime

    offsets, file_text = load_prime(Path(str(style)).expanduser())
    transcription = style_text or file_text
    if not transcription:
        raise SeqgenError(f"{style}: the file carries no transcription; pass style_text=\"what it says\"")
    return Prime(norm.adapt(offsets), transcription, str(style))


def _train_style(number: int, train_styles: Sequence[dict[str, Any]], prefix: str) -> Prime:
    if not train_styles:
        raise SeqgenError(prefix + "this model's data kept no training writers as styles; pass a style file instead")
    if not 0 <= number < len(train_styles):
        raise SeqgenError(prefix + f"there are {len(train_styles)} training writer styles (0..{len(train_styles) - 1})")
    entry = train_styles[number]
    return Prime(np.asarray(entry["offsets"], dtype=np.float32), entry["text"], f"training writer {entry['writer']}")


# --------------------------------------------------------------------------------------- results


@dataclass
class HandwritingSamples:
    """Sampled lines. offsets: raw units, each (T_b + 1, 3) with the start row first; texts: what
    each row was asked to write (new text only); phis: window weights over the new text, (T_b, U_b);
    ended: True where the end rule stopped the row (False: max_points); params: per row, the raw-unit
    mixture parameters of each emitted point (for density plots; only with ``keep_params``)."""

    offsets: list[np.ndarray]
    texts: list[str]
    phis: list[Optional[np.ndarray]] = field(default_factory=list)
    ended: list[bool] = field(default_factory=list)
    params: list[Optional[dict[str, np.ndarray]]] = field(default_factory=list)
    kappas: list[Optional[np.ndarray]] = field(default_factory=list)


def params_to_raw(params: MixtureParams, norm: NormStats) -> MixtureParams:
    """Mixture parameters over normalised offsets -> over raw offsets (same rho, shifted/scaled mu, sigma)."""
    mean = torch.as_tensor(norm.mean, dtype=params.mu.dtype, device=params.mu.device)
    std = torch.as_tensor(norm.std, dtype=params.mu.dtype, device=params.mu.device)
    return MixtureParams(params.eos_logit, params.log_pi, params.mu * std + mean, params.log_sigma + std.log(), params.rho)


def _stack_params(steps: list[MixtureParams], row: int, length: int) -> Optional[dict[str, np.ndarray]]:
    if length == 0 or not steps:
        return None
    return {
        name: torch.stack([getattr(p, name)[row] for p in steps[:length]]).float().cpu().numpy()
        for name in MixtureParams._fields
    }


def _finish(points: np.ndarray, norm: NormStats) -> np.ndarray:
    """Generated normalised points (n, 3) -> raw offsets with a start row; the last point lifts the pen."""
    rows = np.concatenate([norm.start_row()[None], points.astype(np.float32)], axis=0)
    raw = norm.invert(rows)
    raw[0] = (0.0, 0.0, 1.0)
    if len(raw) > 1:
        raw[-1, 2] = 1.0
    return raw


# --------------------------------------------------------------------------------------- synthesis


@torch.no_grad()
@evaluates_first_arg
def sample_synthesis(
    net: torch.nn.Module,
    norm: NormStats,
    vocab: Sequence[str],
    texts: Sequence[str],
    bias: float = 0.0,
    prime: Optional[Prime] = None,
    max_points: int = 1500,
    end_patience: int = 40,
    generator: Optional[torch.Generator] = None,
    keep_params: bool = False,
) -> HandwritingSamples:
    """Write every line of `texts` (already checked with `check_texts`) in one batch."""
    if max_points < 1:
        raise SeqgenError(f"max_points must be >= 1, got {max_points}")
    device = next(net.parameters()).device
    dtype = next(net.parameters()).dtype
    n_rows = len(texts)
    offset = len(prime.text) + 1 if prime is not None else 0  # new text starts after "prime + space"
    full = [f"{prime.text} {t}" for t in texts] if prime is not None else list(texts)
    chars, char_mask = encode_texts(full, vocab, device)
    onehot = net.one_hot(chars)
    lengths = char_mask.sum(1)
    state = net.initial_state(n_rows, device, dtype)
    weights = net.step_weights(n_rows)
    prime_rows = (
        torch.as_tensor(prime.offsets, dtype=dtype, device=device)
        if prime is not None
        else torch.as_tensor(norm.start_row()[None], dtype=dtype, device=device)
    )
    prime_len = prime_rows.shape[0]  # inputs clamped for steps 0..prime_len-1 (row 0: start row)
    x = prime_rows[0].expand(n_rows, 3).contiguous()
    points: list[torch.Tensor] = []
    phis: list[torch.Tensor] = []
    kappas: list[torch.Tensor] = []
    steps: list[MixtureParams] = []
    active = torch.ones(n_rows, dtype=torch.bool, device=device)
    ended = torch.zeros(n_rows, dtype=torch.bool, device=device)
    count = torch.zeros(n_rows, dtype=torch.long, device=device)
    past_end = torch.zeros(n_rows, dtype=torch.long, device=device)
    t = 0
    while True:
        params, phi, done, state = net.step(x, state, onehot, char_mask, bias, weights)
        t += 1
        if t < prime_len:  # still reading the prime: clamp the next input to the real stroke
            x = prime_rows[t].expand(n_rows, 3).contiguous()
            continue
        # the paper's end rule, plus the guard on the mean window location
        alpha = torch.exp(net.window.linear(state.h1).float().clamp(max=30.0).chunk(3, -1)[0])
        mean_kappa = (alpha * state.kappa).sum(-1) / alpha.sum(-1).clamp_min(1e-12)
        past_end = torch.where(mean_kappa > lengths.to(mean_kappa.dtype) + 1.0, past_end + 1, past_end)
        stop = active & (done | (past_end > end_patience))
        ended |= stop
        active &= ~stop
        if not bool(active.any()):
            break
        x = sample_point(params, generator).to(dtype)
        points.append(x)
        phis.append(phi[:, offset:].float())
        kappas.append(state.kappa.float())
        if keep_params:
            steps.append(params_to_raw(params, norm))
        count += active.long()
        active &= count < max_points
        if not bool(active.any()):
            break
    all_points = torch.stack(points, 1).cpu().numpy() if points else np.zeros((n_rows, 0, 3), np.float32)
    all_phi = torch.stack(phis, 1).cpu().numpy() if phis else None
    all_kappa = torch.stack(kappas, 1).cpu().numpy() if kappas else None
    out = HandwritingSamples(offsets=[], texts=list(texts))
    for row in range(n_rows):
        n = int(count[row])
        out.offsets.append(_finish(all_points[row, :n], norm))
        out.phis.append(all_phi[row, :n, : len(texts[row])] if all_phi is not None else None)
        out.kappas.append(all_kappa[row, :n] if all_kappa is not None else None)
        out.ended.append(bool(ended[row]))
        out.params.append(_stack_params(steps, row, n) if keep_params else None)
    return out


# --------------------------------------------------------------------------------------- prediction


@torch.no_grad()
@evaluates_first_arg
def sample_prediction(
    net: torch.nn.Module,
    norm: NormStats,
    num_samples: int,
    length: int,
    bias: float = 0.0,
    prime: Optional[Prime] = None,
    generator: Optional[torch.Generator] = None,
    keep_params: bool = False,
) -> HandwritingSamples:
    """Unconditional handwriting: `length` points per row (after the prime's strokes, if any)."""
    if length < 1:
        raise SeqgenError(f"the number of points to write must be >= 1, got {length}")
    device = next(net.parameters()).device
    dtype = next(net.parameters()).dtype
    prime_rows = (
        torch.as_tensor(prime.offsets, dtype=dtype, device=device)
        if prime is not None
        else torch.as_tensor(norm.start_row()[None], dtype=dtype, device=device)
    )
    # the prime is read in one fused call; its last output predicts the first new point
    params, state = net(prime_rows[None].expand(num_samples, -1, 3).contiguous(), None, bias)
    params = params.map(lambda p: p[:, -1])
    points: list[torch.Tensor] = []
    steps: list[MixtureParams] = []
    for _ in range(length):
        x = sample_point(params, generator).to(dtype)
        points.append(x)
        if keep_params:
            steps.append(params_to_raw(params, norm))
        params, state = net(x[:, None], state, bias)
        params = params.map(lambda p: p[:, 0])
    all_points = torch.stack(points, 1).cpu().numpy()
    out = HandwritingSamples(offsets=[], texts=[""] * num_samples)
    for row in range(num_samples):
        out.offsets.append(_finish(all_points[row], norm))
        out.phis.append(None)
        out.kappas.append(None)
        out.ended.append(False)
        out.params.append(_stack_params(steps, row, length) if keep_params else None)
    return out


# --------------------------------------------------------------------------------------- models

DEFAULT_TEXTS = ("hello world", "Generating sequences", "with recurrent networks")


def make_generator(model: Any, seed: int) -> torch.Generator:
    return torch.Generator(device=model.device).manual_seed(int(seed))


def known_text(model: Any, text: str) -> str:
    """`text` without the characters the model's vocabulary lacks (never empty)."""
    known = set(model.vocab)
    return "".join(ch for ch in text if ch in known).strip() or model.vocab[-1]


def styles_dir(model: Any, cfg: Any = None) -> Optional[str]:
    folder = (cfg.get("styles_dir") if cfg is not None and hasattr(cfg, "get") else None) or model.hparams.get("styles_dir")
    return str(folder) if folder else None


def prime_from(model: Any, cfg: Any) -> Optional[Prime]:
    """The style prime that `cfg` asks for (style, style_text, unknown_chars), or None."""
    prime = resolve_style(cfg.get("style"), cfg.get("style_text"), model.norm, model.train_styles, styles_dir(model, cfg))
    if prime is not None and model.kind == "synthesis":
        prime.text = check_texts([prime.text], model.vocab, str(cfg.get("unknown_chars") or "error"))[0]
    return prime


def predict(model: Any, num: int, length: int, bias: float, prime: Optional[Prime] = None, seed: int = 0, keep_params: bool = False) -> HandwritingSamples:
    """Unconditional lines from a `HandwritingPrediction` model."""
    return sample_prediction(model.net, model.norm, num, length, bias, prime, make_generator(model, seed), keep_params)


def write(
    model: Any,
    texts: list[str],
    bias: float = 0.0,
    prime: Optional[Prime] = None,
    max_points: Optional[int] = None,
    unknown_chars: str = "error",
    seed: int = 0,
    keep_params: bool = False,
) -> HandwritingSamples:
    """A `HandwritingSynthesis` model writes `texts` (one row each) -> `HandwritingSamples` (raw units)."""
    texts = check_texts(texts, model.vocab, unknown_chars, int(model.hparams.max_text_chars))
    if max_points is None:  # generous: 3x the training data's points per character
        max_points = int(3 * model.points_per_char * max(len(t) for t in texts)) + 100
    return sample_synthesis(
        model.net, model.norm, model.vocab, texts, bias, prime, max_points, int(model.hparams.end_patience),
        make_generator(model, seed), keep_params,
    )


def announce_files(files: dict[str, Path]) -> dict[str, str]:
    """Print what `seqgen-sample` wrote and return it for the caller."""
    for path in files.values():
        print(f"wrote {path}")
    return {key: str(path) for key, path in files.items()}


def sample_command(model: Any, cfg: Any, out_dir: Path) -> dict[str, Any]:
    """`seqgen-sample` for handwriting.

    prediction: num_samples lines, bias, optional style prime, max_points (at most model.sample_points).
    synthesis: text ("a|b": lines), bias, style (+ style_text), max_points, unknown_chars, num_samples
    (each line is written num_samples times), seed.
    """
    from seqgen.families.handwriting.figures import write_figures

    prime = prime_from(model, cfg)
    if model.kind == "prediction":
        length = min(int(cfg.get("max_points") or model.hparams.sample_points), int(model.hparams.sample_points))
        samples = predict(model, int(cfg.num_samples), length, float(cfg.get("bias") or 0.0), prime, int(cfg.seed), True)
        return announce_files(write_figures(model, samples, Path(out_dir), "samples"))
    raw = cfg.get("text")
    lines = [t for t in str(raw).split("|")] if raw is not None else list(model.hparams.sample_texts or DEFAULT_TEXTS)
    texts = [t for t in lines for _ in range(max(int(cfg.get("num_samples") or 1), 1))]
    samples = write(
        model, texts, float(cfg.get("bias") or 0.0), prime, int(cfg.get("max_points") or 1500),
        str(cfg.get("unknown_chars") or "error"), int(cfg.seed), keep_params=True,
    )
    files = write_figures(model, samples, Path(out_dir), "samples")
    if prime is not None:
        print(f"primed with {prime.name}: {prime.text!r}")
    for row, (text, ended, offsets) in enumerate(zip(samples.texts, samples.ended, samples.offsets)):
        how = "end of text" if ended else "max_points reached"
        print(f"line {row}: {text!r}: {len(offsets) - 1} points ({how})")
    return announce_files(files)


def preview(model: Any, out_dir: Path, tag: str) -> dict[str, Any]:
    """Two lines after a validation (synthesis: the preview text, and its alignment)."""
    from seqgen.render.plots import alignment_plot
    from seqgen.render.strokes import render_png

    out_dir = Path(out_dir)
    if model.kind == "prediction":
        samples = predict(model, 2, int(model.hparams.preview_points), float(model.hparams.preview_bias), seed=model.global_step)
        return {"samples/handwriting": render_png(samples.offsets, out_dir / f"{tag}.png")}
    text = known_text(model, model.hparams.preview_text)
    samples = write(model, [text, text], float(model.hparams.preview_bias), seed=model.global_step)
    out = {"samples/handwriting": render_png(samples.offsets, out_dir / f"{tag}.png")}
    if samples.phis[0] is not None and len(samples.phis[0]):
        out["samples/alignment"] = alignment_plot(samples.phis[0], text, out_dir / f"{tag}-alignment.png", title=f"step {model.global_step}")
    return out
