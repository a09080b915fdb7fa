"""The text model as a compressor: stepper == forward, quantisation, round trips, refusals."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import TINY_TEXT
from seqgen.errors import SeqgenError
from seqgen.eval.dynamic import DynamicSettings, gradient_statistics
from seqgen.families.text import codec
from seqgen.families.text.codec import CodecSettings, compress, decompress, quantise, stream_grid, stream_lengths, text_segments
from seqgen.families.text.module import TextLSTM
from seqgen.families.text.stepper import TextStepper

SHA = bytes(range(32))
pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_model(embed_dim: int | None = None, layers: int = 2, seed: int = 0, kind: str = "byte") -> TextLSTM:
    torch.manual_seed(seed)
    symbols = sorted(set(TINY_TEXT.encode())) if kind == "byte" else sorted(set(map(ord, TINY_TEXT + "\u00e9\u2014")))
    return TextLSTM({"vocab": {"kind": kind, "symbols": symbols}}, hidden_size=16, num_layers=layers, embed_dim=embed_dim).eval()


def statistics_of(model: TextLSTM, settings: DynamicSettings) -> list[torch.Tensor]:
    ids = codec.tokenise(TINY_TEXT.encode()[:400], model.vocab)[0]
    return gradient_statistics(model, [text_segments(ids[None, :], settings.segment_length, codec.neutral_id(model.vocab))])


@pytest.mark.parametrize("embed_dim,layers", [(None, 3), (8, 2)])
def test_stepper_gives_the_whole_sequence_forward(embed_dim: int | None, layers: int) -> None:
    model = tiny_model(embed_dim, layers)
    ids = torch.randint(0, len(model.vocab), (3, 25))
    with torch.no_grad():
        expected, state = model(ids)
    stepper = TextStepper(model, 3)
    steps = torch.stack([stepper.step(ids[:, t]).clone() for t in range(ids.shape[1])], dim=1)
    assert torch.allclose(steps, expected, atol=1e-5)
    for (h, c), (h2, c2) in zip(stepper.state(), state):
        assert torch.allclose(h, h2, atol=1e-5) and torch.allclose(c, c2, atol=1e-5)


def test_quantise_is_exact_integers_summing_to_the_total() -> None:
    logits = torch.randn(5, 40) * 8
    logits[0] = torch.tensor([1e4] + [0.0] * 39)  # one symbol takes (almost) everything
    freqs = quantise(logits)
    assert freqs.shape == (5, 41) and np.all(freqs == np.floor(freqs))
    assert np.all(freqs.sum(axis=1) == codec.TOTAL) and freqs.min() >= 1
    assert np.all(freqs[:, -1] == codec.ESCAPE_FREQUENCY)
    assert np.array_equal(freqs, quantise(logits.clone()))
    with pytest.raises(SeqgenError, match="non-finite"):
        quantise(torch.full((1, 4), float("nan")))


def test_streams_cover_every_byte_once() -> None:
    for n, streams in [(10, 4), (9, 4), (1, 3), (1000, 7)]:
        lengths = stream_lengths(n, streams)
        assert lengths.sum() == n and np.all(lengths[:-1] == lengths[0]) and 0 < lengths[-1] <= lengths[0]
        grid = stream_grid(np.arange(n), streams)
        assert sorted(grid[grid >= 0].tolist()) == list(range(n))
    assert codec.resolve_streams(0, "auto") == 1 and codec.resolve_streams(10 << 20, "auto") == 80
    with pytest.raises(SeqgenError):
        codec.resolve_streams(100, 0)


@pytest.mark.parametrize(
    "data,streams",
    [
        (b"", 1),
        (b"I", 1),
        (TINY_TEXT.encode()[:700], 1),
        (TINY_TEXT.encode()[:701], 4),  # ragged last stream
        (b"caf\xc3\xa9 \x00\xff and \x7f" + TINY_TEXT.encode()[:100] + bytes(range(256)), 3),  # outside the vocabulary
    ],
)
def test_static_round_trip_is_bit_identical(data: bytes, streams: int) -> None:
    model = tiny_model()
    blob, stats = compress(model, data, CodecSettings(streams), SHA)
    out, _ = decompress(model, blob, "x.sqz", SHA)
    assert out == data
    escaped = sum(byte not in model.vocab.symbols for byte in data)  # a byte model escapes bytes
    assert stats.escaped == escaped
    if data:  # an untrained model spends about log2(V) bits per byte; every escape costs 24
        assert stats.packed_bytes * 8 < len(data) * 8 + escaped * 24 + 8 * 200


def test_units_give_back_every_byte_string() -> None:
    rng = np.random.default_rng(0)
    samples = [b"", "caf\u00e9 \u2014 na\u00efve \U0001F600".encode(), b"\xed\xb2\x80 \xc3", rng.integers(0, 256, 500).astype(np.uint8).tobytes()]
    for kind in ("byte", "char"):
        vocab = tiny_model(kind=kind).vocab
        for data in samples:
            ids, raw = codec.tokenise(data, vocab)
            assert codec.detokenise(ids, raw, vocab) == data
    ids, _ = codec.tokenise("it was caf\u00e9 \u00ef".encode(), tiny_model(kind="char").vocab)
    assert len(ids) == 14 and (ids == codec.ESCAPED).sum() == 2  # 12 known characters, the 2 bytes of an unknown one


def test_character_model_round_trip() -> None:
    model = tiny_model(kind="char")
    data = "It was the age of wisdom \u2014 caf\u00e9, na\u00efve \U0001F600.\n".encode() + b"\xff\xfe" + TINY_TEXT.encode()[:200]
    blob, stats = compress(model, data, CodecSettings(2), SHA)
    assert stats.units < len(data) and stats.escaped == 1 + 2 + 4 + 2  # v, ï, the emoji (unknown), invalid UTF-8
    assert decompress(model, blob, "x.sqz", SHA)[0] == data


@pytest.mark.parametrize("method", ["rms", "sgd"])
def test_dynamic_round_trip_is_bit_identical_and_adapts(method: str) -> None:
    model = tiny_model()
    data = TINY_TEXT.encode()[:1200]
    settings = DynamicSettings(method, lr=3e-3 if method == "rms" else 3.0, decay=0.001, segment_length=10)
    statistics = statistics_of(model, settings) if method == "rms" else None
    before = [p.detach().clone() for p in model.parameters()]
    blob, stats = compress(model, data, CodecSettings(1, 1, settings), SHA, lambda s: statistics)
    static, _ = compress(model, data, CodecSettings(1), SHA)
    out, _ = decompress(model, blob, "x.sqz", SHA, lambda s: statistics)
    assert out == data
    assert len(blob) < 0.92 * len(static), "a repetitive text gets cheaper as the (untrained) weights adapt"
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before)), "the trained weights come back"


def test_refusals_leave_nothing_decoded() -> None:
    model = tiny_model()
    data = TINY_TEXT.encode()[:300]
    blob, _ = compress(model, data, CodecSettings(2), SHA)
    with pytest.raises(SeqgenError, match="checkpoint"):
        decompress(model, blob, "x.sqz", bytes(32))
    with pytest.raises(SeqgenError, match="truncated"):
        decompress(model, blob[:-5], "x.sqz", SHA)
    with pytest.raises(SeqgenError, match="not a file written by seqgen-compress"):
        decompress(model, b"hello world, not compressed", "x.sqz", SHA)
    with pytest.raises(SeqgenError, match="corrupted"):
        decompress(model, blob + b"\0\0\0\0", "x.sqz", SHA)
    header = bytearray(blob)
    header[20] ^= 1  # inside the header: its checksum catches it
    with pytest.raises(SeqgenError, match="corrupted"):
        decompress(model, bytes(header), "x.sqz", SHA)
    for position in (len(blob) - 1, len(blob) - 30):
        corrupted = bytearray(blob)
        corrupted[position] ^= 0x5A
        with pytest.raises(SeqgenError, match="corrupted"):
            decompress(model, bytes(corrupted), "x.sqz", SHA)


def test_other_settings_or_platform_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    model = tiny_model()
    settings = DynamicSettings("rms", lr=1e-3, decay=0.01, segment_length=20)
    statistics = statistics_of(model, settings)
    blob, _ = compress(model, b"It was the age", CodecSettings(1, 1, settings), SHA, lambda s: statistics)
    header, _ = codec.Header.unpack(blob, "x.sqz")
    assert header.settings == CodecSettings(1, 1, settings) and header.length == 14
    other = statistics_of(model, DynamicSettings("rms", segment_length=7))
    with pytest.raises(SeqgenError, match="gradient statistics"):
        decompress(model, blob, "x.sqz", SHA, lambda s: other)
    monkeypatch.setattr(codec, "platform", lambda: "torch 0.0 NONE")
    with pytest.raises(SeqgenError, match="torch 0.0"):
        decompress(model, blob, "x.sqz", SHA, lambda s: statistics)
