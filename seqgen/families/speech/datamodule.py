"""Speech data: one shard sample per utterance, batched as padded normalised frames + symbols.

A batch (dict):

    frames       (B, T, D) float32  normalised features, zero after each utterance's end
    mask         (B, T)    bool     True on real frames
    lengths      (B,)      long
    symbols      (B, U)    long     phoneme or character ids (data.datamodule.units), 0-padded
    symbol_mask  (B, U)    bool
    speakers     (B,)      long     speaker ids (0 = a speaker not seen in training)
    bounds                 list of (P,) int arrays, first frame of each phone
    frame_phone  (B, T)    long     index of the phone each frame belongs to (-1 after the end): the
                                    window's target under model.align_weight (phoneme units)
    texts, uids, speaker_names      lists of str

Utterances read one by one (`read_utterances`, for figures and evaluation) also carry `phones`
(the phoneme labels, whatever the units) and `audio`: the real float32 audio of valid/test
utterances (None where the shard has none).

Vocabularies: id 0 is padding, symbols are 1..V in meta.json order; speaker id 0 is "unknown"
(TIMIT's test speakers are never in training), train speakers 1..S.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np
import torch

from seqgen.core.datamodule import ShardDataModule
from seqgen.data.shards import decode_array
from seqgen.errors import SeqgenError
from seqgen.families.speech.config import UNITS, SpeechDataModuleConfig
from seqgen.families.speech.prepare import text_symbols



class SymbolTable:
    """Symbols <-> ids (0 = padding) and speakers <-> ids (0 = unknown), from meta.json."""

    def __init__(self, info: dict[str, Any], units: str) -> None:
        if units not in UNITS:
            raise SeqgenError(f"units={units!r}: use phonemes or chars")
        self.units = units
        self.symbols: list[str] = list(info["vocab"][units])
        self.index = {s: i + 1 for i, s in enumerate(self.symbols)}
        self.speakers: list[str] = list(info.get("speakers") or [])
        self.speaker_index = {s: i + 1 for i, s in enumerate(self.speakers)}

    @property
    def size(self) -> int:
        return len(self.symbols) + 1

    def split(self, phones: str, text: str) -> list[str]:
        return phones.split() if self.units == "phonemes" else text_symbols(text)

    def encode(self, symbols: list[str], what: str = "input") -> np.ndarray:
        unknown = sorted({s for s in symbols if s not in self.index})
        if unknown:
            raise SeqgenError(f"{what}: unknown {self.units} {' '.join(repr(u) for u in unknown)}; known: {' '.join(self.symbols)}")
        if not symbols:
            raise SeqgenError(f"{what}: empty {self.units} sequence")
        return np.fromiter((self.index[s] for s in symbols), dtype=np.int64, count=len(symbols))

    def speaker_id(self, name: str) -> int:
        return self.speaker_index.get(name, 0)


def collate_utterances(items: list[dict[str, Any]]) -> dict[str, Any]:
    lengths = torch.tensor([len(it["frames"]) for it in items], dtype=torch.long)
    sym_lengths = torch.tensor([len(it["symbols"]) for it in items], dtype=torch.long)
    batch, t_max, u_max = len(items), int(lengths.max()), max(int(sym_lengths.max()), 1)
    dim = items[0]["frames"].shape[1]
    frames = torch.zeros(batch, t_max, dim)
    symbols = torch.zeros(batch, u_max, dtype=torch.long)
    frame_phone = torch.full((batch, t_max), -1, dtype=torch.long)
    for row, it in enumerate(items):
        n = len(it["frames"])
        frames[row, :n] = it["frames"]
        symbols[row, : len(it["symbols"])] = it["symbols"]
        frame_phone[row, :n] = torch.from_numpy(np.searchsorted(np.asarray(it["bounds"]), np.arange(n), side="right") - 1).clamp_min(0)
    return {
        "frames": frames,
        "mask": torch.arange(t_max)[None] < lengths[:, None],
        "lengths": lengths,
        "symbols": symbols,
        "symbol_mask": torch.arange(u_max)[None] < sym_lengths[:, None],
        "speakers": torch.tensor([it["speaker"] for it in items], dtype=torch.long),
        "bounds": [it["bounds"] for it in items],
        "frame_phone": frame_phone,
        "texts": [it["text"] for it in items],
        "uids": [it["uid"] for it in items],
        "speaker_names": [it["speaker_name"] for it in items],
    }


class SpeechDataModule(ShardDataModule):
    family = "speech"

    config_class = SpeechDataModuleConfig

    def __init__(self, data_dir: str, **options: Any) -> None:
        super().__init__(data_dir, **options)
        self.units = self.config.units
        self.max_frames = self.config.max_frames
        self.table: SymbolTable | None = None
        self._mean: torch.Tensor | None = None
        self._std: torch.Tensor | None = None

    def load_info(self) -> dict[str, Any]:
        info = super().load_info()
        for key in ("norm", "vocab", "features"):
            if key not in info:
                raise SeqgenError(f"{self.data_dir}/meta.json has no '{key}': re-run `seqgen-prepare` for this data set")
        info["units"] = self.units
        self.table = SymbolTable(info, self.units)
        self._mean = torch.tensor(info["norm"]["mean"], dtype=torch.float32)
        self._std = torch.tensor(info["norm"]["std"], dtype=torch.float32)
        return info

    def decode(self, sample: dict[str, Any]) -> dict[str, Any]:
        if self.table is None:
            self.load_info()
        assert self.table is not None and self._mean is not None and self._std is not None
        frames = torch.from_numpy(decode_array(sample["frames.npy"]).astype(np.float32))
        phones = sample["phones.txt"].decode("utf-8")
        text = sample["text.txt"].decode("utf-8")
        speaker = sample["speaker.txt"].decode("utf-8")
        return {
            "frames": (frames - self._mean) / self._std,
            "symbols": torch.from_numpy(self.table.encode(self.table.split(phones, text), sample.get("__key__", "utterance"))),
            "speaker": self.table.speaker_id(speaker),
            "speaker_name": speaker,
            "bounds": decode_array(sample["bounds.npy"]).astype(np.int64),
            "text": text,
            "phones": phones.split(),
            "uid": sample.get("__key__", ""),
            "audio": decode_array(sample["audio.npy"]).astype(np.float32) / 32767.0 if "audio.npy" in sample else None,
        }

    def collate(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        return collate_utterances(items)

    train_expand = True

    def expand(self, batch: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Training crop (`max_frames`): the first frames of every utterance, all its symbols
        (cutting at the start keeps the window's alignment valid; valid/test are never cropped)."""
        if self.max_frames is None or batch["frames"].shape[1] <= self.max_frames:
            yield batch
            return
        out = dict(batch)
        out["frames"] = batch["frames"][:, : self.max_frames]
        out["mask"] = batch["mask"][:, : self.max_frames]
        out["lengths"] = batch["lengths"].clamp(max=self.max_frames)
        out["frame_phone"] = batch["frame_phone"][:, : self.max_frames]
        yield out

    def read_utterances(self, split: str = "valid", limit: int = 4) -> list[dict[str, Any]]:
        """The first `limit` utterances of a split, decoded (figures, evaluation)."""
        if self.table is None:
            self.load_info()
        return self.read_samples(split, limit)
