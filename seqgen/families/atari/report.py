"""`seqgen-eval` for Atari: prediction error at every horizon k against the copy-the-last-frame baseline.

For each test clip the model is warmed up on `prefix` real frames and then rolls out `horizon`
frames from its own predictions, given the real future actions. At horizon k:

    MSE_k  = mean over clips and pixels of (x̂_{P+k-1} - x_{P+k-1})²     (intensities in [0, 1])
    PSNR_k = 10 log10(1 / MSE_k)  dB

The baseline predicts every future frame as the last real one, x̂ = x_{P-1}. Bits per pixel of the
one-step (teacher-forced) predictions on the test split come from the module's test metrics.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from seqgen.io import atomic_write, write_json
from seqgen.render.plots import save_figure_atomic


def psnr(mse: np.ndarray | float) -> np.ndarray:
    """Peak signal-to-noise ratio in dB for intensities in [0, 1]."""
    return 10.0 * np.log10(1.0 / np.maximum(np.asarray(mse, dtype=np.float64), 1e-12))


def per_horizon_mse(predicted: torch.Tensor, real: torch.Tensor) -> np.ndarray:
    """(B, K, S, S) predicted and real future frames -> MSE at horizons 1..K (mean over clips, pixels)."""
    return (predicted.double() - real.double()).pow(2).mean(dim=(0, 2, 3)).cpu().numpy()


def copy_last_baseline(prefix_last: torch.Tensor, real: torch.Tensor) -> np.ndarray:
    """MSE at horizons 1..K of predicting every future frame as the last real one (B, S, S)."""
    return per_horizon_mse(prefix_last[:, None].expand_as(real), real)


@torch.no_grad()
def horizon_errors(net: Any, clips: Any, prefix: int, horizon: int, batch_size: int = 8) -> dict[str, np.ndarray]:
    """Model and baseline MSE/PSNR at horizons 1..horizon over `clips` (a FrameBatch)."""
    frames, actions = clips.frames, clips.actions
    horizon = min(horizon, frames.shape[1] - prefix)
    if horizon < 1:
        raise ValueError(f"clips of {frames.shape[1]} frames leave no horizon after a {prefix}-frame prefix")
    sq_model = np.zeros(horizon)
    sq_base = np.zeros(horizon)
    count = 0
    device = next(net.parameters()).device
    for start in range(0, frames.shape[0], batch_size):
        f = frames[start : start + batch_size].to(device)
        a = actions[start : start + batch_size].to(device)
        real = f[:, prefix : prefix + horizon]
        generated = net.rollout(f[:, :prefix], a[:, : prefix + horizon - 1])
        n = f.shape[0]
        sq_model += per_horizon_mse(generated, real) * n
        sq_base += copy_last_baseline(f[:, prefix - 1], real) * n
        count += n
    mse, base = sq_model / count, sq_base / count
    return {"k": np.arange(1, horizon + 1), "mse": mse, "psnr": psnr(mse), "baseline_mse": base, "baseline_psnr": psnr(base)}


def horizon_table(errors: Mapping[str, np.ndarray], rows: tuple[int, ...] = (1, 2, 3, 5, 10, 20, 50, 100)) -> str:
    lines = ["| k | model MSE | model PSNR (dB) | copy-last MSE | copy-last PSNR (dB) |", "|---|---|---|---|---|"]
    for k in rows:
        if k <= len(errors["k"]):
            i = k - 1
            lines.append(f"| {k} | {errors['mse'][i]:.5f} | {errors['psnr'][i]:.2f} | {errors['baseline_mse'][i]:.5f} | {errors['baseline_psnr'][i]:.2f} |")
    return "\n".join(lines)


def horizon_plot(errors: Mapping[str, np.ndarray], path: Path, title: str) -> Path:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.4))
    left, right = fig.subplots(1, 2)
    for axis, key, label in ((left, "mse", "MSE"), (right, "psnr", "PSNR (dB)")):
        axis.plot(errors["k"], errors[key], label="model")
        axis.plot(errors["k"], errors[f"baseline_{key}"], "--", label="copy last frame")
        axis.set_xlabel("horizon k (frames)")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    left.legend()
    fig.suptitle(title)
    return save_figure_atomic(fig, path)


def write_report(model: Any, out_dir: Path, datamodule: Any, metrics: Mapping[str, float], clips: int = 32) -> dict[str, Any]:
    """atari.md + atari_horizons.{json,png} in `out_dir`; returns the headline numbers for metrics.json."""
    hp = model.hparams
    test = datamodule.read_clips("test", clips)
    prefix = min(int(hp.prefix_frames), test.frames.shape[1] - 1)
    was_training = model.training
    model.eval()
    try:
        errors = horizon_errors(model.net, test, prefix, int(hp.horizon))
    finally:
        model.train(was_training)
    out_dir = Path(out_dir)
    horizon_plot(errors, out_dir / "atari_horizons.png", f"{len(test)} test clips, {prefix}-frame prefix, real actions")
    write_json(out_dir / "atari_horizons.json", {key: [float(v) for v in value] for key, value in errors.items()})
    bpp = metrics.get("test/bpp")
    text = [
        f"# Atari frame prediction: {', '.join(model.games)}",
        "",
        f"One-step test bits per pixel ({hp.levels} intensity levels): {bpp:.4f}" if bpp is not None else "",
        f"Rollouts: {len(test)} test clips, warm-up on {prefix} real frames, then predictions from the model's own frames.",
        "",
        horizon_table(errors),
        "",
    ]
    atomic_write(out_dir / "atari.md", "\n".join(text))
    headline: dict[str, Any] = {"report": str(out_dir / "atari.md"), "figure_horizons": str(out_dir / "atari_horizons.png")}
    for k in (1, 10, 100):
        if k <= len(errors["k"]):
            headline[f"test/mse@{k}"] = float(errors["mse"][k - 1])
            headline[f"test/psnr@{k}"] = float(errors["psnr"][k - 1])
            headline[f"test/baseline_mse@{k}"] = float(errors["baseline_mse"][k - 1])
    if not math.isfinite(float(errors["mse"][0])):
        headline["warning"] = "non-finite rollout error"
    return headline
