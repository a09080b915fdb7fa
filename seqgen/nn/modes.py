"""Running a network in evaluation mode for a while (sampling, figures) without losing its mode."""

from __future__ import annotations

import functools
from contextlib import contextmanager
from typing import Any, Callable, Iterator, TypeVar

from torch import nn

F = TypeVar("F", bound=Callable[..., Any])


@contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """eval() for the block (no dropout, weight-noise means); the previous mode comes back even on errors."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


def evaluates_first_arg(fn: F) -> F:
    """Decorator form of `eval_mode` for functions whose first argument is the network."""

    @functools.wraps(fn)
    def wrapped(module: nn.Module, *args: Any, **kwargs: Any) -> Any:
        with eval_mode(module):
            return fn(module, *args, **kwargs)

    return wrapped  # type: ignore[return-value]
