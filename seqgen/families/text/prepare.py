"""`prepare` for text corpora: symbols -> ids -> streams of `chunk_length + 1` ids -> shards.

Streamed, in flat memory whatever the corpus size: the corpus is read twice in chunks of
`read_chunk` bytes (never whole). Pass 1 collects the vocabulary, the number of symbols of every
split and the content fingerprint (sha256 of the bytes, stored in meta.json and in checkpoints);
pass 2 encodes the chunks and cuts them into streams with a rolling buffer of one stream. Peak
memory is a few chunks plus one shard (benchmarks/prepare_memory.py), and the shards are
the same as reading the whole corpus at once would give (tests/core/test_hardening_prepare.py).

Stream cutting: a split of n symbols gives streams starting at 0, L, 2L, ... (L = chunk_length)
of L + 1 symbols each: consecutive streams overlap by one symbol, so every symbol after the
first is predicted exactly once. Training keeps the floor((n - 1) / L) full streams; validation
and test keep every symbol, ceil((n - 1) / L) streams, the last one shorter.
"""

from __future__ import annotations

import codecs
import logging
import math
from typing import Any, Iterator

import numpy as np
from tqdm import tqdm

from seqgen.core.prepare import SPLITS, Preparation, SplitPlan, WrittenSplit, prepare_shards, train_shard_size
from seqgen.data.identity import Fingerprint
from seqgen.data.shards import encode_array
from seqgen.data.text.corpora import CHUNK, SplitSource, TextCorpus
from seqgen.data.text.vocab import Vocabulary
from seqgen.errors import SeqgenError

log = logging.getLogger(__name__)

MAX_SYMBOLS = 1 << 16  # ids are stored as uint16


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


def _scan(sources: dict[str, SplitSource], kind: str, read_chunk: int) -> tuple[Vocabulary, dict[str, int], Fingerprint]:
    """Pass 1: the vocabulary, the symbols of every split and the content fingerprint."""
    fingerprint = Fingerprint()
    seen = np.zeros(256 if kind == "byte" else 0x110000, dtype=bool)  # which byte values / code points occur
    counts: dict[str, int] = {}
    for split in SPLITS:
        n = 0
        for codes in tqdm(_codes(sources[split], kind, read_chunk, fingerprint, split), desc=f"scan {split}", unit="chunk", leave=False):
            seen[codes] = True
            n += len(codes)
        counts[split] = n
    vocabulary = Vocabulary(np.flatnonzero(seen).tolist(), kind)
    if len(vocabulary) > MAX_SYMBOLS:
        raise SeqgenError(
            f"the corpus has {len(vocabulary)} distinct symbols, more than {MAX_SYMBOLS}: is it text? "
            "Check data.corpus.encoding, or use data.prepare.vocab=byte"
        )
    return vocabulary, counts, fingerprint


class TextPreparation(Preparation):
    """Pass 2: every split's streams of ids (training: full streams only), given pass 1's results."""

    family = "text"

    def __init__(
        self, corpus: TextCorpus, sources: dict[str, SplitSource], vocab: str, read_chunk: int, chunk_length: int,
        eval_chunk_length: int, samples_per_shard: int, min_train_shards: int, segment_length: int,
    ) -> None:
        self.corpus, self.sources, self.read_chunk = corpus, sources, read_chunk
        self.samples_per_shard, self.min_train_shards = samples_per_shard, min_train_shards
        self.vocabulary, self.counts, self.fingerprint = _scan(sources, vocab, read_chunk)
        check_split_sizes(corpus, self.counts, segment_length)  # before any shard is written
        # in symbols, not bytes: a UTF-8 text has fewer characters than bytes (a stream must fit)
        self.chunk_length, self.eval_chunk_length = min(chunk_length, self.counts["train"] - 1), eval_chunk_length
        self.streams: dict[str, int] = {}

    def plan(self, split: str) -> SplitPlan:
        n = self.counts[split]
        full_only = split == "train"
        length = self.chunk_length if full_only else min(self.eval_chunk_length, self.chunk_length)
        total = self.streams[split] = stream_count(n, length, full_only)
        per_shard = self.samples_per_shard
        if full_only:
            per_shard = train_shard_size(total, self.samples_per_shard, self.min_train_shards)
            dropped = n - 1 - total * self.chunk_length
            if dropped:
                log.info("train: last %d symbols do not fill a stream of %d and are not trained on", dropped, self.chunk_length)
        streams = _streams(_ids(self.sources[split], self.vocabulary, self.read_chunk), length, full_only)
        samples = (
            {"__key__": f"{split}-{index:08d}", "tokens.npy": encode_array(stream)}
            for index, stream in enumerate(tqdm(streams, total=total, desc=f"prepare {split}", unit="stream", leave=False))
        )
        return SplitPlan(samples, per_shard)

    def split_stats(self, split: str, written: WrittenSplit) -> dict[str, Any]:
        return {"symbols": int(self.counts[split]), "streams": self.streams[split]}

    def meta(self, splits: dict[str, dict[str, Any]]) -> dict[str, Any]:
        return {
            "corpus": self.corpus.name,
            "fingerprint": self.fingerprint.hexdigest(),
            "vocab": self.vocabulary.to_dict(),
            "chunk_length": self.chunk_length,
            "splits": splits,
        }

    def summary(self, meta: dict[str, Any], splits: dict[str, dict[str, Any]]) -> dict[str, Any]:
        return {"vocab_size": len(self.vocabulary), "fingerprint": meta["fingerprint"]}


def prepare_text(
    corpus: TextCorpus,
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
    sources = corpus.split_sources()
    train_bytes = sources["train"].nbytes if "train" in sources else 0
    if train_bytes < segment_length + 1:
        raise SeqgenError(
            f"corpus '{corpus.name}' has {train_bytes} training symbols, "
            f"fewer than one segment ({segment_length + 1}): use a larger text or lower data.datamodule.segment_length"
        )
    for split in SPLITS:
        if split not in sources or sources[split].nbytes == 0:
            raise SeqgenError(f"the '{split}' split is empty: use a larger corpus or change data.corpus.split")
    preparation = TextPreparation(
        corpus, sources, vocab, read_chunk, chunk_length, eval_chunk_length, samples_per_shard, min_train_shards, segment_length
    )
    return prepare_shards(out_dir, preparation)
