"""Flat-memory helpers for `prepare`: scratch folders to spill a corpus to, and giving freed heap back.

`scratch_dir(out_dir)` makes a hidden folder ``.prepare-spill-<pid>@<host>.<random>`` inside the output
folder (same disk as the shards, so it scales with them, not with a small /tmp) and removes it
when the block ends, normally or by an exception. A prepare killed outright (SIGKILL, power loss)
cannot clean up; the next `scratch_dir` on that output folder removes every spill folder whose
process is gone, so a re-run starts clean and nothing accumulates. Spill folders are hidden: the
shard writer, the manifest and the corpus fingerprint never see them.

`release_free_memory()` hands the C heap's free pages back to the operating system (glibc's
`malloc_trim`). Native code that allocates buffers of a new size for every item (torchaudio's
`resample` on utterances of varying length) otherwise leaves the heap fragmented and the
process's memory growing with the corpus although nothing is kept.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import os
import shutil
import socket
import sys
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


@functools.lru_cache(maxsize=None)
def _malloc_trim() -> object | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (musl): nothing to call
        return None


def release_free_memory() -> None:
    """Return the C heap's free pages to the OS (glibc `malloc_trim(0)`, a few ms); a no-op elsewhere."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)  # type: ignore[operator]
