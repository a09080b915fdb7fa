"""The "Compression Results" comparison: model BPC next to general-purpose compressors."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from seqgen.data.shards import decode_array, split_shards
from seqgen.data.text.vocab import Vocabulary
from seqgen.eval.compression import write_compression_report


def split_bytes(data_dir: Path, split: str, vocab: Vocabulary) -> bytes:
    """Reassemble a split's text from its shards (streams overlap by one symbol)."""
    import tarfile

    pieces: list[np.ndarray] = []
    for shard in split_shards(data_dir, split):
        with tarfile.open(Path(data_dir) / shard.file) as tar:
            for member in sorted(tar.getmembers(), key=lambda m: m.name):
                if member.name.endswith(".tokens.npy"):
                    stream = decode_array(tar.extractfile(member).read())  # type: ignore[union-attr]
                    pieces.append(stream if not pieces else stream[1:])
    ids = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)
    text = vocab.decode(ids.tolist())
    if vocab.kind == "byte":
        return bytes(vocab.symbols[int(i)] for i in ids)
    return text.encode("utf-8")


def report(model: Any, out_dir: Path, datamodule: Any, metrics: Mapping[str, float]) -> dict[str, Any]:
    """BPC on the test split next to zlib / bz2 / lzma / zstd / PPMd on the same bytes (compression.md)."""
    bpc = metrics.get("test/bpc")
    if bpc is None:
        return {}
    name = f"LSTM {model.hparams.num_layers}x{model.hparams.hidden_size}"
    result = text_report(name, bpc, datamodule.data_dir, model.vocab, Path(out_dir), corpus=str(datamodule.info.get("corpus", "")))
    print((Path(out_dir) / "compression.md").read_text())
    return {"compression": result}


def text_report(model_name: str, bpc: float, data_dir: Path, vocab: Vocabulary, out_dir: Path, corpus: str = "") -> dict[str, Any]:
    data = split_bytes(Path(data_dir), "test", vocab)
    reference = None
    if corpus.startswith("enwik8"):
        from seqgen.eval.compression import PAPER_ENWIK8_BPC

        reference = PAPER_ENWIK8_BPC
    return write_compression_report(Path(out_dir), {model_name: bpc}, data, reference_rows=reference)
