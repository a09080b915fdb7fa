"""Shared pieces of the handwriting tests: a tiny prepared Hershey corpus, tiny configs, controlled windows."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Iterator

import pytest
import torch

from conftest import REPO, compose_cfg

sys.path.insert(0, str(REPO / "benchmarks"))  # the straightforward reference implementation lives there

# A corpus that prepares in about a second: short lines, few writers.
TINY_DATA = [
    "data=handwriting_hershey",
    "data.corpus.n_lines=64",
    "data.corpus.n_writers=6",
    "data.corpus.min_chars=4",
    "data.corpus.max_chars=12",
    "data.corpus.text_max_bytes=60000",
    "data.prepare.samples_per_shard=8",
    "data.prepare.min_train_shards=4",
    "data.prepare.n_styles=3",
]

TINY_MODEL = {
    "synthesis": [
        "model=handwriting_synthesis",
        "model.hidden_size=24",
        "model.num_layers=2",
        "model.mixture_components=3",
        "model.window_components=2",
        "model.preview_text=ab",
        "model.sample_texts=[ab]",
    ],
    "prediction": [
        "model=handwriting_prediction",
        "model.hidden_size=24",
        "model.num_layers=2",
        "model.mixture_components=3",
        "model.preview_points=20",
        "model.sample_points=30",
    ],
}

TINY_TRAIN = [
    "logger=csv",
    "optim=adam",
    "num_threads=1",
    "data.datamodule.batch_size=4",
    "data.datamodule.eval_batch_size=8",
    "data.datamodule.batches_per_epoch=3",
    "data.datamodule.max_points=60",
    "data.datamodule.num_workers=1",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
    "callbacks.last_checkpoint.every_n_steps=3",
]


def prepare_tiny(root: Path) -> Path:
    """Prepare the tiny Hershey corpus under `root`; returns the data root (paths.data_dir)."""
    from hydra.utils import instantiate

    cfg = compose_cfg("prepare", root, TINY_DATA)
    instantiate(cfg.data.prepare)
    return root / "data"


@pytest.fixture(scope="module")
def tiny_hw_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepare_tiny(tmp_path_factory.mktemp("hw_prepared"))


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Small per-step ops: one torch thread is faster and far steadier on shared cores."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def controlled_window(net: torch.nn.Module, rate: float, beta: float = 4.0) -> None:
    """Make the synthesis window deterministic: alpha = 1, beta = `beta`, kappa += `rate` per step."""
    window = net.window
    k = window.n_components
    with torch.no_grad():
        window.linear.weight.zero_()
        window.linear.bias[:k] = 0.0
        window.linear.bias[k : 2 * k] = math.log(beta)
        window.linear.bias[2 * k :] = math.log(rate * window.kappa_scale)
