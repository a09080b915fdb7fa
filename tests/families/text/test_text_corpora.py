"""Text corpora readers on tiny files in the original on-disk formats."""

from __future__ import annotations

import io
import string
import tarfile
import zipfile
from pathlib import Path

import pytest

from seqgen.data.text.corpora import (
    EmbeddedCorpus,
    Enwik8Corpus,
    PlainTextCorpus,
    PTBCharCorpus,
    Text8Corpus,
    ptb_char_to_text,
    split_by_fractions,
)
from seqgen.errors import SeqgenError


def _xml_text(n: int) -> bytes:
    unit = (
        b'<page>\n  <title>Anarchism</title>\n  <id>12</id>\n  <revision>\n'
        b"    <text xml:space=\"preserve\">'''Anarchism''' is a [[political philosophy]] &amp; "
        b"movement.</text>\n  </revision>\n</page>\n"
    )
    data = (unit * (n // len(unit) + 1))[:n]
    return data


def _zip(path: Path, member: str, data: bytes) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(member, data)


def test_split_by_fractions_exact_on_round_sizes():
    data = bytes(range(256)) * 4 * 100  # 102,400 bytes
    s = split_by_fractions(data[:100_000], (0.9, 0.05, 0.05))
    assert [len(s[k]) for k in ("train", "valid", "test")] == [90_000, 5_000, 5_000]
    assert s["train"] + s["valid"] + s["test"] == data[:100_000]
    with pytest.raises(SeqgenError):
        split_by_fractions(data, (0.9, 0.2, 0.1))


def test_enwik8_zip_standard_and_paper(tmp_path: Path):
    data = _xml_text(10_000)
    _zip(tmp_path / "enwik8.zip", "enwik8", data)

    std = Enwik8Corpus(root=str(tmp_path)).load_splits()
    assert [len(std[k]) for k in ("train", "valid", "test")] == [9_000, 500, 500]
    assert std["train"] + std["valid"] + std["test"] == data
    assert std["train"].startswith(b"<page>")

    paper = Enwik8Corpus(root=str(tmp_path), split="paper")
    assert paper.name != Enwik8Corpus(root=str(tmp_path)).name
    sp = paper.load_splits()
    assert len(sp["train"]) == 9_600 and len(sp["valid"]) == 400
    assert sp["test"] == sp["valid"] == data[9_600:]


def test_enwik8_plain_file_preferred_and_bad_split(tmp_path: Path):
    (tmp_path / "enwik8").write_bytes(b"x" * 1000)
    s = Enwik8Corpus(root=str(tmp_path)).load_splits()
    assert len(s["train"]) == 900
    with pytest.raises(SeqgenError, match="split"):
        Enwik8Corpus(root=str(tmp_path), split="nope")


def test_enwik8_zip_without_member(tmp_path: Path):
    _zip(tmp_path / "enwik8.zip", "other", b"abc" * 100)
    with pytest.raises(SeqgenError, match="enwik8"):
        Enwik8Corpus(root=str(tmp_path)).load_splits()


def test_text8_zip(tmp_path: Path):
    words = b"anarchism originated as a term of abuse first used against early working class radicals "
    data = (words * 300)[:20_000]
    _zip(tmp_path / "text8.zip", "text8", data)
    s = Text8Corpus(root=str(tmp_path)).load_splits()
    assert [len(s[k]) for k in ("train", "valid", "test")] == [18_000, 1_000, 1_000]
    assert set(s["train"]) <= set(b"abcdefghijklmnopqrstuvwxyz ")


PTB_LINES = {
    "train": [" a e r _ b a n k n o t e _ b e r l i t z", "p i e r r e _ < u n k > _ N _ y e a r s"],
    "valid": ["c o n s u m e r s _ m a y _ w a n t"],
    "test": ["n o _ i t _ w a s _ n ' t _ b l a c k _ m o n d a y"],
}
PTB_TEXT = {
    "train": b"aer banknote berlitz\npierre <unk> N years\n",
    "valid": b"consumers may want\n",
    "test": b"no it was n't black monday\n",
}


def _ptb_raw(split: str) -> bytes:
    return ("\n".join(PTB_LINES[split]) + "\n").encode()


def test_ptb_char_to_text():
    assert ptb_char_to_text(b"a b _ c d\n\ne _ f\n") == b"ab cd\n\ne f\n"


def test_ptb_char_files(tmp_path: Path):
    for split in PTB_LINES:
        (tmp_path / f"ptb.char.{split}.txt").write_bytes(_ptb_raw(split))
    assert PTBCharCorpus(root=str(tmp_path)).load_splits() == PTB_TEXT


def test_ptb_char_tgz(tmp_path: Path):
    with tarfile.open(tmp_path / "simple-examples.tgz", "w:gz") as tf:
        for split in PTB_LINES:
            raw = _ptb_raw(split)
            info = tarfile.TarInfo(f"./simple-examples/data/ptb.char.{split}.txt")
            info.size = len(raw)
            tf.addfile(info, io.BytesIO(raw))
        readme = b"other files in the archive\n"
        info = tarfile.TarInfo("./simple-examples/data/ptb.train.txt")
        info.size = len(readme)
        tf.addfile(info, io.BytesIO(readme))
    assert PTBCharCorpus(root=str(tmp_path)).load_splits() == PTB_TEXT


def test_plain_text_file_and_folder(tmp_path: Path):
    f = tmp_path / "book.txt"
    f.write_bytes(b"0123456789" * 100)
    s = PlainTextCorpus(path=str(f), split=[0.8, 0.1, 0.1]).load_splits()
    assert [len(s[k]) for k in ("train", "valid", "test")] == [800, 100, 100]

    d = tmp_path / "docs"
    (d / "sub").mkdir(parents=True)
    (d / "b.md").write_bytes(b"B" * 50)
    (d / "a.txt").write_bytes(b"A" * 50)
    (d / "sub" / "c.rst").write_bytes(b"C" * 50)
    (d / "README").write_bytes(b"R" * 50)
    (d / "skip.py").write_bytes(b"P" * 50)
    (d / ".hidden").mkdir()
    (d / ".hidden" / "h.txt").write_bytes(b"H" * 50)
    corpus = PlainTextCorpus(path=str(d), split=(1.0, 0.0, 0.0))
    assert [p.name for p in corpus.files()] == ["README", "a.txt", "b.md", "c.rst"]
    s = corpus.load_splits()
    assert s["train"] == b"\n".join([b"R" * 50, b"A" * 50, b"B" * 50, b"C" * 50])
    assert s["valid"] == b"" and s["test"] == b""
    assert corpus.name != PlainTextCorpus(path=str(f)).name


@pytest.mark.parametrize(
    "make",
    [
        lambda p: Enwik8Corpus(root=p),
        lambda p: Text8Corpus(root=p),
        lambda p: PTBCharCorpus(root=p),
        lambda p: PlainTextCorpus(path=p),
    ],
)
def test_missing_path_names_path_and_fix(tmp_path: Path, make):
    missing = str(tmp_path / "nowhere")
    with pytest.raises(SeqgenError) as info:
        make(missing).load_splits()
    msg = str(info.value)
    assert missing in msg
    assert "data.corpus." in msg


def test_empty_train_split_is_an_error(tmp_path: Path):
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(SeqgenError, match="empty"):
        PlainTextCorpus(path=str(tmp_path / "empty.txt")).load_splits()


def test_embedded_corpus_is_real_deterministic_text():
    a = EmbeddedCorpus(max_bytes=200_000).load_splits()
    b = EmbeddedCorpus(max_bytes=200_000).load_splits()
    assert a == b
    assert all(len(a[k]) > 0 for k in ("train", "valid", "test"))
    total = sum(len(v) for v in a.values())
    assert 190_000 <= total <= 200_000
    text = a["train"]
    printable = set(string.printable.encode())
    assert sum(c in printable for c in text) / len(text) > 0.99
    words = text.decode("utf-8", "ignore").lower().split()
    assert words.count("the") > 100  # English prose
