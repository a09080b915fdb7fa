"""`LineStore`: the lines of a handwriting corpus spilled to disk, with small per-line metadata in memory.

Handwriting `prepare` reads the corpus once, appending every `Line` here, and then works from the
store: statistics from the metadata, shards from lines read back one at a time. Memory is the
metadata only (`BYTES_PER_LINE` bytes per line in flat typed arrays, plus one id per writer), not
the pen points, so a corpus of any size prepares in flat memory.

On disk (in a `seqgen.data.spill.scratch_dir`):

    offsets.f32   every line's (T, 3) float32 offsets, back to back, as stored in the `Line`
    labels.bin    every line's UTF-8 transcription followed by its UTF-8 line id

Per line in memory: file positions and sizes, the number of rows, the number of characters, the
writer (an index into `writers`), and the two scale statistics prepare filters on: `median_step`
(median pen-down step) and `longest` (largest |dx| or |dy| after the start row; NaN when a move is
not finite).
"""

from __future__ import annotations

import os
from array import array
from pathlib import Path

import numpy as np

from seqgen.data.handwriting.strokes import Line, median_step

#: memory per stored line (the typed arrays below; `writers` adds one string per distinct writer)
BYTES_PER_LINE = 8 + 4 + 8 + 4 + 4 + 4 + 4 + 8 + 8


def longest_move(offsets: np.ndarray) -> float:
    """Largest |dx| or |dy| after the start row (0 for a line without points; NaN/inf propagate)."""
    with np.errstate(invalid="ignore"):
        return float(np.nanmax(np.abs(offsets[1:, :2]))) if len(offsets) > 1 else 0.0


class LineStore:
    """Append-only store of `Line`s in a folder; lines are addressed by the index `add` returns."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self._data = open(self.folder / "offsets.f32", "wb+")
        self._labels = open(self.folder / "labels.bin", "wb+")
        self._data_end = 0
        self._labels_end = 0
        self._dirty = False
        self.data_pos = array("q")
        self.rows = array("i")
        self.label_pos = array("q")
        self.text_bytes = array("i")
        self.id_bytes = array("i")
        self.n_chars = array("i")
        self.writer = array("i")
        self.median_step = array("d")
        self.longest = array("d")
        self.writers: list[str] = []
        self._writer_index: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, line: Line) -> int:
        """Spill one line; returns its index."""
        offsets = np.ascontiguousarray(line.offsets, dtype=np.float32)
        text, line_id = line.text.encode("utf-8"), line.line_id.encode("utf-8")
        self._data.write(offsets.tobytes())
        self._labels.write(text + line_id)
        self.data_pos.append(self._data_end)
        self.label_pos.append(self._labels_end)
        self._data_end += offsets.nbytes
        self._labels_end += len(text) + len(line_id)
        self.rows.append(len(offsets))
        self.text_bytes.append(len(text))
        self.id_bytes.append(len(line_id))
        self.n_chars.append(len(line.text))
        if line.writer not in self._writer_index:
            self._writer_index[line.writer] = len(self.writers)
            self.writers.append(line.writer)
        self.writer.append(self._writer_index[line.writer])
        self.median_step.append(median_step(offsets))
        self.longest.append(longest_move(offsets))
        self._dirty = True
        return len(self.rows) - 1

    def _read(self, handle: object, pos: int, size: int) -> bytes:
        if self._dirty:
            self._data.flush()
            self._labels.flush()
            self._dirty = False
        data = os.pread(handle.fileno(), size, pos)  # type: ignore[attr-defined]
        if len(data) != size:
            raise OSError(f"{self.folder}: spill file shorter than expected (disk full or removed?)")
        return data

    def offsets(self, index: int) -> np.ndarray:
        """The line's offsets (T, 3) float32, exactly as added."""
        rows = self.rows[index]
        raw = self._read(self._data, self.data_pos[index], rows * 12)
        return np.frombuffer(raw, dtype=np.float32).reshape(rows, 3)

    def text(self, index: int) -> str:
        return self._read(self._labels, self.label_pos[index], self.text_bytes[index]).decode("utf-8")

    def line_id(self, index: int) -> str:
        pos = self.label_pos[index] + self.text_bytes[index]
        return self._read(self._labels, pos, self.id_bytes[index]).decode("utf-8")

    def name(self, index: int) -> str:
        """How skip reports name the line: its id, else the start of its text."""
        return self.line_id(index) or self.text(index)[:30]

    def writer_name(self, index: int) -> str:
        return self.writers[self.writer[index]]

    def n_points(self, index: int) -> int:
        return max(0, self.rows[index] - 1)

    def line(self, index: int) -> Line:
        """The whole `Line` back (source is not stored)."""
        return Line(self.offsets(index).copy(), self.text(index), self.writer_name(index), "", self.line_id(index))

    def close(self) -> None:
        self._data.close()
        self._labels.close()
