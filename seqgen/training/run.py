"""One training run from a composed config: the code path shared by train, sweeps and clusters."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from pytorch_lightning.utilities.exceptions import SIGTERMException

from seqgen.core.checkpoints import read_checkpoint
from seqgen.core.datamodule import ShardDataModule
from seqgen.core.family import family_of, get_family
from seqgen.core.module import SeqModule
from seqgen.data.identity import check_data_identity, data_identity
from seqgen.errors import SeqgenError
from seqgen.io import atomic_write, write_json
from seqgen.provenance import record_files
from seqgen.training.callbacks import AtomicCheckpointIO, cluster_plugins
from seqgen.training.loggers import build_loggers, log_media
from seqgen.training.resume import resume_checkpoint
from seqgen.training.run_lock import run_folder_lock
from seqgen.training.threads import apply_thread_policy, thread_calibration_callback
from seqgen.validate import validate_config

log = logging.getLogger(__name__)

# Exit status of a run stopped by SIGTERM/SIGUSR1 after saving last.ckpt: EX_TEMPFAIL (sysexits.h),
# "temporary failure, try again". Schedulers requeue on it (cluster/slurm/train.sbatch; Kubernetes
# podFailurePolicy onExitCodes [75]); `resume=auto` then continues from the checkpoint.
PREEMPTED_EXIT_CODE = 75
# The run folder's files that name classes to build: eval reads the first, resume=<run> the second.
RUN_CONFIG_FILES = ("config_resolved.yaml", ".hydra/overrides.yaml")


def build_datamodule(cfg: DictConfig) -> ShardDataModule:
    datamodule = instantiate(cfg.data.datamodule)
    datamodule.load_info()
    return datamodule


def model_class(cfg: DictConfig) -> type[SeqModule]:
    """The configured model's class (`model._target_`, a `SeqModule` subclass), imported, not built."""
    target = str(cfg.model.get("_target_"))
    try:
        cls = get_class(target)
    except Exception as err:  # Hydra wraps the import error
        raise SeqgenError(f"model._target_={target} cannot be imported ({err}); pick a model= config") from None
    if not (isinstance(cls, type) and issubclass(cls, SeqModule)):
        raise SeqgenError(f"model._target_ {target} is not a seqgen model")
    return cls


def build_model(cfg: DictConfig, data_info: dict[str, Any]) -> SeqModule:
    """The configured module; `model.*` keys of the family's callbacks (`Family.callback_keys`) are not its arguments."""
    optim = OmegaConf.to_container(cfg.optim, resolve=True)
    cls = model_class(cfg)
    check_model_data(cls, data_info)
    model_cfg = {k: v for k, v in OmegaConf.to_container(cfg.model, resolve=True).items() if k not in get_family(cls.family).callback_keys}
    model = instantiate(model_cfg, data_info=data_info, optim=optim, _recursive_=False, _convert_="all")
    if not isinstance(model, SeqModule):
        raise SeqgenError(f"model._target_ {cfg.model._target_} is not a seqgen model")
    return model


def check_model_data(cls: type[SeqModule], data_info: dict[str, Any]) -> None:
    """Refuse a model of one family on another family's data before building it (a KeyError or
    TypeError from deep inside the model's constructor otherwise)."""
    data_family = data_info.get("family")
    if data_family is not None and data_family not in cls.reads_families():
        raise SeqgenError(
            f"model {cls.__name__} is a '{cls.family}' model and cannot train on '{data_family}' data: "
            f"pick a model= and a data= of the same family (a '{data_family}' model, or '{cls.family}' data)"
        )


def build_callbacks(cfg: DictConfig, model: SeqModule, has_logger: bool = True) -> list[pl.Callback]:
    """The family's callbacks first (metrics they log, e.g. val/cer, are there for the checkpoint and
    sweep callbacks to read), then the configured ones."""
    callbacks = list(family_of(model).callbacks(cfg))
    for name, cb_cfg in (cfg.get("callbacks") or {}).items():
        if cb_cfg is None or (name == "progress" and not cfg.trainer.get("enable_progress_bar", True)):
            continue
        if "LearningRateMonitor" in str(cb_cfg.get("_target_")) and not has_logger:
            continue  # logger=none: nothing to monitor into
        if name == "model_checkpoint":  # the best checkpoint follows the model's own metric
            callbacks.append(instantiate(cb_cfg, monitor=cb_cfg.get("monitor") or model.monitor))
        else:
            callbacks.append(instantiate(cb_cfg))
    return callbacks


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
    pl.seed_everything(int(cfg.seed), workers=True, verbose=False)
    if cfg.get("float32_matmul_precision"):
        torch.set_float32_matmul_precision(cfg.float32_matmul_precision)
    datamodule = build_datamodule(cfg)
    if checkpoint:
        check_data_identity(read_checkpoint(checkpoint)["seqgen"].get("data"), datamodule.info, datamodule.data_dir, "resume", "data.datamodule.data_dir")
    model = build_model(cfg, datamodule.info)
    model.data_identity = data_identity(datamodule.info)
    if cfg.get("compile"):
        model.compile_network()  # type: ignore[attr-defined]
    threads, calibration = thread_policy(cfg, model)
    trainer = build_trainer(cfg, model, run_dir, [*calibration, *(extra_callbacks or [])], trainer_overrides)
    # Written only now that every check passed: a refused resume leaves the run folder as it was.
    atomic_write(run_dir / "config_resolved.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    # Signed digests of the files that decide what a later eval or resume builds (seqgen.provenance):
    # this user's own run may name its own classes there; a copied or edited folder only seqgen's.
    record_files(run_dir, [(name, run_dir / name) for name in RUN_CONFIG_FILES])
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
        "threads": threads,
        "best_checkpoint": trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else None,
        "family": family_of(model).name,
        "model_class": type(model).__name__,
        "fit_seconds": round(fit_seconds, 1),  # wall clock: depends on the machine's load
        "fit_cpu_seconds": round(fit_cpu_seconds, 1),  # this process's CPU time (workers not included)
    }
    if test_error:
        result["test_error"] = test_error
    if trainer.is_global_zero:
        write_json(run_dir / "metrics.json", result)  # first: a failing report cannot lose it
        if not preempted:
            try:
                result.update(end_of_run_figures(trainer, model, run_dir, datamodule, metrics))
            except SeqgenError as err:
                result["report_error"] = str(err)
                log.warning("end-of-run report skipped: %s", err)
            result["skipped_shards"] = datamodule.skipped_shards
            write_json(run_dir / "metrics.json", result)
    return result


def thread_policy(cfg: DictConfig, model: SeqModule) -> tuple[dict[str, Any], list[pl.Callback]]:
    """`num_threads` applied (seqgen/training/threads.py): the record for metrics.json, and the
    start-up calibration callback when `auto` leaves the choice to the first batch."""
    trainer_cfg = OmegaConf.to_container(cfg.trainer, resolve=True)
    batch_size = OmegaConf.select(cfg, "data.datamodule.batch_size", default=None)
    decision = apply_thread_policy(cfg.get("num_threads"), model, batch_size, trainer_cfg)  # type: ignore[arg-type]
    record = decision.record()
    return record, [thread_calibration_callback(decision, record)] if decision.calibrate else []


def end_of_run_figures(trainer: pl.Trainer, model: SeqModule, run_dir: Path, datamodule: ShardDataModule, metrics: dict[str, float]) -> dict[str, Any]:
    """The family's figures and report (metrics.json entries); its media files go to the loggers."""
    family = family_of(model)
    figures = family.figures(model, run_dir, datamodule, metrics)
    log_media(trainer.loggers, {f"{family.name}/{k}": v for k, v in figures.items() if isinstance(v, Path)}, trainer.global_step)
    return {key: str(value) if isinstance(value, Path) else value for key, value in figures.items()}
