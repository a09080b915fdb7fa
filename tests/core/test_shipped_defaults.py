"""`seqgen-sample` and `seqgen-eval` run with their configs exactly as shipped: `num_threads: auto` is
resolved by the real command in a fresh process, with nothing but the checkpoint on the command line
(`seqgen-serve`: tests/families/handwriting/test_serve_defaults.py)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from omegaconf import OmegaConf

from conftest import REPO

BIN = Path(sys.executable).parent
THREADS_LINE = re.compile(r"threads: \d+ \(")


def _run(command: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    return subprocess.run([str(BIN / command), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def _shipped(config: str, key: str) -> str:
    return str(OmegaConf.load(REPO / "conf" / f"{config}.yaml")[key])


def test_sample_and_eval_run_with_their_shipped_auto_defaults(finished_text_run: Path, tmp_path: Path) -> None:
    assert _shipped("sample", "num_threads") == "auto" and _shipped("eval", "num_threads") == "auto"
    run = tmp_path / "run"
    shutil.copytree(finished_text_run, run)  # eval writes into the run folder

    sampled = _run("seqgen-sample", f"ckpt={run}", f"hydra.run.dir={tmp_path / 'sample'}", cwd=tmp_path)
    assert sampled.returncode == 0, sampled.stderr[-3000:]
    assert THREADS_LINE.search(sampled.stdout + sampled.stderr), "auto resolved no thread count"
    assert "Traceback" not in sampled.stderr

    evaluated = _run("seqgen-eval", f"ckpt={run}", cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert THREADS_LINE.search(evaluated.stdout + evaluated.stderr), "auto resolved no thread count"
    assert (run / "metrics.json").is_file()
