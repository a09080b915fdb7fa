"""User-facing errors: one line that names the problem and the fix, no traceback wall."""

from __future__ import annotations

import functools
import os
import sys
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
            user_error = find_user_error(err)
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
