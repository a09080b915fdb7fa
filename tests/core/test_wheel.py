"""The installed package does not reach into the checkout: build a wheel, install it into a fresh
virtualenv and run the commands from a folder outside the repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from conftest import REPO

pytestmark = pytest.mark.slow

TOP_LEVEL_SKIP = {".git", ".venv", "outputs", "multirun", "data", "build", ".pytest_cache"}


def _ignore(folder: str, names: list[str]) -> set[str]:
    """Skip the checkout's run outputs and environments (top level only), caches everywhere."""
    skip = {n for n in names if n == "__pycache__" or n.endswith(".egg-info")}
    return skip | (TOP_LEVEL_SKIP & set(names) if Path(folder) == REPO else set())


def _run(args: list[str], cwd: Path, env: dict[str, str], timeout: int = 600) -> subprocess.CompletedProcess:
    out = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"{' '.join(args)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


def test_wheel_installs_and_runs_outside_the_checkout(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", WANDB_MODE="offline")
    # Build from a copy of the tree (symlinks kept, as in a git checkout): nothing is written into the repo.
    source = tmp_path / "src"
    shutil.copytree(REPO, source, symlinks=True, ignore=_ignore)
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(source)], tmp_path, env)
    wheel = next(wheels.glob("seqgen-*.whl"))

    # A fresh venv; the dependencies (torch, lightning, hydra...) come from this interpreter's
    # site-packages through a .pth line, seqgen itself only from the wheel.
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], tmp_path, env)
    python = venv / "bin" / "python"
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path, env).stdout.strip())
    (site / "_seqgen_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)], tmp_path, env)

    work = tmp_path / "elsewhere"
    work.mkdir()
    where = _run([str(python), "-c", "import seqgen, seqgen._config as c; print(seqgen.__file__); print(c.config_dir())"], work, env).stdout
    assert str(venv) in where and str(REPO) not in where, where

    bin_dir = venv / "bin"
    assert "experiment" in _run([str(bin_dir / "seqgen-train"), "--help"], work, env).stdout
    _run([str(bin_dir / "seqgen-prepare"), "data=text_embedded", "data.corpus.max_bytes=200000"], work, env)
    assert (work / "data" / "text_embedded" / "meta.json").exists()
    train = _run(
        [
            str(bin_dir / "seqgen-train"), "experiment=text_quickstart", "logger=none", "trainer.max_steps=3",
            "model.hidden_size=16", "data.datamodule.batch_size=4",
            "data.datamodule.segment_length=20", "data.datamodule.batches_per_epoch=3", "trainer.enable_progress_bar=false",
            "test=false", "hydra.run.dir=run",
        ],
        work, env,
    )
    assert "training finished" in train.stdout
    assert (work / "run" / "checkpoints" / "last.ckpt").exists()
