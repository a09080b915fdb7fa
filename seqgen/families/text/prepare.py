"""`prepare` for text corpora: symbols -> ids -> streams of `chunk_length + 1` ids -> shards."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from tqdm import tqdm

from seqgen.data.shards import ShardWriter, encode_array, write_meta
from seqgen.data.text.vocab import Vocabulary
from seqgen.errors import SeqgenError

log = logging.getLogger(__name__)


def _streams(ids: np.ndarray, chunk_length: int, full_only: bool) -> Iterator[np.ndarray]:
    # Streams overlap by one symbol: the last target of one is the first input of the next,
    # so every symbol after the first is predicted exactly once.
    for start in range(0, max(len(ids) - 1, 0), chunk_length):
        stream = ids[start : start + chunk_length + 1]
        if len(stream) < 2 or (full_only and len(stream) < chunk_length + 1):
            continue
        yield stream


def prepare_text(
    corpus: Any,
    out_dir: str,
    vocab: str = "byte",
    chunk_length: int = 10_000,
    eval_chunk_length: int = 2_000,
    samples_per_shard: int = 16,
    min_train_shards: int = 8,
    segment_length: int = 100,
) -> dict[str, Any]:
    """Write train/valid/test shards and meta.json for a text corpus; returns the summary.

    Training keeps only full streams (equal-length batches); the partial tail is logged. The
    validation and test streams keep every symbol, so BPC covers the whole split; they are
    shorter (`eval_chunk_length`) so evaluation runs many streams in parallel.
    """
    out = Path(out_dir)
    splits = corpus.load_splits()
    if len(splits.get("train", b"")) < segment_length + 1:
        raise SeqgenError(
            f"corpus '{getattr(corpus, 'name', corpus)}' has {len(splits.get('train', b''))} training symbols, "
            f"fewer than one segment ({segment_length + 1}): use a larger text or lower data.segment_length"
        )
    chunk_length = min(chunk_length, len(splits["train"]) - 1)
    vocabulary = Vocabulary.from_data(b"".join(splits.values()), vocab) if vocab == "byte" else Vocabulary.from_data(
        "".join(data.decode("utf-8", errors="replace") for data in splits.values()).encode("utf-8"), vocab
    )
    summary: dict[str, Any] = {"splits": {}}
    for split in ("train", "valid", "test"):
        data = splits.get(split, b"")
        if not data:
            raise SeqgenError(f"the '{split}' split is empty: use a larger corpus or change data.corpus.split")
        ids = vocabulary.encode(data).astype(np.uint16)
        length = chunk_length if split == "train" else min(eval_chunk_length, chunk_length)
        streams = list(_streams(ids, length, full_only=(split == "train")))
        per_shard = samples_per_shard
        if split == "train":
            per_shard = max(1, min(samples_per_shard, len(streams) // min_train_shards))
            dropped = len(ids) - 1 - len(streams) * chunk_length
            if dropped:
                log.info("train: last %d symbols do not fill a stream of %d and are not trained on", dropped, chunk_length)
        writer = ShardWriter(out, split, per_shard)
        samples = (
            {"__key__": f"{split}-{index:08d}", "tokens.npy": encode_array(stream)}
            for index, stream in enumerate(tqdm(streams, desc=f"prepare {split}", unit="stream", leave=False))
        )
        shards = writer.write(samples)
        summary["splits"][split] = {"symbols": int(len(ids)), "streams": len(streams), "shards": len(shards), "reused_shards": writer.reused}
    meta = {
        "family": "text",
        "corpus": getattr(corpus, "name", type(corpus).__name__),
        "vocab": vocabulary.to_dict(),
        "chunk_length": chunk_length,
        "splits": summary["splits"],
    }
    write_meta(out, meta)
    summary["vocab_size"] = len(vocabulary)
    summary["out_dir"] = str(out)
    return summary
