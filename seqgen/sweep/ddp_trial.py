"""A sweep trial trained data-parallel (DDP) by several Ray Train workers.

Used when a definition's `resources_per_trial.workers` is above 1 (`cpu`/`gpu` are then per
worker; `gpu: 1` means GPU DDP over NCCL, `gpu: 0` CPU DDP over gloo). This is Ray's Train-inside-
Tune pattern (Ray Train V2): the Tune function trainable (`run_ddp_trial`, which holds no
resources itself) launches a `ray.train.torch.TorchTrainer` with `ScalingConfig(num_workers=N)`;
each worker composes the same train config as a single-process trial and runs the same
`seqgen.training.run.train`, with Lightning set up for Ray (`RayDDPStrategy`,
`RayLightningEnvironment`, `prepare_trainer`). The workers `ray.train.report` after every
validation (rank 0 attaches a Lightning checkpoint every `checkpoint_every` validations) and
`TuneReportCallback` hands rank 0's metrics to Tune, so ASHA sees them as for any trial.

The data pipeline splits shards by `trainer.global_rank`/`world_size`: no distributed sampler.
Rank 0 writes checkpoints and metrics.json (plus `world_size`); every rank writes
`workers/rank_<r>.json` (its rank, world size and last step) into the trial folder.
A retried trial continues from the Ray Train checkpoint (or the trial's checkpoints/last.ckpt).
"""

from __future__ import annotations

import json
import socket
import tempfile
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

from seqgen.io import write_json
from seqgen.errors import SeqgenError
from seqgen.sweep.trial import (
    TrialSetup,
    TuneReportCheckpoint,
    finish_wandb,
    finished_result,
    restore_checkpoint,
    trial_config,
    user_errors_end_the_trial,
    wandb_environment,
)
from seqgen.training.callbacks import AtomicCheckpointIO
from seqgen.training.resume import LAST_CKPT, resolve_run
from seqgen.training.run import train

TRAIN_RUN_NAME = "ray_train"  # Ray Train's run folder inside the trial folder
WORKERS_DIR = "workers"
# The Tune trial of a DDP trial only launches the TorchTrainer (whose controller asks for no CPU):
# it holds no CPU/GPU, so the workers can use all of them. Tune refuses an empty resource request,
# hence a nominal 1 MiB of Ray's `memory` resource, which every node has.
DDP_DRIVER_RESOURCES = {"cpu": 0, "gpu": 0, "memory": 2**20}


def ddp_workers(resources: dict[str, Any]) -> int:
    """`resources_per_trial.workers` (1 when absent): the DDP world size of each trial."""
    try:
        workers = int(resources.get("workers") or 1)
    except (TypeError, ValueError) as err:
        raise SeqgenError(f"resources_per_trial.workers must be an integer >= 1, not {resources.get('workers')!r}") from err
    if workers < 1:
        raise SeqgenError(f"resources_per_trial.workers must be >= 1, not {workers}")
    return workers


class TrainReport(TuneReportCheckpoint):
    """`TuneReportCheckpoint` for a Ray Train worker: `ray.train.report` instead of `tune.report`.

    Every rank reports (the call is a barrier across workers); Ray keeps rank 0's metrics and
    rank 0's checkpoint. `trainer.save_checkpoint` is collective, so every rank calls it.
    """

    def __init__(self, metric: str, checkpoint_every: int, rank: int, world_size: int) -> None:
        super().__init__(metric, checkpoint_every)
        self.rank = rank
        self.world_size = world_size

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        from ray.train.lightning import prepare_trainer

        prepare_trainer(trainer)  # checks the strategy and cluster environment are Ray's

    def _report(self, trainer: pl.Trainer) -> None:
        if self._pending is None:
            return
        import ray.train

        metrics, self._pending = self._pending, None
        metrics["world_size"] = self.world_size
        self.validations += 1
        self.reports += 1
        if self.checkpoint_every and self.validations % self.checkpoint_every == 0:
            with tempfile.TemporaryDirectory(prefix="seqgen-train-") as folder:
                trainer.save_checkpoint(Path(folder) / LAST_CKPT)  # written by rank 0 only
                checkpoint = ray.train.Checkpoint.from_directory(folder) if self.rank == 0 else None
                ray.train.report(metrics, checkpoint=checkpoint)  # uploaded before it returns
        else:
            ray.train.report(metrics)


def ddp_trainer_overrides(use_gpu: bool) -> dict[str, Any]:
    """Lightning Trainer arguments for a Ray Train worker (one process, one device each)."""
    from ray.train.lightning import RayDDPStrategy, RayLightningEnvironment

    return {
        "strategy": RayDDPStrategy(),
        "plugins": [RayLightningEnvironment(), AtomicCheckpointIO()],
        "accelerator": "gpu" if use_gpu else "cpu",
        "devices": "auto",  # Ray gives each worker its own GPU (CUDA_VISIBLE_DEVICES)
        "num_nodes": 1,  # the world size comes from Ray's context, not from these
    }


def ddp_worker(config: dict[str, Any]) -> None:
    """One Ray Train worker: the trial's train config, trained as one DDP rank."""
    import ray.train

    context = ray.train.get_context()
    rank, world_size = context.get_world_rank(), context.get_world_size()
    setup: TrialSetup = config["setup"]
    trial_id: str = config["trial_id"]
    run_dir = setup.run_dir(trial_id)
    cfg = trial_config(setup, config["params"], trial_id, run_dir)
    wandb_environment(cfg, run_dir)
    # Every rank restores (atomic per-rank temp file: ranks sharing a folder may all do it; on nodes
    # without shared storage each needs its own copy).
    restore_checkpoint(ray.train.get_checkpoint(), run_dir)
    reporter = TrainReport(setup.metric, setup.checkpoint_every, rank, world_size)
    try:
        result = train(cfg, run_dir, extra_callbacks=[reporter], checkpoint=resolve_run(cfg, [])[2], trainer_overrides=ddp_trainer_overrides(bool(config["use_gpu"])))
    except BaseException:
        finish_wandb(exit_code=1)
        raise
    finish_wandb(exit_code=0)
    (run_dir / WORKERS_DIR).mkdir(parents=True, exist_ok=True)
    write_json(
        run_dir / WORKERS_DIR / f"rank_{rank}.json",
        {"rank": rank, "world_size": world_size, "global_step": result.get("global_step"), "reports": reporter.reports, "host": socket.gethostname()},
    )
    metrics_file = run_dir / "metrics.json"
    if rank == 0 and metrics_file.exists():
        write_json(metrics_file, {**json.loads(metrics_file.read_text()), "world_size": world_size})


def run_ddp_trial(params: dict[str, Any], setup: TrialSetup, workers: int, cpus_per_worker: float, gpus_per_worker: float) -> None:
    """The Ray Tune trainable (function API) of a DDP trial: a TorchTrainer of `workers` workers."""
    from ray import tune

    trial_id = tune.get_context().get_trial_id()
    run_dir = setup.run_dir(trial_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    done = finished_result(run_dir, setup.metric)
    if done is not None:  # trained to the end before the sweep was interrupted: not again
        tune.report(done)
        return
    with user_errors_end_the_trial(run_dir):
        _fit_workers(setup, params, trial_id, run_dir, workers, cpus_per_worker, gpus_per_worker)


def _fit_workers(setup: TrialSetup, params: dict[str, Any], trial_id: str, run_dir: Path, workers: int, cpus_per_worker: float, gpus_per_worker: float) -> None:
    import ray.train
    from ray.train.torch import TorchConfig, TorchTrainer
    from ray.tune.integration.ray_train import TuneReportCallback

    use_gpu = gpus_per_worker > 0
    resources = {"CPU": float(cpus_per_worker)}
    if use_gpu:
        resources["GPU"] = float(gpus_per_worker)
    trainer = TorchTrainer(
        ddp_worker,
        train_loop_config={"setup": setup, "params": dict(params), "trial_id": trial_id, "use_gpu": use_gpu},
        torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
        scaling_config=ray.train.ScalingConfig(num_workers=int(workers), use_gpu=use_gpu, resources_per_worker=resources),
        run_config=ray.train.RunConfig(
            name=TRAIN_RUN_NAME,
            storage_path=str(run_dir),
            callbacks=[TuneReportCallback()],  # rank 0's ray.train.report -> this Tune trial's results
            failure_config=ray.train.FailureConfig(max_failures=0),  # retries are Tune's (max_failures)
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=1),
        ),
    )
    trainer.fit()
    reports = [p for p in (run_dir / WORKERS_DIR).glob("rank_*.json")]
    if not any(json.loads(p.read_text()).get("reports") for p in reports) and not (run_dir / "metrics.json").exists():
        raise SeqgenError(
            f"trial {trial_id} never validated, so it has no '{setup.metric}': "
            "train for at least one epoch (trainer.max_steps >= data.datamodule.batches_per_epoch)"
        )
