"""Test-only Lightning callback for the cluster tests, loaded by the training processes of a SLURM
job as `+callbacks.steps._target_=cluster_hooks.StepLog` (the tests put this folder on PYTHONPATH).

Appends one JSON line per event to a log shared by the ranks (short O_APPEND writes do not
interleave): `setup` (process up), `start` (global step, epoch and resume position on entering
the fit loop), `batch` (the global step it makes, epoch, batch index and a fingerprint of the batch's data),
`stop` (global step, whether a signal stopped it). Until the job has been requeued
`slow_restarts` times, each step is also slowed by `step_s` seconds, so that a run of a tiny model
outlasts its first SLURM time limit whatever the machine's speed, and then finishes quickly.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch


def fingerprint(batch: Any) -> str:
    """A short hash of every tensor in a (nested) batch: equal batches, equal fingerprints."""
    digest = hashlib.sha1()

    def visit(item: Any) -> None:
        if isinstance(item, torch.Tensor):
            digest.update(item.detach().cpu().contiguous().numpy().tobytes())
        elif isinstance(item, dict):
            for key in sorted(item):
                visit(item[key])
        elif isinstance(item, (list, tuple)):
            for value in item:
                visit(value)

    visit(batch)
    return digest.hexdigest()[:16]


class StepLog(pl.Callback):
    def __init__(self, log: str, step_s: float = 0.0, slow_restarts: int = 1) -> None:
        self.path = Path(log)
        restarts = int(os.environ.get("SLURM_RESTART_COUNT") or 0)
        self.step_s = step_s if restarts < slow_restarts else 0.0

    def _write(self, trainer: pl.Trainer, event: str, **fields: Any) -> None:
        array = os.environ.get("SLURM_ARRAY_JOB_ID")  # submitit submits a multirun as a job array
        job = f"{array}_{os.environ.get('SLURM_ARRAY_TASK_ID')}" if array else os.environ.get("SLURM_JOB_ID")
        record = {"event": event, "time": time.time(), "rank": trainer.global_rank, "job": job,
                  "restart": int(os.environ.get("SLURM_RESTART_COUNT") or 0), **fields}
        with open(self.path, "a") as handle:
            handle.write(json.dumps(record) + "\n")

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._write(trainer, "setup", pid=os.getpid())

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        datamodule = trainer.datamodule
        resume = getattr(datamodule, "_resume", None)
        environment = trainer._accelerator_connector.cluster_environment  # also for a single-device strategy
        self._write(trainer, "start", step=trainer.global_step, epoch=trainer.current_epoch, resume_position=list(resume) if resume else None,
                    plugins=type(environment).__name__, auto_requeue=getattr(environment, "auto_requeue", None))

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int) -> None:
        # Logged before the step (as the step it makes): a callback that ends the process at the
        # end of this batch (submitit's requeue after LastCheckpoint's save) cannot hide it.
        self._write(trainer, "batch", step=trainer.global_step + 1, epoch=trainer.current_epoch, batch_idx=batch_idx, data=fingerprint(batch))

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.step_s:
            time.sleep(self.step_s)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._write(trainer, "stop", step=trainer.global_step, preempted=bool(getattr(trainer, "preempted", False)))
