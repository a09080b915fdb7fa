"""cluster/slurm/train.sbatch on a real one-node SLURM: a 2-task CPU DDP job that reaches its time
limit, is signalled, checkpoints, requeues itself and resumes at the same step and data position.

Run with `make test-cluster` (or `pytest -m cluster tests/cluster`); the figures (time to requeue,
steps lost per preemption) are printed and go in docs/cluster.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from conftest import REPO, TINY_TRAIN, read_json

from .cluster_hooks import fingerprint
from .conftest import SlurmCluster

pytestmark = pytest.mark.cluster

HOOKS = Path(__file__).resolve().parent


def job_env(cluster: SlurmCluster) -> dict[str, str]:
    """What the job's processes inherit (sbatch exports the caller's environment)."""
    env = cluster.env
    env.update(PYTHONPATH=os.pathsep.join([str(REPO), str(HOOKS)]), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", WANDB_MODE="offline")
    return env


def tiny_job_overrides(text_file: Path, step_log: Path, max_steps: int, step_s: float) -> list[str]:
    """The tiny text model of the other tests, one batch every >= step_s seconds, no periodic last.ckpt
    (so the checkpoint a requeued job resumes from can only be the one the signal wrote)."""
    keep = [o for o in TINY_TRAIN if not o.startswith(("data.datamodule.num_workers", "data.datamodule.batches_per_epoch", "callbacks.last_checkpoint"))]
    return [
        *keep,
        f"data.corpus.path={text_file}",
        "data.datamodule.num_workers=0",
        "data.datamodule.batches_per_epoch=25",
        "callbacks.last_checkpoint.every_n_steps=0",
        "callbacks.samples=null",
        "test=false",
        f"trainer.max_steps={max_steps}",
        "trainer.max_time=null",
        "+callbacks.steps._target_=cluster_hooks.StepLog",
        f"+callbacks.steps.log={step_log}",
        f"+callbacks.steps.step_s={step_s}",
    ]


def read_events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def reference_fingerprints(run_dir: Path, world: int, epochs: int) -> dict[tuple[int, int, int], str]:
    """(rank, epoch, batch index) -> fingerprint of the batch an uninterrupted run trains on there."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(run_dir / "config_resolved.yaml")
    out = {}
    for rank in range(world):
        for epoch in range(epochs):
            datamodule = instantiate(cfg.data.datamodule)
            datamodule.load_info()
            datamodule.trainer = SimpleNamespace(global_rank=rank, world_size=world, current_epoch=epoch)
            for index, batch in enumerate(datamodule.train_dataloader()):
                out[(rank, epoch, index)] = fingerprint(batch)
    return out


def test_cluster_runs_a_two_task_job(slurm_cluster: SlurmCluster) -> None:
    out = slurm_cluster.run("srun", "--ntasks=2", "--time=1", "hostname", timeout=60)
    assert len(out.stdout.split()) == 2


def test_sbatch_cpu_ddp_job_requeues_at_its_time_limit_and_resumes(
    slurm_cluster: SlurmCluster, tmp_path: Path, tiny_text_data: Path, tiny_text_file: Path
) -> None:
    # Limit 3 min, signal 60 s before it: SLURM signals 90-120 s after the start, which leaves a
    # loaded 2-core machine a minute to import torch and start both ranks. At most 4 steps/s, a
    # segment trains < 120 s (< 480 steps): 400 steps need at least one requeue.
    max_steps, step_s = 400, 0.25
    step_log, logs, runs = tmp_path / "steps.jsonl", tmp_path / "logs", tmp_path / "runs"
    script = tmp_path / "job.sbatch"
    render = subprocess.run(
        [sys.executable, str(REPO / "cluster" / "render_sbatch.py"), "--experiment", "text_quickstart", "--cpu",
         "--tasks-per-node", "2", "--cpus-per-task", "1", "--time", "3", "--signal-s", "60", "--partition", slurm_cluster.partition,
         "--job-name", "seqgen-requeue", "--data-dir", str(tiny_text_data), "--log-dir", str(logs), "--run-root", str(runs),
         "-o", str(script), "--", *tiny_job_overrides(tiny_text_file, step_log, max_steps, step_s)],
        capture_output=True, text=True, check=True,
    )
    assert "#SBATCH --gpus" not in script.read_text(), render.stderr
    submitted = time.time()
    job_id = subprocess.run(["sbatch", "--parsable", str(script)], env=job_env(slurm_cluster), capture_output=True, text=True, check=True).stdout.strip()
    info = slurm_cluster.wait_job(job_id, timeout=14 * 60)
    log_file = logs / f"seqgen-requeue-{job_id}.out"
    log_text = log_file.read_text() if log_file.exists() else ""
    assert info.get("JobState") == "COMPLETED", f"{info}\n{log_text[-4000:]}\n{slurm_cluster.daemon_logs()}"
    elapsed = time.time() - submitted

    run_dir = runs / job_id
    metrics = read_json(run_dir / "metrics.json")
    assert metrics["global_step"] == max_steps and metrics["preempted"] is False
    restarts = int(info["Restarts"])
    assert restarts >= 1, "the job finished inside its first time limit: raise max_steps"
    # One requeue per time limit: by the batch script only (Lightning's auto-requeue is off, so no hpc_ckpt).
    assert log_text.count("seqgen: stopped before the end; requeueing job") == restarts
    assert log_text.count("Handling auto-requeue signal") == 0 and not list(run_dir.rglob("hpc_ckpt*"))

    events = read_events(step_log)
    starts = [e for e in events if e["event"] == "start"]
    assert all(e["plugins"] == "SLURMEnvironment" and e["auto_requeue"] is False for e in starts)
    stops = [e for e in events if e["event"] == "stop" and e["rank"] == 0]
    assert [s["preempted"] for s in stops] == [True] * restarts + [False]
    # Every segment after a requeue starts (both ranks) at the step the signal's checkpoint holds.
    for segment in range(1, restarts + 1):
        resumed = [e for e in starts if e["restart"] == segment]
        assert len(resumed) == 2 and {e["step"] for e in resumed} == {stops[segment - 1]["step"]}, (resumed, stops)
    # Steps and data: every global step trained exactly once per rank, each on the batch an
    # uninterrupted run would train on at that (epoch, position).
    batches = [e for e in events if e["event"] == "batch"]
    by_rank: dict[int, list[int]] = defaultdict(list)
    for e in batches:
        by_rank[e["rank"]].append(e["step"])
    assert {r: sorted(s) for r, s in by_rank.items()} == {0: list(range(1, max_steps + 1)), 1: list(range(1, max_steps + 1))}
    reference = reference_fingerprints(run_dir, world=2, epochs=max(e["epoch"] for e in batches) + 1)
    wrong = [e for e in batches if reference[(e["rank"], e["epoch"], e["batch_idx"])] != e["data"]]
    assert not wrong, wrong[:5]
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == max_steps

    # Figures for docs/cluster.md: time from the signal's stop to the requeued job's processes and
    # to its first step, steps lost per preemption.
    setups = [e for e in events if e["event"] == "setup" and e["rank"] == 0]
    for segment in range(1, restarts + 1):
        stop = stops[segment - 1]
        up = next(e for e in setups if e["restart"] == segment)
        first = min((e for e in batches if e["rank"] == 0 and e["restart"] == segment), key=lambda e: e["time"])
        print(f"[figures] preemption {segment}: stopped at step {stop['step']}, resumed at step {first['step'] - 1} "
              f"(steps lost: {stop['step'] - (first['step'] - 1)}); requeue -> processes up {up['time'] - stop['time']:.1f} s, "
              f"-> first step {first['time'] - stop['time']:.1f} s")
    print(f"[figures] job {job_id}: {max_steps} steps, {restarts} requeues, {elapsed:.0f} s from sbatch to COMPLETED")
