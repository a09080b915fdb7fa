"""TIMIT reader for the original LDC layout, and the utterance record both speech corpora produce.

Layout (upper case as on the LDC disc; lower-case copies are found too)::

    <root>/TRAIN/DR1/FCJF0/SA1.WAV  .PHN  .WRD  .TXT
    <root>/TEST/DR1/FAKS0/SI943.WAV ...

* ``.WAV`` is NIST SPHERE, not RIFF: a 1024-byte ASCII header ::

      NIST_1A
         1024
      sample_rate -i 16000
      sample_n_bytes -i 2
      sample_byte_format -s2 01
      channel_count -i 1
      sample_count -i 46797
      end_head

  then raw 16-bit PCM (``01`` = little-endian, ``10`` = big-endian). A header that announces a
  compressed coding (``sample_coding -s26 pcm,embedded-shorten-v2.00``), another sample size,
  several channels or a sample rate other than the configured one is refused naming the file.
* ``.PHN`` / ``.WRD``: ``begin end label`` per line, in samples; ``.TXT``: ``begin end sentence``.
  A ``.PHN`` must tile the audio: start at 0, no gaps or overlaps, end within `tolerance` samples of
  the last sample.

Splits (the usual recipes): train = the 462 TRAIN speakers; valid = the 50-speaker development
set; test = the 24-speaker core test set (both from TEST). The dialect sentences SA1/SA2, read by
every speaker, are left out unless ``include_sa``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from seqgen.errors import SeqgenError
from seqgen.families.speech.phones import CORE_TEST_SPEAKERS, DEV_SPEAKERS, FOLD_61_TO_48, fold_segments, timit_scoring

log = logging.getLogger(__name__)

SPHERE_MAGIC = b"NIST_1A"
_FIELD = re.compile(r"^(\S+)\s+-(i|r|s\d+)\s+(.*)$")


@dataclass
class Utterance:
    """One utterance: audio (float32 in [-1, 1]) at `rate`, phone segments in samples, text, speaker."""

    uid: str
    speaker: str
    text: str
    audio: np.ndarray
    rate: int
    phones: list[tuple[int, int, str]]
    words: list[tuple[int, int, str]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return len(self.audio) / float(self.rate)


class SkipCounter:
    """Counted, named skips of `prepare` (recorded in meta.json), each also logged."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.names: dict[str, list[str]] = {}

    def add(self, reason: str, name: str, detail: str = "") -> None:
        self.counts[reason] = self.counts.get(reason, 0) + 1
        self.names.setdefault(reason, []).append(name)
        log.warning("skipped %s (%s)%s", name, reason, f": {detail}" if detail else "")

    def to_dict(self) -> dict[str, Any]:
        return {"counts": dict(self.counts), "names": {k: list(v) for k, v in self.names.items()}}


# ------------------------------------------------------------------------------------------ SPHERE


def parse_sphere_header(raw: bytes, name: str = "<bytes>") -> tuple[dict[str, Any], int]:
    """Header fields of a NIST SPHERE file (typed: int, float or str) and the header size in bytes."""
    if not raw.startswith(SPHERE_MAGIC):
        raise SeqgenError(f"{name} is not a NIST SPHERE file (no NIST_1A header): TIMIT .WAV files are SPHERE, not RIFF")
    lines = raw.split(b"\n")
    try:
        size = int(lines[1].strip())
    except (IndexError, ValueError) as err:
        raise SeqgenError(f"{name}: malformed SPHERE header (second line is not the header size)") from err
    if size < 16 or size > len(raw):
        raise SeqgenError(f"{name}: SPHERE header size {size} is impossible for a {len(raw)}-byte file")
    fields: dict[str, Any] = {}
    for line in raw[:size].split(b"\n")[2:]:
        text = line.decode("ascii", "replace").strip()
        if text == "end_head":
            return fields, size
        if not text or text.startswith(";"):
            continue
        match = _FIELD.match(text)
        if not match:
            raise SeqgenError(f"{name}: malformed SPHERE header line {text!r}")
        key, kind, value = match.groups()
        if kind == "i":
            fields[key] = int(value)
        elif kind == "r":
            fields[key] = float(value)
        else:
            fields[key] = value[: int(kind[1:])]
    raise SeqgenError(f"{name}: SPHERE header has no end_head within its {size} bytes")


def read_sphere(path: str | Path, expected_rate: int | None = None) -> tuple[np.ndarray, int]:
    """A 16-bit PCM mono SPHERE file -> (float32 samples in [-1, 1], sample rate)."""
    path = Path(path)
    raw = path.read_bytes()
    fields, size = parse_sphere_header(raw[:4096], str(path))
    coding = str(fields.get("sample_coding", "pcm")).lower()
    if coding != "pcm":
        raise SeqgenError(
            f"{path}: SPHERE sample_coding is {coding!r}, only uncompressed pcm is read; decompress first "
            "(e.g. `sph2pipe -f wav` or sox) or use the uncompressed LDC release"
        )
    rate = int(fields.get("sample_rate", 0))
    if expected_rate is not None and rate != int(expected_rate):
        raise SeqgenError(f"{path}: sample rate {rate} Hz, but the config expects {expected_rate} Hz (data.features.sample_rate)")
    if int(fields.get("sample_n_bytes", 2)) != 2:
        raise SeqgenError(f"{path}: {fields.get('sample_n_bytes')} bytes per sample; only 16-bit PCM is supported")
    if int(fields.get("channel_count", 1)) != 1:
        raise SeqgenError(f"{path}: {fields.get('channel_count')} channels; only mono is supported")
    order = str(fields.get("sample_byte_format", "01"))
    if order not in ("01", "10"):
        raise SeqgenError(f"{path}: unknown sample_byte_format {order!r} (expected 01 or 10)")
    data = raw[size:]
    count = int(fields.get("sample_count", len(data) // 2))
    if len(data) < 2 * count:
        raise SeqgenError(f"{path}: header announces {count} samples but the file holds {len(data) // 2} (truncated?)")
    pcm = np.frombuffer(data[: 2 * count], dtype="<i2" if order == "01" else ">i2")
    return (pcm.astype(np.float32) / 32768.0), rate


def write_sphere(path: str | Path, pcm: np.ndarray, rate: int = 16000, byte_format: str = "01", extra: dict[str, Any] | None = None) -> Path:
    """Write int16 samples as a 1024-byte-header SPHERE file (tests and tools; atomic)."""
    from seqgen.io import atomic_write

    pcm = np.asarray(pcm, dtype=np.int16)
    fields = {"sample_rate": rate, "sample_n_bytes": 2, "sample_byte_format": byte_format, "channel_count": 1,
              "sample_count": len(pcm), "sample_sig_bits": 16}
    fields.update(extra or {})
    lines = ["NIST_1A", "   1024"]
    for key, value in fields.items():
        if isinstance(value, int):
            lines.append(f"{key} -i {value}")
        elif isinstance(value, float):
            lines.append(f"{key} -r {value}")
        else:
            lines.append(f"{key} -s{len(str(value))} {value}")
    lines.append("end_head")
    header = ("\n".join(lines) + "\n").encode("ascii")
    if len(header) > 1024:
        raise ValueError("SPHERE header longer than 1024 bytes")
    body = pcm.astype("<i2" if byte_format == "01" else ">i2").tobytes()
    return atomic_write(path, header + b" " * (1024 - len(header)) + body)


# ---------------------------------------------------------------------------------- label files


def read_segments(path: str | Path) -> list[tuple[int, int, str]]:
    """A .PHN or .WRD file -> [(begin, end, label)] in samples."""
    out = []
    for number, line in enumerate(Path(path).read_text(encoding="ascii", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 3:
            raise SeqgenError(f"{path}:{number}: expected 'begin end label', got {line!r}")
        try:
            begin, end = int(parts[0]), int(parts[1])
        except ValueError as err:
            raise SeqgenError(f"{path}:{number}: begin/end are not integers: {line!r}") from err
        if end <= begin:
            raise SeqgenError(f"{path}:{number}: end {end} <= begin {begin}")
        out.append((begin, end, parts[2]))
    if not out:
        raise SeqgenError(f"{path} is empty")
    return out


def read_text(path: str | Path) -> str:
    """A .TXT file ('begin end sentence') -> the sentence."""
    parts = Path(path).read_text(encoding="ascii", errors="replace").strip().split(maxsplit=2)
    if len(parts) < 3 or not parts[2].strip():
        raise SeqgenError(f"{path}: empty transcription (expected 'begin end sentence')")
    return parts[2].strip()


def check_phone_cover(phones: list[tuple[int, int, str]], n_samples: int, name: str, tolerance: int) -> None:
    """The .PHN segments must tile [0, n_samples) (the last end within `tolerance` samples of the end)."""
    if phones[0][0] != 0 and phones[0][0] > tolerance:
        raise SeqgenError(f"{name}: the first phone starts at sample {phones[0][0]}, not 0")
    for (b0, e0, p0), (b1, e1, p1) in zip(phones, phones[1:]):
        if b1 != e0:
            raise SeqgenError(f"{name}: phones {p0!r} (ends {e0}) and {p1!r} (begins {b1}) leave a gap or overlap")
    end = phones[-1][1]
    if end > n_samples or n_samples - end > tolerance:
        raise SeqgenError(f"{name}: the phones end at sample {end} but the audio has {n_samples} samples")
    unknown = sorted({p for _, _, p in phones if p not in FOLD_61_TO_48})
    if unknown:
        raise SeqgenError(f"{name}: unknown TIMIT phone(s) {' '.join(unknown)}")


def read_utterance(wav: str | Path, speaker: str, phone_set: int = 48, expected_rate: int | None = 16000, tolerance: int = 160) -> Utterance:
    """One TIMIT utterance (the .WAV path; .PHN/.WRD/.TXT beside it, same case as the .WAV)."""
    wav = Path(wav)
    audio, rate = read_sphere(wav, expected_rate)

    def sibling(ext: str) -> Path:
        for candidate in (wav.with_suffix(ext.upper()), wav.with_suffix(ext.lower())):
            if candidate.exists():
                return candidate
        raise SeqgenError(f"{wav}: no {ext.upper()} file beside it")

    phones = read_segments(sibling(".phn"))
    check_phone_cover(phones, len(audio), str(sibling(".phn")), tolerance)
    end = phones[-1][1]
    words_path = None
    try:
        words_path = sibling(".wrd")
    except SeqgenError:
        pass
    words = read_segments(words_path) if words_path else []
    uid = f"{speaker}_{wav.stem.upper()}"
    return Utterance(uid, speaker, read_text(sibling(".txt")), audio[:end], rate, fold_segments(phones, phone_set), words)


# -------------------------------------------------------------------------------------- corpus


def _child(folder: Path, name: str) -> Path | None:
    for child in folder.iterdir() if folder.is_dir() else ():
        if child.name.lower() == name.lower():
            return child
    return None


class TimitCorpus:
    """TIMIT from `root` (see the module docstring). `phone_set`: 61 or 48 (training symbols;
    39 is for scoring); `include_sa`: keep the two dialect sentences of every speaker."""

    SPLITS = ("train", "valid", "test")

    def __init__(self, root: str, phone_set: int = 48, include_sa: bool = False, tolerance: int = 160, name: str = "timit") -> None:
        if not root:
            raise SeqgenError("TIMIT: set data.corpus.root=<folder holding TRAIN/ and TEST/>")
        self.root = Path(str(root)).expanduser()
        if phone_set not in (61, 48, 39):
            raise SeqgenError(f"data.corpus.phone_set={phone_set}: use 61, 48 or 39")
        self.phone_set = int(phone_set)
        self.include_sa = bool(include_sa)
        self.tolerance = int(tolerance)
        self.name = name
        self.sample_rate = 16000

    def _speaker_dirs(self, part: str) -> list[Path]:
        folder = _child(self.root, part)
        if folder is None:
            raise SeqgenError(f"TIMIT: {self.root} has no {part}/ folder (expected the LDC layout TRAIN/, TEST/)")
        out = []
        for region in sorted(folder.iterdir()):
            if region.is_dir() and region.name.upper().startswith("DR"):
                out.extend(sorted(d for d in region.iterdir() if d.is_dir()))
        return out

    def speakers(self, split: str) -> list[Path]:
        if split == "train":
            return self._speaker_dirs("TRAIN")
        wanted = set(DEV_SPEAKERS if split == "valid" else CORE_TEST_SPEAKERS)
        return [d for d in self._speaker_dirs("TEST") if d.name.upper() in wanted]

    def iter_split(self, split: str, report: SkipCounter, expected_rate: int | None = None) -> Iterator[Utterance]:
        """Utterances of one split, read one at a time (flat memory); unreadable ones are counted skips."""
        for spk_dir in self.speakers(split):
            speaker = spk_dir.name.upper()
            for wav in sorted(p for p in spk_dir.iterdir() if p.suffix.lower() == ".wav"):
                stem = wav.stem.upper()
                if stem.startswith("SA") and not self.include_sa:
                    continue
                if split == "test" and stem.startswith("SA"):
                    continue  # the core test set is scored on SI and SX sentences only
                try:
                    yield read_utterance(wav, speaker, self.phone_set, expected_rate or self.sample_rate, self.tolerance)
                except SeqgenError as err:
                    reason = "compressed_audio" if "sample_coding" in str(err) else "bad_utterance"
                    report.add(reason, f"{speaker}/{wav.name}", str(err))

    def scoring(self, phonemes: list[str]) -> dict[str, Any]:
        """How the phoneme recogniser scores this corpus (meta.json "scoring"): folded to 39 phones."""
        return timit_scoring(self.phone_set)

    def describe(self) -> dict[str, Any]:
        return {"kind": "timit", "root": str(self.root), "phone_set": self.phone_set, "include_sa": self.include_sa}
