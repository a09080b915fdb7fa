"""Failures that used to end in a traceback wall end in one `seqgen: error:` line, losing nothing:
hostile shard members, overflowing values, absurd allocations, foreign recognisers and model/data
families, lying IDX headers, files that are not checkpoints."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import struct
import tarfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from omegaconf import OmegaConf

from conftest import tiny_train_cfg
from seqgen.errors import SeqgenError
from seqgen.training.run import train


@pytest.fixture
def trained(finished_text_run: Path) -> dict:
    data = OmegaConf.load(finished_text_run / "config_resolved.yaml").data.datamodule.data_dir
    return {"run": finished_text_run, "data": Path(data)}


# ------------------------------------------------------------- shard members


def _plant(shard: Path, member: tarfile.TarInfo, data_dir: Path) -> None:
    """Append a hostile member to a shard and make the manifest agree (a tampered folder)."""
    payload = io.BytesIO(shard.read_bytes())
    with tarfile.open(fileobj=payload, mode="a") as tar:
        tar.addfile(member, io.BytesIO(b"x" * member.size) if member.isreg() else None)
    shard.write_bytes(payload.getvalue())
    manifest = json.loads((data_dir / "manifest.json").read_text())
    for entries in manifest["splits"].values():
        for entry in entries:
            if entry["file"] == shard.name:
                entry["sha256"] = hashlib.sha256(shard.read_bytes()).hexdigest()
                entry["bytes"] = shard.stat().st_size
    (data_dir / "manifest.json").write_text(json.dumps(manifest))


def test_shard_members_outside_the_shard_are_refused_named_and_counted(trained: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from seqgen.cli import evaluate
    from seqgen.data.shards import split_shards, verify_shards

    data = tmp_path / "data"
    shutil.copytree(trained["data"], data)
    tests, valids = sorted(data.glob("test-*.tar")), sorted(data.glob("valid-*.tar"))
    link = tarfile.TarInfo("test-00000000.tokens.npy")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    _plant(tests[0], link, data)
    climbing = tarfile.TarInfo("../../escape.tokens.npy")
    climbing.size = 4
    _plant(valids[0], climbing, data)
    _, bad = verify_shards(data, split_shards(data, "test"))
    assert any(tests[0].name in b and "link to '/etc/passwd'" in b for b in bad), bad
    _, bad = verify_shards(data, split_shards(data, "valid"))
    assert any(valids[0].name in b and "outside the shard" in b for b in bad), bad
    out = tmp_path / "eval"
    out.mkdir()
    monkeypatch.setattr(evaluate, "run_dir", lambda: out)
    # the compression report and the test loader read the same shards: no KeyError from the link
    evaluate.run.__wrapped__(OmegaConf.create({"ckpt": str(trained["run"]), "data_dir": str(data), "device": "cpu", "recognizer": None}))
    metrics = json.loads((out / "metrics.json").read_text())
    assert {tests[0].name, valids[0].name} <= {s.split(":")[0] for s in metrics["skipped_shards"]}


def test_manifest_entries_cannot_name_files_outside_the_data_folder(tmp_path: Path) -> None:
    from seqgen.data.shards import ShardInfo, verify_shards

    good, bad = verify_shards(tmp_path, [ShardInfo("/etc/passwd", 1, "0", 1), ShardInfo("../x.tar", 1, "0", 1)])
    assert not good and all("not a file name inside the data folder" in b for b in bad)


# ------------------------------------------------------------- values, allocations


def test_values_beyond_float32_are_refused_before_work(tmp_path: Path) -> None:
    from conftest import compose_cfg
    from seqgen.validate import validate_config

    for overrides, needle in (
        (["optim.optimizer.lr=1e300"], "optim.optimizer.lr=1e+300 is out of range"),
        (["optim=sgd", "optim.optimizer.lr=1e39"], "optim.optimizer.lr=1e+39"),
        (["optim=rmsprop_graves", "optim.optimizer.lr=1e39"], "optim.optimizer.lr=1e+39"),
        (["optim.grad_clip.value=1e309"], "optim.grad_clip.value=inf"),
    ):
        with pytest.raises(SeqgenError, match=r"must be a finite number in \(0, 3\.4e38\]") as err:
            validate_config(compose_cfg("train", tmp_path, overrides), "train")
        assert needle in str(err.value)


def test_absurd_sample_requests_are_refused_before_allocating(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from seqgen.families.atari import generate as atari_generate
    from seqgen.core.family import get_family

    allocated = []
    monkeypatch.setattr(torch, "zeros", lambda *a, **k: allocated.append(a))
    image = SimpleNamespace(height=28, width=28, levels=256, parameters=lambda: iter([torch.ones(1)]))
    cfg = OmegaConf.create({"num_samples": 10**9, "temperature": 1.0, "seed": 0, "max_memory_gb": 4})
    family = get_family("image")
    monkeypatch.setattr(type(family), "_density", lambda self, model, what: model)
    with pytest.raises(SeqgenError, match=r"num_samples=1000000000 images of 28x28 would need at least .* GB .* limit of 4 GB \(max_memory_gb\)"):
        family.generate(image, cfg, Path("unused"))
    atari = SimpleNamespace(size=64, action_names=["NOOP"])
    monkeypatch.setattr(atari_generate, "clips_for", lambda *a: pytest.fail("read clips before the check"))
    cfg = OmegaConf.create({"num_samples": 1, "length": 10**9, "seed": 0, "actions": None, "ckpt": "x", "max_memory_gb": 4})
    with pytest.raises(SeqgenError, match=r"length=1000000000 frames .* limit of 4 GB"):
        atari_generate.generate(atari, cfg, Path("unused"))
    assert not allocated


def test_an_idx_header_is_checked_against_the_file_size_before_allocating(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    from seqgen.families.image.corpora import read_idx

    allocations = []
    real_empty = np.empty
    monkeypatch.setattr(np, "empty", lambda n, *a, **k: allocations.append(n) or real_empty(n, *a, **k))
    header = struct.pack(">HBB", 0, 8, 3) + struct.pack(">3I", 4_000_000_000, 28, 28)
    (tmp_path / "lying-idx3-ubyte").write_bytes(header + bytes(784 * 3))
    with pytest.raises(SeqgenError, match=r"truncated: the header says \(4000000000, 28, 28\)"):
        read_idx(tmp_path / "lying-idx3-ubyte")
    with gzip.open(tmp_path / "lying-idx3-ubyte.gz", "wb") as handle:
        handle.write(header + bytes(784 * 3))
    with pytest.raises(SeqgenError, match="more than a .*-byte gzip file can hold"):
        read_idx(tmp_path / "lying-idx3-ubyte.gz")
    assert allocations == []


# ------------------------------------------------------------- foreign models


def test_a_model_of_another_family_is_refused_naming_both(tmp_path: Path, tiny_text_data: Path, tiny_text_file: Path) -> None:
    cfg = tiny_train_cfg(tmp_path, tiny_text_data, tiny_text_file, ["trainer.max_steps=2", "logger=none"])
    cfg.model = {"_target_": "seqgen.families.image.module.ImageMDLSTM", "hidden_size": 8}
    with pytest.raises(SeqgenError, match=r"ImageMDLSTM is a 'image' model and cannot train on 'text' data"):
        train(cfg, tmp_path / "run")
    assert not (tmp_path / "run" / "config_resolved.yaml").exists()


def test_a_foreign_recognizer_is_refused_before_evaluation(trained: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from seqgen.cli import evaluate

    monkeypatch.setattr(evaluate, "run_dir", lambda: tmp_path)
    monkeypatch.setattr(evaluate, "instantiate", lambda *a, **k: pytest.fail("evaluation started before the recogniser was checked"))
    cfg = OmegaConf.create({"ckpt": str(trained["run"]), "data_dir": None, "device": "cpu", "recognizer": str(trained["run"])})
    # a text model given as the model to read (it cannot write), and as the recogniser
    with pytest.raises(SeqgenError, match="text models cannot write text"):
        evaluate.run.__wrapped__(cfg)
    from seqgen.families.handwriting.legibility import load_recognizer

    with pytest.raises(SeqgenError, match=r"is a 'text' checkpoint but this needs a 'recognizer' model"):
        load_recognizer(trained["run"])


# ------------------------------------------------------------- not a checkpoint


def test_files_that_are_not_checkpoints_get_seqgens_advice_not_torchs(tmp_path: Path) -> None:
    import torch

    from seqgen.core.checkpoints import load_model

    (tmp_path / "empty.ckpt").write_bytes(b"")
    (tmp_path / "random.ckpt").write_bytes(bytes(range(256)) * 40)
    torch.save({"state_dict": {}}, tmp_path / "legacy.ckpt", _use_new_zipfile_serialization=False)
    for name, needle in (("empty", "is an empty file"), ("random", "not a complete checkpoint archive"), ("legacy", "not a complete checkpoint archive")):
        with pytest.raises(SeqgenError) as err:
            load_model(tmp_path / f"{name}.ckpt")
        assert needle in str(err.value) and "_use_new_zipfile_serialization" not in str(err.value), str(err.value)
        assert "written by seqgen-train" in str(err.value)
