"""Runs: unique folders and one live run per folder, resume refusals and fallbacks, data identity,
NaN with value clipping, corrupt test shards in evaluation; metrics.json always written."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from hydra.utils import get_class, instantiate
from omegaconf import OmegaConf, open_dict

from conftest import TINY_TEXT, TINY_TRAIN, compose_cfg, read_json, tiny_train_cfg
from seqgen.data.identity import corpus_key
from seqgen.errors import SeqgenError
from seqgen.training.resume import readable_checkpoint, resolve_run, resume_checkpoint
from seqgen.training.run import train
from seqgen.training.run_lock import LOCK_NAME, run_folder_lock, run_id


def _with(cfg, **values):  # type: ignore[no-untyped-def]
    cfg = OmegaConf.create(OmegaConf.to_container(cfg))
    with open_dict(cfg):
        for key, value in values.items():
            OmegaConf.update(cfg, key, value)
    return cfg


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_text_data: Path, tiny_text_file: Path) -> dict:
    """One finished tiny run (10 steps: best and last checkpoints)."""
    tmp = tmp_path_factory.mktemp("trained")
    cfg = tiny_train_cfg(tmp, tiny_text_data, tiny_text_file, ["trainer.max_steps=10", "test=false", "logger=none"])
    run_dir = Path(cfg.paths.output_dir)
    result = train(cfg, run_dir)
    return {"cfg": cfg, "run_dir": run_dir, "result": result, "tmp": tmp}


# --------------------------------------------------------------------------- run folders


def test_default_run_folder_names_are_unique_per_process() -> None:
    hydra_cfg = OmegaConf.load(Path(__file__).resolve().parents[2] / "conf" / "hydra" / "default.yaml")
    assert "${seqgen_run_id:}" in OmegaConf.to_container(hydra_cfg)["run"]["dir"]
    other = subprocess.run([sys.executable, "-c", "from seqgen.training.run_lock import run_id; print(run_id())"], capture_output=True, text=True)
    assert other.stdout.strip() and other.stdout.strip() != run_id()
    assert OmegaConf.create({"d": "${seqgen_run_id:}"}).d == run_id()  # stable within a process


def test_a_live_run_owns_its_folder(tmp_path: Path) -> None:
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        import socket

        (tmp_path / LOCK_NAME).write_text(json.dumps({"host": socket.gethostname(), "pid": sleeper.pid}))
        with pytest.raises(SeqgenError, match=rf"run folder {tmp_path} is in use by a live run \(pid {sleeper.pid}"):
            with run_folder_lock(tmp_path):
                pass
    finally:
        sleeper.kill()
        sleeper.wait()
    with run_folder_lock(tmp_path):  # its process is gone: the stale lock is taken over
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] != sleeper.pid
    assert not (tmp_path / LOCK_NAME).exists()


def test_train_refuses_a_folder_in_use(tmp_path: Path, tiny_text_data: Path, tiny_text_file: Path) -> None:
    cfg = tiny_train_cfg(tmp_path, tiny_text_data, tiny_text_file, ["trainer.max_steps=2", "logger=none"])
    run_dir = Path(cfg.paths.output_dir)
    with run_folder_lock(run_dir):  # held by this process, as by a second live training
        import os

        (run_dir / LOCK_NAME).write_text(json.dumps({"host": "another-host", "pid": os.getpid()}))
        with pytest.raises(SeqgenError, match="in use by a live run"):
            train(cfg, run_dir)
    assert not (run_dir / "checkpoints").exists()


# --------------------------------------------------------------------------- resume


def test_resume_without_checkpoint_refuses_and_keeps_metrics(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "overrides.yaml").write_text("- trainer.max_steps=5\n")
    (run_dir / "metrics.json").write_text('{"global_step": 500}')
    cfg = OmegaConf.create({"resume": str(run_dir), "paths": {"output_dir": str(tmp_path / "new")}})
    with pytest.raises(SeqgenError, match="no checkpoint to resume from"):
        from hydra import initialize_config_dir

        from conftest import CONF

        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            resolve_run(cfg, [])
    assert read_json(run_dir / "metrics.json") == {"global_step": 500}


def test_truncated_last_checkpoint_falls_back_to_newest_readable(trained: dict, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(trained["run_dir"], run_dir)
    best = sorted((run_dir / "checkpoints").glob("best*.ckpt"))
    assert best, list((run_dir / "checkpoints").iterdir())
    last = run_dir / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    assert not readable_checkpoint(last) and readable_checkpoint(best[0])
    assert resume_checkpoint(run_dir) == best[-1]
    assert "resuming from the newest readable checkpoint instead: " + best[-1].name in capsys.readouterr().out
    cfg = _with(trained["cfg"], **{"resume": "auto", "trainer.max_steps": 12, "paths.output_dir": str(run_dir)})
    for cb in ("model_checkpoint", "last_checkpoint", "samples"):
        if cfg.callbacks.get(cb) is not None and "dirpath" in cfg.callbacks[cb]:
            cfg.callbacks[cb].dirpath = str(run_dir / "checkpoints")
    _, _, checkpoint = resolve_run(cfg, [])
    assert checkpoint == best[-1]
    result = train(cfg, run_dir, checkpoint=checkpoint)
    assert result["global_step"] == 12


def test_truncated_and_nothing_else_refuses(tmp_path: Path) -> None:
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(SeqgenError, match="unreadable .* no other readable checkpoint"):
        resume_checkpoint(tmp_path)


# --------------------------------------------------------------------------- data identity


def test_corpora_get_their_own_data_folders(tmp_path: Path) -> None:
    a, b = tmp_path / "a" / "input.txt", tmp_path / "b" / "input.txt"
    a.parent.mkdir()
    b.parent.mkdir()
    a.write_text(TINY_TEXT)
    b.write_text(TINY_TEXT.upper())
    cfg_a = compose_cfg("prepare", tmp_path, ["data=text_file", f"data.corpus.path={a}"])
    cfg_b = compose_cfg("prepare", tmp_path, ["data=text_file", f"data.corpus.path={b}"])
    assert cfg_a.data.dir != cfg_b.data.dir and cfg_a.data.dir.endswith(corpus_key(a))
    key = corpus_key(a)
    a.write_text(TINY_TEXT + "edited")
    assert corpus_key(a) != key  # an edited file is another corpus


def test_checkpoint_stores_fingerprint_and_vocabulary(trained: dict) -> None:
    state = torch.load(trained["run_dir"] / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    meta = read_json(Path(trained["cfg"].data.datamodule.data_dir) / "meta.json")
    assert state["seqgen"]["data"]["fingerprint"] == meta["fingerprint"]
    assert state["seqgen"]["data"]["vocab"] == meta["vocab"]


def _other_data(tmp: Path) -> Path:
    other = tmp / "other.txt"
    other.write_text(TINY_TEXT.replace("e", "E").replace("t", "T"))
    cfg = compose_cfg("prepare", tmp, ["data=text_file", f"data.corpus.path={other}", *[o for o in TINY_TRAIN if o.startswith("data.")]])
    instantiate(cfg.data.prepare)
    return Path(cfg.data.dir)


def test_resume_and_eval_refuse_other_data(trained: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = _other_data(tmp_path)
    run_dir = tmp_path / "run"
    shutil.copytree(trained["run_dir"], run_dir)
    cfg = _with(trained["cfg"], **{"resume": "auto", "trainer.max_steps": 12, "data.datamodule.data_dir": str(other)})
    with pytest.raises(SeqgenError, match="resume: the data in .* another vocabulary"):
        train(cfg, run_dir, checkpoint=run_dir / "checkpoints" / "last.ckpt")

    from seqgen.cli import evaluate

    monkeypatch.setattr(evaluate, "run_dir", lambda: tmp_path / "eval")
    (tmp_path / "eval").mkdir()
    eval_cfg = OmegaConf.create({"ckpt": str(run_dir), "data_dir": str(other), "device": "cpu"})
    with pytest.raises(SeqgenError, match="seqgen-eval: the data in .* another vocabulary"):
        evaluate.run.__wrapped__(eval_cfg)


# --------------------------------------------------------------------------- skipped and counted


def test_nan_loss_with_value_clipping_is_skipped_and_counted(tmp_path: Path, tiny_text_data: Path, tiny_text_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for optim in ("sgd", "rmsprop_graves"):
        cfg = tiny_train_cfg(tmp_path / optim, tiny_text_data, tiny_text_file, [f"optim={optim}", "trainer.max_steps=5", "test=false", "logger=none"])
        assert cfg.optim.grad_clip.algorithm == "value"
        cls = get_class(cfg.model._target_)
        original = cls.compute_loss
        calls = {"n": 0}

        def compute_loss(self, batch, original=original, calls=calls):  # type: ignore[no-untyped-def]
            loss, logs = original(self, batch)
            calls["n"] += 1
            return (loss * float("nan") if calls["n"] % 2 == 1 else loss), logs

        monkeypatch.setattr(cls, "compute_loss", compute_loss)
        result = train(cfg, Path(cfg.paths.output_dir))
        assert result["nonfinite_steps"] >= 2, optim
        state = torch.load(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
        assert all(torch.isfinite(v).all() for v in state.values())
        monkeypatch.setattr(cls, "compute_loss", original)


def _copy_data(trained: dict, tmp: Path) -> Path:
    data = tmp / "data"
    shutil.copytree(trained["cfg"].data.datamodule.data_dir, data)
    return data


def test_eval_skips_and_counts_corrupt_test_shards(trained: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from seqgen.cli import evaluate

    data = _copy_data(trained, tmp_path)
    tests = sorted(data.glob("test-*.tar"))
    tests[0].write_bytes(tests[0].read_bytes()[:100])  # truncated
    out = tmp_path / "eval"
    out.mkdir()
    monkeypatch.setattr(evaluate, "run_dir", lambda: out)
    result = evaluate.run.__wrapped__(OmegaConf.create({"ckpt": str(trained["run_dir"]), "data_dir": str(data), "device": "cpu"}))
    metrics = read_json(out / "metrics.json")
    assert any(tests[0].name in name for name in metrics["skipped_shards"])
    if len(tests) > 1:
        assert "test/bpc" in metrics["metrics"] and result["compression"]["skipped_shards"]
    for shard in data.glob("test-*.tar"):
        shard.unlink()  # every test shard gone: the evaluation still ends with metrics.json
    out2 = tmp_path / "eval2"
    out2.mkdir()
    monkeypatch.setattr(evaluate, "run_dir", lambda: out2)
    evaluate.run.__wrapped__(OmegaConf.create({"ckpt": str(trained["run_dir"]), "data_dir": str(data), "device": "cpu"}))
    metrics = read_json(out2 / "metrics.json")
    assert "test" in metrics["errors"] and "val/bpc" in metrics["metrics"]


def test_training_writes_metrics_although_test_shards_are_corrupt(trained: dict, tmp_path: Path) -> None:
    data = _copy_data(trained, tmp_path)
    tests = sorted(data.glob("test-*.tar"))
    tests[-1].write_bytes(b"garbage")
    cfg = _with(trained["cfg"], **{"test": True, "trainer.max_steps": 3, "data.datamodule.data_dir": str(data), "paths.output_dir": str(tmp_path / "run")})
    for cb in ("model_checkpoint", "last_checkpoint"):
        cfg.callbacks[cb].dirpath = str(tmp_path / "run" / "checkpoints")
    cfg.callbacks.samples.out_dir = str(tmp_path / "run" / "samples")
    train(cfg, tmp_path / "run")
    metrics = read_json(tmp_path / "run" / "metrics.json")
    assert any(tests[-1].name in name for name in metrics["skipped_shards"])


def test_zip_check_reads_no_pickle(tmp_path: Path) -> None:
    path = tmp_path / "x.ckpt"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", b"not a pickle at all")
    assert readable_checkpoint(path)  # complete archive: the loader decides what is in it
