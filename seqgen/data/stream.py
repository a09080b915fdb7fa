"""Streaming prepared shards into training: split per DDP rank and per worker, resumable.

Training reads an endless, reshuffled stream of this rank's shards and cuts it into epochs of a
fixed number of batches (`EpochLoader`), which gives every rank the same number of batches per
epoch whatever the shard sizes (DDP would hang otherwise). All randomness is seeded by
(seed, epoch, rank, worker), so the stream is reproducible, and a resumed run skips exactly the
batches it already trained on.

Corrupt shards are found twice: before training (size and sha256 against the manifest, see
`shards.verify_shards`) and while reading (a tar error skips the rest of that shard). Both are
logged with the shard's name and counted.
"""

from __future__ import annotations

import logging
import random
from typing import Any, Callable, Iterable, Iterator, Sequence

import torch
import webdataset as wds
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from seqgen.errors import SeqgenError

log = logging.getLogger(__name__)

Sample = dict[str, Any]


class ShardStream(IterableDataset):
    """Samples of this (rank, worker)'s disjoint share of `urls`, decoded and batched.

    `infinite=True` loops over the share forever, reshuffling shard order each pass (training);
    `infinite=False` reads it once in order (evaluation).
    """

    def __init__(
        self,
        urls: Sequence[str],
        decode: Callable[[Sample], Any],
        collate: Callable[[list[Any]], Any],
        batch_size: int,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
        epoch: int = 0,
        shuffle_buffer: int = 0,
        infinite: bool = True,
        drop_last: bool = True,
    ) -> None:
        super().__init__()
        # A batch that never reaches its size would grow without bound (a negative batch size
        # once ate the machine's memory): refuse it here, whatever the config validation let through.
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise SeqgenError(f"batch size {batch_size!r} is out of range: must be an integer >= 1 (data.datamodule.batch_size)")
        self.urls = list(urls)
        self.decode = decode
        self.collate = collate
        self.batch_size = batch_size
        self.rank = rank
        self.world_size = world_size
        self.seed = seed
        self.epoch = epoch
        self.shuffle_buffer = shuffle_buffer
        self.infinite = infinite
        self.drop_last = drop_last
        self.errors = 0

    def my_urls(self) -> tuple[list[str], int]:
        worker = get_worker_info()
        worker_id, num_workers = (worker.id, worker.num_workers) if worker else (0, 1)
        slots = self.world_size * num_workers
        slot = self.rank * num_workers + worker_id
        if self.infinite and len(self.urls) < slots:
            raise SeqgenError(
                f"{len(self.urls)} training shards cannot be split over {self.world_size} rank(s) x "
                f"{num_workers} worker(s): lower data.datamodule.num_workers or re-run prepare with a smaller "
                "data.prepare.samples_per_shard"
            )
        return self.urls[slot::slots], slot

    def _on_error(self, exn: Exception) -> bool:
        self.errors += 1
        log.warning("skipping unreadable shard data (%d so far on this worker): %r", self.errors, exn)
        return True

    def _samples(self, urls: list[str], rng: random.Random) -> Iterator[Any]:
        source = ({"url": url} for url in urls)
        samples: Iterable[Sample] = wds.tarfile_to_samples(handler=self._on_error)(source)
        if self.shuffle_buffer > 1:
            samples = wds.shuffle(self.shuffle_buffer, initial=self.shuffle_buffer, rng=rng)(samples)
        for sample in samples:
            try:
                item = self.decode(sample)
            except (ValueError, KeyError, OSError) as err:
                self._on_error(ValueError(f"sample {sample.get('__key__')} of {sample.get('__url__')}: {err}"))
                continue
            if item is not None:
                yield item

    def __iter__(self) -> Iterator[Any]:
        urls, slot = self.my_urls()
        rng = random.Random(f"{self.seed}/{self.epoch}/{slot}")
        batch: list[Any] = []
        while True:
            order = list(urls)
            if self.infinite:
                rng.shuffle(order)
            produced = False
            for item in self._samples(order, rng):
                produced = True
                batch.append(item)
                if len(batch) == self.batch_size:
                    yield self.collate(batch)
                    batch = []
            if not self.infinite:
                break
            if not produced:
                raise SeqgenError(f"no readable samples in shards {urls}: re-run `seqgen-prepare`")
        if batch and not self.drop_last:
            yield self.collate(batch)


class EpochLoader:
    """One epoch = `batches_per_epoch` batches from an endless loader; position saved for resume.

    `make_loader(epoch)` builds the worker DataLoader for an epoch; `expand(raw)` (optional, run
    in the main process so order is kept) turns one loaded batch into several training batches,
    e.g. a batch of long text streams into consecutive truncated-BPTT segments.
    """

    def __init__(
        self,
        make_loader: Callable[[int], Iterable[Any]],
        batches_per_epoch: int,
        current_epoch: Callable[[], int],
        expand: Callable[[Any], Iterable[Any]] | None = None,
    ) -> None:
        if batches_per_epoch < 1:
            raise SeqgenError("batches_per_epoch must be >= 1")
        self.make_loader = make_loader
        self.batches_per_epoch = batches_per_epoch
        self.current_epoch = current_epoch
        self.expand = expand
        self.resume_at: tuple[int, int] | None = None

    def __len__(self) -> int:
        return self.batches_per_epoch

    def __iter__(self) -> Iterator[Any]:
        epoch = self.current_epoch()
        skip = 0
        if self.resume_at is not None and self.resume_at[0] == epoch:
            skip = self.resume_at[1]
            log.info("resuming epoch %d at batch %d", epoch, skip)
        self.resume_at = None
        position = 0
        for raw in self.make_loader(epoch):
            for batch in self.expand(raw) if self.expand else (raw,):
                if position >= self.batches_per_epoch:
                    return
                position += 1
                if position > skip:
                    yield batch
            if position >= self.batches_per_epoch:
                return


def make_worker_loader(dataset: IterableDataset, num_workers: int) -> DataLoader:
    return DataLoader(
        dataset,
        batch_size=None,
        num_workers=num_workers,
        persistent_workers=False,
        pin_memory=torch.cuda.is_available(),
        prefetch_factor=4 if num_workers > 0 else None,
    )
