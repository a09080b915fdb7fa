"""Streamed text prepare: byte-identical shards to the in-memory implementation, flat memory, encodings."""

from __future__ import annotations

import codecs
import json
from pathlib import Path

import pytest

from legacy_text_prepare import prepare_text_in_memory
from seqgen.data.text.corpora import Enwik8Corpus, PlainTextCorpus
from seqgen.families.text.prepare import prepare_text
from seqgen.errors import SeqgenError

TEXT = (
    "Für Elise — naïve café «quoted» 東京 text. It was the best of times, it was the worst of times.\n"
    "Zeile zwei: ßüöä, emoji \U0001F600 and plain ASCII to fill the lines up a bit more.\n"
) * 40


def _shard_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.tar"))}


@pytest.mark.parametrize("vocab", ["byte", "char"])
@pytest.mark.parametrize("read_chunk", [7, 1000, 1 << 22])
def test_streamed_shards_are_byte_identical_to_in_memory(tmp_path: Path, vocab: str, read_chunk: int) -> None:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "a.txt").write_text(TEXT[:5000], encoding="utf-8")
    (folder / "b.md").write_text(TEXT[5000:], encoding="utf-8")
    corpus = PlainTextCorpus(str(folder), split=[0.8, 0.1, 0.1])
    kwargs = dict(vocab=vocab, chunk_length=300, eval_chunk_length=120, samples_per_shard=3, min_train_shards=4, segment_length=20)
    old = prepare_text_in_memory(corpus, str(tmp_path / "old"), **kwargs)
    new = prepare_text(corpus, str(tmp_path / "new"), read_chunk=read_chunk, **kwargs)
    assert _shard_bytes(tmp_path / "old") == _shard_bytes(tmp_path / "new") != {}
    assert json.loads((tmp_path / "old" / "manifest.json").read_text()) == json.loads((tmp_path / "new" / "manifest.json").read_text())
    old_meta = json.loads((tmp_path / "old" / "meta.json").read_text())
    new_meta = json.loads((tmp_path / "new" / "meta.json").read_text())
    assert new_meta.pop("fingerprint") and old_meta == new_meta
    assert old["splits"] == new["splits"]


def test_enwik8_paper_split_streams_from_zip(tmp_path: Path) -> None:
    import zipfile

    data = (TEXT * 3).encode()
    with zipfile.ZipFile(tmp_path / "enwik8.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("enwik8", data)
    corpus = Enwik8Corpus(str(tmp_path), split="paper")
    kwargs = dict(vocab="byte", chunk_length=500, eval_chunk_length=200, samples_per_shard=4, min_train_shards=2, segment_length=50)
    prepare_text_in_memory(corpus, str(tmp_path / "old"), **kwargs)
    prepare_text(corpus, str(tmp_path / "new"), read_chunk=4096, **kwargs)
    assert _shard_bytes(tmp_path / "old") == _shard_bytes(tmp_path / "new")


# ------------------------------------------------------------------------------------- encodings


def _prepare(path: Path, tmp_path: Path, **corpus_kwargs: object) -> dict:
    corpus = PlainTextCorpus(str(path), **corpus_kwargs)  # type: ignore[arg-type]
    return prepare_text(corpus, str(tmp_path / "out"), vocab="char", chunk_length=200, eval_chunk_length=100, samples_per_shard=2, min_train_shards=2, segment_length=20)


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be", "utf-8-sig", "utf-32"])
def test_byte_order_marks_are_detected(tmp_path: Path, codec: str) -> None:
    path = tmp_path / "input.txt"
    raw = TEXT.encode(codec)
    if codec == "utf-16-be":
        raw = codecs.BOM_UTF16_BE + raw
    path.write_bytes(raw)
    reference = tmp_path / "ref.txt"
    reference.write_text(TEXT, encoding="utf-8")
    got = _prepare(path, tmp_path / "a")
    want = _prepare(reference, tmp_path / "b")
    assert got["vocab_size"] == want["vocab_size"] and got["splits"] == want["splits"]
    assert got["fingerprint"] == want["fingerprint"]  # the same text, whatever its encoding on disk


def test_latin1_is_refused_with_the_fix_and_accepted_with_encoding(tmp_path: Path) -> None:
    path = tmp_path / "latin.txt"
    path.write_bytes(("café naïve " * 300).encode("latin-1"))
    with pytest.raises(SeqgenError, match=r"latin\.txt is not UTF-8 .*data\.corpus\.encoding="):
        _prepare(path, tmp_path)
    summary = _prepare(path, tmp_path, encoding="latin-1")
    assert summary["vocab_size"] == len(set("café naïve "))


def test_binary_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(bytes(range(256)) * 40)
    with pytest.raises(SeqgenError, match=r"model\.bin holds a NUL byte .* binary"):
        _prepare(path, tmp_path)


def test_unknown_encoding_name_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "input.txt"
    path.write_text(TEXT)
    with pytest.raises(SeqgenError, match="data.corpus.encoding='klingon'"):
        _prepare(path, tmp_path, encoding="klingon")
