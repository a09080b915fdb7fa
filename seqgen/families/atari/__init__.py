"""Atari frame generation (Oh et al. 2015 style, action-conditional), the seed's real-versus-generated frames.

    seqgen-prepare data=atari                       # frames from ALE games (ale-py ships the ROMs)
    seqgen-train experiment=atari_quickstart
    seqgen-eval ckpt=<run>                          # MSE / PSNR at horizons 1..100 vs copy-last-frame, per game
    seqgen-sample ckpt=<run> length=60 "actions=[FIRE,LEFT]"
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional

from seqgen.core.family import Family, program, versus
from seqgen.families.atari.config import AtariSampleOptions


class AtariFamily(Family):
    name = "atari"
    module_paths = ("seqgen.families.atari.module:AtariFramePredictor",)  # lazy: `prepare` imports no Lightning
    sample_schema = AtariSampleOptions

    def generate(self, model: Any, cfg: Any, out_dir: Path) -> dict[str, Any]:
        from seqgen.families.atari.generate import generate

        return generate(model, cfg, out_dir)

    def preview(self, model: Any, datamodule: Any, out_dir: Path, tag: str) -> dict[str, Any]:
        from seqgen.families.atari.generate import rollouts
        from seqgen.families.atari.figures import strip_png

        clips = datamodule.read_clips("valid", 1)
        generated, real = rollouts(model, clips, model.config.preview_frames, None)
        return {"samples/rollout": strip_png([("real", real[0]), ("generated", generated[0])], Path(out_dir) / f"{tag}.png")}

    def figures(self, model: Any, run_dir: Path, datamodule: Any, metrics: Mapping[str, float]) -> dict[str, Any]:
        """Real versus generated rollouts (PNG strips, GIFs) and the horizon plot (media), and the report."""
        from seqgen.families.atari.generate import write_rollouts

        clips = datamodule.read_clips("test", 3)
        files = write_rollouts(model, clips, Path(run_dir), length=model.config.horizon, gifs=1)
        out: dict[str, Any] = {f"figure_{key}": Path(path) for key, path in files.items()}
        out.update(self.report(model, run_dir, datamodule, metrics))
        out["figure_horizons"] = Path(out["figure_horizons"])
        if model._trainer is not None:  # the horizon numbers to W&B too (log_media sends only the files)
            numbers = {key: value for key, value in out.items() if key.startswith("test/") and isinstance(value, float)}
            for logger in model.trainer.loggers:
                logger.log_metrics(numbers, step=model.global_step)
        return out

    def report(self, model: Any, out_dir: Path, datamodule: Any, metrics: Mapping[str, float]) -> dict[str, Any]:
        from seqgen.families.atari.report import write_report

        return write_report(model, Path(out_dir), datamodule, metrics)

    def headline(self, result: Mapping[str, Any]) -> Optional[str]:
        """Rollout MSE beside copying the last real frame, at the horizons the report measured."""
        parts = [
            f"k={k}: MSE {result[f'test/mse@{k}']:.4g} vs copy-last-frame {result[f'test/baseline_mse@{k}']:.4g} "
            f"({versus(result[f'test/mse@{k}'], result[f'test/baseline_mse@{k}'])})"
            for k in (1, 10, 100) if f"test/mse@{k}" in result and f"test/baseline_mse@{k}" in result
        ]
        return "test rollouts, " + "; ".join(parts) if parts else None

    def next_commands(self, run: str, result: Mapping[str, Any]) -> list[str]:
        return [f"{program('seqgen-sample')} ckpt={run} length=60", f"{program('seqgen-eval')} ckpt={run}"]


FAMILY = AtariFamily()
