"""IAM-OnDB reader for the original on-disk layout (lineStrokes-all + ascii-all, optional split lists).

Layout (as extracted from the official archives; the reader searches recursively, so the depth of
the per-form folders does not matter)::

    <root>/lineStrokes/a01/a01-000/a01-000u-01.xml   WhiteboardCaptureSession > StrokeSet > Stroke > Point
    <root>/ascii/a01/a01-000/a01-000u.txt            transcription: the lines after `CSR:` (+ blank line)
    <root>/trainset.txt, testset_v.txt, testset_t.txt, testset_f.txt   one form id (a01-000u) per line

Line k (1-based) of a form's CSR block is the strokes file ``<form>-<kk>.xml``. Point y grows
downwards on the whiteboard; the reader flips it so y points up (seqgen's convention). Every item
that cannot be used is logged and counted by reason in a `SkipReport`, never dropped silently.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from seqgen.data.handwriting.strokes import Line, clean_offsets, read_line_strokes, remove_outlier_points, strokes_to_offsets
from seqgen.errors import SeqgenError

logger = logging.getLogger(__name__)

#: split name -> list file of the IAM-OnDB-t1 task. The paper trains on train + valid2 + test and
#: early-stops on valid (testset_v).
IAM_SPLIT_FILES: dict[str, str] = {
    "train": "trainset.txt",
    "valid": "testset_v.txt",
    "valid2": "testset_t.txt",
    "test": "testset_f.txt",
}

#: default threshold for over-long pen-down steps, in raw whiteboard units (median step ~ 20-25,
#: capital letters ~ 300 tall, word gaps ~ 100-700 but those are pen-up moves).
DEFAULT_MAX_STEP = 300.0

# reasons a SkipReport counts
MALFORMED_XML = "malformed_xml"
NO_STROKES_FILE = "transcription_without_strokes"
NO_TRANSCRIPTION = "strokes_without_transcription"
OUTLIER_LINE = "outlier_line"
OUTLIER_POINTS = "outlier_points"  # repair: wild single points removed (the line is kept)
EMPTY_TEXT = "empty_transcription"
MALFORMED_ASCII = "malformed_transcription"

_LINE_ID = re.compile(r"^(?P<form>[a-z0-9]+-[a-z0-9]+)-(?P<num>\d+)$", re.IGNORECASE)
_ENTITIES = {"&quot;": '"', "&amp;": "&", "&apos;": "'", "&lt;": "<", "&gt;": ">"}


@dataclass
class SkipReport:
    """What was skipped and why: counts and names per reason, plus repairs made to kept lines."""

    counts: dict[str, int] = field(default_factory=dict)
    names: dict[str, list[str]] = field(default_factory=dict)
    repairs: dict[str, int] = field(default_factory=dict)
    repaired: dict[str, list[str]] = field(default_factory=dict)  # repair -> names of the kept lines it touched
    kept: int = 0

    def add(self, reason: str, name: str, detail: str = "") -> None:
        """Count and log one skipped item."""
        self.counts[reason] = self.counts.get(reason, 0) + 1
        self.names.setdefault(reason, []).append(name)
        logger.warning("IAM-OnDB: skipped %s (%s)%s", name, reason, f": {detail}" if detail else "")

    def repair(self, kind: str, name: str, count: int, detail: str = "") -> None:
        """Count and log a repair of a kept line (named, like skips)."""
        self.repairs[kind] = self.repairs.get(kind, 0) + count
        self.repaired.setdefault(kind, []).append(name)
        logger.warning("repaired %s (%s: %d)%s", name, kind, count, f": {detail}" if detail else "")

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        parts = [f"{k}={v}" for k, v in sorted(self.counts.items())]
        rep = [f"{k}={v}" for k, v in sorted(self.repairs.items()) if v]
        return (
            f"kept {self.kept} lines, skipped {self.total}"
            + (f" ({', '.join(parts)})" if parts else "")
            + (f"; repairs: {', '.join(rep)}" if rep else "")
        )

    def to_dict(self) -> dict:
        return {
            "kept": self.kept,
            "skipped": dict(self.counts),
            "names": {k: list(v) for k, v in self.names.items()},
            "repairs": dict(self.repairs),
            "repaired": {k: list(v) for k, v in self.repaired.items()},
        }


def _unescape(text: str) -> str:
    for k, v in _ENTITIES.items():
        text = text.replace(k, v)
    return text


def read_text_file(path: Path) -> str:
    """An IAM-OnDB text file: UTF-8 when it decodes as UTF-8 (transcriptions a user wrote, accents,
    CJK), else ISO-8859-1, the corpus's own encoding (every byte string decodes as latin-1, so a
    latin-1 file with accents, which is not valid UTF-8, is read as latin-1)."""
    raw = Path(path).read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def read_transcriptions(ascii_file: str | Path) -> dict[str, str]:
    """Parse one ascii/<...>/<form>.txt -> {line_id: text}, line ids like ``a01-000u-01`` (1-based).

    The transcription is the block after the ``CSR:`` line (one blank line follows it); trailing
    blank lines are ignored. Raises SeqgenError when there is no CSR block.
    """
    path = Path(ascii_file)
    try:
        raw = read_text_file(path)
    except OSError as err:
        raise SeqgenError(f"{path}: cannot read ({err.strerror})") from None
    lines = raw.splitlines()
    csr = next((i for i, ln in enumerate(lines) if ln.strip().startswith("CSR:")), None)
    if csr is None:
        raise SeqgenError(f"{path}: no 'CSR:' block; expected an IAM-OnDB ascii transcription file")
    block = lines[csr + 1 :]
    while block and not block[0].strip():
        block = block[1:]
    while block and not block[-1].strip():
        block = block[:-1]
    form = path.stem
    return {f"{form}-{k:02d}": _unescape(text.strip()) for k, text in enumerate(block, start=1)}


def read_split_ids(root: str | Path, split: str) -> set[str]:
    """Form ids of one IAM-OnDB-t1 split ('train', 'valid', 'valid2', 'test' or a file name)."""
    name = IAM_SPLIT_FILES.get(split, split)
    root = Path(root)
    cands = [root / name] + sorted(root.rglob(name))
    path = next((c for c in cands if c.is_file()), None)
    if path is None:
        raise SeqgenError(
            f"IAM-OnDB split list {name} not found under {root}; put trainset.txt, testset_v.txt, "
            "testset_t.txt, testset_f.txt there, or pass data.corpus.split=random to split the forms at random "
            "(data.corpus.fractions) without lists"
        )
    ids = {ln.strip() for ln in read_text_file(path).splitlines()}
    return {i for i in ids if i and not i.startswith("#")}


def _read_writers(root: Path) -> dict[str, str]:
    """Optional form -> writer map from forms.txt (`<form id> <writer id>` per line); {} when absent."""
    path = root / "forms.txt"
    out: dict[str, str] = {}
    if not path.is_file():
        return out
    for ln in read_text_file(path).splitlines():
        toks = ln.split()
        if len(toks) >= 2 and not ln.startswith("#"):
            out[toks[0]] = toks[1]
    return out


def _in_split(line_id: str, form: str, split_ids: set[str] | None) -> bool:
    if split_ids is None:
        return True
    return form in split_ids or line_id in split_ids or form.rstrip("abcdefghijklmnopqrstuvwxyz") in split_ids


def fill_missing_readings(stroke: np.ndarray, dt: float, factor: float = 2.5) -> tuple[np.ndarray, int]:
    """Linear interpolation where the time gap exceeds `factor` x the sampling interval `dt`.

    Paper: "recording errors in the x, y data were corrected by interpolating to fill in for
    missing readings". Needs the time column; returns (stroke, number of points added).
    """
    if len(stroke) < 2 or stroke.shape[1] < 3 or not np.isfinite(dt) or dt <= 0:
        return stroke, 0
    gaps = np.diff(stroke[:, 2])
    if not np.all(np.isfinite(gaps)) or not np.any(gaps > factor * dt):
        return stroke, 0
    pieces = [stroke[:1]]
    added = 0
    for i, g in enumerate(gaps):
        a, b = stroke[i], stroke[i + 1]
        if g > factor * dt:
            k = int(round(g / dt)) - 1
            if k > 0:
                w = (np.arange(1, k + 1) / (k + 1))[:, None]
                pieces.append(a + w * (b - a))
                added += k
        pieces.append(stroke[i + 1 : i + 2])
    return np.concatenate(pieces, axis=0), added


def _index(root: Path, split_ids: set[str] | None, rep: SkipReport) -> tuple[dict[str, Path], dict[str, str], list[str]]:
    """The lineStrokes files and the transcriptions of the split, and every line id either names (sorted)."""
    strokes_dir, ascii_dir = root / "lineStrokes", root / "ascii"
    hint = (
        "extract lineStrokes-all.tar.gz and ascii-all.tar.gz from IAM-OnDB "
        "(https://fki.tic.heia-fr.ch/databases/iam-on-line-handwriting-database) into it"
    )
    if not strokes_dir.is_dir():
        raise SeqgenError(f"IAM-OnDB: {strokes_dir} is not a folder; {hint}")
    if not ascii_dir.is_dir():
        raise SeqgenError(f"IAM-OnDB: {ascii_dir} is not a folder; {hint}")
    xml_files: dict[str, Path] = {}
    for p in strokes_dir.rglob("*.xml"):
        xml_files[p.stem] = p
    texts: dict[str, str] = {}
    for p in sorted(ascii_dir.rglob("*.txt")):
        form = p.stem
        if split_ids is not None and not _in_split(form + "-01", form, split_ids):
            continue
        try:
            texts.update(read_transcriptions(p))
        except SeqgenError as err:
            rep.add(MALFORMED_ASCII, form, str(err))
    ids = set()
    for lid in xml_files:
        m = _LINE_ID.match(lid)
        if _in_split(lid, m.group("form") if m else lid, split_ids):
            ids.add(lid)
    return xml_files, texts, sorted(ids | set(texts))


def _fill_gaps(strokes: list[np.ndarray], rep: SkipReport) -> list[np.ndarray]:
    """Readings the tablet missed, interpolated at the line's median sampling interval."""
    gaps = np.concatenate([np.diff(s[:, 2]) for s in strokes if len(s) > 1] or [np.zeros(0)])
    gaps = gaps[np.isfinite(gaps) & (gaps > 0)]
    dt = float(np.median(gaps)) if len(gaps) else float("nan")
    filled = []
    for s in strokes:
        s2, added = fill_missing_readings(s, dt)
        if added:
            rep.repairs["interpolated_points"] = rep.repairs.get("interpolated_points", 0) + added
        filled.append(s2)
    return filled


def _clean_offsets(lid: str, strokes: list[np.ndarray], max_step: float, rep: SkipReport) -> np.ndarray | None:
    """Wild points removed (a few are repaired, many mean a broken line), then `clean_offsets`; None: skipped."""
    n_points = sum(len(s) for s in strokes)
    strokes, wild = remove_outlier_points(strokes, max_step)
    if wild and (wild > max(2, 0.05 * n_points) or not strokes):
        rep.add(OUTLIER_LINE, lid, f"{wild} of {n_points} points far outside the line (corrupt coordinates)")
        return None
    if wild:
        rep.repair(OUTLIER_POINTS, lid, wild, "points far outside the line removed")
    counts: dict[str, int] = {}
    offsets = clean_offsets(strokes_to_offsets(strokes), max_step, report=counts)
    if offsets is None:
        rep.add(OUTLIER_LINE, lid, f"over-long steps or too few points (max_step={max_step})")
        return None
    for k, v in counts.items():
        rep.repairs[k] = rep.repairs.get(k, 0) + v
    return offsets


def iter_iam_lines(
    root: str | Path,
    split_ids: set[str] | None = None,
    max_step: float = DEFAULT_MAX_STEP,
    report: SkipReport | None = None,
    interpolate: bool = True,
) -> Iterator[Line]:
    """Yield `Line`s (sorted by line id) joining lineStrokes XML to ascii transcriptions.

    `split_ids`: form ids (or line ids) to keep, None for all. Lines are cleaned with
    `clean_offsets(max_step)` after filling missing readings; skipped items (malformed XML,
    transcription without strokes file, strokes without transcription, outlier lines) go into
    `report` (pass your own SkipReport to read it after iterating) and the log.
    Offsets are in raw whiteboard units, y up; writer is the forms.txt writer id when present,
    else the form id.
    """
    root = Path(root)
    rep = report if report is not None else SkipReport()
    xml_files, texts, ids = _index(root, split_ids, rep)
    writers = _read_writers(root)
    for lid in ids:
        m = _LINE_ID.match(lid)
        form = m.group("form") if m else lid
        text = texts.get(lid)
        xml = xml_files.get(lid)
        if xml is None:
            rep.add(NO_STROKES_FILE, lid, f"text {text!r} has no lineStrokes/{lid}.xml")
            continue
        if text is None:
            rep.add(NO_TRANSCRIPTION, lid, f"{xml} has no CSR line in ascii/.../{form}.txt")
            continue
        if not text:
            rep.add(EMPTY_TEXT, lid, "blank CSR line")
            continue
        try:
            strokes = read_line_strokes(xml)
        except SeqgenError as err:
            rep.add(MALFORMED_XML, lid, str(err))
            continue
        offsets = _clean_offsets(lid, _fill_gaps(strokes, rep) if interpolate else strokes, max_step, rep)
        if offsets is None:
            continue
        rep.kept += 1
        yield Line(offsets=offsets, text=text, writer=writers.get(form, form), source="iam-ondb", line_id=lid)
    logger.info("IAM-OnDB %s: %s", root, rep.summary())
