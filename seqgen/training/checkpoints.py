"""Finding and loading checkpoints, refusing ones of another model family with a clear error."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from seqgen.errors import SeqgenError


def find_checkpoint(path: str | Path, which: str = "best") -> Path:
    """A checkpoint file, or a run folder (its best checkpoint, else last.ckpt)."""
    path = Path(path).expanduser()
    if path.is_file():
        return path
    if not path.exists():
        raise SeqgenError(f"checkpoint {path} does not exist: pass ckpt=<run folder or .ckpt file>")
    folder = path / "checkpoints" if (path / "checkpoints").is_dir() else path
    if which == "best":
        metrics = path / "metrics.json"
        if metrics.exists():
            best = json.loads(metrics.read_text()).get("best_checkpoint")
            if best and Path(best).exists():
                return Path(best)
        candidates = sorted(folder.glob("best*.ckpt"), key=lambda p: p.stat().st_mtime)
        if candidates:
            return candidates[-1]
    if (folder / "last.ckpt").exists():
        return folder / "last.ckpt"
    raise SeqgenError(f"no checkpoint in {folder}: train first, or pass the .ckpt file itself")


def run_dir_of(ckpt: Path) -> Path:
    return ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent


def run_config(ckpt: Path) -> DictConfig:
    """The resolved config the checkpoint's run was trained with."""
    path = run_dir_of(ckpt) / "config_resolved.yaml"
    if not path.exists():
        raise SeqgenError(f"{path} not found: the checkpoint must sit in a seqgen run folder (<run>/checkpoints/*.ckpt)")
    return OmegaConf.load(path)  # type: ignore[return-value]


def checkpoint_family(ckpt: Path) -> dict[str, Any]:
    try:
        state = torch.load(ckpt, map_location="cpu", weights_only=False, mmap=True)
    except Exception as err:
        raise SeqgenError(f"{ckpt} is not a readable checkpoint ({type(err).__name__}: {err})") from err
    meta = state.get("seqgen") if isinstance(state, dict) else None
    if not meta:
        raise SeqgenError(f"{ckpt} is not a seqgen checkpoint (no 'seqgen' entry)")
    return meta


def load_model(ckpt: str | Path, family: str | None = None, map_location: str = "cpu") -> Any:
    ckpt = find_checkpoint(ckpt)
    meta = checkpoint_family(ckpt)
    if family is not None and meta["family"] != family:
        raise SeqgenError(
            f"{ckpt} is a '{meta['family']}' checkpoint but this needs a '{family}' model: pass a checkpoint of a {family} run"
        )
    module_name, _, class_name = meta["class"].rpartition(".")
    cls = getattr(importlib.import_module(module_name), class_name)
    model = cls.load_from_checkpoint(str(ckpt), map_location=map_location, weights_only=False)
    model.eval()
    return model
