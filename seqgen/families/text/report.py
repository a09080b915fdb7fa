"""The "Compression Results" table in real bytes: the LSTM as a compressor next to zlib, bz2, xz, zstd, PPMd.

`seqgen-eval` codes the test bytes (or `test_file=`) with the model (`seqgen.families.text.codec`,
the `.sqz` format of `seqgen-compress`) and puts the real size beside the model's estimate, its
cross-entropy on the same bytes in the same order (`seqgen.families.text.dynamic.score_ids`); with
`dynamic=true` a second row codes them with dynamic evaluation. The end of a training run writes
the quick version: the Lightning test figure, no coding.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from seqgen.eval.compression import PAPER_ENWIK8_BPC, ModelRow, write_compression_report
from seqgen.families.text.datamodule import split_ids



def model_name(model: Any) -> str:
    return f"LSTM {model.hparams.num_layers}x{model.hparams.hidden_size}"


def coded_rows(model: Any, data: bytes, datamodule: Any, metrics: Mapping[str, float]) -> tuple[dict[str, ModelRow], list[str]]:
    """The LSTM's rows, real sizes beside the estimates: static, and dynamic when `metrics` has it.
    The estimates are per unit (byte or character); the table shows them per byte of the file."""
    from seqgen.families.text.codec import NO_CHECKPOINT, CodecSettings, compress, tokenise
    from seqgen.families.text.dynamic import TEXT_DEFAULTS, score_ids

    name = model_name(model)
    ids, _ = tokenise(data, model.vocab)
    per_byte = len(ids) / len(data)
    static = metrics.get("test/bpc_static")
    if static is None:
        static = score_ids(model, ids, TEXT_DEFAULTS["rms"], None, adapt=False)
    blob, stats = compress(model, data, CodecSettings("auto"), NO_CHECKPOINT)
    rows = {f"{name} (static)": ModelRow(float(static) * per_byte, len(blob))}
    if "test/bpc_dynamic" in metrics:
        size = metrics.get("test/bytes_dynamic")
        rows[f"{name} (dynamic)"] = ModelRow(float(metrics["test/bpc_dynamic"]) * per_byte, int(size) if size is not None else None)
    gap = 100.0 * (stats.bits_per_byte / (static * per_byte) - 1.0)
    notes = [f"The LSTM's sizes are real `.sqz` files (`seqgen-compress`: {stats.streams} stream(s), header included); "
             f"static coding took {stats.cpu_seconds:.0f} CPU s and came out {gap:+.2f}% from the estimate, the model's "
             f"cross-entropy on the same {len(ids):,} {'bytes' if model.vocab.kind == 'byte' else 'characters'} in the same order."]
    if "test/bpc" in metrics and datamodule.test_file is None:
        notes.append(f"test/bpc of the Lightning evaluation (streams of 2,000 symbols, each from a fresh state, "
                     f"first symbol not scored): {metrics['test/bpc']:.3f}.")
    return rows, notes


def model_size_note(model: Any) -> str:
    weights = sum(p.numel() for p in model.parameters())
    size = sum(p.numel() * p.element_size() for p in model.parameters())
    return f"Model size: {weights:,} weights, {size:,} bytes as {next(model.parameters()).dtype} (not counted in its rows)."


def report(model: Any, out_dir: Path, datamodule: Any, metrics: Mapping[str, float], code: bool = True) -> dict[str, Any]:
    """compression.md / .json: the LSTM's real sizes (`code`) or its Lightning test figure, next to
    zlib / bz2 / lzma / zstd / PPMd on the same bytes."""
    if not code and "test/bpc" not in metrics:
        return {}
    data = datamodule.test_bytes()
    if code:
        rows, notes = coded_rows(model, data, datamodule, metrics)
    else:
        rows = {model_name(model): ModelRow(float(metrics["test/bpc"]))}
        notes = ["The LSTM's figure is its cross-entropy; `seqgen-eval ckpt=<run>` adds the real size of the coded file."]
    notes.append(model_size_note(model))
    corpus = str(datamodule.info.get("corpus", ""))
    reference = PAPER_ENWIK8_BPC if corpus.startswith("enwik8") and datamodule.test_file is None else None
    source = str(datamodule.test_file) if datamodule.test_file is not None else "test split"
    result = write_compression_report(Path(out_dir), rows, data, reference, notes, extra={"source": source})
    result["skipped_shards"] = list(datamodule.skipped_shards)  # counted: the table covers only the readable test shards
    print((Path(out_dir) / "compression.md").read_text())
    return {"compression": result}

