"""Two real DDP processes (gloo on CPU): disjoint shards per rank, the same number of batches."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch.distributed as dist
import torch.multiprocessing as mp

from seqgen.families.text.datamodule import TextDataModule


class RecordingTextData(TextDataModule):
    """The real text datamodule, also reporting which shard each stream came from."""

    def decode(self, sample: dict[str, Any]) -> Any:
        return super().decode(sample), Path(sample["__url__"]).name

    def collate(self, items: list[Any]) -> dict[str, Any]:
        batch = super().collate([tokens for tokens, _ in items])
        batch["urls"] = [url for _, url in items]
        return batch

    def expand(self, batch: dict[str, Any]):  # type: ignore[no-untyped-def]
        for segment in super().expand(batch):
            segment["urls"] = batch["urls"]
            yield segment


def worker(rank: int, world: int, port: int, data_dir: str, out: dict) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    module = RecordingTextData(data_dir, segment_length=20, batch_size=2, batches_per_epoch=13, num_workers=2, shuffle_buffer=4)
    module.load_info()
    module.trainer = SimpleNamespace(global_rank=rank, world_size=world, current_epoch=0)  # type: ignore[assignment]
    batches = list(module.train_dataloader())
    urls = sorted({u for b in batches for u in b["urls"]})
    gathered: list[Any] = [None] * world
    dist.all_gather_object(gathered, (len(batches), urls))
    if rank == 0:
        out.update(result=gathered)
    dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_ranks_read_disjoint_shards_and_equal_batches(tiny_text_data: Path) -> None:
    data_dir = str(tiny_text_data / "text_file")
    with mp.Manager() as manager:
        out = manager.dict()
        mp.spawn(worker, args=(2, free_port(), data_dir, out), nprocs=2, join=True)
        (count0, urls0), (count1, urls1) = out["result"]
    assert count0 == count1 == 13
    assert urls0 and urls1 and set(urls0).isdisjoint(urls1)
