"""One training run from a composed config: the code path shared by train, sweeps and clusters."""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from pytorch_lightning.utilities.exceptions import SIGTERMException

from seqgen.data.datamodule import ShardDataModule
from seqgen.data.identity import check_data_identity, data_identity
from seqgen.errors import SeqgenError
from seqgen.training.checkpoints import read_checkpoint
from seqgen.families.base import family_of
from seqgen.io import atomic_write, write_json
from seqgen.training.module import SeqModule
from seqgen.training.resume import resume_checkpoint
from seqgen.training.callbacks import AtomicCheckpointIO, cluster_plugins
from seqgen.training.loggers import build_loggers
from seqgen.training.run_lock import run_folder_lock
from seqgen.validate import validate_config

log = logging.getLogger(__name__)

# Exit status of a run stopped by SIGTERM/SIGUSR1 after saving last.ckpt: EX_TEMPFAIL (sysexits.h),
# "temporary failure, try again". Schedulers requeue on it (cluster/slurm/train.sbatch; Kubernetes
# podFailurePolicy onExitCodes [75]); `resume=auto` then continues from the checkpoint.
PREEMPTED_EXIT_CODE = 75


def build_datamodule(cfg: DictConfig) -> ShardDataModule:
    datamodule = instantiate(cfg.data.datamodule)
    datamodule.load_info()
    return datamodule


def build_model(cfg: DictConfig, data_info: dict[str, Any]) -> SeqModule:
    from seqgen.eval.legibility import split_model_config

    optim = OmegaConf.to_container(cfg.optim, resolve=True)
    model_cfg, _ = split_model_config(OmegaConf.to_container(cfg.model, resolve=True))  # minus model.recognizer
    model = instantiate(model_cfg, data_info=data_info, optim=optim, _recursive_=False, _convert_="all")
    if not isinstance(model, SeqModule):
        raise SeqgenError(f"model._target_ {cfg.model._target_} is not a seqgen model")
    return model


def build_callbacks(cfg: DictConfig, model: SeqModule, has_logger: bool = True) -> list[pl.Callback]:
    callbacks = []
    for name, cb_cfg in (cfg.get("callbacks") or {}).items():
        if cb_cfg is None or (name == "progress" and not cfg.trainer.get("enable_progress_bar", True)):
            continue
        if "LearningRateMonitor" in str(cb_cfg.get("_target_")) and not has_logger:
            continue  # logger=none: nothing to monitor into
        if name == "model_checkpoint":  # the best checkpoint follows the model's own metric
            callbacks.append(instantiate(cb_cfg, monitor=cb_cfg.get("monitor") or model.monitor))
        else:
            callbacks.append(instantiate(cb_cfg))
    # model.recognizer=<run>: logs val/cer or val/per before the checkpoint and sweep callbacks read it
    return family_of(model).callbacks(cfg, model) + callbacks


def build_trainer(
    cfg: DictConfig,
    model: SeqModule,
    run_dir: Path,
    extra_callbacks: list[pl.Callback] | None = None,
    trainer_overrides: dict[str, Any] | None = None,
) -> pl.Trainer:
    """`trainer_overrides`: Trainer arguments that replace the config's and the defaults below
    (e.g. a Ray Train worker's strategy and plugins, seqgen/sweep/ddp_trial.py)."""
    config = OmegaConf.to_container(cfg, resolve=True)
    loggers = build_loggers(cfg.get("logger"), run_dir, run_config=config)  # type: ignore[arg-type]
    clip = cfg.optim.get("grad_clip") or {}
    trainer_cfg = OmegaConf.to_container(cfg.trainer, resolve=True)
    callbacks = build_callbacks(cfg, model, has_logger=bool(loggers)) + list(extra_callbacks or [])
    kwargs: dict[str, Any] = dict(
        logger=loggers or False,
        callbacks=callbacks,
        plugins=[AtomicCheckpointIO(), *cluster_plugins(callbacks)],  # SLURM: the signal is LastCheckpoint's
        default_root_dir=str(run_dir),
        gradient_clip_val=clip.get("value"),
        gradient_clip_algorithm=clip.get("algorithm", "norm"),
        use_distributed_sampler=False,  # shards are split per rank by the data pipeline
    )
    if trainer_overrides:
        for key in trainer_overrides:
            trainer_cfg.pop(key, None)  # type: ignore[union-attr]
        kwargs.update(trainer_overrides)
    return instantiate(trainer_cfg, **kwargs)


def final_metrics(trainer: pl.Trainer) -> dict[str, float]:
    metrics = {}
    for key, value in trainer.callback_metrics.items():
        number = float(value.item() if isinstance(value, torch.Tensor) else value)
        if math.isfinite(number):
            metrics[key] = number
    return metrics


def train(
    cfg: DictConfig,
    run_dir: Path,
    extra_callbacks: list[pl.Callback] | None = None,
    trainer_overrides: dict[str, Any] | None = None,
    checkpoint: Path | None = None,
) -> dict[str, Any]:
    """Fit (and optionally test) the configured model; writes checkpoints, samples and metrics.json.

    `checkpoint`: continue from it (`seqgen.training.resume.resolve_run` decides which; a caller
    that did not resolve and passes a config with resume=auto gets the run's newest readable
    checkpoint, as the CLI would).
    Holds the run folder's lock (`run_folder_lock`) throughout: no two live runs share a folder.
    """
    validate_config(cfg, "train")
    run_dir = Path(run_dir)
    if checkpoint is None and cfg.get("resume") == "auto":
        checkpoint = resume_checkpoint(run_dir)  # callers that pass no checkpoint keep resume=auto working
    with run_folder_lock(run_dir):
        return _train(cfg, run_dir, extra_callbacks, trainer_overrides, checkpoint)


def _train(
    cfg: DictConfig,
    run_dir: Path,
    extra_callbacks: list[pl.Callback] | None,
    trainer_overrides: dict[str, Any] | None,
    checkpoint: Path | None,
) -> dict[str, Any]:
    atomic_write(run_dir / "config_resolved.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    pl.seed_everything(int(cfg.seed), workers=True, verbose=False)
    if cfg.get("float32_matmul_precision"):
        torch.set_float32_matmul_precision(cfg.float32_matmul_precision)
    datamodule = build_datamodule(cfg)
    if checkpoint:
        check_data_identity(read_checkpoint(checkpoint)["seqgen"].get("data"), datamodule.info, datamodule.data_dir, "resume")
    model = build_model(cfg, datamodule.info)
    model.data_identity = data_identity(datamodule.info)
    if cfg.get("compile"):
        model.compile_network()  # type: ignore[attr-defined]
    trainer = build_trainer(cfg, model, run_dir, extra_callbacks, trainer_overrides)
    ckpt_path = str(checkpoint) if checkpoint else None
    if ckpt_path:
        log.info("resuming from %s", ckpt_path)
    started, cpu_started = time.perf_counter(), time.process_time()
    # Checkpoints hold tensors and plain values only: nothing in them can run code.
    try:
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    except SIGTERMException:
        # Lightning ends the fit loop on SIGTERM; LastCheckpoint has saved last.ckpt just before.
        trainer.preempted = True  # type: ignore[attr-defined]
    fit_seconds, fit_cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    metrics = final_metrics(trainer)
    preempted = getattr(trainer, "preempted", False)
    test_error = None
    if cfg.get("test") and not preempted and not trainer.interrupted:
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        try:
            trainer.test(model, datamodule=datamodule, ckpt_path=best or None, verbose=False, weights_only=True)
            metrics.update(final_metrics(trainer))
        except SeqgenError as err:  # e.g. every test shard corrupt: the trained run still gets its metrics.json
            test_error = str(err)
            log.warning("test skipped: %s", err)
    result = {
        "run_dir": str(run_dir),
        "global_step": trainer.global_step,
        "epoch": trainer.current_epoch,
        "metrics": metrics,
        "nonfinite_steps": model.nonfinite_steps,
        "skipped_shards": datamodule.skipped_shards,
        "preempted": bool(preempted),
        "best_checkpoint": trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else None,
        "fit_seconds": round(fit_seconds, 1),  # wall clock: depends on the machine's load
        "fit_cpu_seconds": round(fit_cpu_seconds, 1),  # this process's CPU time (workers not included)
    }
    if test_error:
        result["test_error"] = test_error
    if trainer.is_global_zero:
        write_json(run_dir / "metrics.json", result)  # first: a failing report cannot lose it
        if not preempted:
            try:
                result.update(family_of(model).figures(model, run_dir, datamodule, metrics) or {})
            except SeqgenError as err:
                result["report_error"] = str(err)
                log.warning("end-of-run report skipped: %s", err)
            result["skipped_shards"] = datamodule.skipped_shards
            write_json(run_dir / "metrics.json", result)
    return result


def apply_runtime_env(cfg: DictConfig) -> None:
    """Thread counts for CPU training: torch defaults to all cores, which oversubscribes workers."""
    threads = cfg.get("num_threads")
    if threads:
        torch.set_num_threads(int(threads))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
