"""Atomic, idempotent WebDataset shard writing and the manifest that describes the shards.

Layout of a prepared dataset folder::

    <dir>/train-000000.tar ...   WebDataset tar shards, one sample = one `__key__` + payload files
    <dir>/manifest.json          per split: shard file, sample count, sha256, size in bytes
    <dir>/meta.json              what models need to know (vocabulary, normalisation statistics)

A shard is written atomically (`seqgen.io`: temp file, fsync, rename), so a killed `prepare` never leaves a
half-written shard behind under its final name. A shard already in the manifest whose file still
has the recorded sha256 is not rewritten when `prepare` runs again.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import tarfile
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Iterable, Iterator

import numpy as np
import webdataset as wds

from seqgen.errors import SeqgenError
from seqgen.io import atomic_write, sha256_file, write_json

__all__ = ["sha256_file"]  # re-exported: verify_shards' hash, one implementation (seqgen.io)

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
META = "meta.json"


@dataclass
class ShardInfo:
    file: str
    samples: int
    sha256: str
    bytes: int


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError as err:
        raise SeqgenError(f"{path} not found: run `seqgen-prepare` for this dataset first") from err
    except json.JSONDecodeError as err:
        raise SeqgenError(f"{path} is not valid JSON ({err}); delete it and re-run `seqgen-prepare`") from err


def encode_array(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def decode_array(payload: bytes) -> np.ndarray:
    return np.load(io.BytesIO(payload), allow_pickle=False)


def _batches(samples: Iterable[dict[str, bytes]], size: int) -> Iterator[list[dict[str, bytes]]]:
    batch: list[dict[str, bytes]] = []
    for sample in samples:
        batch.append(sample)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class ShardWriter:
    """Writes the samples of one split into numbered shards and records them in the manifest.

    Samples are dicts ``{"__key__": str, "<ext>": bytes, ...}`` as in WebDataset. Writing is
    deterministic: the same samples give byte-identical shards (fixed mtime/user), so a rerun
    can recognise finished shards by their hash.
    """

    def __init__(self, out_dir: Path, split: str, samples_per_shard: int) -> None:
        if samples_per_shard < 1:
            raise SeqgenError("samples_per_shard must be >= 1")
        self.out_dir = Path(out_dir)
        self.split = split
        self.samples_per_shard = samples_per_shard
        self.out_dir.mkdir(parents=True, exist_ok=True)
        manifest = load_manifest(self.out_dir, missing_ok=True)
        self._previous = {s["file"]: s for s in manifest.get("splits", {}).get(split, [])}
        self.shards: list[ShardInfo] = []
        self.reused = 0

    def write(self, samples: Iterable[dict[str, bytes]]) -> list[ShardInfo]:
        for index, batch in enumerate(_batches(samples, self.samples_per_shard)):
            name = f"{self.split}-{index:06d}.tar"
            self.shards.append(self._write_shard(self.out_dir / name, batch))
        self._record()
        return self.shards

    def _write_shard(self, path: Path, batch: list[dict[str, bytes]]) -> ShardInfo:
        payload = io.BytesIO()
        with wds.TarWriter(payload, mtime=0.0, user="seqgen", group="seqgen", encoder=False) as sink:
            for sample in batch:
                sink.write(sample)
        data = payload.getvalue()
        digest = hashlib.sha256(data).hexdigest()
        previous = self._previous.get(path.name)
        if previous and previous["sha256"] == digest and path.exists() and sha256_file(path) == digest:
            self.reused += 1
            return ShardInfo(path.name, len(batch), digest, len(data))
        atomic_write(path, data)
        return ShardInfo(path.name, len(batch), digest, len(data))

    def _record(self) -> None:
        manifest = load_manifest(self.out_dir, missing_ok=True)
        manifest.setdefault("splits", {})[self.split] = [asdict(s) for s in self.shards]
        keep = {s.file for s in self.shards}
        for stale in self.out_dir.glob(f"{self.split}-*.tar"):
            if stale.name not in keep:
                stale.unlink()
        write_json(self.out_dir / MANIFEST, manifest)


def load_manifest(data_dir: Path, missing_ok: bool = False) -> dict[str, Any]:
    path = Path(data_dir) / MANIFEST
    if not path.exists():
        if missing_ok:
            return {"splits": {}}
        raise SeqgenError(
            f"no prepared shards in {data_dir} ({MANIFEST} missing): run `seqgen-prepare data=<name>` first"
        )
    return read_json(path)


def split_shards(data_dir: Path, split: str) -> list[ShardInfo]:
    manifest = load_manifest(data_dir)
    entries = manifest.get("splits", {}).get(split)
    if not entries:
        raise SeqgenError(f"{data_dir}/{MANIFEST} lists no '{split}' shards: re-run `seqgen-prepare`")
    try:
        return [ShardInfo(**entry) for entry in entries]
    except TypeError as err:
        raise SeqgenError(f"{data_dir}/{MANIFEST} has a malformed '{split}' entry ({err}): re-run `seqgen-prepare`") from None


def verify_shards(data_dir: Path, shards: list[ShardInfo], full_hash: bool = True) -> tuple[list[ShardInfo], list[str]]:
    """Split shards into (good, bad names): missing, truncated (size), corrupt (sha256), or unsafe:
    named outside the data folder, or holding a member that is not a plain file inside the shard
    (`unsafe_member`). Every reader of prepared data gets its shards through here."""
    good: list[ShardInfo] = []
    bad: list[str] = []
    for shard in shards:
        path = Path(data_dir) / str(shard.file)
        if not isinstance(shard.file, str) or Path(shard.file).name != shard.file or shard.file in ("", ".", ".."):
            reason = "not a file name inside the data folder (the manifest may be tampered with)"
        elif not path.is_file() or path.is_symlink():
            reason = "missing" if not path.exists() else "not a regular file"
        elif path.stat().st_size != shard.bytes:
            reason = f"size {path.stat().st_size} != {shard.bytes} (truncated?)"
        elif full_hash and sha256_file(path) != shard.sha256:
            reason = "sha256 mismatch (corrupt)"
        else:
            reason = unsafe_member(path)
            if reason is None:
                good.append(shard)
                continue
        bad.append(f"{shard.file}: {reason}")
    for line in bad:
        log.warning("skipping shard %s", line)
    return good, bad


def unsafe_member(path: Path) -> str | None:
    """Why a shard must not be read, or None: a member that is a link or device rather than a plain
    file, or whose name is absolute or climbs out with `..` (seqgen writes neither)."""
    try:
        with tarfile.open(path) as tar:
            for member in tar:
                name = member.name
                if name.startswith(("/", "\\")) or ".." in PurePosixPath(name).parts or (len(name) > 1 and name[1] == ":"):
                    return f"member {name!r} is named outside the shard (absolute or ..): refused"
                if not member.isreg():
                    what = f"a link to {member.linkname!r}" if member.issym() or member.islnk() else "not a regular file"
                    return f"member {name!r} is {what}: refused"
    except (tarfile.TarError, OSError, EOFError) as err:
        return f"unreadable tar ({err})"
    return None


def write_meta(data_dir: Path, meta: dict[str, Any]) -> None:
    write_json(Path(data_dir) / META, meta)


def read_meta(data_dir: Path) -> dict[str, Any]:
    return read_json(Path(data_dir) / META)
