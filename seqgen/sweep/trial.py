"""One sweep trial: compose the train config with Hydra, then `seqgen.training.run.train` it.

Runs inside a Ray Tune worker. The trial reports the validation metrics to Tune after every
validation (so ASHA can stop it) and hands Tune a Lightning checkpoint, so a crashed trial is
retried from where it was and an interrupted sweep resumes its unfinished trials.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytorch_lightning as pl
from omegaconf import DictConfig, open_dict

from seqgen._config import config_dir
from seqgen.errors import SeqgenError, find_user_error
from seqgen.io import atomic_path, atomic_write
from seqgen.sweep.spec import params_to_overrides
from seqgen.training.resume import LAST_CKPT, resolve_run
from seqgen.training.run import final_metrics, train

# Every trial logs to W&B (offline unless the config says otherwise) and skips the test split:
# a sweep selects on validation data. `base` and `trial_overrides` come after, so they may change both.
FIXED_OVERRIDES = ["logger=wandb", "test=false"]
# A trial that fails on a problem the user must fix (a SeqgenError) writes its message here and
# ends without raising: a retry would fail the same way, and the driver reads it (runner.TrialEvents).
USER_ERROR_FILE = "seqgen_error.txt"


@dataclass
class TrialSetup:
    """Everything a trial needs, shipped to the Ray workers (plain data, pickled by Ray)."""

    sweep_name: str
    sweep_dir: str
    metric: str
    base: list[str]
    extra: list[str] = field(default_factory=list)  # `trial_overrides` of the command line
    paths: dict[str, str] = field(default_factory=dict)  # absolute root_dir, data_dir, log_dir
    checkpoint_every: int = 1

    def overrides(self, params: dict[str, Any]) -> list[str]:
        """The train overrides of one trial: enough to rerun it with `seqgen-train`."""
        return [*FIXED_OVERRIDES, *self.base, *params_to_overrides(params), *self.extra]

    def run_dir(self, trial_id: str) -> Path:
        return Path(self.sweep_dir) / trial_dirname(trial_id)


def trial_dirname(trial_id: str) -> str:
    return f"trial_{trial_id}"


def compose_train(overrides: list[str]) -> DictConfig:
    """The train config for these overrides, through Hydra's compose API."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    try:
        if GlobalHydra.instance().is_initialized():  # inside a Hydra app with the same conf/ (the sweep driver)
            return compose(config_name="train", overrides=overrides)
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3", job_name="sweep_trial"):
            return compose(config_name="train", overrides=overrides)
    except Exception as err:  # Hydra's errors name the bad override; keep them, on one line
        message = " ".join(str(err).split())
        raise SeqgenError(f"the train config does not compose with overrides {overrides}: {message}") from err


def trial_config(setup: TrialSetup, params: dict[str, Any], trial_id: str, run_dir: Path) -> DictConfig:
    cfg = compose_train(setup.overrides(params))
    with open_dict(cfg):
        # Absolute paths from the driver: Ray workers run in their own working directories.
        for key, value in setup.paths.items():
            cfg.paths[key] = value
        cfg.paths.output_dir = str(run_dir)
        cfg.resume = "auto"  # a retried trial continues from checkpoints/last.ckpt
        cfg.trainer.enable_progress_bar = False  # several trials share one console
        cfg.trainer.enable_model_summary = False
        if "progress" in (cfg.get("callbacks") or {}):
            cfg.callbacks.progress = None
        wandb = (cfg.get("logger") or {}).get("wandb")
        if wandb is not None:
            wandb.group = setup.sweep_name
            wandb.name = trial_id
            wandb.tags = [*(wandb.get("tags") or []), f"sweep:{setup.sweep_name}"]
        # The trial's hyperparameters, in config_resolved.yaml and in the W&B run config (which
        # holds the whole resolved config).
        cfg.sweep = {"name": setup.sweep_name, "trial_id": trial_id, "params": dict(params)}
    return cfg


def wandb_environment(cfg: DictConfig, run_dir: Path) -> None:
    """W&B writes into the trial folder and needs no API key while offline."""
    wandb = (cfg.get("logger") or {}).get("wandb")
    if wandb is None:
        return
    if wandb.get("offline", True):
        os.environ["WANDB_MODE"] = "offline"
    os.environ["WANDB_SILENT"] = "true"
    os.environ["WANDB_DIR"] = str(run_dir)
    # The run file is flushed every 15 s by default; ASHA may stop (kill) a trial at any report,
    # so flush often enough that a stopped trial's W&B run keeps (nearly) all it logged.
    os.environ.setdefault("WANDB_X_TRANSACTION_LOG_FLUSH_INTERVAL", "2")


def finish_wandb(exit_code: int) -> None:
    """Close the trial's W&B run: a Ray worker does not exit through the atexit hook that would."""
    import sys

    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        try:
            wandb.finish(exit_code=exit_code)
        except Exception:  # logging must never fail a trial
            pass


class TuneReportCheckpoint(pl.Callback):
    """After every validation: `tune.report` the metrics, with a Lightning checkpoint attached.

    The checkpoint goes through `ray.tune.Checkpoint` so Tune persists it in the trial folder and
    hands it back (`tune.get_checkpoint()`) when a crashed trial is retried or a sweep resumed.
    The report is sent at the end of the training epoch, after ModelCheckpoint has saved: when
    ASHA stops a trial, it stops it inside `tune.report`, and the trial's best checkpoint must
    already be on disk by then.
    """

    def __init__(self, metric: str, checkpoint_every: int = 1) -> None:
        self.metric = metric
        self.checkpoint_every = max(0, int(checkpoint_every))
        self.validations = 0
        self.reports = 0
        self._pending: dict[str, Any] | None = None

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        metrics: dict[str, Any] = final_metrics(trainer)
        if self.metric not in metrics:
            raise SeqgenError(
                f"the sweep metric '{self.metric}' was not logged at validation (logged: {', '.join(sorted(metrics)) or 'nothing'}); "
                "set the sweep's metric to one of these"
            )
        self._pending = {**metrics, "step": trainer.global_step, "epoch": trainer.current_epoch}

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._report(trainer)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._report(trainer)  # a validation not followed by an epoch end (val_check_interval)

    def _report(self, trainer: pl.Trainer) -> None:
        if self._pending is None:
            return
        from ray import tune

        metrics, self._pending = self._pending, None
        self.validations += 1
        self.reports += 1
        try:
            if self.checkpoint_every and self.validations % self.checkpoint_every == 0:
                with tempfile.TemporaryDirectory(prefix="seqgen-tune-") as folder:
                    trainer.save_checkpoint(Path(folder) / LAST_CKPT)
                    tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))  # copied before it returns
            else:
                tune.report(metrics)
        except SystemExit:  # Tune stops this trial (ASHA): close the W&B run before the worker goes
            finish_wandb(exit_code=0)
            raise


def restore_checkpoint(checkpoint: Any, run_dir: Path) -> bool:
    """Put Tune's checkpoint where `resume=auto` looks for it. Returns whether there was one.

    Tune's copy wins over a newer periodic last.ckpt: it matches Tune's iteration count (ASHA's
    clock), and on a cluster the retry may run on a node that never saw this trial's folder.
    """
    if checkpoint is None:
        return False
    target = run_dir / "checkpoints" / LAST_CKPT
    with checkpoint.as_directory() as folder:
        source = Path(folder) / LAST_CKPT
        if not source.exists():
            return False
        with atomic_path(target) as tmp:  # a unique temp name: ranks sharing the folder may all do this
            shutil.copyfile(source, tmp)
    return True


def finished_result(run_dir: Path, metric: str) -> dict[str, Any] | None:
    """The final metrics of a trial whose training already ended (its metrics.json, not preempted).

    A sweep killed right after a trial finished may not have recorded that in Tune's experiment
    state yet; on restore Tune starts the trial again. Its run folder knows better.
    """
    path = Path(run_dir) / "metrics.json"
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    metrics = record.get("metrics") or {}
    if record.get("preempted") or metric not in metrics:
        return None
    return {**metrics, "step": record.get("global_step"), "epoch": record.get("epoch"), "restored_finished": True}


def user_error_of(err: BaseException) -> SeqgenError | None:
    """The SeqgenError behind `err`, also inside a Ray Train failure (one error per worker)."""
    found = find_user_error(err)
    for failure in (getattr(err, "worker_failures", None) or {}).values():
        found = found or find_user_error(failure)
    return found


def read_user_error(run_dir: Path) -> str | None:
    path = Path(run_dir) / USER_ERROR_FILE
    return path.read_text().strip() if path.exists() else None


@contextlib.contextmanager
def user_errors_end_the_trial(run_dir: Path) -> Iterator[None]:
    """A SeqgenError ends the trial without a retry (its message in USER_ERROR_FILE); any other
    error is raised, and Tune retries the trial from its last checkpoint."""
    (Path(run_dir) / USER_ERROR_FILE).unlink(missing_ok=True)
    try:
        yield
    except Exception as err:
        user_error = user_error_of(err)
        if user_error is None:
            raise
        atomic_write(Path(run_dir) / USER_ERROR_FILE, str(user_error))


def run_trial(params: dict[str, Any], setup: TrialSetup) -> None:
    """The Ray Tune trainable (function API)."""
    from ray import tune

    trial_id = tune.get_context().get_trial_id()
    run_dir = setup.run_dir(trial_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    with user_errors_end_the_trial(run_dir):
        _run_trial(params, setup, trial_id, run_dir)


def _run_trial(params: dict[str, Any], setup: TrialSetup, trial_id: str, run_dir: Path) -> None:
    from ray import tune

    done = finished_result(run_dir, setup.metric)
    if done is not None:  # trained to the end before the sweep was interrupted: not again
        tune.report(done)
        return
    cfg = trial_config(setup, params, trial_id, run_dir)
    wandb_environment(cfg, run_dir)
    restored = restore_checkpoint(tune.get_checkpoint(), run_dir)
    reporter = TuneReportCheckpoint(setup.metric, setup.checkpoint_every)
    try:
        result = train(cfg, run_dir, extra_callbacks=[reporter], checkpoint=resolve_run(cfg, [])[2])
    except BaseException:
        finish_wandb(exit_code=1)
        raise
    finish_wandb(exit_code=0)
    if not reporter.reports and not restored:
        raise SeqgenError(
            f"trial {trial_id} never validated (stopped at step {result.get('global_step')}), so it has no '{setup.metric}': "
            "train for at least one epoch (trainer.max_steps >= data.datamodule.batches_per_epoch)"
        )
