"""SIGTERM (SLURM preemption) saves a checkpoint and exits; `resume=<run>` continues from it."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import torch

from conftest import BIN, TINY_TRAIN, read_json


def test_sigterm_saves_checkpoint_and_resume_continues(tmp_path: Path, tiny_text_data: Path, tiny_text_file: Path) -> None:
    run_dir = tmp_path / "run"
    args = [
        str(BIN / "seqgen-train"), *TINY_TRAIN, f"data.corpus.path={tiny_text_file}", f"paths.data_dir={tiny_text_data}",
        f"hydra.run.dir={run_dir}", "trainer.max_steps=100000", "test=false",
    ]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    last = run_dir / "checkpoints" / "last.ckpt"
    deadline = time.time() + 120
    while not last.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.5)
    assert last.exists(), proc.communicate()[1][-3000:] if proc.poll() is not None else "no checkpoint in time"
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr[-3000:]
    assert "stopped by a signal" in stdout
    stopped_at = torch.load(last, weights_only=False)["global_step"]
    assert stopped_at >= 5
    assert read_json(run_dir / "metrics.json")["preempted"] is True

    out = subprocess.run(
        [str(BIN / "seqgen-train"), f"resume={run_dir}", "trainer=cpu", "logger=none", f"trainer.max_steps={stopped_at + 7}", f"hydra.run.dir={tmp_path / 'resume-log'}"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    metrics = read_json(run_dir / "metrics.json")
    assert metrics["global_step"] == stopped_at + 7 and metrics["preempted"] is False
