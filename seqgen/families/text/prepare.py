"""`prepare` for text corpora: symbols -> ids -> streams of `chunk_length + 1` ids -> shards.

Streamed, in flat memory whatever the corpus size: the corpus is read twice in chunks of
`read_chunk` bytes (never whole). Pass 1 collects the vocabulary, the number of symbols of every
split and the content fingerprint (sha256 of the bytes, stored in meta.json and in checkpoints);
pass 2 encodes the chunks and cuts them into streams with a rolling buffer of one stream. Peak
memory is a few chunks plus one shard (benchmarks/prepare_memory.py), and the shards are
byte-identical to those of the former in-memory implementation (tests/core/test_hardening_prepare.py).

Stream cutting: a split of n symbols gives streams starting at 0, L, 2L, ... (L = chunk_length)
of L + 1 symbols each: consecutive streams overlap by one symbol, so every symbol after the
first is predicted exactly once. Training keeps the floor((n - 1) / L) full streams; validation
and test keep every symbol, ceil((n - 1) / L) streams, the last one shorter.
"""

from __future__ import annotations

import codecs
import logging
import math
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from tqdm import tqdm

from seqgen.data.identity import Fingerprint
from seqgen.data.shards import ShardWriter, encode_array, write_meta
from seqgen.data.text.corpora import CHUNK, SplitSource, bytes_piece
from seqgen.data.text.vocab import Vocabulary
from seqgen.errors import SeqgenError

log = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")
MAX_SYMBOLS = 1 << 16  # ids are stored as uint16


def _sources(corpus: Any) -> dict[str, SplitSource]:
    """The corpus's splits as streamable byte ranges (in-memory bytes for corpora without)."""
    if hasattr(corpus, "split_sources"):
        return corpus.split_sources()
    return {split: SplitSource([bytes_piece(data)]) for split, data in corpus.load_splits().items()}


def _codes(source: SplitSource, kind: str, read_chunk: int, fingerprint: Fingerprint | None = None, split: str = "") -> Iterator[np.ndarray]:
    """Symbol codes of a split, chunk by chunk: byte values, or code points (UTF-8, invalid -> U+FFFD).

    The incremental decoder gives exactly what decoding the whole split at once would.
    """
    decoder = codecs.getincrementaldecoder("utf-8")("replace") if kind == "char" else None
    if fingerprint is not None:
        fingerprint.begin(split)
    for block in source.chunks(read_chunk):
        if fingerprint is not None:
            fingerprint.feed(block)
        if decoder is None:
            yield np.frombuffer(block, dtype=np.uint8)
        else:
            yield np.frombuffer(decoder.decode(block).encode("utf-32-le"), dtype=np.uint32)
    if decoder is not None:
        tail = decoder.decode(b"", final=True)
        if tail:
            yield np.frombuffer(tail.encode("utf-32-le"), dtype=np.uint32)


def _ids(source: SplitSource, vocabulary: Vocabulary, read_chunk: int) -> Iterator[np.ndarray]:
    for codes in _codes(source, vocabulary.kind, read_chunk):
        if len(codes):
            yield vocabulary.encode_codes(codes).astype(np.uint16)


def stream_count(n: int, length: int, full_only: bool) -> int:
    """How many streams `_streams` cuts from n symbols."""
    if n < 2:
        return 0
    return (n - 1) // length if full_only else math.ceil((n - 1) / length)


def _streams(chunks: Iterator[np.ndarray], chunk_length: int, full_only: bool) -> Iterator[np.ndarray]:
    """Streams of `chunk_length + 1` ids starting every `chunk_length` ids, from chunks of ids.

    Holds at most one chunk plus one stream: the buffer is cut at the next stream's start.
    """
    buffer = np.zeros(0, dtype=np.uint16)
    for chunk in chunks:
        buffer = np.concatenate([buffer, chunk]) if len(buffer) else chunk
        start = 0
        while start + chunk_length + 1 <= len(buffer):
            yield buffer[start : start + chunk_length + 1]
            start += chunk_length
        buffer = buffer[start:].copy()
    if not full_only and len(buffer) >= 2:
        yield buffer


def check_split_sizes(corpus: Any, counts: dict[str, int], segment_length: int) -> None:
    """Refuse, before writing anything, a corpus too small to give every split a stream: training
    needs one segment plus the symbol it predicts, evaluation two symbols."""
    needed = {"train": segment_length + 1, "valid": 2, "test": 2}
    short = [split for split in SPLITS if counts.get(split, 0) < needed[split]]
    if short:
        split = short[0]
        fraction = counts[split] / max(1, sum(counts.values()))
        at_least = math.ceil(needed[split] / fraction) if fraction > 0 else None
        total = f" (the whole text: at least ~{at_least} symbols at this split)" if at_least else ""
        raise SeqgenError(
            f"corpus '{getattr(corpus, 'name', corpus)}' is too small: its '{split}' split has {counts[split]} symbols, "
            f"at least {needed[split]} are needed{total}; use a larger text, or lower data.datamodule.segment_length "
            "or change data.corpus.split"
        )


def prepare_text(
    corpus: Any,
    out_dir: str,
    vocab: str = "byte",
    chunk_length: int = 10_000,
    eval_chunk_length: int = 2_000,
    samples_per_shard: int = 16,
    min_train_shards: int = 8,
    segment_length: int = 100,
    read_chunk: int = CHUNK,
) -> dict[str, Any]:
    """Write train/valid/test shards and meta.json for a text corpus; returns the summary.

    Training keeps only full streams (equal-length batches); the partial tail is logged. The
    validation and test streams keep every symbol, so BPC covers the whole split; they are
    shorter (`eval_chunk_length`) so evaluation runs many streams in parallel.
    """
    out = Path(out_dir)
    sources = _sources(corpus)
    train_bytes = sources["train"].nbytes if "train" in sources else 0
    if train_bytes < segment_length + 1:
        raise SeqgenError(
            f"corpus '{getattr(corpus, 'name', corpus)}' has {train_bytes} training symbols, "
            f"fewer than one segment ({segment_length + 1}): use a larger text or lower data.datamodule.segment_length"
        )
    for split in SPLITS:
        if split not in sources or sources[split].nbytes == 0:
            raise SeqgenError(f"the '{split}' split is empty: use a larger corpus or change data.corpus.split")

    # Pass 1: vocabulary, symbols per split, fingerprint.
    fingerprint = Fingerprint()
    seen = np.zeros(256 if vocab == "byte" else 0x110000, dtype=bool)  # which byte values / code points occur
    counts: dict[str, int] = {}
    for split in SPLITS:
        n = 0
        for codes in tqdm(_codes(sources[split], vocab, read_chunk, fingerprint, split), desc=f"scan {split}", unit="chunk", leave=False):
            seen[codes] = True
            n += len(codes)
        counts[split] = n
    check_split_sizes(corpus, counts, segment_length)
    # in symbols, not bytes: a UTF-8 text has fewer characters than bytes (a stream must fit)
    chunk_length = min(chunk_length, counts["train"] - 1)
    vocabulary = Vocabulary(np.flatnonzero(seen).tolist(), vocab)
    if len(vocabulary) > MAX_SYMBOLS:
        raise SeqgenError(
            f"the corpus has {len(vocabulary)} distinct symbols, more than {MAX_SYMBOLS}: is it text? "
            "Check data.corpus.encoding, or use data.prepare.vocab=byte"
        )

    # Pass 2: shards.
    summary: dict[str, Any] = {"splits": {}}
    for split in SPLITS:
        n = counts[split]
        length = chunk_length if split == "train" else min(eval_chunk_length, chunk_length)
        full_only = split == "train"
        total = stream_count(n, length, full_only)
        per_shard = samples_per_shard
        if split == "train":
            per_shard = max(1, min(samples_per_shard, total // min_train_shards))
            dropped = n - 1 - total * chunk_length
            if dropped:
                log.info("train: last %d symbols do not fill a stream of %d and are not trained on", dropped, chunk_length)
        writer = ShardWriter(out, split, per_shard)
        streams = _streams(_ids(sources[split], vocabulary, read_chunk), length, full_only)
        samples = (
            {"__key__": f"{split}-{index:08d}", "tokens.npy": encode_array(stream)}
            for index, stream in enumerate(tqdm(streams, total=total, desc=f"prepare {split}", unit="stream", leave=False))
        )
        shards = writer.write(samples)
        summary["splits"][split] = {"symbols": int(n), "streams": total, "shards": len(shards), "reused_shards": writer.reused}
    meta = {
        "family": "text",
        "corpus": getattr(corpus, "name", type(corpus).__name__),
        "fingerprint": fingerprint.hexdigest(),
        "vocab": vocabulary.to_dict(),
        "chunk_length": chunk_length,
        "splits": summary["splits"],
    }
    write_meta(out, meta)
    summary["vocab_size"] = len(vocabulary)
    summary["fingerprint"] = meta["fingerprint"]
    summary["out_dir"] = str(out)
    return summary
