"""One live run per run folder: an exclusive lock file, and unique run folder names.

Two trainings started in the same second must not share `outputs/train/runs/<time>` and replace
each other's checkpoints: (1) the default run folder name carries the process id and a random
suffix (`seqgen_run_id` resolver in conf/hydra/default.yaml), and (2) `train` holds
`<run>/.seqgen.lock` (created with O_EXCL, holding host and pid) for as long as it runs: a second
process that targets the same folder (`resume=<run>` while it still trains, or the same
`hydra.run.dir`) is refused with a clear error. A lock left by a dead process (kill -9, a lost
node) is taken over; the lock is checked with the pid on the same host only, a lock of another
host is trusted for `stale_after_s` seconds since its last refresh.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import time
from pathlib import Path
from typing import Iterator

from seqgen.errors import SeqgenError

LOCK_NAME = ".seqgen.lock"
_RUN_ID = f"{os.getpid()}-{secrets.token_hex(2)}"  # fixed per process: Hydra may resolve run.dir more than once


def run_id() -> str:
    """`<pid>-<4 hex>`: appended to the default run folder name so two runs never share one."""
    return _RUN_ID


def _is_rank_zero() -> bool:
    """Only global rank 0 owns the folder (DDP ranks started by Lightning, torchrun or srun share it)."""
    return all(os.environ.get(key, "0") == "0" for key in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID"))


def pid_alive(pid: int) -> bool:
    """Whether a live process has this pid on this host (signal 0 probes; a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc (not Linux): the signal probe is all we have


def _owner(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def run_folder_lock(run_dir: Path, stale_after_s: float = 24 * 3600) -> Iterator[None]:
    """Hold `<run_dir>/.seqgen.lock` while the block runs; refuse a folder that a live run owns."""
    if not _is_rank_zero():
        yield
        return
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_NAME
    me = {"host": socket.gethostname(), "pid": os.getpid(), "since": time.time()}
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = _owner(path) or {}
            same_host = owner.get("host") == me["host"]
            pid = int(owner.get("pid", -1))
            if pid == me["pid"] and same_host:
                break  # our own lock (a sweep trial restored in the same worker)
            live = pid_alive(pid) if same_host else time.time() - path.stat().st_mtime < stale_after_s
            if live:
                raise SeqgenError(
                    f"run folder {run_dir} is in use by a live run (pid {pid} on {owner.get('host')}): "
                    f"wait for it to end, or start a new run without resume=/hydra.run.dir (remove {path} if that run is gone)"
                )
            with contextlib.suppress(FileNotFoundError):
                path.unlink()  # stale: its process is gone
            continue
        with os.fdopen(fd, "w") as handle:
            json.dump(me, handle)
        break
    try:
        yield
    finally:
        owner = _owner(path)
        if owner and owner.get("pid") == me["pid"] and owner.get("host") == me["host"]:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
