"""Readers (IDX, gzipped IDX, .amat, Fashion-MNIST lookup), prepare and the bad-input errors."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from seqgen.data.shards import read_meta
from seqgen.errors import SeqgenError
from seqgen.families.image.corpora import (
    AmatCorpus,
    DigitsCorpus,
    FashionMnistCorpus,
    IdxCorpus,
    read_amat,
    read_idx,
    read_idx_images,
    read_idx_labels,
    write_idx,
)
from seqgen.families.image.datamodule import ImageDataModule
from seqgen.families.image.prepare import prepare_images


def _images(n: int, h: int = 6, w: int = 5, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, h, w), dtype=np.uint8)


@pytest.mark.parametrize("name", ["imgs-idx3-ubyte", "imgs-idx3-ubyte.gz"])
def test_idx_roundtrip(tmp_path: Path, name: str) -> None:
    images = _images(7)
    path = write_idx(tmp_path / name, images)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    raw = gzip.decompress(path.read_bytes()) if name.endswith(".gz") else path.read_bytes()
    assert raw[:4] == b"\x00\x00\x08\x03" and raw[4:8] == (7).to_bytes(4, "big")  # magic 0x803, big-endian N
    np.testing.assert_array_equal(read_idx_images(path), images)
    labels = write_idx(tmp_path / "labels-idx1-ubyte", np.arange(7) % 3)
    assert labels.read_bytes()[:4] == b"\x00\x00\x08\x01"
    np.testing.assert_array_equal(read_idx_labels(labels, 7), np.arange(7) % 3)


def test_idx_errors(tmp_path: Path) -> None:
    good = write_idx(tmp_path / "good-idx3-ubyte", _images(4)).read_bytes()
    bad_magic = tmp_path / "bad"
    bad_magic.write_bytes(b"\x12\x34\x08\x03" + good[4:])
    with pytest.raises(SeqgenError, match="malformed IDX header"):
        read_idx(bad_magic)
    truncated = tmp_path / "truncated"
    truncated.write_bytes(good[:-10])
    with pytest.raises(SeqgenError, match="truncated"):
        read_idx(truncated)
    short_header = tmp_path / "short"
    short_header.write_bytes(good[:9])
    with pytest.raises(SeqgenError, match="truncated IDX header"):
        read_idx(short_header)
    truncated_gz = tmp_path / "t.gz"
    truncated_gz.write_bytes(gzip.compress(good)[:-20])
    with pytest.raises(SeqgenError, match="truncated or corrupt gzip"):
        read_idx(truncated_gz)
    labels = write_idx(tmp_path / "labels", np.arange(4))
    with pytest.raises(SeqgenError, match="expected 0x00000801"):
        read_idx_labels(tmp_path / "good-idx3-ubyte")
    with pytest.raises(SeqgenError, match="3 images"):
        read_idx_labels(labels, 3)
    rgb = write_idx(tmp_path / "rgb", np.zeros((2, 4, 4, 3)))
    with pytest.raises(SeqgenError, match="3 channels"):
        read_idx_images(rgb)
    grey4d = write_idx(tmp_path / "grey4d", np.zeros((2, 4, 4, 1)))
    assert read_idx_images(grey4d).shape == (2, 4, 4)
    with pytest.raises(SeqgenError, match="does not exist"):
        read_idx(tmp_path / "missing")


def _write_amat(path: Path, images: np.ndarray) -> Path:
    path.write_text("".join(" ".join(str(int(v)) for v in image.reshape(-1)) + "\n" for image in images))
    return path


def test_amat_reader_and_errors(tmp_path: Path) -> None:
    images = (_images(3, 4, 4) > 128).astype(np.uint8)
    np.testing.assert_array_equal(read_amat(_write_amat(tmp_path / "a.amat", images), (4, 4)), images)
    grey = tmp_path / "grey.amat"
    grey.write_text(" ".join(["0"] * 15 + ["0.5"]) + "\n")
    with pytest.raises(SeqgenError, match="not binary"):
        read_amat(grey, (4, 4))
    short = tmp_path / "short.amat"
    short.write_text(" ".join(["1"] * 16) + "\n" + " ".join(["1"] * 9) + "\n")
    with pytest.raises(SeqgenError, match="line 2: 9 values, expected 16"):
        read_amat(short, (4, 4))


def test_prepare_amat_corpus(tmp_path: Path) -> None:
    for split, n in (("train", 8), ("valid", 2), ("test", 3)):
        _write_amat(tmp_path / f"binarized_mnist_{split}.amat", (_images(n, 4, 4, seed=n) > 128).astype(np.uint8))
    summary = prepare_images(AmatCorpus(str(tmp_path), size=(4, 4)), str(tmp_path / "out"), mode="binary", samples_per_shard=4)
    meta = read_meta(tmp_path / "out")
    assert meta["family"] == "image" and meta["levels"] == 2 and meta["num_classes"] == 0
    assert summary["splits"]["test"]["images"] == 3


def _idx_corpus(tmp_path: Path, h: int = 6, w: int = 5) -> IdxCorpus:
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", _images(24, h, w))
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.arange(24) % 10)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", _images(6, h, w, seed=1))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.arange(6) % 10)
    return IdxCorpus(
        str(tmp_path / "train-images-idx3-ubyte.gz"), str(tmp_path / "t10k-images-idx3-ubyte"),
        str(tmp_path / "train-labels-idx1-ubyte.gz"), str(tmp_path / "t10k-labels-idx1-ubyte"), valid_fraction=0.25,
    )


def test_prepare_idx_binary_and_datamodule(tmp_path: Path) -> None:
    corpus = _idx_corpus(tmp_path)
    prepare_images(corpus, str(tmp_path / "out"), mode="binary", size=(6, 5), samples_per_shard=4)
    meta = read_meta(tmp_path / "out")
    assert (meta["height"], meta["width"], meta["levels"], meta["num_classes"]) == (6, 5, 2, 10)
    assert meta["splits"]["train"]["images"] == 18 and meta["splits"]["valid"]["images"] == 6
    datamodule = ImageDataModule(str(tmp_path / "out"), batch_size=4, eval_batch_size=8, num_workers=0)
    datamodule.load_info()
    batch = next(iter(datamodule.test_dataloader()))
    assert batch["images"].shape == (6, 6, 5) and set(batch["images"].unique().tolist()) <= {0, 1}
    expected = (_images(6, seed=1) >= 127.5).astype(np.int64)
    assert sorted(map(tuple, batch["images"].flatten(1).tolist())) == sorted(map(tuple, expected.reshape(6, -1).tolist()))
    with pytest.raises(SeqgenError, match=r"6x5 but data.prepare.size=\[28, 28\]"):
        prepare_images(corpus, str(tmp_path / "out2"), size=(28, 28))
    with pytest.raises(SeqgenError, match="data.prepare.mode"):
        prepare_images(corpus, str(tmp_path / "out3"), mode="colour")


def test_prepare_digits_grey_requantised(tmp_path: Path) -> None:
    prepare_images(DigitsCorpus(), str(tmp_path / "d"), levels=4)
    meta = read_meta(tmp_path / "d")
    assert (meta["height"], meta["width"], meta["levels"], meta["source_levels"]) == (8, 8, 4, 17)
    assert sum(s["images"] for s in meta["splits"].values()) == 1797


def test_fashion_mnist_missing_names_the_package(tmp_path: Path) -> None:
    with pytest.raises(SeqgenError, match="apt-get install dataset-fashion-mnist"):
        FashionMnistCorpus(root=str(tmp_path))
    _idx_corpus(tmp_path)  # the four files, Fashion-MNIST's names
    corpus = FashionMnistCorpus(root=str(tmp_path), valid_fraction=0.25)
    assert corpus.load()["test"][0].shape == (6, 6, 5)


def test_model_refuses_bad_data() -> None:
    from seqgen.families.image.module import ImageClassifier, ImageMDLSTM

    grey = {"levels": 17, "height": 8, "width": 8, "channels": 1, "num_classes": 10, "corpus": "digits"}
    with pytest.raises(SeqgenError, match="bernoulli needs binary data"):
        ImageMDLSTM(grey, hidden_size=4, output="bernoulli")
    with pytest.raises(SeqgenError, match="3 channels"):
        ImageMDLSTM({**grey, "channels": 3}, hidden_size=4)
    binary = ImageMDLSTM({**grey, "levels": 2}, hidden_size=4)
    with pytest.raises(SeqgenError, match="non-binary data for a Bernoulli model"):
        binary.image_nats(torch.full((2, 8, 8), 5))
    with pytest.raises(SeqgenError, match=r"\(7, 8\)"):
        binary.image_nats(torch.zeros(2, 7, 8, dtype=torch.long))
    with pytest.raises(SeqgenError, match="needs labelled images"):
        ImageClassifier({**grey, "num_classes": 0})
    with pytest.raises(SeqgenError, match="model.hidden_size=0"):
        ImageMDLSTM(grey, hidden_size=0)
