"""No Ray process outlives `seqgen-sweep`.

`ray.shutdown()` ends a local Ray when the command ends normally or by Ctrl-C; a driver killed
by SIGTERM skipped it, and one killed by SIGKILL cannot run anything. So:

* SIGTERM is turned into KeyboardInterrupt while the sweep runs (`sigterm_as_interrupt`): the
  `finally` that shuts Ray down runs, as on Ctrl-C;
* the pids of the local Ray's processes (and their children: the trial workers) are written to
  `<sweep folder>/ray_processes.json` once Ray is up; after the shutdown, and at the start of
  the next command on the same sweep folder (after a SIGKILL), those still alive are ended
  (SIGTERM, then SIGKILL). Only recorded pids whose command line still names Ray are touched,
  so a reused pid of an unrelated process is left alone.

Linux (/proc); elsewhere only the shutdown and the signal handling apply.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import time
from pathlib import Path
from typing import Any, Iterator

from seqgen.training.run_lock import pid_alive

log = logging.getLogger(__name__)

RECORD = "ray_processes.json"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else []:
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def descendants(pids: list[int]) -> list[int]:
    """`pids` and all their descendants (children first found through /proc)."""
    tree = _children_map()
    out, todo = [], list(pids)
    while todo:
        pid = todo.pop()
        if pid in out:
            continue
        out.append(pid)
        todo.extend(tree.get(pid, []))
    return out


def ray_node_pids() -> list[int]:
    """Pids of the processes of this driver's local Ray node (GCS, raylet, ...), when it started one."""
    try:
        from ray._private import worker

        node = worker._global_node
    except Exception:  # noqa: BLE001 - Ray internals vary between versions
        return []
    if node is None or not getattr(node, "head", False):
        return []  # a cluster we only connected to (sweep.address): not ours to end
    pids = []
    for infos in getattr(node, "all_processes", {}).values():
        for info in infos:
            process = getattr(info, "process", None)
            if process is not None and getattr(process, "pid", None):
                pids.append(int(process.pid))
    return pids


def record_ray_processes(sweep_dir: Path) -> list[int]:
    pids = descendants(ray_node_pids())
    if pids:
        from seqgen.io import write_json

        write_json(Path(sweep_dir) / RECORD, {"driver": os.getpid(), "pids": pids})
    return pids


def _alive_ray(pid: int) -> bool:
    command = _cmdline(pid)
    return bool(command) and ("ray" in command.lower() or "gcs_server" in command or "raylet" in command)


def end_recorded_processes(sweep_dir: Path, grace_s: float = 5.0) -> list[int]:
    """End the recorded Ray processes (and their children) that are still alive; returns their pids."""
    path = Path(sweep_dir) / RECORD
    if not path.exists():
        return []
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    if record.get("driver") not in (None, os.getpid()) and pid_alive(int(record["driver"])):
        return []  # another live command drives this sweep: leave its Ray alone
    pids = [pid for pid in descendants([int(p) for p in record.get("pids", [])]) if pid != os.getpid() and _alive_ray(pid)]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.time() + grace_s
        while time.time() < deadline and any(_alive_ray(pid) for pid in pids):
            time.sleep(0.1)
        pids = [pid for pid in pids if _alive_ray(pid)]
        if not pids:
            break
    if pids:
        log.warning("Ray processes %s could not be ended", pids)
    with contextlib.suppress(OSError):
        path.unlink()
    return pids


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt in the main thread (so `finally` blocks run), while inside."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
