"""cluster/slurm/train.sbatch on a real one-node SLURM: a 2-task CPU DDP job that reaches its time
limit, is signalled, checkpoints, requeues itself and resumes at the same step and data position.

Run with `make test-cluster` (or `pytest -m cluster tests/cluster`); the figures (time to requeue,
steps lost per preemption) are printed and go in docs/cluster.md.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from conftest import REPO, TINY_TRAIN, read_json

from .cluster_hooks import fingerprint
from .conftest import SlurmCluster, tail

pytestmark = pytest.mark.cluster

HOOKS = Path(__file__).resolve().parent


def job_env(cluster: SlurmCluster) -> dict[str, str]:
    """What the job's processes inherit (sbatch exports the caller's environment)."""
    env = cluster.env
    env.update(PYTHONPATH=os.pathsep.join([str(REPO), str(HOOKS)]), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", WANDB_MODE="offline")
    return env


def tiny_job_overrides(text_file: Path, step_log: Path, max_steps: int, step_s: float) -> list[str]:
    """The tiny text model of the other tests, one batch every >= step_s seconds until the first
    requeue, no periodic last.ckpt (so the checkpoint a requeued job resumes from can only be the
    one the signal wrote)."""
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
    # loaded 2-core machine a minute to import torch and start both ranks. Slowed to <= 2 steps/s
    # until the first requeue, the first run makes < 240 of the 300 steps: at least one requeue.
    max_steps, step_s = 300, 0.5
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
    # The batch script logs each start (with SLURM_RESTART_COUNT): one line per run of the job.
    script_starts = {int(m.group(1)): datetime.strptime(m.group(2), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()
                     for m in re.finditer(rf"seqgen: job {job_id} \(restart (\d+)\) started at (\S+)", log_text)}
    assert sorted(script_starts) == list(range(restarts + 1)), log_text[-3000:]
    setups = [e for e in events if e["event"] == "setup" and e["rank"] == 0]
    for segment in range(1, restarts + 1):
        stop = stops[segment - 1]
        up = next(e for e in setups if e["restart"] == segment)
        first = min((e for e in batches if e["rank"] == 0 and e["restart"] == segment), key=lambda e: e["time"])
        print(f"[figures] preemption {segment}: stopped at step {stop['step']}, resumed at step {first['step'] - 1} "
              f"(steps lost: {stop['step'] - (first['step'] - 1)}); stop -> batch script running again "
              f"{script_starts[segment] - stop['time']:.0f} s (1 s resolution), -> ranks set up {up['time'] - stop['time']:.1f} s, "
              f"-> first step {first['time'] - stop['time']:.1f} s")
    print(f"[figures] job {job_id}: {max_steps} steps, {restarts} requeues, {elapsed:.0f} s from sbatch to COMPLETED")


def segments(events: list[dict[str, Any]], rank: int = 0) -> dict[int, list[dict[str, Any]]]:
    """The batches of one rank, by SLURM restart count (0 = the first run of the job)."""
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        if e["event"] == "batch" and e["rank"] == rank:
            out[e["restart"]].append(e)
    return dict(sorted(out.items()))


@pytest.mark.filterwarnings("ignore:(?s).*validated against ConfigStore schema")
def test_submitit_multirun_jobs_run_on_slurm_and_resume_after_their_time_limit(
    slurm_cluster: SlurmCluster, tmp_path: Path, tiny_text_data: Path, tiny_text_file: Path
) -> None:
    """`seqgen-train -m hydra/launcher=submitit_slurm`: each job of the multirun is a SLURM job with
    its own run folder; at the time limit submitit (USR2) requeues it and it resumes from last.ckpt."""
    # every = batches_per_epoch: ModelCheckpoint's save_last (each validation) and LastCheckpoint's
    # periodic save write last.ckpt at the same steps.
    max_steps, step_s, every = 300, 0.5, 25  # as above: the first run of each job cannot finish
    sweep_dir = tmp_path / "multirun"
    steps = [o for o in tiny_job_overrides(tiny_text_file, tmp_path / "unused", max_steps, step_s) if not o.startswith(("+callbacks.steps.log", "callbacks.last_checkpoint"))]
    command = [
        str(REPO / ".venv" / "bin" / "seqgen-train"), "-m", "hydra/launcher=submitit_slurm",
        *steps, f"paths.data_dir={tiny_text_data}", f"callbacks.last_checkpoint.every_n_steps={every}",
        "+callbacks.steps.log=${paths.output_dir}/steps.jsonl",
        f"hydra.launcher.partition={slurm_cluster.partition}", "hydra.launcher.timeout_min=3", "hydra.launcher.signal_delay_s=60",
        "hydra.launcher.gpus_per_node=null", "hydra.launcher.tasks_per_node=1", "hydra.launcher.cpus_per_task=1",
        f"hydra.sweep.dir={sweep_dir}", "resume=auto", "model.hidden_size=16,32",
    ]
    started = time.time()
    proc = subprocess.run(command, env=job_env(slurm_cluster), cwd=tmp_path, capture_output=True, text=True, timeout=16 * 60)
    elapsed = time.time() - started
    logs = "\n".join(f"--- {p}\n{tail(p, 30)}" for p in sorted(sweep_dir.glob(".submitit/*/*_log.*")))
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}\n{logs}"

    job_ids = sorted(p.name for p in (sweep_dir / ".submitit").iterdir() if p.is_dir() and "_" in p.name)  # <array>_<task>
    assert len(job_ids) == 2, job_ids  # one SLURM job (an array task) per multirun job
    requeues = 0
    for num, hidden in ((0, 16), (1, 32)):
        run_dir = sweep_dir / str(num)
        metrics = read_json(run_dir / "metrics.json")
        assert metrics["global_step"] == max_steps and metrics["preempted"] is False
        assert f"hidden_size: {hidden}" in (run_dir / "config_resolved.yaml").read_text()
        events = read_events(run_dir / "steps.jsonl")
        assert all(e["plugins"] == "SLURMEnvironment" and e["auto_requeue"] is False for e in events if e["event"] == "start")
        assert {e["job"] for e in events} == {job_ids[num]}  # this multirun job ran as this SLURM array task only
        by_segment = segments(events)
        batches = [e for seg in by_segment.values() for e in seg]
        # Every step up to max_steps was trained once: submitit's USR2 reached LastCheckpoint first,
        # which saved last.ckpt at the step boundary and then let submitit requeue the job (without
        # that hand-off the job would go back to the periodic last.ckpt, a multiple of `every`).
        assert sorted(e["step"] for e in batches) == list(range(1, max_steps + 1)), (num, sorted(by_segment))
        previous = None
        for restart, seg in by_segment.items():
            first, last = seg[0]["step"] - 1, seg[-1]["step"]
            if previous is not None:
                assert first == previous, (num, restart, first, previous)
                print(f"[figures] submitit job {num} requeue {restart}: stopped at step {previous}, resumed at {first} "
                      f"(steps lost: {previous - first}); last step -> first resumed step {seg[0]['time'] - prev_time:.1f} s")
            previous, prev_time = last, seg[-1]["time"]
        requeues += len(by_segment) - 1
        reference = reference_fingerprints(run_dir, world=1, epochs=max(e["epoch"] for e in batches) + 1)
        assert all(reference[(0, e["epoch"], e["batch_idx"])] == e["data"] for e in batches)
    assert requeues >= 1, "no job reached its time limit: raise max_steps"
    submitit_logs = "".join(p.read_text(errors="replace") for p in sweep_dir.glob(".submitit/*/*_log.*"))
    # Requeued by submitit only, once per time limit (its log repeats each message: count distinct ones).
    assert len(set(re.findall(r"Requeued job (\S+) \((\d+) remaining timeouts\)", submitit_logs))) == requeues
    assert "Handling auto-requeue signal" not in submitit_logs
    assert len(set(re.findall(r"\[(.+?)\]\[seqgen.training.callbacks\]\[WARNING\] handing signal 12", submitit_logs))) == requeues
    print(f"[figures] submitit multirun: 2 jobs, {requeues} requeues, {elapsed:.0f} s from seqgen-train -m to both done")
