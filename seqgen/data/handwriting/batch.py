"""Lines of pen offsets as shard samples and as batches: the format every stroke-reading family shares.

One shard sample per line (written by the handwriting family's `prepare`)::

    <key>.offsets.npy   float32 (T, 3) normalised rows (dx, dy, end_of_stroke); row 0 is the start row
    <key>.chars.npy     int16 (U,) character ids of the transcription (vocabulary in meta.json)
    <key>.text.txt      the transcription (UTF-8);  <key>.writer.txt  the writer id

A batch (`HandwritingBatch`, a dataclass):

    offsets      (B, T, 3) float32  normalised rows (dx, dy, eos), zero-padded after each line's end
    mask         (B, T)    bool     True on a line's real rows (row 0, the start row, included)
    lengths      (B,)      long     rows per line (start row included)
    chars        (B, U)    long     character ids, 0-padded
    char_mask    (B, U)    bool     True on real characters
    char_lengths (B,)      long
    texts, writers, ids             lists of str (ids: the shard sample keys, e.g. "train-00000012")

A model reads inputs ``offsets[:, :-1]`` and targets ``offsets[:, 1:]`` (mask ``mask[:, 1:]``).
The handwriting models and the recogniser read these batches; the datamodule that makes them
belongs to the handwriting family, and other families reach it only through their config's
`data.datamodule._target_` (no import).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from seqgen.data.shards import decode_array


def decode_line(sample: dict[str, Any]) -> dict[str, Any]:
    """One shard sample -> offsets (T, 3) float32 tensor, chars (U,) long tensor, text, writer."""
    offsets = decode_array(sample["offsets.npy"]).astype(np.float32, copy=False)
    if offsets.ndim != 2 or offsets.shape[1] != 3:
        raise ValueError(f"offsets.npy has shape {offsets.shape}, expected (T, 3)")
    chars = decode_array(sample["chars.npy"]).astype(np.int64)
    return {
        "offsets": torch.from_numpy(np.ascontiguousarray(offsets)),
        "chars": torch.from_numpy(chars),
        "text": sample["text.txt"].decode("utf-8"),
        "writer": sample.get("writer.txt", b"").decode("utf-8"),
        "id": str(sample.get("__key__", "")),
    }


@dataclass
class HandwritingBatch:
    """Padded lines and transcriptions (shapes in the module docstring).

    Lightning moves the tensors to the device (it maps over dataclass fields); `pin_memory` lets
    a DataLoader with pin_memory=True pin them.
    """

    offsets: torch.Tensor
    mask: torch.Tensor
    lengths: torch.Tensor
    chars: torch.Tensor
    char_mask: torch.Tensor
    char_lengths: torch.Tensor
    texts: list[str]
    writers: list[str]
    ids: list[str] = dataclasses.field(default_factory=list)  # shard keys: names lines a model skips

    @property
    def inputs(self) -> torch.Tensor:
        """Network inputs: every row but the last (B, T-1, 3)."""
        return self.offsets[:, :-1]

    @property
    def targets(self) -> torch.Tensor:
        """Next-point targets (B, T-1, 3), aligned with `inputs`."""
        return self.offsets[:, 1:]

    @property
    def target_mask(self) -> torch.Tensor:
        return self.mask[:, 1:]

    def to(self, device: torch.device | str) -> "HandwritingBatch":
        return self._map(lambda t: t.to(device))

    def pin_memory(self) -> "HandwritingBatch":
        return self._map(torch.Tensor.pin_memory)

    def _map(self, fn: Any) -> "HandwritingBatch":
        return dataclasses.replace(
            self, **{f.name: fn(getattr(self, f.name)) for f in dataclasses.fields(self) if isinstance(getattr(self, f.name), torch.Tensor)}
        )


def collate_lines(items: list[dict[str, Any]]) -> HandwritingBatch:
    """Pad a list of decoded lines into one batch (see the module docstring)."""
    lengths = torch.tensor([len(item["offsets"]) for item in items], dtype=torch.long)
    char_lengths = torch.tensor([len(item["chars"]) for item in items], dtype=torch.long)
    batch, t_max, u_max = len(items), int(lengths.max()), max(int(char_lengths.max()), 1)
    offsets = torch.zeros(batch, t_max, 3, dtype=torch.float32)
    chars = torch.zeros(batch, u_max, dtype=torch.long)
    for row, item in enumerate(items):
        offsets[row, : len(item["offsets"])] = item["offsets"]
        chars[row, : len(item["chars"])] = item["chars"]
    return HandwritingBatch(
        offsets=offsets,
        mask=torch.arange(t_max)[None, :] < lengths[:, None],
        lengths=lengths,
        chars=chars,
        char_mask=torch.arange(u_max)[None, :] < char_lengths[:, None],
        char_lengths=char_lengths,
        texts=[item["text"] for item in items],
        writers=[item["writer"] for item in items],
        ids=[item.get("id", "") for item in items],
    )
