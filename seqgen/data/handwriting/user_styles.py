"""A user's own handwriting as a prime (IAM-OnDB XML, SVG polylines/paths, JSON, .npy) + the real styles.

Every loader returns offsets in seqgen's convention (start row (0, 0, 1), y up) in the file's own
units; bring them to the model's scale with `NormStats.adapt` (matches the median pen step).
"""

from __future__ import annotations

import json
import logging
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np

from seqgen.data.handwriting.strokes import Line, read_line_strokes, strokes_to_offsets
from seqgen.errors import SeqgenError

logger = logging.getLogger(__name__)

ACCEPTED = (
    "accepted formats: .xml (IAM-OnDB lineStrokes), .svg (<polyline points> or <path d> with M/L/H/V/Z, "
    "one element per stroke), .json ({\"text\": ..., \"strokes\": [[[x, y], ...], ...]} or a bare list "
    "of strokes, y up unless \"y_axis\": \"down\"), .npy ((T, 3) offsets rows dx, dy, end_of_stroke)"
)

_NUM = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_PATH_TOKEN = re.compile(r"[A-Za-z]|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _bad(path: Path, why: str) -> SeqgenError:
    return SeqgenError(f"{path}: {why}; {ACCEPTED}")


def _sidecar_text(path: Path) -> str | None:
    """Transcription from `<name>.txt` beside the file, when present."""
    txt = path.with_suffix(".txt")
    if txt.is_file():
        text = txt.read_text(encoding="utf-8", errors="replace").strip()
        return text or None
    return None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _parse_points(s: str) -> list[tuple[float, float]]:
    nums = [float(v) for v in _NUM.findall(s)]
    if len(nums) % 2:
        raise ValueError(f"odd number of coordinates in points={s[:60]!r}")
    return list(zip(nums[0::2], nums[1::2]))


def _parse_path(d: str) -> list[list[tuple[float, float]]]:
    """M/L/H/V/Z path data (absolute or relative) -> subpaths; curves are refused."""
    toks = _PATH_TOKEN.findall(d)
    subpaths: list[list[tuple[float, float]]] = []
    cur: list[tuple[float, float]] = []
    x = y = 0.0
    cmd = None
    i = 0
    while i < len(toks):
        t = toks[i]
        if t.isalpha():
            cmd = t
            i += 1
            if cmd in "Zz":
                if cur:
                    cur.append(cur[0])
                    x, y = cur[0]
                continue
            continue
        if cmd is None:
            raise ValueError("path data must start with a command")
        if cmd in "MmLl":
            if i + 1 >= len(toks) or toks[i + 1].isalpha():
                raise ValueError(f"incomplete coordinate pair after {cmd}")
            dx, dy = float(toks[i]), float(toks[i + 1])
            i += 2
            if cmd in "ml" and (cur or subpaths or cmd == "l"):
                x, y = x + dx, y + dy
            else:
                x, y = dx, dy
            if cmd in "Mm":
                if cur:
                    subpaths.append(cur)
                cur = [(x, y)]
                cmd = "L" if cmd == "M" else "l"  # implicit lineto after moveto
            else:
                cur.append((x, y))
        elif cmd in "HhVv":
            v = float(toks[i])
            i += 1
            if cmd == "H":
                x = v
            elif cmd == "h":
                x += v
            elif cmd == "V":
                y = v
            else:
                y += v
            cur.append((x, y))
        else:
            raise ValueError(
                f"path command {cmd!r} is not supported (only M, L, H, V, Z); flatten curves first "
                "(e.g. Inkscape: Extensions > Modify Path > Flatten Beziers)"
            )
    if cur:
        subpaths.append(cur)
    return subpaths


def _load_svg(path: Path) -> tuple[list[np.ndarray], str | None]:
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        raise _bad(path, f"malformed SVG ({err})") from None
    strokes: list[np.ndarray] = []
    title = None
    transformed = False
    for el in root.iter():
        tag = _local(el.tag)
        if "transform" in el.attrib:
            transformed = True
        try:
            if tag in ("polyline", "polygon"):
                pts = _parse_points(el.attrib.get("points", ""))
                if tag == "polygon" and pts:
                    pts.append(pts[0])
                if pts:
                    strokes.append(np.asarray(pts, dtype=np.float64))
            elif tag == "line":
                a = el.attrib
                pts = [(float(a.get("x1", 0)), float(a.get("y1", 0))), (float(a.get("x2", 0)), float(a.get("y2", 0)))]
                strokes.append(np.asarray(pts, dtype=np.float64))
            elif tag == "path":
                for sub in _parse_path(el.attrib.get("d", "")):
                    strokes.append(np.asarray(sub, dtype=np.float64))
            elif tag == "title" and title is None and el.text and el.text.strip():
                title = el.text.strip()
        except ValueError as err:
            raise _bad(path, f"bad <{tag}> element ({err})") from None
    if transformed:
        logger.warning("%s: SVG transform attributes are ignored; the strokes may be scaled or shifted", path)
    if not strokes:
        raise _bad(path, "no <polyline> or <path> strokes found")
    for s in strokes:
        s[:, 1] *= -1.0  # SVG y grows down
    return strokes, title


def _load_json(path: Path) -> tuple[list[np.ndarray], str | None]:
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise _bad(path, f"malformed JSON ({err})") from None
    text = None
    y_down = False
    if isinstance(data, dict):
        if "strokes" not in data:
            raise _bad(path, "JSON object has no \"strokes\" key")
        text = data.get("text")
        if text is not None and not isinstance(text, str):
            raise _bad(path, "\"text\" must be a string")
        y_axis = str(data.get("y_axis", "up")).lower()
        if y_axis not in ("up", "down"):
            raise _bad(path, f"\"y_axis\" must be \"up\" or \"down\", got {y_axis!r}")
        y_down = y_axis == "down"
        data = data["strokes"]
    if not isinstance(data, list) or not data:
        raise _bad(path, "strokes must be a non-empty list of strokes")
    strokes = []
    for k, s in enumerate(data):
        try:
            a = np.asarray(s, dtype=np.float64)
        except (TypeError, ValueError):
            raise _bad(path, f"stroke {k} is not a list of [x, y] points") from None
        if a.ndim != 2 or a.shape[1] < 2 or len(a) == 0 or not np.all(np.isfinite(a[:, :2])):
            raise _bad(path, f"stroke {k} must be a non-empty list of finite [x, y] points, got shape {a.shape}")
        a = a[:, :2].copy()
        if y_down:
            a[:, 1] *= -1.0
        strokes.append(a)
    return strokes, text


def _load_npy(path: Path) -> tuple[np.ndarray, str | None]:
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as err:
        raise _bad(path, f"unreadable .npy ({err})") from None
    if arr.ndim != 2 or arr.shape[1] != 3 or not np.all(np.isfinite(arr)):
        raise _bad(path, f".npy must hold finite (T, 3) offsets, got shape {arr.shape}")
    text = None
    if path.name.endswith("-strokes.npy"):
        chars = path.with_name(path.name[: -len("-strokes.npy")] + "-chars.npy")
        if chars.is_file():
            text = _decode_chars(np.load(chars, allow_pickle=False))
    offsets = arr.astype(np.float32)
    if not (offsets[0, 0] == 0 and offsets[0, 1] == 0 and offsets[0, 2] == 1):
        offsets = np.concatenate([np.array([[0, 0, 1]], dtype=np.float32), offsets], axis=0)
    return offsets, text


def _decode_chars(arr: np.ndarray) -> str:
    v = arr.item() if arr.shape == () else arr.tobytes()
    if isinstance(v, bytes):
        return v.decode("utf-8", errors="replace").rstrip("\x00")
    return str(v)


def load_prime(path: str | Path) -> tuple[np.ndarray, str | None]:
    """Load a user's handwriting -> (offsets (T, 3) float32 in the file's units, transcription or None).

    The transcription comes from the file (JSON "text", SVG <title>, style-N-chars.npy) or else
    from a `<name>.txt` beside it.
    """
    p = Path(path)
    if not p.is_file():
        raise SeqgenError(f"{p}: no such file; give a handwriting sample file ({ACCEPTED})")
    try:
        offsets, text = _load_any(p)
    except RecursionError:  # e.g. JSON nested thousands of levels deep
        raise _bad(p, "nested too deeply to be a handwriting sample") from None
    # NaN or infinite coordinates (x="nan", 1e999, or differences beyond float32) would reach the sampler
    if not np.all(np.isfinite(offsets)):
        raise _bad(p, "every coordinate must be a finite number (found NaN, infinity, or a value beyond float32's range)")
    return offsets, text


def _load_any(p: Path) -> tuple[np.ndarray, str | None]:
    suffix = p.suffix.lower()
    if suffix == ".xml":
        try:
            strokes = read_line_strokes(p)
        except SeqgenError as err:
            raise SeqgenError(f"{err}; {ACCEPTED}") from None
        text = None
    elif suffix == ".svg":
        strokes, text = _load_svg(p)
    elif suffix == ".json":
        strokes, text = _load_json(p)
    elif suffix == ".npy":
        offsets, text = _load_npy(p)
        return offsets, text or _sidecar_text(p)
    else:
        raise SeqgenError(f"{p}: unknown handwriting file type {p.suffix or '(none)'!r}; {ACCEPTED}")
    with np.errstate(over="ignore", invalid="ignore"):  # inf - inf, or a float32 overflow: refused by the caller
        offsets = strokes_to_offsets(strokes).astype(np.float32)
    return offsets, text or _sidecar_text(p)


def load_real_styles(folder: str | Path) -> list[Line]:
    """The thirteen preprocessed real IAM-OnDB lines: styles/style-N-strokes.npy + style-N-chars.npy.

    Offsets are rows (dx, dy, eos) with first row (0, 0, 1), y up, in units of the line's median
    step (not mean/std normalised). Sorted by N; writer is ``style-N``.
    """
    d = Path(folder)
    files = sorted(d.glob("style-*-strokes.npy"), key=lambda f: int(re.sub(r"\D", "", f.name) or 0))
    if not files:
        raise SeqgenError(
            f"{d}: no style-N-strokes.npy files; point to the styles/ folder of the real samples "
            "(e.g. ../shared/real-samples/iam-ondb/styles)"
        )
    out = []
    for f in files:
        n = f.name[len("style-") : -len("-strokes.npy")]
        chars = f.with_name(f"style-{n}-chars.npy")
        if not chars.is_file():
            raise SeqgenError(f"{f}: transcription {chars.name} is missing beside it")
        offsets, _ = _load_npy(f)
        text = _decode_chars(np.load(chars, allow_pickle=False))
        out.append(Line(offsets=offsets, text=text, writer=f"style-{n}", source="iam-ondb-styles",
                        line_id=f"style-{n}"))
    return out
