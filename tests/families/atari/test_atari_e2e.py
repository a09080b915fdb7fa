"""Atari end to end through the platform: prepare from a real ROM, train, figures, eval, sample (CLI)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

pytest.importorskip("ale_py")

from conftest import BIN, compose_cfg, read_json  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from seqgen.training.run import train  # noqa: E402

TINY = [
    "experiment=atari_quickstart",
    "data.prepare.games=[pong]",
    "data.prepare.clips={train: 4, valid: 1, test: 2}",
    "data.prepare.clip_length=8",
    "data.prepare.eval_clip_length=14",
    "data.prepare.size=32",
    "data.prepare.samples_per_shard=2",
    "data.prepare.min_train_shards=2",
    "data.datamodule.batch_size=2",
    "data.datamodule.batches_per_epoch=3",
    "model.channels=[4,8]",
    "model.hidden_size=16",
    "model.factors=16",
    "model.curriculum=[[0,1],[3,3]]",
    "model.prefix_frames=4",
    "model.horizon=10",
    "model.preview_frames=4",
    "logger=csv",
    "num_threads=1",
    "trainer.max_steps=6",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
]


def test_prepare_train_eval_sample(tmp_path: Path) -> None:
    from hydra.utils import instantiate

    prep = compose_cfg("prepare", tmp_path, ["data=atari", *[o for o in TINY if o.startswith("data.")]])
    summary = instantiate(prep.data.prepare)
    assert summary["clips"] == {"train": 4, "valid": 1, "test": 2}

    cfg = OmegaConf.create(OmegaConf.to_container(compose_cfg("train", tmp_path, TINY), resolve=True))
    run = Path(cfg.paths.output_dir)
    result = train(cfg, run)
    assert result["global_step"] == 6
    metrics = read_json(run / "metrics.json")
    assert metrics["metrics"]["train/k"] == 3.0  # the curriculum reached k = 3 at step 3
    assert 0 < metrics["metrics"]["test/baseline_mse"] and metrics["metrics"]["test/mse"] > 0  # the rollout over the test clips
    assert metrics["test/baseline_mse@1"] > 0 and "test/mse@10" in metrics and "test/pong/changed_mse@1" in metrics
    assert 0 <= metrics["test/objects_kept@10"] <= 1 and metrics["train_clock"]["steps"] == 6
    for name in ("atari.md", "atari_horizons.png", "rollout-0.png", "rollout-0.gif"):
        assert (run / name).stat().st_size > 0, name

    out = subprocess.run([str(BIN / "seqgen-eval"), f"ckpt={run}", f"hydra.run.dir={tmp_path / 'eval'}"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "test/mse@1" in read_json(tmp_path / "eval" / "metrics.json")

    sample = [str(BIN / "seqgen-sample"), f"ckpt={run}", "length=12", "num_samples=1", f"hydra.run.dir={tmp_path / 'sample'}"]
    out = subprocess.run([*sample, "actions=[FIRE,LEFT]"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    from PIL import Image

    gif = Image.open(tmp_path / "sample" / "rollout-0.gif")
    total_ms = 0
    for index in range(gif.n_frames):  # identical consecutive frames are merged: count their durations
        gif.seek(index)
        total_ms += gif.info["duration"]
    assert total_ms == 12 * 100  # 12 generated frames at 10 frames/s
    out = subprocess.run([*sample, "actions=[JUMP]"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "seqgen: error: actions: unknown action 'JUMP'" in out.stderr
