"""Lightning DDP under Hydra on the CPU (2 processes, gloo): one run folder per run, checkpoints
from rank 0 only, resume to the same global step, and multiruns (`-m`) whose jobs each launch
their own ranks."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import torch

from conftest import BIN, REPO, read_json

from seqgen.training.hydra_ddp import single_run_argv

TRAIN = BIN / "seqgen-train"


def ddp_overrides(data_root: Path, log: Path) -> list[str]:
    return [
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        f"paths.data_dir={data_root}",
        "data=text_file",
        "logger=csv",
        "test=false",
        "model.hidden_size=16",
        "model.num_layers=1",
        "model.preview_length=10",
        "data.datamodule.segment_length=20",
        "data.datamodule.batch_size=4",
        "data.datamodule.eval_batch_size=8",
        "data.datamodule.batches_per_epoch=5",
        "data.datamodule.num_workers=0",
        "callbacks.last_checkpoint.every_n_steps=5",
        "callbacks.samples=null",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
        "callbacks.progress=null",
        "num_threads=1",
        "+callbacks.ranks._target_=ddp_hooks.RecordRanks",
        f"+callbacks.ranks.log={log}",
    ]


def seqgen_train(args: list[str], cwd: Path, timeout: int = 240) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "tests"), env.get("PYTHONPATH", "")])
    for key in ("LOCAL_RANK", "RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "SLURM_PROCID", "SLURM_NTASKS"):
        env.pop(key, None)  # a clean launch even when the tests run inside a cluster job
    proc = subprocess.run([str(TRAIN), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def events(log: Path) -> list[list[str]]:
    return [line.split() for line in log.read_text().splitlines()]


def test_single_run_argv_drops_the_sweep() -> None:
    argv = ["seqgen-train", "-m", "-cn", "train", "model.hidden_size=8,16", "hydra.sweep.dir=/s", "seed=1"]
    assert single_run_argv(argv, ["model.hidden_size=16", "seed=1"], ["hydra.mode=MULTIRUN", "hydra.sweep.dir=/s", "hydra.verbose=true"]) == [
        "seqgen-train",
        "-cn",
        "train",
        "hydra.verbose=true",
        "model.hidden_size=16",
        "seed=1",
    ]


def test_ddp_trains_rank0_checkpoints_and_resumes(tmp_path: Path, tiny_text_data: Path) -> None:
    log = tmp_path / "ranks.log"
    args = ddp_overrides(tiny_text_data, log)
    proc = seqgen_train([*args, "trainer.max_steps=10"], tmp_path)
    runs = list((tmp_path / "outputs" / "train" / "runs").iterdir())
    assert len(runs) == 1, runs  # rank 1 reuses rank 0's folder
    run = runs[0]
    assert not (run / ".hydra" / "overrides.yaml").read_text().count("train_ddp_process")
    assert (run / "train_ddp_process_1.log").exists()  # rank 1's log, in the same folder
    assert proc.stdout.count("training finished") == 1  # one summary, from rank 0

    first = events(log)
    assert sorted((e[1], e[2], e[3]) for e in first if e[0] == "start") == [("0", "0", "2"), ("1", "0", "2")]
    writers = {e[1] for e in first if e[0] == "write"}
    assert writers == {"0"}, first
    assert read_json(run / "metrics.json")["global_step"] == 10
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 10

    log.unlink()
    # The run's saved config already holds the DDP settings (and the recording callback).
    seqgen_train([f"resume={run}", "trainer.max_steps=20"], tmp_path)
    second = events(log)
    # Both ranks continue from the checkpoint's step, and rank 0 alone writes.
    assert sorted((e[1], e[2]) for e in second if e[0] == "start") == [("0", "10"), ("1", "10")]
    assert {e[1] for e in second if e[0] == "write"} == {"0"}
    assert read_json(run / "metrics.json")["global_step"] == 20
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 20


def test_ddp_multirun_each_job_launches_its_own_ranks(tmp_path: Path, tiny_text_data: Path) -> None:
    log = tmp_path / "ranks.log"
    sweep_dir = tmp_path / "multi"
    args = [*ddp_overrides(tiny_text_data, log), "model.hidden_size=8,16", f"hydra.sweep.dir={sweep_dir}"]
    proc = seqgen_train(["-m", *args, "trainer.max_steps=5"], tmp_path, timeout=300)
    assert proc.stdout.count("training finished") == 2
    assert proc.stderr.count("Launching 2 jobs") + proc.stdout.count("Launching 2 jobs") == 1  # the children do not sweep
    assert sorted(p.name for p in sweep_dir.iterdir()) == ["0", "1", "multirun.yaml"]
    assert not (tmp_path / "outputs").exists()  # no stray folders from the ranks
    for job, hidden in (("0", 8), ("1", 16)):
        assert read_json(sweep_dir / job / "metrics.json")["global_step"] == 5
        saved = torch.load(sweep_dir / job / "checkpoints" / "last.ckpt", weights_only=False)
        assert saved["hyper_parameters"]["hidden_size"] == hidden  # both ranks ran this job's config
    starts = [e for e in events(log) if e[0] == "start"]
    assert len(starts) == 4 and all(e[3] == "2" for e in starts)

    # Resume: the same sweep folder, resume=auto, a longer budget: every job continues.
    log.unlink()
    seqgen_train(["-m", *args, "trainer.max_steps=10", "resume=auto"], tmp_path, timeout=300)
    assert sorted((e[1], e[2]) for e in events(log) if e[0] == "start") == [("0", "5"), ("0", "5"), ("1", "5"), ("1", "5")]
    for job in ("0", "1"):
        assert read_json(sweep_dir / job / "metrics.json")["global_step"] == 10


@pytest.mark.slow
def test_ddp_resume_matches_an_uninterrupted_run(tmp_path: Path, tiny_text_data: Path) -> None:
    """Stopping at step 10 and resuming to 20 gives the same model as training to 20 at once."""
    args = ddp_overrides(tiny_text_data, tmp_path / "ranks.log")
    seqgen_train([*args, "trainer.max_steps=20", "hydra.run.dir=straight"], tmp_path)
    seqgen_train([*args, "trainer.max_steps=10", "hydra.run.dir=split"], tmp_path)
    seqgen_train([f"resume={tmp_path / 'split'}", "trainer.max_steps=20"], tmp_path)
    straight = torch.load(tmp_path / "straight" / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    split = torch.load(tmp_path / "split" / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    for key, value in straight.items():
        torch.testing.assert_close(split[key], value, msg=key)
