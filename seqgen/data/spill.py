"""Scratch folders for `prepare` passes that spill a corpus to disk instead of holding it in memory.

`scratch_dir(out_dir)` makes a hidden folder ``.prepare-spill-<pid>@<host>.<random>`` inside the output
folder (same disk as the shards, so it scales with them, not with a small /tmp) and removes it
when the block ends, normally or by an exception. A prepare killed outright (SIGKILL, power loss)
cannot clean up; the next `scratch_dir` on that output folder removes every spill folder whose
process is gone, so a re-run starts clean and nothing accumulates. Spill folders are hidden: the
shard writer, the manifest and the corpus fingerprint never see them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Iterator

log = logging.getLogger(__name__)

PREFIX = ".prepare-spill-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale(out_dir: Path) -> list[Path]:
    """Remove spill folders left in `out_dir` by prepares that were killed; returns them."""
    removed = []
    host = socket.gethostname()
    for folder in sorted(Path(out_dir).glob(PREFIX + "*")):
        pid, _, rest = folder.name[len(PREFIX) :].partition("@")
        if folder.is_dir() and pid.isdigit() and rest.rsplit(".", 1)[0] == host and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            log.info("removed %s, left by a prepare that was killed", folder)
            removed.append(folder)
    return removed


@contextlib.contextmanager
def scratch_dir(out_dir: str | os.PathLike[str]) -> Iterator[Path]:
    """A fresh spill folder inside `out_dir`, removed on exit (see the module doc)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    remove_stale(out)
    folder = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}@{socket.gethostname()}.", dir=out))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
