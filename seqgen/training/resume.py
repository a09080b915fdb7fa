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
from pathlib import Path
from typing import Optional, Sequence

from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

from seqgen.core.checkpoints import read_checkpoint, readable_checkpoint
from seqgen.errors import SeqgenError, find_user_error

LAST_CKPT = "last.ckpt"

log = logging.getLogger(__name__)


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
    The saved overrides come from a file (the folder may be someone else's): the config they
    compose to on their own is checked first (`seqgen.config_trust`: only seqgen's classes unless
    this user's seqgen wrote the file, `seqgen.provenance`; objects where objects belong), so a planted `+callbacks.x._target_=os.system` never
    reaches `instantiate`. Needs Hydra's global state (inside a Hydra app, or `initialize_config_dir`).
    """
    from seqgen.config_trust import check_objects, check_targets
    from seqgen.provenance import written_here

    saved_path = run_dir / ".hydra" / "overrides.yaml"
    if not saved_path.exists():
        raise SeqgenError(f"resume={run_dir}: not a seqgen run folder (no .hydra/overrides.yaml)")
    saved = _saved_overrides(saved_path)
    given = {_override_key(o): o for o in overrides if not _override_key(o).startswith(("resume", "hydra"))}
    # the saved overrides this command does not replace: what the folder alone decides
    from_file = {key: o for key, o in saved.items() if key not in given}
    untrusted = _compose_train(list(from_file.values()), saved_path)
    if not written_here(run_dir, ".hydra/overrides.yaml"):  # a folder from elsewhere, or edited
        check_targets(untrusted, str(saved_path))
    check_objects(untrusted, str(saved_path))  # its ranges are validated with this command's values (cli/train.py)
    cfg = _compose_train([*from_file.values(), *given.values()], saved_path)
    with open_dict(cfg):
        cfg.resume = "auto"
        cfg.paths.output_dir = str(run_dir)
    return cfg


def _override_key(override: str) -> str:
    return str(override).split("=", 1)[0].lstrip("+~")


def _saved_overrides(path: Path) -> dict[str, str]:
    """A run's `.hydra/overrides.yaml` as {key: override}, later ones winning (Hydra's and resume's own left out)."""
    try:
        saved = OmegaConf.load(path)
    except Exception as err:
        raise SeqgenError(f"{path} is not a readable list of overrides ({' '.join(str(err).split())[:200]})") from None
    if not isinstance(saved, ListConfig) or not all(isinstance(o, str) for o in saved):
        raise SeqgenError(f"{path} must be a list of override strings (key=value), as Hydra writes it")
    return {_override_key(o): str(o) for o in saved if not _override_key(o).startswith(("resume", "hydra"))}


def _compose_train(overrides: list[str], source: Path) -> DictConfig:
    from hydra import compose

    try:
        return compose(config_name="train", overrides=overrides)
    except Exception as err:
        if find_user_error(err) is not None:
            raise
        raise SeqgenError(f"{source}: the saved overrides do not compose with this command's ({' '.join(str(err).split())[:300]})") from None
