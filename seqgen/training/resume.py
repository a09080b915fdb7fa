"""Where a training run writes and what it continues from, decided once: `resolve_run`.

    resume=null           a new run in the Hydra output folder (cfg.paths.output_dir), from scratch
    resume=auto           the same folder; continue from its checkpoints/last.ckpt if there is one
                          (a requeued SLURM job, a retried sweep trial)
    resume=<run folder>   that folder: its saved overrides re-composed with this command's on top
                          (so a resume may change config groups, e.g. `trainer=ddp`), from its last.ckpt

A truncated or corrupt last.ckpt is replaced by the run's newest readable checkpoint, with a
message (`resume_checkpoint`); resume=<run folder> without any checkpoint is refused before
anything is written (it would start from step 0 and overwrite the run's metrics.json).

The checkpoint is checked here (read with weights_only=True: a foreign or unsafe file is refused
with a clear error before any training state is built).
"""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path
from typing import Optional, Sequence

from omegaconf import DictConfig, OmegaConf, open_dict

from seqgen.errors import SeqgenError
from seqgen.core.checkpoints import read_checkpoint

LAST_CKPT = "last.ckpt"

log = logging.getLogger(__name__)


def readable_checkpoint(path: Path) -> bool:
    """A complete checkpoint file: torch.save writes a zip archive; a truncated one fails its
    central directory or a CRC. Nothing is unpickled here."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None
    except (OSError, zipfile.BadZipFile, EOFError, ValueError):
        return False


def resume_checkpoint(run_dir: Path) -> Path | None:
    """`<run>/checkpoints/last.ckpt`, or, if it is unreadable (truncated), the newest readable one."""
    folder = Path(run_dir) / "checkpoints"
    last = folder / LAST_CKPT
    if last.exists() and readable_checkpoint(last):
        return last
    others = sorted((p for p in folder.glob("*.ckpt") if p.name != LAST_CKPT), key=lambda p: p.stat().st_mtime, reverse=True)
    fallback = next((p for p in others if readable_checkpoint(p)), None)
    if last.exists():
        message = f"{last} is unreadable (truncated or corrupt)"
        if fallback is None:
            raise SeqgenError(f"{message} and no other readable checkpoint is in {folder}: start a new run without resume=")
        print(f"[seqgen] {message}; resuming from the newest readable checkpoint instead: {fallback.name}", flush=True)
        log.warning("%s; resuming from %s", message, fallback)
    return fallback


def resolve_run(cfg: DictConfig, overrides: Optional[Sequence[str]] = None) -> tuple[DictConfig, Path, Optional[Path]]:
    """-> (the run's config, its folder, the checkpoint to continue from or None).

    `overrides`: this command's overrides (default: Hydra's task overrides, inside a Hydra app);
    used only for resume=<run folder>.
    """
    mode = cfg.get("resume")
    if mode and mode != "auto":
        run_dir = Path(str(mode)).expanduser().resolve()
        cfg = _recompose(run_dir, _task_overrides() if overrides is None else list(overrides))
        checkpoint = resume_checkpoint(run_dir)
        if checkpoint is None:
            raise SeqgenError(
                f"resume={mode}: the run has no checkpoint to resume from ({run_dir / 'checkpoints'}); "
                "start a new run without resume= (that run's folder and metrics.json stay as they are)"
            )
    else:
        run_dir = Path(str(cfg.paths.output_dir))
        checkpoint = resume_checkpoint(run_dir) if mode == "auto" else None
        if checkpoint is None:
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
