"""Shard writing is atomic and idempotent; corrupt or truncated shards are found and skipped."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from seqgen.core.datamodule import ShardDataModule
from seqgen.data.shards import ShardWriter, decode_array, encode_array, load_manifest, sha256_file, split_shards, verify_shards
from seqgen.data.stream import ShardStream
from seqgen.errors import SeqgenError


def samples(n: int, start: int = 0):
    for i in range(start, start + n):
        yield {"__key__": f"s{i:05d}", "tokens.npy": encode_array(np.arange(i, i + 5, dtype=np.uint16))}


def test_manifest_counts_hashes_and_no_temp_files(tmp_path: Path) -> None:
    shards = ShardWriter(tmp_path, "train", samples_per_shard=4).write(samples(10))
    assert [s.samples for s in shards] == [4, 4, 2]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    for entry in manifest["splits"]["train"]:
        path = tmp_path / entry["file"]
        assert sha256_file(path) == entry["sha256"] and path.stat().st_size == entry["bytes"]
    assert not list(tmp_path.glob("*.tmp"))


def test_rerun_does_not_rewrite_finished_shards(tmp_path: Path) -> None:
    ShardWriter(tmp_path, "train", 4).write(samples(10))
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("train-*.tar")}
    writer = ShardWriter(tmp_path, "train", 4)
    writer.write(samples(10))
    assert writer.reused == 3
    assert before == {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("train-*.tar")}
    # changed data: shards rewritten, stale extra shard removed
    ShardWriter(tmp_path, "train", 4).write(samples(6, start=100))
    assert sorted(p.name for p in tmp_path.glob("train-*.tar")) == ["train-000000.tar", "train-000001.tar"]


def test_corrupt_and_truncated_shards_are_reported(tmp_path: Path) -> None:
    ShardWriter(tmp_path, "train", 2).write(samples(8))
    listed = split_shards(tmp_path, "train")
    data = bytearray((tmp_path / listed[1].file).read_bytes())
    data[600] ^= 0xFF
    (tmp_path / listed[1].file).write_bytes(bytes(data))
    (tmp_path / listed[2].file).write_bytes(data[:100])
    good, bad = verify_shards(tmp_path, listed)
    assert len(good) == 2
    assert any(listed[1].file in b and "sha256" in b for b in bad)
    assert any(listed[2].file in b and "truncated" in b for b in bad)


def test_stream_skips_unreadable_shard_and_keeps_the_rest(tmp_path: Path) -> None:
    ShardWriter(tmp_path, "train", 2).write(samples(6))
    urls = [str(tmp_path / s.file) for s in split_shards(tmp_path, "train")]
    (tmp_path / "train-000001.tar").write_bytes(b"this is not a tar file at all" * 40)
    seen: list[str] = []
    stream = ShardStream(urls, lambda s: seen.append(s["__key__"]) or s["__key__"], list, 1, infinite=False)
    list(stream)
    assert stream.errors >= 1
    assert sorted(seen) == ["s00000", "s00001", "s00004", "s00005"]


def test_missing_manifest_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SeqgenError, match="seqgen-prepare"):
        load_manifest(tmp_path)
    with pytest.raises(SeqgenError, match="does not exist"):
        ShardDataModule(str(tmp_path / "nope")).load_info()


def test_array_roundtrip() -> None:
    array = np.random.default_rng(0).normal(size=(7, 3)).astype(np.float32)
    np.testing.assert_array_equal(decode_array(encode_array(array)), array)
