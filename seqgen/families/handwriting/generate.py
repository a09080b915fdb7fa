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
  in the configured `styles_dir` (paths.styles_dir, SEQGEN_STYLES) when it exists, else one of the training
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
from seqgen.families.handwriting.config import UNKNOWN_CHARS
from seqgen.nn.mdn import MixtureParams, sample as sample_point
from seqgen.nn.modes import evaluates_first_arg
from seqgen.sampling.autoregressive import OnStep, Sampled, StepOutput, sample_autoregressive

log = logging.getLogger(__name__)



# --------------------------------------------------------------------------------------- texts


def check_texts(
    texts: Sequence[str], vocab: Sequence[str], unknown_chars: str = "error", max_chars: Optional[int] = None
) -> list[str]:
    """Validate the lines to write: known characters, not empty, not too long. Returns the (cleaned) lines.

    unknown_chars: ``error`` (SeqgenError naming every unknown character) or ``drop`` (remove them).
    """
    if unknown_chars not in UNKNOWN_CHARS:
        raise SeqgenError(f"unknown_chars must be {' or '.join(UNKNOWN_CHARS)}, got {unknown_chars!r}")
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
    folder = Path(styles_dir).expanduser() if styles_dir else None
    text = style if isinstance(style, str) else None
    if isinstance(style, bool):
        raise SeqgenError(f"style={style} is not a style: give an index, writer:N or a file")
    if isinstance(style, int) or (text is not None and text.strip().lstrip("-").isdigit()):
        number = int(style)
        if folder is not None and folder.is_dir() and any(folder.glob("style-*-strokes.npy")):
            from seqgen.data.handwriting.user_styles import load_real_styles

            real = load_real_styles(folder)
            if not 0 <= number < len(real):
                raise SeqgenError(f"style={number}: there are {len(real)} real styles (0..{len(real) - 1}) in {folder}")
            line = real[number]
            return Prime(norm.adapt(line.offsets), style_text or line.text, f"real style {number} ({line.writer})")
        where = f"no real styles in {folder}" if folder is not None else "no styles_dir configured"
        return _train_style(number, train_styles, f"style={number} ({where}): ")
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
    mixture parameters of each emitted point (for density plots; only with ``keep_params``); reads:
    what a recogniser read in each row and log_likelihood: the model's log p(line | text) (best-of-N)."""

    offsets: list[np.ndarray]
    texts: list[str]
    phis: list[Optional[np.ndarray]] = field(default_factory=list)
    ended: list[bool] = field(default_factory=list)
    params: list[Optional[dict[str, np.ndarray]]] = field(default_factory=list)
    kappas: list[Optional[np.ndarray]] = field(default_factory=list)
    reads: list[str] = field(default_factory=list)
    log_likelihood: list[float] = field(default_factory=list)


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


def _raw_stream(on_step: Optional[OnStep], norm: NormStats) -> Optional[OnStep]:
    """`on_step` receiving raw-unit points (B, 3) instead of the network's normalised ones."""
    if on_step is None:
        return None

    def forward(index: int, points: torch.Tensor) -> Optional[bool]:
        mean = torch.as_tensor(norm.mean, dtype=points.dtype, device=points.device)
        std = torch.as_tensor(norm.std, dtype=points.dtype, device=points.device)
        return on_step(index, torch.cat((points[:, :2] * std + mean, points[:, 2:]), dim=1))

    return forward


def _to_samples(result: Sampled, texts: Sequence[str], norm: NormStats, keep_params: bool, u_lengths: Sequence[Optional[int]]) -> HandwritingSamples:
    n_rows = len(texts)
    all_points = result.points.cpu().numpy()
    all_phi = result.records["phi"].float().cpu().numpy() if "phi" in result.records else None
    all_kappa = result.records["kappa"].float().cpu().numpy() if "kappa" in result.records else None
    steps = [params_to_raw(p, norm) for p in result.params] if keep_params else []
    out = HandwritingSamples(offsets=[], texts=list(texts))
    for row in range(n_rows):
        n = int(result.counts[row])
        out.offsets.append(_finish(all_points[row, :n], norm))
        out.phis.append(all_phi[row, :n, : u_lengths[row]] if all_phi is not None else None)
        out.kappas.append(all_kappa[row, :n] if all_kappa is not None else None)
        out.ended.append(bool(result.ended[row]))
        out.params.append(_stack_params(steps, row, n) if keep_params else None)
    return out


def _prime_rows(prime: Optional[Prime], norm: NormStats, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    rows = prime.offsets if prime is not None else norm.start_row()[None]
    return torch.as_tensor(rows, dtype=dtype, device=device)


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
    on_step: Optional[OnStep] = None,
) -> HandwritingSamples:
    """Write every line of `texts` (already checked with `check_texts`) in one batch.

    on_step(index, points): called after every step with that step's points (B, 3) in raw units
    (NaN for rows that have stopped); returning False stops early (streaming, `sample_autoregressive`).
    """
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
    weights = net.step_weights(n_rows)
    state = net.initial_state(n_rows, device, dtype)

    def step(x: torch.Tensor) -> StepOutput:
        nonlocal state
        params, phi, done, state = net.step(x, state, onehot, char_mask, bias, weights)
        # the guard on the window's weighted mean location (a window whose components split may
        # never satisfy the paper's end rule)
        alpha = torch.exp(net.window.linear(state.h1).float().clamp(max=30.0).chunk(3, -1)[0])
        mean_kappa = (alpha * state.kappa).sum(-1) / alpha.sum(-1).clamp_min(1e-12)
        overdue = mean_kappa > lengths.to(mean_kappa.dtype) + 1.0
        return StepOutput(params, done, overdue, {"phi": phi[:, offset:].float(), "kappa": state.kappa.float()})

    prime_rows = _prime_rows(prime, norm, dtype, device)
    result = sample_autoregressive(
        step, lambda params: sample_point(params, generator).to(dtype),
        prime=prime_rows[:, None].expand(-1, n_rows, 3), max_steps=max_points, patience=end_patience,
        keep_params=keep_params, on_step=_raw_stream(on_step, norm),
    )
    return _to_samples(result, texts, norm, keep_params, [len(t) for t in texts])


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
    on_step: Optional[OnStep] = None,
) -> HandwritingSamples:
    """Unconditional handwriting: `length` points per row (after the prime's strokes, if any);
    `on_step` as in `sample_synthesis`."""
    if length < 1:
        raise SeqgenError(f"the number of points to write must be >= 1, got {length}")
    device = next(net.parameters()).device
    dtype = next(net.parameters()).dtype
    prime_rows = _prime_rows(prime, norm, dtype, device)
    # the prime is read in one fused call; its last output predicts the first new point
    params, state = net(prime_rows[None].expand(num_samples, -1, 3).contiguous(), None, bias)

    def step(x: torch.Tensor) -> StepOutput:
        nonlocal state
        params, state = net(x[:, None], state, bias)
        return StepOutput(params.map(lambda p: p[:, 0]))

    result = sample_autoregressive(
        step, lambda params: sample_point(params, generator).to(dtype),
        start=StepOutput(params.map(lambda p: p[:, -1])), max_steps=length, keep_params=keep_params,
        on_step=_raw_stream(on_step, norm),
    )
    return _to_samples(result, [""] * num_samples, norm, keep_params, [None] * num_samples)


# --------------------------------------------------------------------------------------- models

DEFAULT_TEXTS = ("hello world", "Generating sequences", "with recurrent networks")


def make_generator(model: Any, seed: int) -> torch.Generator:
    return torch.Generator(device=model.device).manual_seed(int(seed))


def known_text(model: Any, text: str) -> str:
    """`text` without the characters the model's vocabulary lacks (never empty)."""
    known = set(model.vocab)
    return "".join(ch for ch in text if ch in known).strip() or model.vocab[-1]


def styles_dir(model: Any, given: Optional[str] = None) -> Optional[str]:
    """The real styles folder: the one given (`styles_dir=`), else the model's `model.styles_dir`."""
    folder = given or model.hparams.get("styles_dir")
    return str(folder) if folder else None


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
    on_step: Optional[OnStep] = None,
) -> HandwritingSamples:
    """A `HandwritingSynthesis` model writes `texts` (one row each) -> `HandwritingSamples` (raw units);
    `on_step` streams the points (see `sample_synthesis`)."""
    texts = check_texts(texts, model.vocab, unknown_chars, int(model.hparams.max_text_chars))
    if max_points is None:  # generous: 3x the training data's points per character
        max_points = int(3 * model.points_per_char * max(len(t) for t in texts)) + 100
    return sample_synthesis(
        model.net, model.norm, model.vocab, texts, bias, prime, max_points, int(model.hparams.end_patience),
        make_generator(model, seed), keep_params, on_step,
    )
