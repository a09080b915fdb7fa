"""Text data: shards of long symbol streams, cut into consecutive truncated-BPTT segments.

Each shard sample is one stream of `chunk_length + 1` symbol ids. A training batch of B streams
is cut (in the main process, so order is kept) into `chunk_length // segment_length` consecutive
segments; the model carries its LSTM state from one segment to the next and resets it at the
first segment of new streams (the paper: state carried over, reset every 100 sequences).
"""

from __future__ import annotations

import logging
import tarfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from seqgen.core.datamodule import ShardDataModule
from seqgen.data.shards import decode_array, split_shards, verify_shards
from seqgen.data.text.vocab import Vocabulary
from seqgen.errors import SeqgenError
from seqgen.families.text.config import TextDataModuleConfig

log = logging.getLogger(__name__)


def split_ids(data_dir: Path, split: str, skipped: list[str] | None = None, limit: int | None = None) -> np.ndarray:
    """A split's symbol ids in order, reassembled from its shards (streams overlap by one symbol).

    Missing, truncated or corrupt shards are skipped like in training: logged, and their names
    appended to `skipped`. `limit`: stop after about that many symbols (the start of the split).
    """
    good, bad = verify_shards(Path(data_dir), split_shards(data_dir, split))
    pieces: list[np.ndarray] = []
    total = 0
    for shard in good:
        try:
            with tarfile.open(Path(data_dir) / shard.file) as tar:
                members = sorted((m for m in tar.getmembers() if m.name.endswith(".tokens.npy")), key=lambda m: m.name)
                streams = [decode_array(tar.extractfile(m).read()) for m in members]  # type: ignore[union-attr]
        except (tarfile.TarError, OSError, ValueError) as err:
            bad.append(f"{shard.file}: unreadable ({err})")
            continue
        for stream in streams:
            pieces.append(stream if not pieces else stream[1:])
            total += len(pieces[-1])
        if limit is not None and total >= limit:
            break
    for name in bad:
        log.warning("%s shard skipped: %s", split, name)
    if skipped is not None:
        skipped.extend(name for name in bad if name not in skipped)
    return np.concatenate(pieces).astype(np.int64) if pieces else np.zeros(0, dtype=np.int64)


def ids_to_bytes(ids: np.ndarray, vocab: Vocabulary) -> bytes:
    if vocab.kind == "byte":
        return np.asarray(vocab.symbols, dtype=np.uint8)[ids].tobytes()
    return vocab.decode(ids.tolist()).encode("utf-8")


class TextDataModule(ShardDataModule):
    family = "text"
    train_expand = True

    config_class = TextDataModuleConfig

    def __init__(self, data_dir: str, test_file: str | None = None, **options: Any) -> None:
        """`test_file`: a file that `seqgen-eval test_file=...` scores in place of the test split
        (an evaluation option, not a data config key)."""
        super().__init__(data_dir, **options)
        self.segment_length = self.config.segment_length
        self.test_file = Path(test_file).expanduser() if test_file else None

    def load_info(self) -> dict[str, Any]:
        info = super().load_info()
        chunk = int(info["chunk_length"])
        if self.segment_length > chunk:
            raise SeqgenError(
                f"data.datamodule.segment_length={self.segment_length} is longer than the prepared streams ({chunk} symbols): "
                f"use data.datamodule.segment_length<={chunk} or re-run prepare with a larger data.prepare.chunk_length"
            )
        info["segment_length"] = self.segment_length
        return info

    @property
    def vocab(self) -> Vocabulary:
        return Vocabulary.from_dict(self.info["vocab"])

    def test_bytes(self) -> bytes:
        """The bytes the report compresses: the test file, else the test split's text."""
        if self.test_file is not None:
            try:
                return self.test_file.read_bytes()
            except OSError as err:
                raise SeqgenError(f"test_file={self.test_file} cannot be read ({err.strerror}): pass an existing file") from None
        data = ids_to_bytes(split_ids(self.data_dir, "test", self.skipped_shards), self.vocab)
        if not data:
            raise SeqgenError(f"no readable test shard in {self.data_dir}: re-run `seqgen-prepare`")
        return data

    def decode(self, sample: dict[str, Any]) -> torch.Tensor:
        return torch.from_numpy(decode_array(sample["tokens.npy"]).astype(np.int64))

    def collate(self, items: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        lengths = torch.tensor([len(item) for item in items])
        tokens = torch.zeros(len(items), int(lengths.max()), dtype=torch.long)
        for row, item in enumerate(items):
            tokens[row, : len(item)] = item
        return {"tokens": tokens, "lengths": lengths}

    def expand(self, batch: dict[str, torch.Tensor]) -> Iterator[dict[str, Any]]:
        tokens = batch["tokens"]
        length = self.segment_length
        for index in range((tokens.shape[1] - 1) // length):
            segment = tokens[:, index * length : (index + 1) * length + 1]
            yield {"inputs": segment[:, :-1], "targets": segment[:, 1:], "reset": index == 0}
