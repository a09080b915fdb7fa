"""Shared pieces of the demo tests: a tiny synthesis checkpoint, engines, a real uvicorn on loopback."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from handwriting_helpers import TINY_DATA, TINY_MODEL, TINY_TRAIN, prepare_tiny
from omegaconf import OmegaConf, open_dict

from conftest import compose_cfg

from seqgen.serve.app import serving_in_thread as serving  # noqa: F401  (re-exported for the tests)


@pytest.fixture(scope="session")
def tiny_synthesis_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthesis run trained for a few steps on the tiny Hershey corpus (seconds on one core)."""
    import torch

    from seqgen.training.run import train

    root = tmp_path_factory.getbasetemp() / "demo_model"  # one per session, shared by the test modules
    if (root / "run" / "checkpoints" / "last.ckpt").exists():
        return root / "run"
    data_root = prepare_tiny(root)
    cfg = compose_cfg("train", root, [*TINY_DATA, *TINY_MODEL["synthesis"], *TINY_TRAIN, "trainer.max_steps=3", "test=false"])
    with open_dict(cfg):
        cfg.paths.data_dir = str(data_root)
    cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    threads = torch.get_num_threads()
    try:
        train(cfg, Path(cfg.paths.output_dir))
    finally:
        torch.set_num_threads(threads)
    return Path(cfg.paths.output_dir)


@pytest.fixture(scope="session")
def tiny_synthesis_model(tiny_synthesis_run: Path) -> Any:
    from seqgen.core.checkpoints import load_model

    return load_model(tiny_synthesis_run, family="handwriting")


def make_engine(model: Any, **limits: Any) -> Any:
    from seqgen.serve.engine import Engine, Limits

    base = {"max_points_per_char": 12.0, "max_concurrent": 2, "max_queue": 4}
    return Engine(model, Limits(**{**base, **limits}))


def slow_down(monkeypatch: pytest.MonkeyPatch, engine: Any, seconds_per_step: float) -> None:
    """Make every sampling step of `engine` take at least `seconds_per_step`: queueing and
    disconnect tests need work that lasts while the test acts (only this engine, only this test)."""
    family = engine.family

    class Slow:
        def write(self, model: Any, texts: list[str], on_step: Any = None, **options: Any) -> Any:
            def step(i: int, points: Any) -> Any:
                time.sleep(seconds_per_step)
                return on_step(i, points) if on_step is not None else None

            return family.write(model, texts, on_step=step, **options)

    monkeypatch.setattr(engine, "family", Slow())
