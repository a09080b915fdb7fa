"""Shards split disjointly per rank and worker; fixed, equal epoch lengths; reproducible order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from seqgen.data.shards import ShardWriter, encode_array, split_shards
from seqgen.data.stream import EpochLoader, ShardStream, make_worker_loader
from seqgen.errors import SeqgenError


@pytest.fixture()
def urls(tmp_path: Path) -> list[str]:
    samples = ({"__key__": f"k{i:04d}", "x.npy": encode_array(np.array([i]))} for i in range(64))
    ShardWriter(tmp_path, "train", 4).write(samples)
    return [str(tmp_path / s.file) for s in split_shards(tmp_path, "train")]


def url_of(sample: dict) -> tuple[str, str]:
    return (Path(sample["__url__"]).name, sample["__key__"])


def one_pass(urls: list[str], rank: int, world: int, workers: int) -> list[tuple[str, str]]:
    stream = ShardStream(urls, url_of, lambda b: b, 1, rank, world, infinite=False)
    loader = DataLoader(stream, batch_size=None, num_workers=workers)
    return [item for batch in loader for item in batch]


def test_ranks_and_workers_read_disjoint_shards_covering_all(urls: list[str]) -> None:
    rank0 = one_pass(urls, 0, 2, 2)
    rank1 = one_pass(urls, 1, 2, 2)
    shards0 = {u for u, _ in rank0}
    shards1 = {u for u, _ in rank1}
    assert shards0.isdisjoint(shards1)
    assert len(shards0 | shards1) == len(urls)
    assert len(rank0) + len(rank1) == 64


def test_epoch_loader_gives_equal_batches_per_rank_and_is_reproducible(urls: list[str]) -> None:
    def loader_for(rank: int):
        def make(epoch: int):
            stream = ShardStream(urls[: 5 + 7 * rank], url_of, lambda b: b, 3, rank, 2, seed=7, epoch=epoch, shuffle_buffer=8)
            return make_worker_loader(stream, 2)

        return EpochLoader(make, batches_per_epoch=11, current_epoch=lambda: 0)

    # uneven shard counts per rank, same number of batches
    a, b = list(loader_for(0)), list(loader_for(1))
    assert len(a) == len(b) == 11
    assert list(loader_for(0)) == a  # seeded: same order again


def test_epoch_loader_resume_skips_exactly(urls: list[str]) -> None:
    def make(epoch: int):
        return make_worker_loader(ShardStream(urls, url_of, lambda b: b, 2, seed=3, epoch=epoch, shuffle_buffer=4), 1)

    full = list(EpochLoader(make, 9, current_epoch=lambda: 1))
    resumed = EpochLoader(make, 9, current_epoch=lambda: 1)
    resumed.resume_at = (1, 4)
    assert list(resumed) == full[4:]
    other_epoch = list(EpochLoader(make, 9, current_epoch=lambda: 2))
    assert other_epoch != full  # reshuffled per epoch


def test_epoch_loader_expand_splits_in_order(urls: list[str]) -> None:
    def make(epoch: int):
        return [torch.arange(6).reshape(1, 6) + 10 * i for i in range(5)]

    loader = EpochLoader(make, 7, current_epoch=lambda: 0, expand=lambda t: (t[:, :3], t[:, 3:]))
    batches = list(loader)
    assert len(batches) == 7
    assert torch.equal(batches[2], torch.tensor([[10, 11, 12]]))


def test_too_few_shards_for_ranks_times_workers_is_clear(urls: list[str]) -> None:
    stream = ShardStream(urls[:1], url_of, lambda b: b, 1, 0, 2)
    with pytest.raises(SeqgenError, match="cannot be split"):
        next(iter(stream))
