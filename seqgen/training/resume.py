"""Where a training run writes and what it continues from, decided once: `resolve_run`.

    resume=null           a new run in the Hydra output folder (cfg.paths.output_dir), from scratch
    resume=auto           the same folder; continue from its checkpoints/last.ckpt if there is one
                          (a requeued SLURM job, a retried sweep trial)
    resume=<run folder>   that folder: its saved overrides re-composed with this command's on top
                          (so a resume may change config groups, e.g. `trainer=ddp`), from its last.ckpt

The checkpoint is checked here (read with weights_only=True: a foreign or unsafe file is refused
with a clear error before any training state is built).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from omegaconf import DictConfig, OmegaConf, open_dict

from seqgen.errors import SeqgenError
from seqgen.training.checkpoints import read_checkpoint

LAST_CKPT = "last.ckpt"


def resolve_run(cfg: DictConfig, overrides: Optional[Sequence[str]] = None) -> tuple[DictConfig, Path, Optional[Path]]:
    """-> (the run's config, its folder, the checkpoint to continue from or None).

    `overrides`: this command's overrides (default: Hydra's task overrides, inside a Hydra app);
    used only for resume=<run folder>.
    """
    mode = cfg.get("resume")
    if mode and mode != "auto":
        run_dir = Path(str(mode)).expanduser().resolve()
        cfg = _recompose(run_dir, _task_overrides() if overrides is None else list(overrides))
        checkpoint = run_dir / "checkpoints" / LAST_CKPT
        if not checkpoint.exists():
            raise SeqgenError(
                f"resume={mode}: no {LAST_CKPT} in {checkpoint.parent}; start without resume= or point it at a run folder with checkpoints"
            )
    else:
        run_dir = Path(str(cfg.paths.output_dir))
        checkpoint = run_dir / "checkpoints" / LAST_CKPT
        if not (mode == "auto" and checkpoint.exists()):
            return cfg, run_dir, None
    read_checkpoint(checkpoint)  # refuses unsafe, foreign or broken files with a clear message
    return cfg, run_dir, checkpoint


def _task_overrides() -> list[str]:
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def _recompose(run_dir: Path, overrides: list[str]) -> DictConfig:
    """The run's config, re-composed from its saved overrides with `overrides` on top.

    Re-composing (not merging into the saved YAML) lets a resume change config groups too.
    Needs Hydra's global state (inside a Hydra app, or `initialize_config_dir`).
    """
    from hydra import compose

    saved = run_dir / ".hydra" / "overrides.yaml"
    if not saved.exists():
        raise SeqgenError(f"resume={run_dir}: not a seqgen run folder (no .hydra/overrides.yaml)")

    def key(override: str) -> str:
        return override.split("=", 1)[0].lstrip("+~")

    merged: dict[str, str] = {}
    for override in [*OmegaConf.load(saved), *overrides]:  # later ones win
        if not key(str(override)).startswith(("resume", "hydra")):
            merged[key(str(override))] = str(override)
    cfg = compose(config_name="train", overrides=list(merged.values()))
    with open_dict(cfg):
        cfg.resume = "auto"
        cfg.paths.output_dir = str(run_dir)
    return cfg
