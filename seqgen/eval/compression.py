"""Compressor comparison: real compressed sizes and bits per character of general-purpose
compressors next to the models' (real sizes where a model codes the file, else its estimate).

Mirrors the paper's enwik8 "Compression Results" table (Graves 2013, Section 3.2), which lists
the LSTM's bits per character next to cmix, paq8, zpaq, PPMd, xz, bzip2 and gzip.
"""

from __future__ import annotations

import bz2
import json
import lzma
import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
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

# Human-readable labels of the compressors measured by `compressor_sizes`.
COMPRESSOR_LABELS: dict[str, str] = {
    "zlib": "zlib -9 (deflate, as gzip)",
    "bz2": "bzip2 -9",
    "lzma": "xz/lzma -9e",
    "zstd": "zstd -19",
    "ppmd": "PPMd var.H order 6",
}


@dataclass(frozen=True)
class ModelRow:
    """A model's row: `bytes` is the real size of its coded file (None: not coded, the estimate only);
    `estimate_bpc` its cross-entropy on the same bytes."""

    estimate_bpc: float
    bytes: int | None = None

    def bpc(self, length: int) -> float:
        return 8.0 * self.bytes / length if self.bytes is not None else self.estimate_bpc


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


def compressor_sizes(data: bytes) -> dict[str, int]:
    """Real compressed size in bytes of each available compressor (container headers included).

    Always zlib (level 9), bz2 (9) and lzma (preset 9 | extreme); plus zstd (level 19) and PPMd
    (order 6, 64 MiB) when ``zstandard`` / ``pyppmd`` are importable. Keys: ``zlib``, ``bz2``,
    ``lzma``, ``zstd``, ``ppmd`` (see :data:`COMPRESSOR_LABELS`).
    """
    data = bytes(data)
    if not data:
        raise SeqgenError("compressor comparison needs a non-empty test split; check the data")
    return {name: len(fn(data)) for name, fn in _compressors().items()}


def compressor_bpc(data: bytes) -> dict[str, float]:
    """Bits per character, ``8 * len(compressed) / len(data)``, of each available compressor
    (`compressor_sizes`); tiny inputs get pessimistic numbers because of the container headers."""
    return {name: 8.0 * size / len(data) for name, size in compressor_sizes(data).items()}


def _rows(
    model_rows: Mapping[str, float | ModelRow],
    compressor_rows: Mapping[str, float],
    reference_rows: Mapping[str, float] | None = None,
    length: int | None = None,
    compressor_bytes: Mapping[str, int] | None = None,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for name, value in model_rows.items():
        row = value if isinstance(value, ModelRow) else ModelRow(float(value))
        bpc = row.bpc(length) if length else row.estimate_bpc
        rows.append({"method": str(name), "bpc": float(bpc), "bytes": row.bytes, "estimate_bpc": row.estimate_bpc, "kind": "model"})
    for name, bpc in compressor_rows.items():
        size = (compressor_bytes or {}).get(name)
        rows.append({"method": COMPRESSOR_LABELS.get(name, str(name)), "bpc": float(bpc), "bytes": size, "kind": "compressor"})
    for name, bpc in (reference_rows or {}).items():
        rows.append({"method": str(name), "bpc": float(bpc), "bytes": None, "kind": "reference"})
    # best (lowest) first; NaN/inf last; ties stable
    rows.sort(key=lambda r: (not math.isfinite(r["bpc"]), r["bpc"] if math.isfinite(r["bpc"]) else 0.0))
    return rows


def _cell(value: float | None, fmt: str) -> str:
    return format(value, fmt) if value is not None and math.isfinite(value) else "n/a"


def compression_table(
    model_rows: Mapping[str, float | ModelRow],
    compressor_rows: Mapping[str, float],
    reference_rows: Mapping[str, float] | None = None,
    length: int | None = None,
    compressor_bytes: Mapping[str, int] | None = None,
) -> str:
    """Markdown table ``| method | compressed bytes | bits per character | model's estimate |``, best first.

    Model rows are shown in bold with ``(model)``; optional ``reference_rows`` (e.g.
    :data:`PAPER_ENWIK8_BPC`) are marked ``(paper)``. A model's bits per character are its real
    size's when it was coded (`ModelRow.bytes`), else its estimate.
    """
    lines = ["| method | compressed bytes | bits per character | model's estimate |", "|:--|--:|--:|--:|"]
    for row in _rows(model_rows, compressor_rows, reference_rows, length, compressor_bytes):
        value = _cell(row["bpc"], ".3f")
        size = f"{row['bytes']:,}" if row.get("bytes") is not None else ""
        method = row["method"].replace("|", "\\|")
        if row["kind"] == "model":
            size = f"**{size}**" if size else ""  # not coded (an estimate only): an empty cell, not "****"
            lines.append(f"| **{method}** (model) | {size} | **{value}** | {_cell(row['estimate_bpc'], '.3f')} |")
        elif row["kind"] == "reference":
            lines.append(f"| {method} (paper) | | {value} | |")
        else:
            lines.append(f"| {method} | {size} | {value} | |")
    return "\n".join(lines) + "\n"


def write_compression_report(
    out_dir: Path,
    model_rows: Mapping[str, float | ModelRow],
    data: bytes,
    reference_rows: Mapping[str, float] | None = None,
    notes: Sequence[str] = (),
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Measure the compressors on ``data`` (the test bytes) and write ``compression.md`` and
    ``compression.json`` into ``out_dir`` (atomically). `notes`: lines printed under the table;
    `extra`: more entries of the JSON. Returns the JSON dict::

        {"test_bytes": int, "models": {name: bpc}, "compressors": {key: bpc}, "compressor_bytes": {key: bytes},
         "reference": {...}, "rows": [{"method", "bpc", "bytes", "kind", ...}, ...]}   # rows best first
    """
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise SeqgenError(f"cannot create report folder {out_dir}: {err}") from err
    sizes = compressor_sizes(data)
    compressors = {name: 8.0 * size / len(data) for name, size in sizes.items()}
    reference = {str(k): float(v) for k, v in (reference_rows or {}).items()}
    rows = _rows(model_rows, compressors, reference, len(data), sizes)
    report: dict[str, Any] = {
        "test_bytes": len(data),
        "models": {r["method"]: r["bpc"] for r in rows if r["kind"] == "model"},
        "model_rows": {str(k): asdict(v) if isinstance(v, ModelRow) else {"estimate_bpc": float(v)} for k, v in model_rows.items()},
        "compressors": compressors,
        "compressor_bytes": sizes,
        "reference": reference,
        "rows": rows,
        **dict(extra or {}),
    }
    table = compression_table(model_rows, compressors, reference, len(data), sizes)
    body = "".join(f"\n{note}\n" for note in notes)
    md = f"# Compression results\n\nThe {len(data):,} test bytes, compressed (lower is better).\n\n{table}{body}"
    atomic_write(out_dir / "compression.md", md)
    # allow_nan: a diverged model's NaN must not crash the report (json writes NaN)
    atomic_write(out_dir / "compression.json", json.dumps(report, indent=2, sort_keys=False) + "\n")
    return report


__all__ = [
    "PAPER_ENWIK8_BPC",
    "COMPRESSOR_LABELS",
    "ModelRow",
    "compressor_sizes",
    "compressor_bpc",
    "compression_table",
    "write_compression_report",
]
