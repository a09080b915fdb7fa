"""End to end on the embedded 8x8 digits: prepare, train (NLL falls), sample, evaluate."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import OmegaConf, open_dict

from conftest import REPO, compose_cfg, read_json
from seqgen.training.run import train

TINY = [
    "logger=csv",
    "data.datamodule.batch_size=16",
    "data.datamodule.eval_batch_size=200",
    "data.datamodule.batches_per_epoch=20",
    "data.datamodule.num_workers=0",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "trainer.max_time=null",
]


class LossRecorder(pl.Callback):
    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):  # type: ignore[no-untyped-def]
        self.losses.append(float(outputs["loss"]))


@pytest.fixture(scope="module")
def digits_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("image")
    cfg = compose_cfg("prepare", root, ["data=image_digits"])
    summary = instantiate(cfg.data.prepare)
    assert summary["splits"]["train"]["images"] == 1438
    return root / "data"


def _train_cfg(tmp: Path, data_root: Path, extra: list[str]):  # type: ignore[no-untyped-def]
    cfg = compose_cfg("train", tmp, ["experiment=image_quickstart", *TINY, *extra])
    with open_dict(cfg):
        cfg.paths.data_dir = str(data_root)
    return OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))


def _cli(module: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=300, env=env)


def test_digits_train_sample_eval(tmp_path: Path, digits_root: Path) -> None:
    recorder = LossRecorder()
    cfg = _train_cfg(tmp_path, digits_root, ["model.hidden_size=16", "model.preview_count=4", "trainer.max_steps=40"])
    result = train(cfg, Path(cfg.paths.output_dir), [recorder])
    run = Path(cfg.paths.output_dir)
    assert result["global_step"] == 40
    assert np.mean(recorder.losses[-5:]) < 0.9 * np.mean(recorder.losses[:5]), recorder.losses  # NLL falls
    metrics = result["metrics"]
    assert 0 < metrics["test/bits_per_dim"] < np.log2(17)  # better than uniform over the 17 levels
    assert metrics["test/nll"] == metrics["test/bits_per_dim"]  # grey data: the headline unit is bits/dim
    assert (run / "samples.png").exists() and (run / "completions.png").exists()
    assert list((run / "samples").glob("step*.png"))  # previews during training (logged to W&B when on)

    out = _cli("seqgen.cli.sample", f"ckpt={run}", "num_samples=6", "temperature=1.0", f"hydra.run.dir={tmp_path / 'sample'}")
    assert out.returncode == 0, out.stderr[-2000:]
    samples = np.load(tmp_path / "sample" / "samples.npy")
    assert samples.shape == (6, 8, 8) and samples.min() >= 0 and samples.max() <= 16
    assert "images/s" in out.stdout

    out = _cli("seqgen.cli.evaluate", f"ckpt={run}", f"hydra.run.dir={tmp_path / 'eval'}")
    assert out.returncode == 0, out.stderr[-2000:]
    report = read_json(tmp_path / "eval" / "metrics.json")
    assert report["metrics"]["test/bits_per_dim"] == pytest.approx(metrics["test/bits_per_dim"], rel=1e-4)
    assert "bits/dim" in (tmp_path / "eval" / "image_report.md").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("model", ["image_rowlstm", "image_classifier"])
def test_digits_peer_and_classifier(tmp_path: Path, digits_root: Path, model: str) -> None:
    recorder = LossRecorder()
    cfg = _train_cfg(tmp_path, digits_root, [f"model={model}", "model.hidden_size=8", "trainer.max_steps=100", "optim.optimizer.lr=1e-2"])
    result = train(cfg, Path(cfg.paths.output_dir), [recorder])
    assert np.mean(recorder.losses[-5:]) < np.mean(recorder.losses[:5])
    if model == "image_classifier":
        assert 0.3 < result["metrics"]["test/accuracy"] <= 1.0  # chance: 0.1
        out = _cli("seqgen.cli.sample", f"ckpt={cfg.paths.output_dir}", f"hydra.run.dir={tmp_path / 'sample'}")
        assert out.returncode == 2 and "classifier" in out.stderr
    else:
        assert result["metrics"]["test/bits_per_dim"] < np.log2(17)
