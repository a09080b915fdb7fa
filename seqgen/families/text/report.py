"""The "Compression Results" comparison: model BPC next to general-purpose compressors."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from seqgen.data.shards import decode_array, split_shards, verify_shards
from seqgen.data.text.vocab import Vocabulary
from seqgen.eval.compression import write_compression_report


def split_bytes(data_dir: Path, split: str, vocab: Vocabulary, skipped: list[str] | None = None) -> bytes:
    """Reassemble a split's text from its shards (streams overlap by one symbol).

    Missing, truncated or corrupt shards are skipped like in training: logged, and their names
    appended to `skipped` (the report and metrics.json count them).
    """
    import tarfile

    good, bad = verify_shards(Path(data_dir), split_shards(data_dir, split))
    pieces: list[np.ndarray] = []
    for shard in good:
        try:
            with tarfile.open(Path(data_dir) / shard.file) as tar:
                streams = []
                for member in sorted(tar.getmembers(), key=lambda m: m.name):
                    if member.name.endswith(".tokens.npy"):
                        streams.append(decode_array(tar.extractfile(member).read()))  # type: ignore[union-attr]
        except (tarfile.TarError, OSError, ValueError) as err:
            bad.append(f"{shard.file}: unreadable ({err})")
            continue
        for stream in streams:
            pieces.append(stream if not pieces else stream[1:])
    if skipped is not None:
        skipped.extend(bad)
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
    result = text_report(
        name, bpc, datamodule.data_dir, model.vocab, Path(out_dir), corpus=str(datamodule.info.get("corpus", "")),
        skipped=datamodule.skipped_shards,
    )
    print((Path(out_dir) / "compression.md").read_text())
    return {"compression": result}


def text_report(
    model_name: str, bpc: float, data_dir: Path, vocab: Vocabulary, out_dir: Path, corpus: str = "", skipped: list[str] | None = None
) -> dict[str, Any]:
    bad: list[str] = []
    data = split_bytes(Path(data_dir), "test", vocab, bad)
    if skipped is not None:
        skipped.extend(name for name in bad if name not in skipped)
    reference = None
    if corpus.startswith("enwik8"):
        from seqgen.eval.compression import PAPER_ENWIK8_BPC

        reference = PAPER_ENWIK8_BPC
    result = write_compression_report(Path(out_dir), {model_name: bpc}, data, reference_rows=reference)
    result["skipped_shards"] = bad  # counted: the table covers only the readable test shards
    return result
