"""Compressor comparison: bits per character, Markdown table, report files."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

from seqgen.eval.compression import (
    PAPER_ENWIK8_BPC,
    ModelRow,
    compression_table,
    compressor_bpc,
    compressor_sizes,
    write_compression_report,
)
from seqgen.errors import SeqgenError

ENGLISH = (
    "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age "
    "of foolishness, it was the epoch of belief, it was the epoch of incredulity, it was the season "
    "of Light, it was the season of Darkness, it was the spring of hope, it was the winter of despair. "
)


def _english(n: int, seed: int = 0) -> bytes:
    # English words in a shuffled order: compressible but not a trivial repeat
    rng = random.Random(seed)
    words = ENGLISH.split()
    out: list[str] = []
    size = 0
    while size < n:
        w = rng.choice(words)
        out.append(w)
        size += len(w) + 1
    return " ".join(out).encode()[:n]


def test_repetitive_text_beats_random_bytes():
    repetitive = (ENGLISH * 200).encode()
    noise = random.Random(1).randbytes(len(repetitive))
    rep = compressor_bpc(repetitive)
    rnd = compressor_bpc(noise)
    assert {"zlib", "bz2", "lzma"} <= set(rep) and set(rep) == set(rnd)
    for name in rep:
        assert rep[name] < 0.5, (name, rep[name])
        assert rnd[name] > 7.9, (name, rnd[name])


def test_lzma_beats_zlib_on_long_english():
    bpc = compressor_bpc(_english(200_000))
    assert bpc["lzma"] < bpc["zlib"]
    assert all(0.5 < v < 5 for v in bpc.values())


def test_empty_data_is_an_error():
    with pytest.raises(SeqgenError):
        compressor_bpc(b"")


def test_table_sorted_and_marked():
    table = compression_table({"lstm 7x700": 1.67}, {"zlib": 2.9, "lzma": 2.0}, {"cmix": 1.17})
    lines = table.strip().splitlines()
    assert lines[0] == "| method | compressed bytes | bits per character | model's estimate |"
    body = lines[2:]
    assert len(body) == 4
    assert "cmix" in body[0] and "(paper)" in body[0]
    assert "**lstm 7x700** (model)" in body[1] and "1.670" in body[1]
    assert "2.000" in body[2] and "2.900" in body[3]


def test_real_sizes_in_the_table():
    """A coded model's row shows its real size (bits per character from it) beside its estimate."""
    data = _english(20_000)
    sizes = compressor_sizes(data)
    table = compression_table({"LSTM (static)": ModelRow(2.0, 5_100)}, compressor_bpc(data), None, len(data), sizes)
    row = next(line for line in table.splitlines() if "LSTM" in line)
    assert "**5,100**" in row and "**2.040**" in row and row.endswith("| 2.000 |")
    zlib_row = next(line for line in table.splitlines() if "zlib" in line)
    assert f"| {sizes['zlib']:,} |" in zlib_row


def test_write_report(tmp_path: Path):
    data = _english(50_000)
    out = tmp_path / "eval"
    report = write_compression_report(out, {"lstm": 2.1}, data, reference_rows=PAPER_ENWIK8_BPC)
    assert report["test_bytes"] == len(data)
    on_disk = json.loads((out / "compression.json").read_text())
    assert on_disk == report
    bpcs = [r["bpc"] for r in on_disk["rows"]]
    assert bpcs == sorted(bpcs)
    assert {r["kind"] for r in on_disk["rows"]} == {"model", "compressor", "reference"}
    md = (out / "compression.md").read_text()
    assert md.startswith("# Compression results") and "**lstm** (model)" in md
    assert sorted(os.listdir(out)) == ["compression.json", "compression.md"]  # no temp files left
