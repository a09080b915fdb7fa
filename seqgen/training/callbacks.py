"""Lightning callbacks of the platform: throughput, samples, preemption, atomic checkpoints."""

from __future__ import annotations

import logging
import signal
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from pytorch_lightning.callbacks import Callback, Timer

from seqgen.core.module import SeqModule
from seqgen.io import atomic_open
from seqgen.training.loggers import log_media

log = logging.getLogger(__name__)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints are written atomically (`seqgen.io.atomic_path`): a kill mid-write never corrupts one."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        # Into a file object, so that a failed write (full disk) keeps its OSError under torch's
        # "unexpected pos" error, and atomic_open names the folder and the reason.
        with atomic_open(path, "wb") as handle:
            torch.save(checkpoint, handle)


class Throughput(Callback):
    """Logs `train/<unit>_per_sec` (characters, points, frames...) from the model's `batch_units`."""

    def __init__(self) -> None:
        self._start = 0.0

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int) -> None:
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        elapsed = time.perf_counter() - self._start
        if not isinstance(pl_module, SeqModule) or elapsed <= 0:
            return
        pl_module.log(f"train/{pl_module.unit_name}_per_sec", pl_module.batch_units(batch) / elapsed, on_step=True, prog_bar=True, batch_size=1)


class SampleLogger(Callback):
    """After each validation, asks the model's family for preview samples; saves and logs them.

    `Family.preview(model, datamodule, out_dir, tag)` returns text (str) or media file paths
    (Path); files go under `<run>/samples/`, everything to the loggers (`log_media`).
    """

    def __init__(self, out_dir: str, every_n_validations: int = 1) -> None:
        self.out_dir = Path(out_dir)
        self.every = max(1, every_n_validations)
        self._count = 0

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        self._count += 1
        if (self._count - 1) % self.every:
            return
        from seqgen.core.family import family_of

        self.out_dir.mkdir(parents=True, exist_ok=True)
        tag = f"step{trainer.global_step:07d}"
        samples = family_of(pl_module).preview(pl_module, trainer.datamodule, self.out_dir, tag)
        log_media(trainer.loggers, samples, trainer.global_step)


def cluster_plugins(callbacks: list[Callback]) -> list[Any]:
    """Trainer plugins that make `LastCheckpoint` the only owner of the preemption signal.

    Under SLURM, Lightning's default `SLURMEnvironment(auto_requeue=True)` installs its own SIGUSR1
    handler (saves `hpc_ckpt_*.ckpt` and runs `scontrol requeue`) next to ours: a job could be
    requeued twice (once by Lightning, once by the batch script / submitit) or killed between the
    two. The same environment with `auto_requeue=False` keeps the ranks from srun and leaves the
    signal to `LastCheckpoint` (save, stop) and the requeue to the launcher. The detection is
    Lightning's own (`SLURMEnvironment.detect`), so nothing changes outside SLURM; without a
    `LastCheckpoint` (callbacks.last_checkpoint=null) Lightning keeps its auto-requeue.
    """
    from lightning_fabric.plugins.environments import SLURMEnvironment

    ours = any(isinstance(cb, LastCheckpoint) for cb in callbacks)
    return [SLURMEnvironment(auto_requeue=False)] if ours and SLURMEnvironment.detect() else []


class LastCheckpoint(Callback):
    """Keeps `last.ckpt` fresh every `every_n_steps`, and on SIGTERM/SIGUSR1 (SLURM preemption,
    `scancel`, a kill) saves it and stops cleanly.

    The signal handler only sets a flag; the checkpoint is written between two training steps,
    so the saved state is consistent. A requeued job started with `resume=auto` continues from it.

    `handoff` signals belong to a launcher that already handles them: submitit's USR2 (sent
    `signal_delay_s` before the time limit) requeues the job and exits at once. Where such a
    handler is installed, LastCheckpoint takes the signal first, saves last.ckpt at the next step
    boundary and then calls that handler: the job is requeued once, by submitit, and loses no steps.
    """

    def __init__(
        self,
        dirpath: str,
        every_n_steps: int = 100,
        signals: tuple[str, ...] = ("SIGTERM", "SIGUSR1"),
        handoff: tuple[str, ...] = ("SIGUSR2",),
    ) -> None:
        self.dirpath = Path(dirpath)
        self.every_n_steps = every_n_steps
        self.signals = signals
        self.handoff = handoff
        self.requested = False
        self._previous: dict[int, Any] = {}
        self._handoff: dict[int, Any] = {}  # signal -> the launcher's handler, called after the save
        self._received: set[int] = set()

    def _handler(self, signum: int, frame: Any) -> None:
        log.warning("received signal %d: saving a checkpoint and stopping", signum)
        self.requested = True
        self._received.add(signum)

    @staticmethod
    def _late_warning(signum: int, frame: Any) -> None:
        log.warning("received signal %d after training ended: finishing the run", signum)

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        for name in (*self.signals, *self.handoff):
            signum = getattr(signal, name, None)
            if signum is None:
                continue
            if name in self.handoff and not callable(signal.getsignal(signum)):
                continue  # nobody handles it: leave it alone
            try:
                self._previous[signum] = signal.signal(signum, self._handler)
            except ValueError:  # not the main thread (e.g. inside some launchers)
                continue
            if name in self.handoff:
                self._handoff[signum] = self._previous[signum]

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        for signum, previous in self._previous.items():
            # A time-limit warning (SIGUSR1) after the fit comes too late to act on, and its default
            # action would kill the run while it writes metrics.json and its figures: note it instead.
            if signum == getattr(signal, "SIGUSR1", None) and previous in (signal.SIG_DFL, None):
                previous = self._late_warning
            try:
                signal.signal(signum, previous)
            except (ValueError, TypeError):
                pass
        self._previous.clear()
        self._handoff.clear()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        # Under DDP the signal may reach the ranks at different steps: agree first, so that all
        # ranks enter the (collective) checkpoint save together.
        if trainer.strategy.reduce_boolean_decision(self.requested, all=False):
            self._save_and_stop(trainer)
        elif (self.every_n_steps and trainer.global_step % self.every_n_steps == 0) or self._run_ends(trainer):
            # Saved here, not in on_train_end: there Lightning has already closed the epoch, and
            # a mid-epoch resume would restart at the wrong data position.
            trainer.save_checkpoint(self.dirpath / "last.ckpt")

    @staticmethod
    def _run_ends(trainer: pl.Trainer) -> bool:
        """True on the last step of a run ending on max_steps or max_time (so it can be extended)."""
        if trainer.should_stop or (trainer.max_steps > 0 and trainer.global_step >= trainer.max_steps):
            return True
        timer = next((cb for cb in trainer.callbacks if isinstance(cb, Timer)), None)
        remaining = timer.time_remaining() if timer is not None else None
        return remaining is not None and remaining <= 0

    def _save_and_stop(self, trainer: pl.Trainer) -> None:
        self.requested = False
        path = self.dirpath / "last.ckpt"
        trainer.save_checkpoint(path)
        log.warning("checkpoint saved to %s; stopping (resume with resume=auto or resume=<run dir>)", path)
        trainer.should_stop = True
        trainer.preempted = True  # type: ignore[attr-defined]
        received, self._received = self._received, set()
        for signum in sorted(received & set(self._handoff)):
            log.warning("handing signal %d on to the launcher's handler (%s)", signum, getattr(self._handoff[signum], "__qualname__", "?"))
            self._handoff[signum](signum, None)  # submitit: requeue the job, exit
