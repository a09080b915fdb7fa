"""The one way seqgen writes files: atomically (temp file in the same folder, fsync, rename).

A reader never sees a half-written file: a crash, a kill or a full disk leaves either the old
file or the new one, never a truncated mix. A write that fails (full disk, read-only or unwritable
folder) raises one `SeqgenError` naming the file, its folder, the reason and that the old file is
intact. Every file the platform writes goes through here: shards, manifests, checkpoints,
figures, reports, samples, audio, sweep summaries.

    atomic_write(path, "text")                   # str or bytes
    write_json(path, {"a": 1})
    with atomic_path(path) as tmp:               # for libraries that want a path to write to
        fig.savefig(tmp, format="png")
    with atomic_open(path, "wb") as handle:      # for streaming writers
        handle.write(chunk)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator, Sequence

from seqgen.errors import SeqgenError, write_failure


# The process umask, read once: temp files (mkstemp: 0600) get the mode a plain open() would give.
_UMASK = os.umask(0)
os.umask(_UMASK)


def _fsync_dir(folder: Path) -> None:
    # The rename is durable only once the folder's entry is on disk (POSIX); best effort elsewhere.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temp path beside `path`; on success it is fsynced and renamed onto `path`.

    On an exception the temp file is removed and `path` is left as it was. `suffix` defaults to
    the target's suffix, so libraries that choose a format by extension (matplotlib, soundfile)
    still see the right one.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.tmp-", suffix=path.suffix if suffix is None else suffix, dir=path.parent)
    except OSError as err:
        failure = write_failure(err, path)
        if failure is None:
            raise
        raise failure from err
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_UMASK)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException as err:
        with contextlib.suppress(OSError):
            tmp.unlink()
        # a full disk or a read-only folder: one clear error naming the file (the old one is untouched)
        kept = f"the previous {path.name} is intact" if path.exists() else f"no {path.name} was written"
        failure = write_failure(err, path, kept)
        if failure is not None and not isinstance(err, SeqgenError):
            raise failure from err
        raise


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb", **kwargs: Any) -> Iterator[IO[Any]]:
    """`open()` for writing, atomically: the file appears under `path` only when the block ends."""
    if not mode.startswith("w"):
        raise ValueError(f"atomic_open writes whole files; mode {mode!r} is not a write mode")
    with atomic_path(path) as tmp:
        with open(tmp, mode, **kwargs) as handle:
            yield handle
            handle.flush()


def atomic_write(path: str | os.PathLike[str], data: str | bytes, encoding: str = "utf-8") -> Path:
    """Write `data` (text or bytes) to `path` atomically; returns the path."""
    payload = data.encode(encoding) if isinstance(data, str) else data
    with atomic_open(path, "wb") as handle:
        handle.write(payload)
    return Path(path)


def write_json(path: str | os.PathLike[str], obj: Any, indent: int = 2) -> Path:
    """JSON, atomically; values json cannot encode (paths, numpy scalars) are written as strings."""
    return atomic_write(path, json.dumps(obj, indent=indent, sort_keys=True, default=_jsonable) + "\n")


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item") and callable(value.item):
        try:
            return value.item()
        except (TypeError, ValueError):
            pass
    return str(value)


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks (flat memory for any size)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def split_fractions(
    fractions: Sequence[float],
    names: Sequence[str] = ("train", "valid", "test"),
    key: str = "data.splits",
    partial: bool = False,
) -> dict[str, float]:
    """Validate split fractions (each in [0, 1], summing to 1 within 1e-6) and name them.

    partial=True: the fractions may sum to less than 1 (the rest of the data is not used), and
    the last one may be left out (it is then the remainder: [0.9, 0.05] -> test 0.05).
    """
    try:
        values = [float(f) for f in fractions]
    except (TypeError, ValueError) as err:
        raise SeqgenError(f"{key}={fractions!r}: give {len(names)} fractions ({', '.join(names)}), e.g. [0.9, 0.05, 0.05]") from err
    if partial and len(values) == len(names) - 1:
        values.append(max(0.0, 1.0 - sum(values)))
    if len(values) != len(names):
        raise SeqgenError(f"{key}={list(fractions)}: give {len(names)} fractions ({', '.join(names)}), e.g. [0.9, 0.05, 0.05]")
    total_ok = sum(values) <= 1.0 + 1e-6 if partial else abs(sum(values) - 1.0) <= 1e-6
    if any(not 0.0 <= v <= 1.0 for v in values) or not total_ok:
        rule = "sum to at most 1" if partial else "sum to 1"
        raise SeqgenError(f"{key}={list(fractions)}: split fractions ({', '.join(names)}) must lie in [0, 1] and {rule}")
    return dict(zip(names, values))


def split_counts(total: int, fractions: Sequence[float], names: Sequence[str] = ("train", "valid", "test")) -> dict[str, int]:
    """Item counts per split for `total` items; the last split takes the rounding remainder."""
    named = split_fractions(fractions, names)
    counts: dict[str, int] = {}
    used = 0
    for name in names[:-1]:
        counts[name] = int(round(total * named[name]))
        used += counts[name]
    counts[names[-1]] = max(total - used, 0)
    return counts
