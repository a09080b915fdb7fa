"""User-facing errors: one line that names the problem and the fix, no traceback wall."""

from __future__ import annotations

import errno
import functools
import os
import sys
from pathlib import Path
from typing import Any, Callable, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class SeqgenError(Exception):
    """A problem the user can fix (bad path, bad config, bad input). The message says how."""


def friendly_errors(fn: F) -> F:
    """Turn SeqgenError into `seqgen: error: ...` on stderr and exit status 2.

    Set SEQGEN_TRACEBACK=1 to see the full traceback instead.
    """

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as err:
            user_error = find_user_error(err) or write_failure(err)
            if user_error is None or os.environ.get("SEQGEN_TRACEBACK"):
                raise
            print(f"seqgen: error: {user_error}", file=sys.stderr, flush=True)
            sys.exit(2)

    return wrapped  # type: ignore[return-value]


def find_user_error(err: BaseException | None) -> SeqgenError | None:
    """The SeqgenError behind `err`, also when a library wrapped it (Hydra's instantiate does)."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, SeqgenError):
            return err
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return None


# Why a write failed, by errno: what a user can act on (free space, another folder, permissions).
_WRITE_REASONS = {
    errno.ENOSPC: "no space left on the device holding {folder}",
    errno.EDQUOT: "the disk quota of {folder} is used up",
    errno.EFBIG: "the file grew past the size limit (a full file system, or `ulimit -f`)",
    errno.EROFS: "{folder} is on a read-only file system",
    errno.EACCES: "{folder} is not writable (permission denied)",
    errno.EPERM: "{folder} is not writable (operation not permitted)",
}


def write_failure(err: BaseException | None, path: Any = None, consequence: str = "") -> SeqgenError | None:
    """A `SeqgenError` naming the file, its folder and the reason, when `err` (or what caused it, as
    torch's zip writer wraps the OSError) is a failed write: full disk, read-only or unwritable folder.
    `consequence`: what it means for the user's files, e.g. that the last checkpoint is intact."""
    oserror = _write_oserror(err)
    if oserror is None:
        return None
    target = Path(str(path if path is not None else (oserror.filename or "?")))
    tail = f"; {consequence}" if consequence else ""
    return SeqgenError(f"cannot write {target}: {write_reason(oserror, target.parent)}{tail}: free some space or pick a writable folder")


def write_reason(err: BaseException | None, folder: Any) -> str | None:
    """Why a write into `folder` failed, in words (None: `err` is not a failed write)."""
    oserror = _write_oserror(err)
    return _WRITE_REASONS[oserror.errno].format(folder=folder) if oserror is not None else None


def _write_oserror(err: BaseException | None) -> OSError | None:
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno in _WRITE_REASONS:
            return err
        err = err.__cause__ or err.__context__
    return None
