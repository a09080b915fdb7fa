"""`seqgen-eval` for Atari: prediction error at every horizon k against the copy-the-last-frame baseline,
per game and over all games.

For each test clip the model is warmed up on P real frames and then rolls out the rest of the clip
from its own predictions under the real future actions. At horizon k (frame x_{P+k-1}):

    MSE_k          = mean over clips and pixels of (x̂ - x)²                (intensities in [0, 1])
    PSNR_k         = 10 log10(1 / MSE_k)  dB
    changed MSE_k  = the same over the pixels with x_{P+k-1} ≠ x_{P+k-2} only (the real frames decide)
    objects kept_k = the share of the real frame's objects that the predicted frame still draws

The baseline predicts every future frame as the last real one, x̂ = x_{P-1}; on the changed pixels
it is weakest. Objects: the clip's background is the per-pixel median of its real frames; an object
is a connected component (8-neighbours) of |x - background| > OBJECT_THRESHOLD; a real object is
kept when the predicted frame has object pixels within OBJECT_TOLERANCE (a fraction of the frame
width) of it. `spurious` counts predicted objects with no real object that near.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from scipy import ndimage

from seqgen.io import atomic_write, write_json
from seqgen.render.plots import save_figure_atomic

OBJECT_THRESHOLD = 0.05  # intensity difference from the background that makes a pixel part of an object
OBJECT_TOLERANCE = 0.075  # how far (fraction of the width: 6 px at 84) a drawn object may be from the real one
OBJECT_HORIZONS = (10, 50)
TABLE_HORIZONS = (1, 2, 5, 10, 20, 50, 100)
EIGHT_NEIGHBOURS = np.ones((3, 3), dtype=bool)


def psnr(mse: np.ndarray | float) -> np.ndarray:
    """Peak signal-to-noise ratio in dB for intensities in [0, 1]."""
    return 10.0 * np.log10(1.0 / np.maximum(np.asarray(mse, dtype=np.float64), 1e-12))


def object_matches(real: np.ndarray, predicted: np.ndarray, background: np.ndarray, tolerance: int) -> tuple[int, int, int]:
    """(S, S) frames -> (real objects, real objects the prediction keeps, spurious predicted objects)."""
    real_labels, real_count = ndimage.label(np.abs(real - background) > OBJECT_THRESHOLD, structure=EIGHT_NEIGHBOURS)
    drawn_labels, drawn_count = ndimage.label(np.abs(predicted - background) > OBJECT_THRESHOLD, structure=EIGHT_NEIGHBOURS)
    near_drawn = ndimage.binary_dilation(drawn_labels > 0, EIGHT_NEIGHBOURS, iterations=tolerance) if drawn_count else drawn_labels > 0
    near_real = ndimage.binary_dilation(real_labels > 0, EIGHT_NEIGHBOURS, iterations=tolerance) if real_count else real_labels > 0
    kept = np.unique(real_labels[near_drawn & (real_labels > 0)]).size
    matched_drawn = np.unique(drawn_labels[near_real & (drawn_labels > 0)]).size
    return real_count, kept, drawn_count - matched_drawn


def clip_scores(generated: torch.Tensor, last_real: torch.Tensor, real: torch.Tensor, whole_clip: torch.Tensor) -> dict[str, np.ndarray]:
    """One batch of rollouts -> per-clip sums at horizons 1..K for the model and the baseline.

    generated, real (B, K, S, S); last_real (B, S, S) = x_{P-1}; whole_clip (B, T, S, S) the real clip.
    """
    previous_real = torch.cat([last_real[:, None], real[:, :-1]], dim=1)
    changed = (real != previous_real).double()
    out: dict[str, np.ndarray] = {"changed_pixels": changed.sum(dim=(2, 3)).cpu().numpy()}
    for name, predicted in (("model", generated), ("baseline", last_real[:, None].expand_as(real))):
        sq = (predicted.double() - real.double()).pow(2)
        out[f"{name}_sq"] = sq.mean(dim=(2, 3)).cpu().numpy()
        out[f"{name}_changed_sq"] = (sq * changed).sum(dim=(2, 3)).cpu().numpy()
    background = whole_clip.median(dim=1).values.cpu().numpy()
    tolerance = max(1, round(OBJECT_TOLERANCE * real.shape[-1]))
    horizons = [k for k in OBJECT_HORIZONS if k <= real.shape[1]]
    for name, predicted in (("model", generated), ("baseline", last_real[:, None].expand_as(real))):
        counts = np.array([[object_matches(real[b, k - 1].cpu().numpy(), predicted[b, k - 1].cpu().numpy(), background[b], tolerance)
                            for k in horizons] for b in range(real.shape[0])], dtype=np.float64).reshape(real.shape[0], len(horizons), 3)
        out["objects"], out[f"{name}_kept"], out[f"{name}_spurious"] = counts[..., 0], counts[..., 1], counts[..., 2]
    return out


@torch.no_grad()
def rollout_scores(net: Any, clips: Any, prefix: int, horizon: int, batch_size: int = 8) -> dict[str, np.ndarray]:
    """Per-clip scores (rows in the order of `clips`, a FrameBatch) of rollouts to `horizon` frames."""
    frames, actions = clips.frames, clips.actions
    horizon = min(horizon, frames.shape[1] - prefix)
    if horizon < 1:
        raise ValueError(f"clips of {frames.shape[1]} frames leave no horizon after a {prefix}-frame prefix")
    device = next(net.parameters()).device
    parts = []
    for start in range(0, frames.shape[0], batch_size):
        f = frames[start : start + batch_size].to(device)
        generated = net.rollout(f[:, :prefix], actions[start : start + batch_size, : prefix + horizon - 1].to(device))
        parts.append(clip_scores(generated, f[:, prefix - 1], f[:, prefix : prefix + horizon], f))
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


def summarise(scores: Mapping[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    """Scores of the clips `rows` (a boolean mask) -> curves against k and the object figures."""
    pick = {key: value[rows] for key, value in scores.items()}
    pixels_changed = np.maximum(pick["changed_pixels"].sum(axis=0), 1.0)
    out: dict[str, np.ndarray] = {"k": np.arange(1, pick["model_sq"].shape[1] + 1)}
    for name, prefix in (("model", ""), ("baseline", "baseline_")):
        out[f"{prefix}mse"] = pick[f"{name}_sq"].mean(axis=0)
        out[f"{prefix}psnr"] = psnr(out[f"{prefix}mse"])
        out[f"{prefix}changed_mse"] = pick[f"{name}_changed_sq"].sum(axis=0) / pixels_changed
        out[f"{prefix}objects_kept"] = pick[f"{name}_kept"].sum(axis=0) / np.maximum(pick["objects"].sum(axis=0), 1.0)
        out[f"{prefix}spurious_objects"] = pick[f"{name}_spurious"].mean(axis=0)
    return out


def game_summaries(scores: Mapping[str, np.ndarray], games: Sequence[str]) -> dict[str, dict[str, np.ndarray]]:
    """{game: summary} for each game, then "all" over every clip."""
    names = np.asarray(games)
    out = {game: summarise(scores, names == game) for game in sorted(set(games))}
    out["all"] = summarise(scores, np.ones(len(names), dtype=bool))
    return out


def horizon_table(summary: Mapping[str, np.ndarray], horizons: Sequence[int] = TABLE_HORIZONS) -> str:
    lines = [
        "| k | model MSE | copy-last MSE | model / copy | model PSNR (dB) | copy PSNR (dB) | changed pixels: model MSE | copy MSE | copy / model |",
        "|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for k in horizons:
        if k <= len(summary["k"]):
            i = k - 1
            model, copy = summary["mse"][i], summary["baseline_mse"][i]
            changed, changed_copy = summary["changed_mse"][i], summary["baseline_changed_mse"][i]
            lines.append(
                f"| {k} | {model:.5f} | {copy:.5f} | {model / max(copy, 1e-12):.2f} | {summary['psnr'][i]:.2f} | {summary['baseline_psnr'][i]:.2f} "
                f"| {changed:.4f} | {changed_copy:.4f} | {changed_copy / max(changed, 1e-12):.2f} |"
            )
    return "\n".join(lines)


def objects_table(summaries: Mapping[str, Mapping[str, np.ndarray]]) -> str:
    horizons = [k for k in OBJECT_HORIZONS if k <= len(summaries["all"]["k"])]
    lines = ["| game | " + " | ".join(f"kept at k={k}: model | copy | spurious per frame: model" for k in horizons) + " |",
             "|:--|" + "--:|--:|--:|" * len(horizons)]
    for game, summary in summaries.items():
        cells = [f"{summary['objects_kept'][j]:.0%} | {summary['baseline_objects_kept'][j]:.0%} | {summary['spurious_objects'][j]:.2f}" for j in range(len(horizons))]
        lines.append(f"| {game} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def horizon_plot(summaries: Mapping[str, Mapping[str, np.ndarray]], path: Path, title: str) -> Path:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 3.6))
    axes = fig.subplots(1, 3)
    for (game, summary), colour in zip(summaries.items(), ("C0", "C1", "C2", "C3", "C4", "C5", "C6", "C7", "k")):
        for axis, key in zip(axes, ("mse", "changed_mse", "psnr")):
            axis.plot(summary["k"], summary[key], color=colour, label=f"{game}: model")
            axis.plot(summary["k"], summary[f"baseline_{key}"], "--", color=colour, label=f"{game}: copy last frame")
    for axis, label in zip(axes, ("MSE", "MSE on the changed pixels", "PSNR (dB)")):
        axis.set_xlabel("horizon k (frames)")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    axes[0].set_yscale("log")
    axes[1].set_yscale("log")
    axes[2].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure_atomic(fig, path)


def headline(summaries: Mapping[str, Mapping[str, np.ndarray]]) -> dict[str, float]:
    """The numbers for metrics.json and W&B: all games as test/..., each game as test/<game>/..."""
    out: dict[str, float] = {}
    for game, summary in summaries.items():
        scope = "test" if game == "all" else f"test/{game}"
        count = len(summary["k"])
        for k in (1, 10, 100):
            if k <= count:
                for key in ("mse", "psnr", "baseline_mse", "changed_mse", "baseline_changed_mse"):
                    out[f"{scope}/{key}@{k}"] = float(summary[key][k - 1])
        for j, k in enumerate(k for k in OBJECT_HORIZONS if k <= count):
            for key in ("objects_kept", "baseline_objects_kept", "spurious_objects"):
                out[f"{scope}/{key}@{k}"] = float(summary[key][j])
        out[f"{scope}/worst_mse_ratio"] = float(np.max(summary["mse"] / np.maximum(summary["baseline_mse"], 1e-12)))
    return out


def write_report(model: Any, out_dir: Path, datamodule: Any, metrics: Mapping[str, float], clips: int = 256) -> dict[str, Any]:
    """atari.md + atari_horizons.{json,png} in `out_dir`; returns the headline numbers for metrics.json."""
    hp = model.config
    test = datamodule.read_clips("test", clips)
    prefix = min(hp.prefix_frames, test.frames.shape[1] - 1)
    was_training = model.training
    model.eval()
    try:
        summaries = game_summaries(rollout_scores(model.net, test, prefix, hp.horizon), test.games)
    finally:
        model.train(was_training)
    out_dir = Path(out_dir)
    subtitle = f"{len(test)} test clips, {prefix}-frame prefix, real actions"
    horizon_plot(summaries, out_dir / "atari_horizons.png", f"{hp.core} model vs copy-last-frame: {subtitle}")
    write_json(out_dir / "atari_horizons.json", {game: {key: [float(v) for v in value] for key, value in s.items()} for game, s in summaries.items()})
    numbers = headline(summaries)
    clock = getattr(model, "train_clock", None) or {}
    text = [f"# Atari frame prediction ({hp.core} core): {', '.join(model.games)}", "",
            f"Rollouts: {subtitle}; the model predicts from its own frames after the prefix.", ""]
    if clock.get("steps"):
        text += [f"Training: {int(clock['steps'])} steps in {clock['wall_seconds']:.0f} s ({clock['cpu_seconds']:.0f} CPU s).", ""]
    for game, summary in summaries.items():
        text += [f"## {game}", "", horizon_table(summary), ""]
    text += ["## Objects kept", "", objects_table(summaries), ""]
    atomic_write(out_dir / "atari.md", "\n".join(text))
    result: dict[str, Any] = {"report": str(out_dir / "atari.md"), "figure_horizons": str(out_dir / "atari_horizons.png"), **numbers}
    if clock.get("steps"):
        result["train_clock"] = dict(clock)
    if not math.isfinite(numbers["test/mse@1"]):
        result["warning"] = "non-finite rollout error"
    return result
