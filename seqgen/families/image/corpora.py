"""Image corpora and the readers of their standard files.

- `DigitsCorpus`: scikit-learn's 8x8 handwritten digits (1797 images, grey levels 0..16), which
  ship inside scikit-learn: the offline default.
- `IdxCorpus`: MNIST / Fashion-MNIST IDX files (gzipped or not). Layout: a big-endian header
  `0x00 0x00 <type> <ndim>` (type 0x08 = unsigned byte: magic 0x00000803 for images of 3 dims,
  0x00000801 for labels of 1 dim), then `ndim` big-endian uint32 sizes, then the bytes.
- `FashionMnistCorpus`: the IDX files of Debian's `dataset-fashion-mnist` package (offline).
- `AmatCorpus`: binarized MNIST in Larochelle's `.amat` format: one image per line, 784 values
  0/1 separated by spaces; files binarized_mnist_{train,valid,test}.amat (50k/10k/10k), no labels.

Every corpus returns {split: (images uint8 (N, H, W), labels int64 (N,) or None)} and `levels`
(number of intensity values: 17 for the digits, 256 for MNIST, 2 for binarized MNIST).
"""

from __future__ import annotations

import gzip
import logging
import math
import struct
import zlib
from pathlib import Path
from typing import Any, BinaryIO, Sequence

import numpy as np

from seqgen.errors import SeqgenError
from seqgen.io import split_counts

log = logging.getLogger(__name__)

Split = tuple[np.ndarray, "np.ndarray | None"]

IDX_IMAGES, IDX_LABELS = 0x00000803, 0x00000801


# --- IDX ----------------------------------------------------------------------------------------
def _is_gzip(path: Path) -> bool:
    if not path.exists():
        raise SeqgenError(f"{path} does not exist: check the file name (data.corpus.*)")
    with open(path, "rb") as handle:
        return handle.read(2) == b"\x1f\x8b"  # the gzip magic, whatever the suffix says


def _read_full(handle: BinaryIO, out: memoryview) -> int:
    """Fill `out` from `handle`; returns the number of bytes read (fewer at the end of the file)."""
    done = 0
    while done < len(out):
        n = handle.readinto(out[done : done + (1 << 22)])  # type: ignore[attr-defined]
        if not n:
            break
        done += n
    return done


def read_idx(path: str | Path, expect_magic: int | None = None) -> np.ndarray:
    """An IDX file (MNIST format, optionally gzipped) as a uint8 array of its stated shape.

    Read (and gunzipped) straight into the array: memory is the images once, not the file's
    bytes, the decompressed bytes and a copy.
    """
    path = Path(path)
    gzipped = _is_gzip(path)
    try:
        with (gzip.open(path, "rb") if gzipped else open(path, "rb")) as handle:
            head = handle.read(4)
            if len(head) < 4:
                raise SeqgenError(f"{path}: {len(head)} bytes, too short for an IDX header; is it an IDX file?")
            zero, dtype, ndim = struct.unpack(">HBB", head)
            magic = struct.unpack(">I", head)[0]
            if zero != 0 or dtype != 0x08 or ndim == 0:
                raise SeqgenError(
                    f"{path}: malformed IDX header (magic 0x{magic:08x}); expected 0x00000803 (images) or 0x00000801 (labels) "
                    "of unsigned bytes: is this an MNIST-format file?"
                )
            if expect_magic is not None and magic != expect_magic:
                raise SeqgenError(f"{path}: IDX magic 0x{magic:08x}, expected 0x{expect_magic:08x} ({'images' if expect_magic == IDX_IMAGES else 'labels'})")
            header = 4 + 4 * ndim
            dims = handle.read(4 * ndim)
            if len(dims) < 4 * ndim:
                raise SeqgenError(f"{path}: truncated IDX header ({4 + len(dims)} bytes, need {header})")
            shape = struct.unpack(f">{ndim}I", dims)
            expected = math.prod(shape)  # Python ints: a lying header cannot overflow here
            check_idx_size(path, shape, expected, header, gzipped)  # before allocating what the header claims
            out = np.empty(expected, dtype=np.uint8)
            got = _read_full(handle, memoryview(out))
            extra = 0
            while got == expected and (more := len(handle.read(1 << 20))):
                extra += more
    except (OSError, EOFError, zlib.error) as err:
        if not gzipped:
            raise SeqgenError(f"{path}: cannot read ({err})") from err
        raise SeqgenError(f"{path}: truncated or corrupt gzip file ({err}); download it again") from err
    if got != expected or extra:
        what = "truncated" if got < expected else "has trailing bytes"
        raise SeqgenError(f"{path}: {what}: the header says {shape} = {expected} bytes, the file holds {got + extra}")
    return out.reshape(shape)


# Deflate cannot shrink data by more than about 1032:1, so a gzipped file of n bytes holds at most
# ~1032 n bytes: a header claiming more is a lie (or a corrupt file).
GZIP_MAX_RATIO = 1032


def check_idx_size(path: Path, shape: tuple[int, ...], expected: int, header: int, gzipped: bool) -> None:
    """Refuse an IDX header whose shape the file cannot hold, before the array is allocated."""
    size = path.stat().st_size
    if gzipped:
        if expected + header > GZIP_MAX_RATIO * size:
            raise SeqgenError(
                f"{path}: the IDX header says {shape} = {expected} bytes, more than a {size}-byte gzip file can hold "
                f"(at most ~{GZIP_MAX_RATIO * size}): the header is corrupt, or this is not an IDX file"
            )
    elif expected + header != size:
        what = "truncated" if expected + header > size else "has trailing bytes"
        raise SeqgenError(f"{path}: {what}: the header says {shape} = {expected} bytes, the file holds {size - header}")


def read_idx_images(path: str | Path) -> np.ndarray:
    """Images (N, H, W); an (N, H, W, C) file is accepted only with C = 1."""
    images = read_idx(path)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim == 4:
        raise SeqgenError(f"{path}: images with {images.shape[-1]} channels; seqgen's image models take single-channel (grey) images")
    if images.ndim != 3:
        raise SeqgenError(f"{path}: IDX data of shape {images.shape} is not a stack of images (N, H, W): pass the images file")
    return images


def read_idx_labels(path: str | Path, count: int | None = None) -> np.ndarray:
    labels = read_idx(path, expect_magic=IDX_LABELS).astype(np.int64)
    if count is not None and len(labels) != count:
        raise SeqgenError(f"{path}: {len(labels)} labels for {count} images; pass the labels file that belongs to the images")
    return labels


def write_idx(path: str | Path, array: np.ndarray, compress: bool | None = None) -> Path:
    """Write a uint8 array as an IDX file (gzipped when the name ends in .gz): for tests and exports."""
    from seqgen.io import atomic_write

    path = Path(path)
    array = np.ascontiguousarray(array, dtype=np.uint8)
    payload = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    if compress if compress is not None else path.suffix == ".gz":
        payload = gzip.compress(payload, mtime=0)
    return atomic_write(path, payload)


# --- .amat ----------------------------------------------------------------------------------------
def read_amat(path: str | Path, size: tuple[int, int] = (28, 28)) -> np.ndarray:
    """Larochelle's binarized MNIST: one image per line, H*W values in {0, 1}."""
    path = Path(path)
    if not path.exists():
        raise SeqgenError(f"{path} does not exist: point data.corpus.root at the folder of binarized_mnist_*.amat")
    pixels = size[0] * size[1]
    rows = bytearray()  # the images' bytes, packed as they are read (not one array object per image)
    with open(path, "r") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                values = np.array(line.split(), dtype=np.float64)
            except ValueError as err:
                raise SeqgenError(f"{path}, line {number}: not numbers ({err})") from err
            if len(values) != pixels:
                raise SeqgenError(f"{path}, line {number}: {len(values)} values, expected {pixels} ({size[0]}x{size[1]}); truncated file?")
            if not np.all((values == 0) | (values == 1)):
                bad = values[(values != 0) & (values != 1)][0]
                raise SeqgenError(f"{path}, line {number}: value {bad:g} is not binary; .amat files hold 0/1 pixels (binarized MNIST)")
            rows += values.astype(np.uint8).tobytes()
    if not rows:
        raise SeqgenError(f"{path}: no images")
    return np.frombuffer(rows, dtype=np.uint8).reshape(-1, *size)


# --- corpora --------------------------------------------------------------------------------------
def _split(images: np.ndarray, labels: np.ndarray | None, fractions: Sequence[float], seed: int, names: Sequence[str]) -> dict[str, Split]:
    order = np.random.default_rng(seed).permutation(len(images))
    counts = split_counts(len(images), fractions, names)
    out, start = {}, 0
    for name in names:
        index = order[start : start + counts[name]]
        out[name] = (images[index], None if labels is None else labels[index])
        start += counts[name]
    return out


class DigitsCorpus:
    """scikit-learn's 8x8 digits (UCI optdigits test set): grey levels 0..16, labels 0..9."""

    name = "digits"
    levels = 17

    def __init__(self, split: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0) -> None:
        self.split, self.seed = list(split), seed

    def load(self) -> dict[str, Split]:
        from sklearn.datasets import load_digits

        bunch = load_digits()
        images = bunch.images.astype(np.uint8)  # values 0..16 stored as floats
        return _split(images, bunch.target.astype(np.int64), self.split, self.seed, ("train", "valid", "test"))


class IdxCorpus:
    """MNIST-format IDX files: train images/labels and test images/labels; `valid` is cut from train."""

    name = "idx"
    levels = 256

    def __init__(
        self,
        train_images: str,
        test_images: str,
        train_labels: str | None = None,
        test_labels: str | None = None,
        valid_fraction: float = 1 / 12,
        seed: int = 0,
        name: str | None = None,
    ) -> None:
        self.paths = {"train": (train_images, train_labels), "test": (test_images, test_labels)}
        if not 0.0 < valid_fraction < 1.0:
            raise SeqgenError(f"data.corpus.valid_fraction={valid_fraction}: must lie in (0, 1)")
        self.valid_fraction, self.seed = valid_fraction, seed
        if name:
            self.name = name

    def _read(self, images: str, labels: str | None) -> Split:
        x = read_idx_images(Path(images).expanduser())
        y = read_idx_labels(Path(labels).expanduser(), len(x)) if labels else None
        return x, y

    def load(self) -> dict[str, Split]:
        train = self._read(*self.paths["train"])
        test = self._read(*self.paths["test"])
        if train[0].shape[1:] != test[0].shape[1:]:
            raise SeqgenError(f"train images are {train[0].shape[1:]} but test images are {test[0].shape[1:]}: pass files of one dataset")
        parts = _split(*train, (1 - self.valid_fraction, self.valid_fraction), self.seed, ("train", "valid"))
        parts["test"] = test
        return parts


FASHION_PACKAGE = "dataset-fashion-mnist"
FASHION_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def _debian_package_files(package: str) -> list[Path]:
    listing = Path("/var/lib/dpkg/info") / f"{package}.list"
    if not listing.exists():
        return []
    return [Path(line) for line in listing.read_text().splitlines() if line]


def find_fashion_mnist(root: str | None = None) -> dict[str, str]:
    """The four Fashion-MNIST IDX files: under `root`, else where the Debian package put them."""
    candidates = list(Path(root).expanduser().rglob("*")) if root else _debian_package_files(FASHION_PACKAGE)
    found: dict[str, str] = {}
    for key, stem in FASHION_FILES.items():
        matches = sorted(p for p in candidates if p.name in (stem, stem + ".gz") and p.is_file())
        if matches:
            found[key] = str(matches[0])
    if len(found) < len(FASHION_FILES):
        where = f"under {root}" if root else f"from the Debian package '{FASHION_PACKAGE}'"
        missing = ", ".join(FASHION_FILES[k] for k in FASHION_FILES if k not in found)
        raise SeqgenError(
            f"Fashion-MNIST files not found {where} (missing: {missing}): install them with "
            f"`sudo apt-get install {FASHION_PACKAGE}`, or set data.corpus.root=<folder with the IDX files>"
        )
    return found


class FashionMnistCorpus(IdxCorpus):
    """Fashion-MNIST (28x28, 10 classes) from Debian's `dataset-fashion-mnist` or a folder."""

    name = "fashion_mnist"

    def __init__(self, root: str | None = None, valid_fraction: float = 1 / 12, seed: int = 0) -> None:
        super().__init__(**find_fashion_mnist(root), valid_fraction=valid_fraction, seed=seed)


class AmatCorpus:
    """Binarized MNIST (Larochelle & Murray 2011): binarized_mnist_{train,valid,test}.amat in `root`."""

    name = "binarized_mnist"
    levels = 2

    def __init__(self, root: str, size: Sequence[int] = (28, 28), pattern: str = "binarized_mnist_{split}.amat") -> None:
        self.root, self.size, self.pattern = Path(root).expanduser(), (int(size[0]), int(size[1])), pattern

    def load(self) -> dict[str, Split]:
        return {split: (read_amat(self.root / self.pattern.format(split=split), self.size), None) for split in ("train", "valid", "test")}


def describe(corpus: Any) -> str:
    return str(corpus.name)
