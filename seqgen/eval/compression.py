"""Compressor comparison: general-purpose compressors' bits per character next to the models'.

Mirrors the paper's enwik8 "Compression Results" table (Graves 2013, Section 3.2), which lists
the LSTM's bits per character next to cmix, paq8, zpaq, PPMd, xz, bzip2 and gzip.
"""

from __future__ import annotations

import bz2
import json
import lzma
import math
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable

from seqgen.errors import SeqgenError
from seqgen.io import atomic_write

# The paper's compressor rows on enwik8 (Mahoney's benchmark), for reference only: they are not
# measured here and only comparable on the same data.
PAPER_ENWIK8_BPC: dict[str, float] = {
    "cmix": 1.17,
    "paq8px": 1.27,
    "zpaq": 1.43,
    "PPMd var.J": 1.71,
    "xz": 1.98,
    "bzip2": 2.32,
    "gzip": 2.92,
}

# Human-readable labels of the compressors measured by `compressor_bpc`.
COMPRESSOR_LABELS: dict[str, str] = {
    "zlib": "zlib -9 (deflate, as gzip)",
    "bz2": "bzip2 -9",
    "lzma": "xz/lzma -9e",
    "zstd": "zstd -19",
    "ppmd": "PPMd var.H order 6",
}


def _compressors() -> dict[str, Callable[[bytes], bytes]]:
    out: dict[str, Callable[[bytes], bytes]] = {
        "zlib": lambda d: zlib.compress(d, 9),
        "bz2": lambda d: bz2.compress(d, 9),
        "lzma": lambda d: lzma.compress(d, preset=9 | lzma.PRESET_EXTREME),
    }
    try:
        import zstandard

        out["zstd"] = lambda d: zstandard.ZstdCompressor(level=19).compress(d)
    except ImportError:
        pass
    try:
        import pyppmd

        # variant H is the one 7-Zip uses for PPMd (var.J, the paper's row, is not available here)
        out["ppmd"] = lambda d: pyppmd.compress(d, max_order=6, mem_size=64 << 20, variant="H")
    except ImportError:
        pass
    return out


def compressor_bpc(data: bytes) -> dict[str, float]:
    """Bits per character, ``8 * len(compressed) / len(data)``, of each available compressor.

    Always zlib (level 9), bz2 (9) and lzma (preset 9 | extreme); plus zstd (level 19) and PPMd
    (order 6, 64 MiB) when ``zstandard`` / ``pyppmd`` are importable. Keys: ``zlib``, ``bz2``,
    ``lzma``, ``zstd``, ``ppmd`` (see :data:`COMPRESSOR_LABELS`). Container headers are included,
    so tiny inputs get pessimistic numbers.
    """
    data = bytes(data)
    if not data:
        raise SeqgenError("compressor comparison needs a non-empty test split; check the data")
    return {name: 8.0 * len(fn(data)) / len(data) for name, fn in _compressors().items()}


def _rows(
    model_rows: Mapping[str, float],
    compressor_rows: Mapping[str, float],
    reference_rows: Mapping[str, float] | None = None,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for name, bpc in model_rows.items():
        rows.append({"method": str(name), "bpc": float(bpc), "kind": "model"})
    for name, bpc in compressor_rows.items():
        rows.append({"method": COMPRESSOR_LABELS.get(name, str(name)), "bpc": float(bpc), "kind": "compressor"})
    for name, bpc in (reference_rows or {}).items():
        rows.append({"method": str(name), "bpc": float(bpc), "kind": "reference"})
    # best (lowest) first; NaN/inf last; ties stable
    rows.sort(key=lambda r: (not math.isfinite(r["bpc"]), r["bpc"] if math.isfinite(r["bpc"]) else 0.0))
    return rows


def compression_table(
    model_rows: Mapping[str, float],
    compressor_rows: Mapping[str, float],
    reference_rows: Mapping[str, float] | None = None,
) -> str:
    """Markdown table ``| method | bits per character |``, best first.

    Model rows are shown in bold with ``(model)``; optional ``reference_rows`` (e.g.
    :data:`PAPER_ENWIK8_BPC`) are marked ``(paper)``.
    """
    lines = ["| method | bits per character |", "|:--|--:|"]
    for row in _rows(model_rows, compressor_rows, reference_rows):
        value = f"{row['bpc']:.3f}" if math.isfinite(row["bpc"]) else "n/a"
        method = row["method"].replace("|", "\\|")
        if row["kind"] == "model":
            lines.append(f"| **{method}** (model) | **{value}** |")
        elif row["kind"] == "reference":
            lines.append(f"| {method} (paper) | {value} |")
        else:
            lines.append(f"| {method} | {value} |")
    return "\n".join(lines) + "\n"


def write_compression_report(
    out_dir: Path,
    model_rows: Mapping[str, float],
    data: bytes,
    reference_rows: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """Measure the compressors on ``data`` (the test split) and write ``compression.md`` and
    ``compression.json`` into ``out_dir`` (atomically). Returns the JSON dict::

        {"test_bytes": int, "models": {...}, "compressors": {key: bpc}, "reference": {...},
         "rows": [{"method", "bpc", "kind"}, ...]}   # rows best first
    """
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise SeqgenError(f"cannot create report folder {out_dir}: {err}") from err
    compressors = compressor_bpc(data)
    models = {str(k): float(v) for k, v in model_rows.items()}
    reference = {str(k): float(v) for k, v in (reference_rows or {}).items()}
    report: dict[str, Any] = {
        "test_bytes": len(data),
        "models": models,
        "compressors": compressors,
        "reference": reference,
        "rows": _rows(models, compressors, reference),
    }
    table = compression_table(models, compressors, reference)
    md = f"# Compression results\n\nBits per character on {len(data):,} test bytes (lower is better).\n\n{table}"
    atomic_write(out_dir / "compression.md", md)
    # allow_nan: a diverged model's NaN must not crash the report (json writes NaN)
    atomic_write(out_dir / "compression.json", json.dumps(report, indent=2, sort_keys=False) + "\n")
    return report


__all__ = [
    "PAPER_ENWIK8_BPC",
    "COMPRESSOR_LABELS",
    "compressor_bpc",
    "compression_table",
    "write_compression_report",
]
