"""Finding, reading and loading checkpoints: safely (no code runs), and only of known model classes.

A seqgen checkpoint is a dict of tensors and plain values only (dict, list, str, int, float, bool,
None): the model's hyperparameters are stored as plain containers (`plain`), never as OmegaConf
or numpy objects, and the `seqgen` entry names the family and the class:

    checkpoint["seqgen"] = {"family": "handwriting", "class": "HandwritingSynthesis", "format": 2}

Every checkpoint is read with `torch.load(..., weights_only=True)`: the unpickler builds tensors and
plain containers and nothing else, so a file whose pickle would call a function (os.system, ...)
is refused before anything runs. The class is resolved through the family registry
(`get_family(family).module_class(name)`, an allow-list), never imported from a path in the file.
"""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from omegaconf import DictConfig, ListConfig, OmegaConf

from seqgen.errors import SeqgenError

FORMAT = 2  # 2: class named by the family's allow-list, plain-typed hyperparameters


def find_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, or a run folder (its best checkpoint, else last.ckpt)."""
    path = Path(path).expanduser()
    if path.is_file():
        return path
    if not path.exists():
        raise SeqgenError(f"checkpoint {path} does not exist: pass ckpt=<run folder or .ckpt file>")
    found = checkpoint_in_folder(path)
    if found is None:
        folder = path / "checkpoints" if (path / "checkpoints").is_dir() else path
        raise SeqgenError(f"no checkpoint in {folder}: train first, or pass the .ckpt file itself")
    return found


def checkpoint_in_folder(run_dir: Path) -> Path | None:
    """The run's best checkpoint (the one metrics.json names, else the newest best*.ckpt), else last.ckpt.

    Always a file inside `run_dir`: metrics.json's `best_checkpoint` is an absolute path of the
    machine that trained, so only its file name is used (a copied folder never points back to the
    original's checkpoints).
    """
    run_dir = Path(run_dir)
    folder = run_dir / "checkpoints" if (run_dir / "checkpoints").is_dir() else run_dir
    try:
        best = json.loads((run_dir / "metrics.json").read_text()).get("best_checkpoint")
    except (OSError, ValueError, AttributeError):
        best = None
    if isinstance(best, str) and best and (folder / Path(best).name).is_file():
        return folder / Path(best).name
    candidates = sorted(folder.glob("best*.ckpt"), key=lambda p: p.stat().st_mtime)
    if candidates:
        return candidates[-1]
    return folder / "last.ckpt" if (folder / "last.ckpt").is_file() else None


def run_dir_of(ckpt: Path) -> Path:
    return ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent


# `_target_`s that a saved run config may name at a place they have left (old path -> new path),
# so that runs trained before a move can still be evaluated.
MOVED_TARGETS: dict[str, str] = {
    f"seqgen.data.handwriting.{module}.{name}": f"seqgen.families.handwriting.{module}.{name}"
    for module, name in (("datamodule", "HandwritingDataModule"), ("prepare", "prepare_handwriting"),
                         ("prepare", "HersheyCorpus"), ("prepare", "IamOnDbCorpus"))
}


def run_config(ckpt: Path) -> DictConfig:
    """The resolved config the checkpoint's run was trained with (moved `_target_`s updated), checked
    like a foreign file (`seqgen.config_trust`: only seqgen's own classes unless this user's seqgen
    wrote it, objects where objects belong). Its value ranges are checked by the command that reads
    it (`seqgen.validate.validate_loaded`)."""
    from seqgen.config_trust import check_loaded_config
    from seqgen.provenance import written_here

    path = run_dir_of(ckpt) / "config_resolved.yaml"
    if not path.exists():
        raise SeqgenError(f"{path} not found: the checkpoint must sit in a seqgen run folder (<run>/checkpoints/*.ckpt)")
    try:
        cfg = OmegaConf.load(path)
    except Exception as err:
        raise SeqgenError(f"{path} is not a readable config ({' '.join(str(err).split())[:200]})") from None
    if not isinstance(cfg, DictConfig):
        raise SeqgenError(f"{path} is not a config mapping")
    _update_targets(cfg)  # a run trained before a move names the old place, which no longer imports
    check_loaded_config(cfg, str(path), own=written_here(path.parent, path.name))
    return cfg


def _update_targets(node: Any) -> None:
    if isinstance(node, DictConfig):
        target = node.get("_target_")
        if isinstance(target, str) and target in MOVED_TARGETS:
            node["_target_"] = MOVED_TARGETS[target]
        for value in node.values():
            _update_targets(value)
    elif isinstance(node, ListConfig):
        for value in node:
            _update_targets(value)


def plain(value: Any) -> Any:
    """`value` as plain Python: OmegaConf containers, numpy arrays/scalars, tuples and paths become
    dicts, lists, numbers and strings (what `torch.load(weights_only=True)` accepts, besides tensors)."""
    if isinstance(value, (DictConfig, ListConfig)):
        return plain(OmegaConf.to_container(value, resolve=True))
    if isinstance(value, Mapping):
        return {str(k) if not isinstance(k, (int, float, bool)) else k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def checkpoint_meta(model: Any) -> dict[str, Any]:
    """The `seqgen` entry of a model's checkpoints."""
    return {"family": type(model).family, "class": type(model).__qualname__, "format": FORMAT}


def readable_checkpoint(path: Path) -> bool:
    """A complete checkpoint file: torch.save writes a zip archive; a truncated one fails its
    central directory or a CRC. Nothing is unpickled here."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None
    except (OSError, zipfile.BadZipFile, EOFError, ValueError):
        return False


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint's contents, read with weights_only=True; SeqgenError for anything else."""
    path = Path(path)
    if not readable_checkpoint(path):
        # torch's own message for such files advises re-saving them with torch.save: not what a user can do
        size = path.stat().st_size if path.exists() else 0
        what = "an empty file" if size == 0 else f"not a complete checkpoint archive ({size} bytes: truncated, another format or an old torch.save file)"
        raise SeqgenError(f"{path} is {what}: pass a .ckpt written by seqgen-train, or the run folder")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except pickle.UnpicklingError as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise SeqgenError(
            f"{path} was refused: it holds Python objects besides tensors and plain values ({reason[:200]}). "
            "seqgen reads checkpoints with torch.load(weights_only=True) so that loading never runs code; "
            "checkpoints written by seqgen before this format or by other tools cannot be loaded: retrain the model"
        ) from None
    except Exception as err:
        first = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
        raise SeqgenError(f"{path} is not a readable checkpoint ({type(err).__name__}: {first}): pass a .ckpt written by seqgen-train") from None
    meta = state.get("seqgen") if isinstance(state, dict) else None
    if not isinstance(meta, dict) or "family" not in meta or "class" not in meta:
        raise SeqgenError(f"{path} is not a seqgen checkpoint (no 'seqgen' entry naming its family and class)")
    return state


def load_model(ckpt: str | Path, family: str | None = None) -> Any:
    """The model of a checkpoint (file or run folder), in eval mode, on the CPU.

    `family`: refuse checkpoints of any other family (a clear error instead of a confusing one).
    """
    from seqgen.core.family import get_family

    ckpt = find_checkpoint(ckpt)
    state = read_checkpoint(ckpt)
    meta = state["seqgen"]
    if family is not None and meta["family"] != family:
        raise SeqgenError(
            f"{ckpt} is a '{meta['family']}' checkpoint but this needs a '{family}' model: pass a checkpoint of a {family} run"
        )
    cls = get_family(str(meta["family"])).module_class(str(meta["class"]))
    hparams = state.get("hyper_parameters")
    if not isinstance(hparams, dict):
        raise SeqgenError(f"{ckpt} has no model hyperparameters: it was not written by seqgen-train")
    try:
        model = cls(**hparams)
    except TypeError as err:
        raise SeqgenError(f"{ckpt}: its hyperparameters do not fit {cls.__qualname__} ({err}); was it written by another seqgen version?") from err
    model.on_load_checkpoint(state)
    model.load_state_dict(state["state_dict"])
    model.eval()
    return model
