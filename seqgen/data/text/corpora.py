"""Text corpora readers: original on-disk formats -> ``{"train", "valid", "test"}`` raw bytes.

Every corpus is a small class built from plain keyword values (Hydra ``instantiate``), with a
``name`` (used as the folder name of the prepared shards) and its splits (`TextCorpus`). Problems the user
can fix (missing file, bad archive, bad split) raise :class:`SeqgenError` naming the path and the fix.
"""

from __future__ import annotations

import ast
import codecs
import inspect
import os
import re
import sysconfig
import tarfile
import warnings
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from seqgen.data.text.download import download as _download
from seqgen.errors import SeqgenError
from seqgen.io import split_fractions

Splits = dict[str, bytes]

ENWIK8_URL = "http://mattmahoney.net/dc/enwik8.zip"
TEXT8_URL = "http://mattmahoney.net/dc/text8.zip"
PTB_URL = "http://www.fit.vutbr.cz/~imikolov/rnnlm/simple-examples.tgz"

SPLIT_NAMES = ("train", "valid", "test")
CHUNK = 1 << 20  # bytes read at a time when streaming a corpus (prepare's memory does not grow with it)


# --------------------------------------------------------------------------------------- streaming
#
# `prepare` reads a corpus twice (vocabulary and counts, then shards) in chunks, never whole: a
# corpus is a list of `Piece`s (files, zip members, separators) and each split a byte range of
# their concatenation (`SplitSource`). Small corpora (PTB, the embedded docstrings) give their
# splits in memory instead (`TextCorpus.load_splits`).


@dataclass
class Piece:
    """`size` bytes produced by `open()` as an iterator of chunks (re-openable)."""

    size: int
    open: Callable[[int], Iterator[bytes]]
    name: str = ""


def bytes_piece(data: bytes, name: str = "") -> Piece:
    def chunks(size: int) -> Iterator[bytes]:
        view = memoryview(data)
        for start in range(0, len(data), size):
            yield bytes(view[start : start + size])

    return Piece(len(data), chunks, name)


def file_piece(path: Path, limit: int | None = None, skip: int = 0) -> Piece:
    """The bytes of `path` from `skip`, at most `limit` of them."""
    total = path.stat().st_size - skip
    size = total if limit is None else min(total, limit)

    def chunks(chunk: int) -> Iterator[bytes]:
        left = size
        with open(path, "rb") as handle:
            handle.seek(skip)
            while left > 0:
                block = handle.read(min(chunk, left))
                if not block:
                    raise SeqgenError(f"{path} became shorter while it was read; do not change a corpus during prepare")
                left -= len(block)
                yield block

    return Piece(size, chunks, str(path))


def zip_member_piece(path: Path, member: str, hint: str, limit: int | None = None) -> Piece:
    try:
        with zipfile.ZipFile(path) as zf:
            size = zf.getinfo(member).file_size
    except KeyError:
        raise SeqgenError(f"{path} has no member {member!r}; {hint}") from None
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        raise SeqgenError(f"cannot read zip archive {path}: {err}; delete it and {hint}") from err
    size = size if limit is None else min(size, limit)

    def chunks(chunk: int) -> Iterator[bytes]:
        left = size
        try:
            with zipfile.ZipFile(path) as zf, zf.open(member) as handle:
                while left > 0:
                    block = handle.read(min(chunk, left))
                    if not block:
                        break
                    left -= len(block)
                    yield block
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
            raise SeqgenError(f"cannot read zip archive {path}: {err}; delete it and {hint}") from err

    return Piece(size, chunks, f"{path}:{member}")


class SplitSource:
    """Bytes [start, end) of the concatenation of `pieces`, read in chunks."""

    def __init__(self, pieces: Sequence[Piece], start: int = 0, end: int | None = None) -> None:
        self.pieces = list(pieces)
        total = sum(p.size for p in self.pieces)
        self.start = start
        self.end = total if end is None else end
        self.nbytes = max(self.end - self.start, 0)

    def chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        offset = 0
        for piece in self.pieces:
            lo, hi = max(self.start - offset, 0), min(self.end - offset, piece.size)
            offset += piece.size
            if hi <= lo:
                if offset >= self.end:
                    break
                continue
            position = 0
            for block in piece.open(size):
                block_lo, block_hi = max(lo - position, 0), min(hi - position, len(block))
                position += len(block)
                if block_hi > block_lo:
                    yield block[block_lo:block_hi] if (block_lo, block_hi) != (0, len(block)) else block
                if position >= hi:
                    break

    def read(self) -> bytes:
        return b"".join(self.chunks())


def split_sources_by_fractions(pieces: Sequence[Piece], fractions: Sequence[float]) -> dict[str, SplitSource]:
    """`split_by_fractions` without reading: the same boundaries over the pieces' concatenation."""
    a, b, c = _fractions(fractions, "split")
    n = sum(p.size for p in pieces)
    end_train = round(n * a)
    end_valid = round(n * (a + b))
    end_test = n if abs(a + b + c - 1.0) < 1e-9 else round(n * (a + b + c))
    return {
        "train": SplitSource(pieces, 0, end_train),
        "valid": SplitSource(pieces, end_train, end_valid),
        "test": SplitSource(pieces, end_valid, end_test),
    }


# --------------------------------------------------------------------------------------- encodings

ENCODING_HINT = (
    "convert it to UTF-8 (e.g. `iconv -f latin1 -t utf-8`), pass its encoding (data.corpus.encoding=latin-1, "
    "cp1252, utf-16, ...) or train on its raw bytes (data.corpus.encoding=bytes data.prepare.vocab=byte)"
)
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def detect_encoding(path: Path, encoding: str = "auto") -> str:
    """The codec to read `path` with: a byte-order mark decides (UTF-8/16/32), else UTF-8.

    `encoding` other than ``auto`` is taken as given (``bytes``: raw bytes, no check).
    """
    if encoding != "auto":
        if encoding != "bytes":
            try:
                codecs.lookup(encoding)
            except LookupError:
                raise SeqgenError(f"data.corpus.encoding={encoding!r} is not a known text encoding: use auto, bytes, utf-8, latin-1, utf-16, ...") from None
        return encoding
    with open(path, "rb") as handle:
        head = handle.read(4)
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    return "utf-8"


def text_file_piece(path: Path, encoding: str = "auto", chunk: int = CHUNK) -> Piece:
    """A text file as UTF-8 bytes, streamed: checked (UTF-8, not binary) or transcoded.

    * UTF-8 (the default): read as it is; a byte that is not UTF-8 or a NUL byte (a binary file)
      raises SeqgenError naming the file, the offset and the fix.
    * a byte-order mark (UTF-8, UTF-16, UTF-32) or `encoding=<codec>`: decoded and re-encoded as
      UTF-8 (the BOM is dropped); the UTF-8 size is measured by one streaming pass.
    * `encoding=bytes`: raw bytes, unchecked (for the byte vocabulary).
    """
    codec = detect_encoding(path, encoding)
    if codec == "bytes":
        return file_piece(path)
    if codec == "utf-8":
        piece = file_piece(path)
        inner = piece.open

        def checked(size: int) -> Iterator[bytes]:
            decoder = codecs.getincrementaldecoder("utf-8")("strict")
            offset = 0
            for block in inner(size):
                _check_block(path, block, offset, decoder, final=False)
                offset += len(block)
                yield block
            _check_block(path, b"", offset, decoder, final=True)

        return Piece(piece.size, checked, str(path))

    def transcoded(size: int) -> Iterator[bytes]:
        decoder = codecs.getincrementaldecoder(codec)("strict")
        offset = 0
        with open(path, "rb") as handle:
            while True:
                block = handle.read(size)
                final = not block
                try:
                    text = decoder.decode(block, final=final)
                except UnicodeDecodeError as err:
                    raise SeqgenError(f"{path} is not valid {codec} (byte {offset + err.start}): {ENCODING_HINT}") from None
                offset += len(block)
                if "\0" in text:
                    raise SeqgenError(f"{path} holds NUL characters: it looks like a binary file, not text; pass a text file")
                if text:
                    yield text.encode("utf-8")
                if final:
                    return

    size = sum(len(block) for block in transcoded(chunk))
    return Piece(size, transcoded, str(path))


def _check_block(path: Path, block: bytes, offset: int, decoder: codecs.IncrementalDecoder, final: bool) -> None:
    nul = block.find(b"\0")
    if nul >= 0:
        raise SeqgenError(
            f"{path} holds a NUL byte at offset {offset + nul}: it looks like a binary file, not text; pass a text file"
            " (or, to model raw bytes anyway, data.corpus.encoding=bytes data.prepare.vocab=byte)"
        )
    try:
        decoder.decode(block, final=final)
    except UnicodeDecodeError as err:
        where = f"byte 0x{block[err.start:err.start + 1].hex()} at offset {offset + err.start}" if block else "it ends inside a character"
        raise SeqgenError(f"{path} is not UTF-8 ({where}): {ENCODING_HINT}") from None


# --------------------------------------------------------------------------------------- helpers


def _fractions(split: Sequence[float] | Sequence[str], what: str) -> tuple[float, float, float]:
    train, valid, test = split_fractions(split, SPLIT_NAMES, key=f"{what}: split", partial=True).values()  # type: ignore[arg-type]
    return train, valid, test


def split_by_fractions(data: bytes, fractions: Sequence[float]) -> Splits:
    """Contiguous byte ranges: train first, then valid, then test, in the given fractions.

    Boundaries are ``round(n * cumulative_fraction)``, so a 100,000,000-byte file with
    (0.9, 0.05, 0.05) splits exactly into 90M / 5M / 5M; fractions summing to 1 use every byte.
    """
    a, b, c = _fractions(fractions, "split")
    n = len(data)
    end_train = round(n * a)
    end_valid = round(n * (a + b))
    end_test = n if abs(a + b + c - 1.0) < 1e-9 else round(n * (a + b + c))
    view = memoryview(data)
    return {
        "train": bytes(view[:end_train]),
        "valid": bytes(view[end_train:end_valid]),
        "test": bytes(view[end_valid:end_test]),
    }


def _check_splits(name: str, splits: Splits, source: Path | str) -> Splits:
    if not splits.get("train"):
        raise SeqgenError(
            f"{name}: the train split read from {source} is empty; check the file (is it truncated?) "
            f"and the split fractions"
        )
    return splits


def _read_file(path: Path, hint: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise SeqgenError(f"cannot read {path}: {err.strerror or err}; {hint}") from err


def _root(root: str | os.PathLike[str]) -> Path:
    return Path(os.path.expanduser(os.fspath(root)))


def _zip_or_plain_piece(
    root: Path, member: str, download: bool, url: str, sha256: str | None, name: str, limit: int | None = None
) -> tuple[Piece, Path]:
    """A `Piece` over ``root/member`` or over that member of ``root/member.zip`` (downloading the zip when allowed)."""
    hint = f"pass data.corpus.root=<folder with {member} or {member}.zip> or data.corpus.download=true"
    plain = root / member
    archive = root / f"{member}.zip"
    if plain.is_file():
        return file_piece(plain, limit), plain
    if not archive.is_file():
        if not download:
            raise SeqgenError(f"{name} not found at {root}: {hint}")
        _download(url, archive, sha256=sha256)
    return zip_member_piece(archive, member, hint, limit), archive


def _check_sources(name: str, sources: dict[str, SplitSource], where: Path | str) -> dict[str, SplitSource]:
    if sources["train"].nbytes == 0:
        raise SeqgenError(f"{name}: the train split read from {where} is empty; check the file (is it truncated?) and the split fractions")
    return sources


# --------------------------------------------------------------------------------------- corpora


class TextCorpus:
    """A text corpus: its `name` (the shard folder's and meta.json's) and its three splits, either
    as byte ranges read in chunks (`split_sources`: prepare's memory stays flat) or, for a small
    corpus, as bytes in memory (`load_splits`). A corpus gives one of the two; the other follows."""

    name: str = "text"

    def split_sources(self) -> dict[str, SplitSource]:
        return {split: SplitSource([bytes_piece(data)]) for split, data in self.load_splits().items()}

    def load_splits(self) -> Splits:
        return {split: source.read() for split, source in self.split_sources().items()}


class Enwik8Corpus(TextCorpus):
    """Hutter Prize Wikipedia (``enwik8``, 100M bytes of XML-wrapped English Wikipedia).

    Reads ``root/enwik8`` or ``root/enwik8.zip`` (member ``enwik8``); only the first 100M bytes
    are used. ``split``:

    * ``"standard"``: fractions 0.90 / 0.05 / 0.05 -> 90M train, 5M valid, 5M test (the split of
      the later literature).
    * ``"paper"``: Graves (2013) used 96M train / 4M validation and *no test set*; here
      ``train`` is the first 96%, ``valid`` the last 4%, and ``test`` is the same bytes as ``valid``
      (so evaluation on "test" reproduces the paper's validation number).

    Splits are defined by fractions of the file, so smaller files in the same format work too.
    """

    FRACTIONS = {"standard": (0.90, 0.05, 0.05), "paper": (0.96, 0.04, 0.0)}
    MAX_BYTES = 100_000_000

    def __init__(
        self,
        root: str,
        split: str = "standard",
        download: bool = False,
        url: str = ENWIK8_URL,
        sha256: str | None = None,
    ) -> None:
        if split not in self.FRACTIONS:
            raise SeqgenError(
                f"enwik8: unknown split {split!r}; use data.corpus.split=standard (90M/5M/5M) or paper (96M/4M)"
            )
        self.root = _root(root)
        self.split = split
        self.download = bool(download)
        self.url = url
        self.sha256 = sha256
        self.name = "enwik8" if split == "standard" else f"enwik8_{split}"

    def split_sources(self) -> dict[str, SplitSource]:
        piece, source = _zip_or_plain_piece(self.root, "enwik8", self.download, self.url, self.sha256, "enwik8", self.MAX_BYTES)
        sources = split_sources_by_fractions([piece], self.FRACTIONS[self.split])
        if self.split == "paper":
            sources["test"] = sources["valid"]
        return _check_sources(self.name, sources, source)


class Text8Corpus(TextCorpus):
    """Mahoney's ``text8`` (first 100M characters of cleaned Wikipedia: ``a-z`` and space only).

    Reads ``root/text8`` or ``root/text8.zip`` (member ``text8``); split 0.90 / 0.05 / 0.05
    (90M / 5M / 5M on the real file).
    """

    FRACTIONS = (0.90, 0.05, 0.05)

    def __init__(
        self, root: str, download: bool = False, url: str = TEXT8_URL, sha256: str | None = None
    ) -> None:
        self.root = _root(root)
        self.download = bool(download)
        self.url = url
        self.sha256 = sha256
        self.name = "text8"

    def split_sources(self) -> dict[str, SplitSource]:
        piece, source = _zip_or_plain_piece(self.root, "text8", self.download, self.url, self.sha256, "text8")
        return _check_sources(self.name, split_sources_by_fractions([piece], self.FRACTIONS), source)


def ptb_char_to_text(raw: bytes) -> bytes:
    """Mikolov's PTB character format -> plain text.

    In ``ptb.char.*.txt`` characters are separated by spaces and word boundaries are ``_``:
    ``"a e r _ b a n k n o t e"`` -> ``"aer banknote"``. Newlines are kept; spaces at the
    start/end of a line are dropped.
    """
    lines = []
    for line in raw.split(b"\n"):
        tokens = line.split()
        lines.append(b"".join(b" " if tok == b"_" else tok for tok in tokens).strip(b" "))
    return b"\n".join(lines)


class PTBCharCorpus(TextCorpus):
    """Penn Treebank, character level, in Mikolov's preprocessing (the paper's PTB task).

    Looks for ``ptb.char.{train,valid,test}.txt`` in ``root`` (or in ``root/simple-examples/data``,
    the extracted archive), else reads them from ``root/simple-examples.tgz`` (members
    ``./simple-examples/data/ptb.char.*.txt``), downloading it when ``download=True``.
    The text is converted with :func:`ptb_char_to_text`.
    """

    ARCHIVE = "simple-examples.tgz"

    def __init__(self, root: str, download: bool = False, url: str = PTB_URL, sha256: str | None = None) -> None:
        self.root = _root(root)
        self.download = bool(download)
        self.url = url
        self.sha256 = sha256
        self.name = "ptb_char"

    def _hint(self) -> str:
        return (
            f"pass data.corpus.root=<folder with ptb.char.train.txt/valid/test or {self.ARCHIVE}> "
            f"or data.corpus.download=true"
        )

    def _from_files(self) -> tuple[dict[str, bytes], Path] | None:
        for folder in (self.root, self.root / "simple-examples" / "data", self.root / "data"):
            paths = {s: folder / f"ptb.char.{s}.txt" for s in SPLIT_NAMES}
            if all(p.is_file() for p in paths.values()):
                return {s: _read_file(p, self._hint()) for s, p in paths.items()}, folder
        return None

    def _from_archive(self, archive: Path) -> dict[str, bytes]:
        wanted = {f"ptb.char.{s}.txt": s for s in SPLIT_NAMES}
        found: dict[str, bytes] = {}
        try:
            with tarfile.open(archive, "r:*") as tf:
                for member in tf:
                    base = member.name.rsplit("/", 1)[-1]
                    if base in wanted and member.isfile() and wanted[base] not in found:
                        fh = tf.extractfile(member)
                        if fh is not None:
                            found[wanted[base]] = fh.read()
        except (tarfile.TarError, OSError, EOFError) as err:
            raise SeqgenError(f"cannot read archive {archive}: {err}; delete it and {self._hint()}") from err
        missing = [f"ptb.char.{s}.txt" for s in SPLIT_NAMES if s not in found]
        if missing:
            raise SeqgenError(f"{archive} lacks {', '.join(missing)}; {self._hint()}")
        return found

    def load_splits(self) -> Splits:
        got = self._from_files()
        if got is not None:
            raw, source = got
        else:
            archive = self.root / self.ARCHIVE
            if not archive.is_file():
                if not self.download:
                    raise SeqgenError(f"PTB character files not found at {self.root}: {self._hint()}")
                _download(self.url, archive, sha256=self.sha256)
            raw, source = self._from_archive(archive), archive
        splits = {s: ptb_char_to_text(raw[s]) for s in SPLIT_NAMES}
        return _check_splits(self.name, splits, source)


PLAIN_SUFFIXES = frozenset({".txt", ".md", ".rst", ""})


class PlainTextCorpus(TextCorpus):
    """Any text file, or a folder of them, split by byte ranges (train, valid, test).

    A folder is walked recursively in sorted path order; only ``*.txt``, ``*.md``, ``*.rst`` and
    files without a suffix are read (hidden files and folders, names starting with ``.``, are
    skipped); the files are joined with ``"\\n"``. A single file is read whatever its suffix.
    ``name`` defaults to ``plain_<file or folder stem>`` so different sources get different
    shard folders.

    ``encoding``: ``auto`` (a byte-order mark decides: UTF-8/16/32, else the file must be UTF-8),
    a codec name (``latin-1``, ``cp1252``, ``utf-16``: transcoded to UTF-8), or ``bytes`` (raw,
    unchecked; for the byte vocabulary). Files that are not text (NUL bytes) are refused.
    """

    def __init__(
        self, path: str, split: Sequence[float] = (0.9, 0.05, 0.05), name: str | None = None, encoding: str = "auto"
    ) -> None:
        self.path = _root(path)
        self.encoding = str(encoding or "auto")
        self.split = _fractions(split, f"plain text corpus {self.path}")
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.path.stem or self.path.name or "text").strip("._") or "text"
        self.name = name or f"plain_{stem}"

    def files(self) -> list[Path]:
        """The files that make up the corpus, in order."""
        hint = "pass data.corpus.path=<a text file or a folder of .txt/.md/.rst files>"
        if self.path.is_file():
            return [self.path]
        if not self.path.is_dir():
            raise SeqgenError(f"text not found at {self.path}: {hint}")
        found: list[Path] = []
        for dirpath, dirnames, filenames in os.walk(self.path):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for fn in sorted(filenames):
                p = Path(dirpath) / fn
                if not fn.startswith(".") and p.suffix.lower() in PLAIN_SUFFIXES and p.is_file():
                    found.append(p)
        found.sort()
        if not found:
            raise SeqgenError(f"no .txt/.md/.rst (or suffix-less) files under {self.path}: {hint}")
        return found

    def split_sources(self) -> dict[str, SplitSource]:
        """The files joined with "\\n", as UTF-8, split by byte ranges; nothing is read whole."""
        pieces: list[Piece] = []
        for index, path in enumerate(self.files()):
            if index:
                pieces.append(bytes_piece(b"\n"))
            try:
                pieces.append(text_file_piece(path, self.encoding))
            except OSError as err:
                raise SeqgenError(f"cannot read {path}: {err.strerror or err}; check the permissions or pass another data.corpus.path") from err
        return _check_sources(self.name, split_sources_by_fractions(pieces, self.split), self.path)


class EmbeddedCorpus(TextCorpus):
    """Offline default: English prose nobody here wrote, the docstrings of CPython's standard library.

    Walks ``sysconfig.get_paths()["stdlib"]`` in sorted order (skipping test suites, ``idlelib``,
    ``lib2to3``, ``site-packages`` and the generated ``encodings`` codecs), collects module, class
    and function docstrings with :func:`ast.get_docstring`, cleans them with
    :func:`inspect.cleandoc`, keeps the distinct ones of at least 80 characters and joins them with
    blank lines, stopping at ``max_bytes``. Deterministic for a given Python installation; nothing
    is cached on disk.
    """

    SKIP_DIRS = frozenset(
        {"test", "tests", "idlelib", "site-packages", "dist-packages", "lib2to3", "__pycache__",
         "encodings", "pydoc_data", "turtledemo"}
    )
    MIN_CHARS = 80

    def __init__(self, max_bytes: int | None = 4_000_000, split: Sequence[float] = (0.9, 0.05, 0.05)) -> None:
        if max_bytes is not None and int(max_bytes) <= 0:
            raise SeqgenError(f"embedded corpus: max_bytes must be positive or null, got {max_bytes}")
        self.max_bytes = None if max_bytes is None else int(max_bytes)
        self.split = _fractions(split, "embedded corpus")
        self.name = "embedded"

    @staticmethod
    def _docstrings(tree: ast.AST) -> list[str]:
        kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
        out = []
        for node in ast.walk(tree):
            if isinstance(node, kinds):
                doc = ast.get_docstring(node, clean=False)
                if doc:
                    out.append(inspect.cleandoc(doc))
        return out

    def text(self) -> bytes:
        stdlib = Path(sysconfig.get_paths()["stdlib"])
        if not stdlib.is_dir():
            raise SeqgenError(
                f"the Python standard library was not found at {stdlib}; use another corpus, "
                f"e.g. data=plain data.corpus.path=<text file>"
            )
        seen: set[str] = set()
        parts: list[bytes] = []
        size = 0
        limit = self.max_bytes
        for dirpath, dirnames, filenames in os.walk(stdlib):
            dirnames[:] = sorted(d for d in dirnames if d not in self.SKIP_DIRS and not d.startswith("."))
            for fn in sorted(filenames):
                if not fn.endswith(".py"):
                    continue
                try:
                    source = (Path(dirpath) / fn).read_bytes()
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        tree = ast.parse(source)
                except (SyntaxError, ValueError, OSError, UnicodeDecodeError, RecursionError):
                    continue
                for doc in self._docstrings(tree):
                    if len(doc) < self.MIN_CHARS or doc in seen:
                        continue
                    seen.add(doc)
                    encoded = doc.encode("utf-8", "replace")
                    parts.append(encoded)
                    size += len(encoded) + 2
                if limit is not None and size >= limit:
                    break
            if limit is not None and size >= limit:
                break
        data = b"\n\n".join(parts)
        if limit is not None and len(data) > limit:
            # cut at the limit without leaving half a UTF-8 character behind
            data = data[:limit].decode("utf-8", "ignore").encode("utf-8")
        return data

    def load_splits(self) -> Splits:
        return _check_splits(self.name, split_by_fractions(self.text(), self.split), "the stdlib docstrings")


__all__ = [
    "ENWIK8_URL",
    "TextCorpus",
    "TEXT8_URL",
    "PTB_URL",
    "Enwik8Corpus",
    "Text8Corpus",
    "PTBCharCorpus",
    "PlainTextCorpus",
    "EmbeddedCorpus",
    "split_by_fractions",
    "ptb_char_to_text",
]
