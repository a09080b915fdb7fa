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
        except SeqgenError as err:
            if os.environ.get("SEQGEN_TRACEBACK"):
                raise
            print(f"seqgen: error: {err}", file=sys.stderr, flush=True)
            sys.exit(2)

    return wrapped  # type: ignore[return-value]
