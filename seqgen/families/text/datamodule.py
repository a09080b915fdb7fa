"""Text data: shards of long symbol streams, cut into consecutive truncated-BPTT segments.

Each shard sample is one stream of `chunk_length + 1` symbol ids. A training batch of B streams
is cut (in the main process, so order is kept) into `chunk_length // segment_length` consecutive
segments; the model carries its LSTM state from one segment to the next and resets it at the
first segment of new streams (the paper: state carried over, reset every 100 sequences).
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np
import torch

from seqgen.core.datamodule import ShardDataModule
from seqgen.data.shards import decode_array
from seqgen.data.text.vocab import Vocabulary
from seqgen.errors import SeqgenError


class TextDataModule(ShardDataModule):
    family = "text"
    train_expand = True

    def __init__(self, data_dir: str, segment_length: int = 100, **kwargs: Any) -> None:
        super().__init__(data_dir, **kwargs)
        self.segment_length = segment_length

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
