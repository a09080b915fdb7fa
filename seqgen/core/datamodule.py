"""A LightningDataModule over prepared shards; each family adds decode/collate (and expand)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Iterable

import pytorch_lightning as pl
from torch.utils.data import DataLoader

from seqgen.data import shards as shard_io
from seqgen.data.stream import EpochLoader, ShardStream, make_worker_loader
from seqgen.errors import SeqgenError

log = logging.getLogger(__name__)


class ShardDataModule(pl.LightningDataModule):
    family: str = "base"

    def __init__(
        self,
        data_dir: str,
        batch_size: int = 32,
        eval_batch_size: int | None = None,
        batches_per_epoch: int = 200,
        num_workers: int = 1,
        shuffle_buffer: int = 64,
        seed: int = 0,
        verify: bool = True,
    ) -> None:
        super().__init__()
        self.data_dir = Path(data_dir)
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.batches_per_epoch = batches_per_epoch
        self.num_workers = num_workers
        self.shuffle_buffer = shuffle_buffer
        self.seed = seed
        self.verify = verify
        self.info: dict[str, Any] = {}
        self.skipped_shards: list[str] = []
        self._resume: tuple[int, int] | None = None
        self._train_loader: EpochLoader | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Worker processes get `decode`/`collate` bound to this object; with the "spawn" start
        # method it is pickled, and the trainer and the epoch loader must not travel along.
        state = self.__dict__.copy()
        state["_train_loader"] = None
        state["trainer"] = None
        return state

    # --- metadata -------------------------------------------------------------------------------
    def load_info(self) -> dict[str, Any]:
        if not self.data_dir.exists():
            raise SeqgenError(f"data folder {self.data_dir} does not exist: run `seqgen-prepare data=<name>` first (or set paths.data_dir)")
        self.info = shard_io.read_meta(self.data_dir)
        if self.info.get("family") != self.family:
            raise SeqgenError(
                f"{self.data_dir} holds '{self.info.get('family')}' data, not the '{self.family}' data this model reads: "
                f"point at a folder prepared for the {self.family} family"
            )
        return self.info

    def urls(self, split: str) -> list[str]:
        listed = shard_io.split_shards(self.data_dir, split)
        good, bad = shard_io.verify_shards(self.data_dir, listed, full_hash=self.verify)
        if bad:
            self.skipped_shards.extend(bad)
            log.warning("%d of %d %s shards skipped (listed above); re-run `seqgen-prepare` to rewrite them", len(bad), len(listed), split)
        if not good:
            raise SeqgenError(f"every '{split}' shard in {self.data_dir} is missing or corrupt: re-run `seqgen-prepare`")
        return [str(self.data_dir / shard.file) for shard in good]

    def read_samples(self, split: str = "valid", limit: int = 4) -> list[Any]:
        """The first `limit` samples of a split, decoded by the family (figures, evaluation rollouts).
        Unreadable samples are skipped with a warning, as in training."""
        import webdataset as wds

        out: list[Any] = []
        source = ({"url": url} for url in self.urls(split))
        for sample in wds.tarfile_to_samples(handler=wds.warn_and_continue)(source):
            out.append(self.decode(sample))
            if len(out) >= limit:
                break
        return out

    # --- family hooks ---------------------------------------------------------------------------
    def decode(self, sample: dict[str, Any]) -> Any:
        raise NotImplementedError

    def collate(self, items: list[Any]) -> Any:
        raise NotImplementedError

    def expand(self, batch: Any) -> Iterable[Any] | None:
        """Optionally split one loaded batch into several consecutive training batches."""
        return None

    train_expand = False

    # --- loaders --------------------------------------------------------------------------------
    def _rank(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def train_dataloader(self) -> EpochLoader:
        urls = self.urls("train")
        rank, world = self._rank()

        def make_loader(epoch: int) -> DataLoader:
            stream = ShardStream(
                urls, self.decode, self.collate, self.batch_size, rank, world, self.seed, epoch, self.shuffle_buffer, infinite=True
            )
            return make_worker_loader(stream, self.num_workers)

        loader = EpochLoader(
            make_loader,
            self.batches_per_epoch,
            current_epoch=lambda: self.trainer.current_epoch if self.trainer is not None else 0,
            expand=self.expand if self.train_expand else None,
        )
        loader.resume_at = self._resume
        self._train_loader = loader
        return loader

    def _eval_loader(self, split: str) -> DataLoader:
        rank, world = self._rank()
        stream = ShardStream(
            self.urls(split), self.decode, self.collate, self.eval_batch_size, rank, world, self.seed, 0, 0, infinite=False, drop_last=False
        )
        return make_worker_loader(stream, 0)

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader("valid")

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader("test")

    # --- resume: the position in the epoch travels in the checkpoint ----------------------------
    def state_dict(self) -> dict[str, Any]:
        trainer = self.trainer
        if trainer is None:
            return {}
        return {
            "epoch": trainer.current_epoch,
            "position": trainer.fit_loop.epoch_loop.batch_progress.current.processed,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            self._resume = (int(state["epoch"]), int(state["position"]))
