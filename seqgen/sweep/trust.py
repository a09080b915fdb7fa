"""Which sweep folders seqgen restores: Ray Tune keeps its state pickled, and unpickling runs code.

Restoring a sweep makes Ray unpickle files of the sweep folder (`tuner.pkl`, the experiment state
`experiment_state-*.json` with its cloudpickled entries, the searcher state, a trial's `error.pkl`).
A `tuner.pkl` written by someone else runs its payload on restore, so before Ray reads anything
`verify_sweep_folder` requires:

* the folder, and every state file in it, is owned by the current user and is not group- or
  world-writable (nobody else could have put a file there), and
* every state file has a digest that seqgen recorded when Ray wrote it (`seqgen.provenance`: a
  record signed with a key only this user has, so a record copied along with a folder from
  elsewhere, or forged, does not verify).

`sweep.trust_folder=true` skips both checks for a folder the user vouches for (e.g. copied from
their own other machine). Digests are recorded each time Tune saves its state, before Ray copies
it into the sweep folder (`recording_state`), after the Tuner writes `tuner.pkl`, and when the
sweep ends; every digest a file has had stays accepted, so a command killed between two saves
leaves a folder that still verifies.

Everything else seqgen reads from a sweep folder is loaded without unpickling: checkpoints with
`torch.load(weights_only=True)`, configs through `seqgen.config_trust`, JSON.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import stat
from pathlib import Path
from typing import Any, Iterable, Iterator

from seqgen.errors import SeqgenError
from seqgen.provenance import RECORD, read_record, record_files, written_here

# Files some library unpickles (or cloudpickle-decodes) when a sweep is restored or summarised.
STATE_PATTERNS = ("*.pkl", "experiment_state-*.json", "*-state-*.json", "search_gen_state-*.json")
TRUST_HINT = "if the folder is yours and you trust its contents, pass sweep.trust_folder=true"


# Pickles Ray writes but never reads back (JsonLoggerCallback's copy of a trial's params).
WRITE_ONLY = ("params.pkl",)


def state_files(root: Path) -> Iterator[Path]:
    """The files under `root` that Ray unpickles (see STATE_PATTERNS)."""
    for path in sorted(Path(root).rglob("*")):
        if path.name in WRITE_ONLY or not path.is_file() or path.is_symlink():
            continue
        if any(fnmatch.fnmatchcase(path.name, p) for p in STATE_PATTERNS):
            yield path


def record_state(sweep_dir: Path, roots: Iterable[Path] = ()) -> None:
    """Record the digests of the state files under the sweep folder (and `roots`, e.g. Tune's
    staging folder whose files Ray is about to copy into it, under the same relative names)."""
    found = [(path.relative_to(root).as_posix(), path) for root in (Path(sweep_dir), *roots) if Path(root).is_dir() for path in state_files(Path(root))]
    record_files(Path(sweep_dir), found)


def _owned_privately(path: Path, what: str) -> None:
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        raise SeqgenError(f"{what} {path} is a symbolic link: seqgen does not restore sweep state through links; {TRUST_HINT}")
    if info.st_uid != os.geteuid():
        raise SeqgenError(
            f"{what} {path} is owned by user id {info.st_uid}, not by you ({os.geteuid()}): its pickled Ray state could run "
            f"someone else's code; {TRUST_HINT}"
        )
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise SeqgenError(
            f"{what} {path} is writable by {'others' if info.st_mode & stat.S_IWOTH else 'its group'} (mode {stat.S_IMODE(info.st_mode):o}): "
            f"anyone who can write there could plant pickled code; run chmod go-w on it, or {TRUST_HINT}"
        )


def verify_sweep_folder(sweep_dir: Path, trust: bool = False) -> None:
    """Refuse to restore a sweep folder whose pickled state seqgen cannot vouch for (module docstring)."""
    sweep_dir = Path(sweep_dir)
    if trust:
        print(f"[seqgen] sweep.trust_folder=true: restoring {sweep_dir} without checking who wrote its state", flush=True)
        return
    _owned_privately(sweep_dir, "sweep folder")
    record = read_record(sweep_dir)
    for path in state_files(sweep_dir):
        _owned_privately(path, "sweep state file")
        rel = path.relative_to(sweep_dir).as_posix()
        if record is None:
            raise SeqgenError(
                f"{sweep_dir} holds pickled Ray state ({rel}) but no valid record ({RECORD}) of what seqgen wrote there, "
                f"as this user on this machine: it is not restored, since unpickling runs code; {TRUST_HINT}"
            )
        if not written_here(sweep_dir, rel, record):
            raise SeqgenError(
                f"{path} is not the file seqgen recorded when Ray wrote it (digest differs, or seqgen never wrote it): "
                f"the sweep is not restored, since unpickling runs code; {TRUST_HINT}"
            )


@contextlib.contextmanager
def recording_state(sweep_dir: Path) -> Iterator[None]:
    """While Tune runs in this process: record the digests each time it saves its state, before
    Ray's syncer copies the files from its staging folder into the sweep folder."""
    from ray.tune.execution.tune_controller import TuneController

    original = TuneController.save_to_dir

    def save_to_dir(self: Any) -> None:
        original(self)
        record_state(sweep_dir, [Path(self._storage.experiment_driver_staging_path)])

    TuneController.save_to_dir = save_to_dir  # type: ignore[method-assign]
    try:
        yield
    finally:
        TuneController.save_to_dir = original  # type: ignore[method-assign]
        record_state(sweep_dir)
