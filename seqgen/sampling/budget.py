"""Memory budgets of sampling requests: an absurd request is refused before anything is allocated.

`seqgen-sample` options multiply: `num_samples=10**9` images of 28 x 28 pixels once asked for
51 GB, an Atari `length=10**9` for 5.6 TB, and failed deep inside torch. A family states what a
request needs (its output tensors, a lower bound of what sampling allocates) and `check_request`
compares it with the limit, `max_memory_gb` of conf/sample.yaml (4 GB by default), the same way
the demo limits its text (`seqgen-serve max_chars=`, `max_lines=`).
"""

from __future__ import annotations

from typing import Any

from seqgen.errors import SeqgenError

DEFAULT_LIMIT_GB = 4.0


def limit_bytes(cfg: Any) -> int:
    """The configured budget of one request (`max_memory_gb`), in bytes."""
    gb = cfg.get("max_memory_gb") if cfg is not None else None
    return int(float(gb if gb is not None else DEFAULT_LIMIT_GB) * 1e9)


def check_request(cfg: Any, what: str, count: int, bytes_each: int, smaller: str) -> None:
    """Refuse `count` items of `bytes_each` bytes (`what`, e.g. "num_samples=10 images of 28x28")
    when they exceed the budget; `smaller`: which options to lower. Python ints: no overflow."""
    need = int(count) * int(bytes_each)
    limit = limit_bytes(cfg)
    if need > limit:
        raise SeqgenError(
            f"{what} would need at least {need / 1e9:.3g} GB of memory, more than the limit of {limit / 1e9:.3g} GB "
            f"(max_memory_gb): lower {smaller}, or raise max_memory_gb=<GB> if this machine has the memory"
        )
