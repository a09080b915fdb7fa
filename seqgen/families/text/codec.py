"""The text model as a real compressor: range coding driven by its next-byte probabilities.

Layout. The n units of the input are cut into B contiguous streams of S = ceil(n / B_req) bytes (the last
one shorter, B = ceil(n / S)); `streams=auto` takes B_req = ceil(n / 128 KiB), at most 256. The
streams are coded in lockstep as one batch: at step t the model (`TextStepper`) gives every stream
the distribution of its t-th byte (the first one from a fixed start symbol) and the B symbols go
into one range coder (PyPI `constriction`), stream after stream. Decoding repeats the same steps.

Units and alphabet. The file is cut into the model's units (bytes, or UTF-8 characters for a
character-level model: `tokenise`); the alphabet is the model's V symbols plus ESC. A byte or
character outside the vocabulary (and invalid UTF-8) is coded byte by byte as ESC followed by the
byte's 8 bits (uniform), and the model is fed the start symbol in its place:

    freq_v   = floor(p_v * (2^24 - 2^8 - V)) + 1    (+ the rounding remainder on the likeliest symbol)
    freq_ESC = 2^8                                    (so every row sums to exactly 2^24)

`quantise` is the one function that turns probabilities into these integers, on both sides.

Dynamic coding. With `dynamic`, after every `segment_length` steps the weights take one step of
`seqgen.eval.dynamic` on the block just coded (`text_segment`, the code the evaluation uses); the
decoder takes the same step on the same bytes. Everything runs on a fixed number of CPU threads
(recorded), so encoder and decoder compute the same floats.

File (.sqz, little-endian): magic "SQZ1", version, flags, threads, precision, streams, n,
blake2b-64 of the content, sha256 of the checkpoint, payload length, [dynamic settings + digest of
the gradient statistics], platform (torch version and CPU kernel level), CRC-32 of the header;
then the coder's 32-bit words.
"""

from __future__ import annotations

import hashlib
import math
import struct
import time
import zlib
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator

import numpy as np
import torch

from seqgen.data.text.vocab import Vocabulary
from seqgen.errors import SeqgenError
from seqgen.eval.dynamic import DynamicAdapter, DynamicSettings, statistics_digest
from seqgen.families.text.stepper import TextStepper
from seqgen.nn.modes import eval_mode

PRECISION = 24
TOTAL = 1 << PRECISION
ESCAPE_FREQUENCY = 1 << 8
ESCAPE_BITS = PRECISION - math.log2(ESCAPE_FREQUENCY) + 8  # ESC, then the raw byte
IN_VOCAB_OVERHEAD_BITS = -math.log2(1 - ESCAPE_FREQUENCY / TOTAL)  # what reserving ESC costs every other symbol
AUTO_STREAM_BYTES = 128 * 1024
MAX_AUTO_STREAMS = 256
PAD, ESCAPED = -2, -1  # grid entries past a stream's end / for a byte outside the vocabulary

# Sizes that do not depend on which checkpoint wrote them (the report) carry this in place of its sha256.
NO_CHECKPOINT = bytes(32)
MAGIC = b"SQZ1"
VERSION = 1
_FIXED = struct.Struct("<4sBBBBIQ8s32sI")  # magic version flags threads precision streams n digest ckpt words
_DYNAMIC = struct.Struct("<dddII8s")  # lr decay epsilon segment_length stats_units statistics digest
_CRC = struct.Struct("<I")
_DYNAMIC_FLAG, _SGD_FLAG = 1, 2


# --- symbols, streams and segments (shared with the evaluation in seqgen/families/text/dynamic.py) --
def neutral_id(vocab: Vocabulary) -> int:
    """The symbol fed before a stream's first byte and in place of an escaped one: newline, space or id 0."""
    for code in (10, 32):
        if code in vocab.symbols:
            return vocab.symbols.index(code)
    return 0


def tokenise(data: bytes, vocab: Vocabulary) -> tuple[np.ndarray, np.ndarray]:
    """`data` as the model's units: (ids, raw). A byte model has one unit per byte; a character
    model one per UTF-8 character. A byte outside the vocabulary, a character outside it (each of
    its bytes) and invalid UTF-8 become ESCAPED units whose `raw` byte is coded as is, so the
    units always give back exactly `data` (`detokenise`)."""
    codes = np.frombuffer(data, dtype=np.uint8).astype(np.int64)
    if vocab.kind == "byte":
        return _ids_of(codes, vocab), codes
    text = data.decode("utf-8", "surrogateescape")  # an invalid byte b -> U+DC00 + b
    points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4").astype(np.int64)
    invalid = (points >= 0xDC80) & (points <= 0xDCFF)
    widths = np.where(invalid, 1, 1 + (points >= 0x80) + (points >= 0x800) + (points >= 0x10000))
    ids = np.where(invalid, ESCAPED, _ids_of(points, vocab))
    per_unit = np.where(ids >= 0, 1, widths)  # an unknown character: one escaped unit per byte
    owner = np.repeat(np.arange(len(points)), per_unit)
    within = np.arange(len(owner)) - np.repeat(np.cumsum(per_unit) - per_unit, per_unit)
    first_byte = np.cumsum(widths) - widths
    return np.where(ids[owner] >= 0, ids[owner], ESCAPED), codes[first_byte[owner] + within]


def _ids_of(codes: np.ndarray, vocab: Vocabulary) -> np.ndarray:
    symbols = np.asarray(vocab.symbols, dtype=np.int64)
    position = np.minimum(np.searchsorted(symbols, codes), len(symbols) - 1)
    return np.where(symbols[position] == codes, position, ESCAPED)


def detokenise(ids: np.ndarray, raw: np.ndarray, vocab: Vocabulary) -> bytes:
    """The bytes of units (the inverse of `tokenise`): a symbol's byte / UTF-8 bytes, else the raw byte."""
    if vocab.kind == "byte":
        return np.where(ids >= 0, np.asarray(vocab.symbols)[np.maximum(ids, 0)], raw).astype(np.uint8).tobytes()
    encoded = [chr(code).encode("utf-8") for code in vocab.symbols]
    table = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    lengths = np.asarray([len(e) for e in encoded], dtype=np.int64)
    starts = np.cumsum(lengths) - lengths
    known = ids >= 0
    per_unit = np.where(known, lengths[np.maximum(ids, 0)], 1)
    owner = np.repeat(np.arange(len(ids)), per_unit)
    within = np.arange(len(owner)) - np.repeat(np.cumsum(per_unit) - per_unit, per_unit)
    out = np.where(known[owner], table[np.minimum(starts[np.maximum(ids, 0)][owner] + within, len(table) - 1)], raw[owner])
    return out.astype(np.uint8).tobytes()


def resolve_streams(n: int, streams: int | str) -> int:
    """`streams=auto|<int>` -> the number of streams asked for (recorded in the header)."""
    if streams == "auto":
        return max(1, min(MAX_AUTO_STREAMS, math.ceil(n / AUTO_STREAM_BYTES)))
    if isinstance(streams, bool) or not isinstance(streams, int) or streams < 1:
        raise SeqgenError(f"streams={streams!r}: use auto or a positive integer")
    return streams


def stream_lengths(n: int, streams: int) -> np.ndarray:
    """Lengths of the streams n symbols are cut into (all S = ceil(n / streams) but the last)."""
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    width = math.ceil(n / streams)
    count = math.ceil(n / width)
    lengths = np.full(count, width, dtype=np.int64)
    lengths[-1] = n - width * (count - 1)
    return lengths


def stream_grid(ids: np.ndarray, streams: int) -> np.ndarray:
    """(B, S) grid of the ids cut into streams, PAD past the last stream's end."""
    lengths = stream_lengths(len(ids), streams)
    grid = np.full((len(lengths), int(lengths.max(initial=0))), PAD, dtype=np.int64)
    grid.reshape(-1)[: len(ids)] = ids
    return grid


def text_segment(grid: np.ndarray, start: int, stop: int, start_id: int) -> dict[str, torch.Tensor]:
    """Steps [start, stop) of every stream as `TextLSTM.segment_loss` takes them: the input of step
    t is the symbol of step t - 1 (the start symbol at t = 0; escaped and padding -> the start symbol)."""
    previous = grid[:, max(start - 1, 0) : stop - 1]
    if start == 0:
        previous = np.concatenate([np.full((len(grid), 1), start_id, dtype=np.int64), previous], axis=1)
    targets = grid[:, start:stop]
    return {
        "inputs": torch.from_numpy(np.where(previous < 0, start_id, previous)),
        "targets": torch.from_numpy(np.maximum(targets, 0)),
        "mask": torch.from_numpy(targets >= 0),
    }


def text_segments(grid: np.ndarray, length: int, start_id: int) -> Iterator[dict[str, torch.Tensor]]:
    for start in range(0, grid.shape[1], length):
        yield text_segment(grid, start, min(start + length, grid.shape[1]), start_id)


def coded_bits(nats: float, in_vocab: int, escaped: int) -> float:
    """The ideal code length of a text under the coding alphabet (model symbols + ESC)."""
    return nats / math.log(2) + in_vocab * IN_VOCAB_OVERHEAD_BITS + escaped * ESCAPE_BITS


def quantise(logits: torch.Tensor) -> np.ndarray:
    """(B, V) logits -> (B, V + 1) integer frequencies (float64, exact), each row summing to 2^24,
    every symbol at least 1, ESC last. The one deterministic map from floats to the coder's integers."""
    rows, vocab = logits.shape
    if not bool(torch.isfinite(logits).all()):
        raise SeqgenError("the model gave non-finite probabilities (diverged weights?): compress without dynamic=true or lower dynamic_eval.lr")
    probs = torch.softmax(logits.double(), dim=-1)
    freq = torch.floor(probs * float(TOTAL - ESCAPE_FREQUENCY - vocab)).to(torch.int64).add_(1)
    remainder = (TOTAL - ESCAPE_FREQUENCY) - freq.sum(dim=1)
    freq[torch.arange(rows), probs.argmax(dim=1)] += remainder
    out = np.empty((rows, vocab + 1), dtype=np.float64)
    out[:, :vocab] = freq.numpy()
    out[:, vocab] = ESCAPE_FREQUENCY
    return out


# --- settings and header -------------------------------------------------------------------------
@dataclass(frozen=True)
class CodecSettings:
    streams: int | str = "auto"  # "auto" is resolved from the number of units when coding (the header records the count)
    threads: int = 1
    dynamic: DynamicSettings | None = None


def platform() -> str:
    """What the probabilities' floats depend on besides the weights: torch's version and CPU kernels."""
    return f"torch {torch.__version__} {torch.backends.cpu.get_cpu_capability()}"


@dataclass(frozen=True)
class Header:
    length: int
    content_digest: bytes
    checkpoint_sha256: bytes
    settings: CodecSettings
    statistics_digest: bytes
    platform: str
    payload_words: int

    def pack(self) -> bytes:
        dynamic = self.settings.dynamic
        flags = (_DYNAMIC_FLAG | (_SGD_FLAG if dynamic.method == "sgd" else 0)) if dynamic else 0
        out = _FIXED.pack(MAGIC, VERSION, flags, self.settings.threads, PRECISION, self.settings.streams, self.length,
                          self.content_digest, self.checkpoint_sha256, self.payload_words)
        if dynamic:
            out += _DYNAMIC.pack(dynamic.lr, dynamic.decay, dynamic.epsilon, dynamic.segment_length, dynamic.stats_units,
                                 self.statistics_digest)
        name = self.platform.encode()[:255]
        out += bytes([len(name)]) + name
        return out + _CRC.pack(zlib.crc32(out))

    @classmethod
    def unpack(cls, blob: bytes, source: str) -> tuple["Header", int]:
        """The header and where the payload starts; SeqgenError for anything that is not a sound header."""
        if len(blob) < _FIXED.size or blob[:4] != MAGIC:
            raise SeqgenError(f"{source} is not a file written by seqgen-compress (no SQZ1 header)")
        magic, version, flags, threads, precision, streams, length, digest, ckpt, words = _FIXED.unpack_from(blob)
        if version != VERSION or precision != PRECISION:
            raise SeqgenError(f"{source} was written by another seqgen-compress format (version {version}): decompress it with that version")
        offset = _FIXED.size
        dynamic, stats_digest = None, b""
        try:
            if flags & _DYNAMIC_FLAG:
                lr, decay, epsilon, segment, stats_units, stats_digest = _DYNAMIC.unpack_from(blob, offset)
                offset += _DYNAMIC.size
                method = "sgd" if flags & _SGD_FLAG else "rms"
                dynamic = DynamicSettings(method, lr, decay, segment, epsilon, stats_units)
            name = blob[offset + 1 : offset + 1 + blob[offset]]
            offset += 1 + len(name)
            (crc,) = _CRC.unpack_from(blob, offset)
        except (struct.error, IndexError, SeqgenError):
            raise SeqgenError(f"{source} is truncated or corrupted (its header is incomplete); no output was written") from None
        if crc != zlib.crc32(blob[:offset]):
            raise SeqgenError(f"{source} is corrupted (its header's checksum does not match); no output was written")
        settings = CodecSettings(streams, threads, dynamic)
        header = cls(length, digest, ckpt, settings, stats_digest, name.decode(errors="replace"), words)
        return header, offset + _CRC.size


def content_digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=8).digest()


# --- the coding loop, shared by encoder and decoder -----------------------------------------------
@dataclass
class CodingStats:
    plain_bytes: int
    packed_bytes: int  # the .sqz file, header included
    ideal_bits: float  # -log2 of the quantised probabilities of the coded symbols (encoder)
    escaped: int
    streams: int
    cpu_seconds: float
    units: int  # bytes, or characters and escaped bytes of a character-level model

    @property
    def bits_per_byte(self) -> float:
        return 8.0 * self.packed_bytes / max(self.plain_bytes, 1)


CodeStep = Callable[[np.ndarray, int, int], None]


def _run(model: Any, grid: np.ndarray, lengths: np.ndarray, settings: CodecSettings, statistics: list[torch.Tensor] | None,
         code_step: CodeStep) -> None:
    """Step the model over the grid's columns; `code_step(freqs, t, active)` codes column t of the
    first `active` streams (encoder) or decodes it into the grid (decoder)."""
    streams, steps = grid.shape
    start_id = neutral_id(model.vocab)
    stepper = TextStepper(model, streams)
    inputs = torch.full((streams,), start_id, dtype=torch.long)
    dynamic = settings.dynamic
    adapter = DynamicAdapter(model, dynamic, statistics) if dynamic else None
    every = dynamic.segment_length if dynamic else steps
    block_start, block_state = 0, stepper.state()
    active_per_step = np.searchsorted(-lengths, -np.arange(1, steps + 1), side="right")  # streams longer than t
    try:
        for t in range(steps):
            active = int(active_per_step[t])
            code_step(quantise(stepper.step(inputs))[:active], t, active)
            column = torch.from_numpy(grid[:active, t])
            inputs[:active] = torch.where(column < 0, start_id, column)
            if adapter is not None and (t + 1 - block_start == every or t + 1 == steps):
                with torch.enable_grad():
                    nats, units, _ = model.segment_loss(text_segment(grid, block_start, t + 1, start_id), block_state)
                    if int(units):
                        adapter.step(nats / units)
                stepper.refresh()
                block_start, block_state = t + 1, stepper.state()
    finally:
        if adapter is not None:
            adapter.restore()


def _statistics(settings: CodecSettings, statistics_for: Statistics | None) -> list[torch.Tensor] | None:
    if settings.dynamic is None or settings.dynamic.method != "rms":
        return None
    if statistics_for is None:
        raise SeqgenError("dynamic coding with the rms method needs the gradient statistics of the model's training data")
    return statistics_for(settings.dynamic)


class _Threads:
    """torch's CPU thread count fixed for a block (the coder's floats depend on it), then restored."""

    def __init__(self, threads: int) -> None:
        self.threads = threads

    def __enter__(self) -> None:
        self.saved = torch.get_num_threads()
        torch.set_num_threads(self.threads)

    def __exit__(self, *exc: Any) -> None:
        torch.set_num_threads(self.saved)


Statistics = Callable[[DynamicSettings], "list[torch.Tensor] | None"]


def compress(model: Any, data: bytes, settings: CodecSettings, checkpoint_sha256: bytes,
             statistics_for: Statistics | None = None) -> tuple[bytes, CodingStats]:
    """`data` -> .sqz bytes (header + payload) and what it cost. `statistics_for(settings.dynamic)`
    gives the RMS statistics of dynamic coding (computed on the recorded number of threads)."""
    import constriction

    started = time.process_time()
    ids, raw_units = tokenise(data, model.vocab)
    settings = replace(settings, streams=resolve_streams(len(ids), settings.streams))
    grid, raw = stream_grid(ids, settings.streams), stream_grid(raw_units, settings.streams)
    lengths = stream_lengths(len(ids), settings.streams)
    vocab = len(model.vocab)
    encoder = constriction.stream.queue.RangeEncoder()
    categorical, uniform = constriction.stream.model.Categorical(perfect=False), constriction.stream.model.Uniform(256)
    ideal = [0.0]

    def encode(freqs: np.ndarray, t: int, active: int) -> None:
        column = grid[:active, t]
        symbols = np.where(column < 0, vocab, column).astype(np.int32)
        encoder.encode(symbols, categorical, freqs)
        ideal[0] += float(np.log2(TOTAL / freqs[np.arange(active), symbols]).sum())
        escaped = column < 0
        if escaped.any():
            encoder.encode(raw[:active, t][escaped].astype(np.int32), uniform)
            ideal[0] += 8.0 * int(escaped.sum())

    with _Threads(settings.threads), eval_mode(model):
        statistics = _statistics(settings, statistics_for)
        _run(model, grid, lengths, settings, statistics, encode)
    payload = encoder.get_compressed().astype("<u4").tobytes() if len(data) else b""
    header = Header(len(ids), content_digest(data), checkpoint_sha256, settings,
                    statistics_digest(statistics) if statistics else b"\0" * 8, platform(), len(payload) // 4)
    blob = header.pack() + payload
    stats = CodingStats(len(data), len(blob), ideal[0], int((ids == ESCAPED).sum()), len(lengths), time.process_time() - started, len(ids))
    return blob, stats


def read_header(blob: bytes, source: str, checkpoint_sha256: bytes) -> tuple[Header, bytes]:
    """Header and payload of a .sqz file, refusing another checkpoint, platform or a truncated payload."""
    header, offset = Header.unpack(blob, source)
    if header.checkpoint_sha256 != checkpoint_sha256:
        raise SeqgenError(
            f"{source} was compressed with the checkpoint whose sha256 starts {header.checkpoint_sha256.hex()[:16]}, "
            f"not with this one ({checkpoint_sha256.hex()[:16]}): decompress with ckpt=<the same checkpoint>"
        )
    if header.platform != platform():
        raise SeqgenError(
            f"{source} was compressed with {header.platform}; this is {platform()}: the model's floats differ, "
            "so decompress it on a machine with that torch version and CPU kernel level"
        )
    payload = blob[offset:]
    if len(payload) != 4 * header.payload_words:
        state = "truncated" if len(payload) < 4 * header.payload_words else "corrupted (it has trailing bytes)"
        raise SeqgenError(f"{source} is {state}: {len(payload)} of {4 * header.payload_words} payload bytes; no output was written")
    return header, payload


def decompress(model: Any, blob: bytes, source: str, checkpoint_sha256: bytes,
               statistics_for: Statistics | None = None) -> tuple[bytes, CodingStats]:
    """.sqz bytes -> the original bytes; SeqgenError (nothing returned) unless they match the recorded digest."""
    import constriction

    started = time.process_time()
    header, payload = read_header(blob, source, checkpoint_sha256)
    settings = header.settings
    lengths = stream_lengths(header.length, settings.streams)
    grid = np.full((len(lengths), int(lengths.max(initial=0))), PAD, dtype=np.int64)
    raw = np.zeros(grid.shape, dtype=np.int64)
    vocab = len(model.vocab)
    try:
        decoder = constriction.stream.queue.RangeDecoder(np.frombuffer(payload, dtype="<u4").astype(np.uint32))
    except Exception as err:
        raise SeqgenError(f"{source} is corrupted ({err}); no output was written") from None
    categorical, uniform = constriction.stream.model.Categorical(perfect=False), constriction.stream.model.Uniform(256)

    def decode(freqs: np.ndarray, t: int, active: int) -> None:
        symbols = decoder.decode(categorical, freqs).astype(np.int64)
        escaped = symbols == vocab
        if escaped.any():
            raw[:active, t][escaped] = decoder.decode(uniform, int(escaped.sum()))
        grid[:active, t] = np.where(escaped, ESCAPED, symbols)

    with _Threads(settings.threads), eval_mode(model):
        statistics = _statistics(settings, statistics_for)
        if statistics is not None and statistics_digest(statistics) != header.statistics_digest:
            raise SeqgenError(
                f"{source}: the gradient statistics of the training data differ from those it was compressed with "
                "(another prepared corpus?): decompress with the run's own data"
            )
        try:
            _run(model, grid, lengths, settings, statistics, decode)
        except (ValueError, RuntimeError, OverflowError) as err:  # constriction on a corrupted payload
            raise SeqgenError(f"{source} is corrupted (the range decoder failed: {err}); no output was written") from None
    units = grid.reshape(-1)[: header.length]
    data = detokenise(units, raw.reshape(-1)[: header.length], model.vocab)
    if content_digest(data) != header.content_digest:
        raise SeqgenError(f"{source} is corrupted: the decoded bytes do not match its checksum; no output was written")
    stats = CodingStats(len(data), len(blob), float("nan"), int((units == ESCAPED).sum()), len(lengths),
                        time.process_time() - started, header.length)
    return data, stats
