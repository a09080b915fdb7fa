"""Run a sweep with Ray Tune: Optuna (or random/grid) suggestions, ASHA early stopping, retries,
resume of an interrupted sweep, and a summary (best.json, trials.csv, trials.json).

The sweep folder is `${paths.log_dir}/sweep/<name>`; it is Ray Tune's experiment folder, and each
trial's run folder (checkpoints, W&B offline run, metrics.json) is `<sweep folder>/trial_<id>`.
Rerunning the same command restores the sweep from that folder: finished trials are kept, the
interrupted ones continue from their last checkpoint, and the searcher continues where it was.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import shlex
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from seqgen.io import atomic_open, write_json
from seqgen.errors import SeqgenError
from seqgen.validate import validate_config
from seqgen.sweep.ddp_trial import DDP_DRIVER_RESOURCES, ddp_workers, run_ddp_trial
from seqgen.sweep.processes import end_recorded_processes, record_ray_processes, sigterm_as_interrupt
from seqgen.sweep.spec import param_space, params_to_overrides, representative, trial_count, validate
from seqgen.sweep.trial import USER_ERROR_FILE, TrialSetup, read_user_error, run_trial, trial_config, trial_dirname
from seqgen.sweep.trust import record_state, recording_state, verify_sweep_folder
from seqgen.training.run import build_datamodule
from seqgen.training.threads import OPENMP_ENV, cpu_budget

log = logging.getLogger(__name__)

DEFINITION_FILE = "definition.json"
# Changing one of these changes which trials a sweep runs: such a sweep cannot be resumed.
IDENTITY_KEYS = ("base", "space", "metric", "mode", "num_samples", "search", "seed", "scheduler", "trial_overrides")


def say(message: str) -> None:
    print(f"[seqgen] {message}", flush=True)


# --- setup ----------------------------------------------------------------------------------------
def quiet_ray_environment(verbose: int) -> None:
    """Ray reads these at import / init: no usage-stats network call, fewer warnings."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    # Frequent small checkpoints of tiny models trigger a "snapshotting is a bottleneck" warning.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    # A trial that ends on a user error reports no metric, which Tune's strict check turns into a
    # crash of the whole sweep; the trials check the metric themselves (TuneReportCheckpoint).
    os.environ["TUNE_DISABLE_STRICT_METRIC_CHECKING"] = "1"
    # A failed trial is one line (TrialEvents: the reason), not a traceback wall per attempt;
    # the whole traceback stays in the trial's error.txt.
    os.environ.setdefault("TUNE_PRINT_ALL_TRIAL_ERRORS", "0")
    logging.getLogger("ray.tune.tune").setLevel(logging.CRITICAL)  # "Trials did not complete": the summary says it
    if verbose == 0:  # Ray's new console output prints a header even when silent; the legacy one does not
        os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # A local, single-user Ray: the note that token authentication is on is not actionable.
    logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
    # A trial the sweep cancelled before it ran has no results to read; the summary lists it as such.
    logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)


def init_ray(ray_cfg: DictConfig, address: str | None, cpus_per_trial: float, gpus_per_trial: float) -> None:
    import ray

    kwargs: dict[str, Any] = {
        "log_to_driver": bool(ray_cfg.get("log_to_driver", False)),
        "logging_level": logging.WARNING,
        "ignore_reinit_error": True,
    }
    if address:
        # A local Ray inherits this process's environment; an existing cluster's workers get the
        # OpenMP wait policy (seqgen/training/threads.py) through the job's runtime environment.
        ray.init(address=address, runtime_env={"env_vars": {k: os.environ.get(k, v) for k, v in OPENMP_ENV.items()}}, **kwargs)
        return
    num_cpus = int(ray_cfg.get("num_cpus") or cpu_budget(launcher=False)[0])  # the cores this process may use
    num_gpus = ray_cfg.get("num_gpus")
    if cpus_per_trial > num_cpus:
        raise SeqgenError(
            f"resources_per_trial.cpu={cpus_per_trial} but the local Ray has {num_cpus} CPUs: no trial could start; "
            "lower sweep.resources_per_trial.cpu or raise ray.num_cpus"
        )
    if gpus_per_trial:
        import torch

        available = num_gpus if num_gpus is not None else torch.cuda.device_count()
        if gpus_per_trial > available:  # Ray would keep the trials pending forever
            raise SeqgenError(
                f"resources_per_trial.gpu={gpus_per_trial} but this machine offers {available} GPU(s) to Ray: "
                "set sweep.resources_per_trial.gpu=0, or run on a GPU machine / cluster (sweep.address=...)"
            )
    ray.init(
        num_cpus=num_cpus,
        num_gpus=num_gpus,
        object_store_memory=ray_cfg.get("object_store_memory"),
        include_dashboard=False,
        **kwargs,
    )


def absolute_paths(cfg: DictConfig) -> dict[str, str]:
    return {key: str(Path(str(cfg.paths[key])).expanduser().resolve()) for key in ("root_dir", "data_dir", "log_dir")}


def default_max_t(train_cfg: DictConfig, grace_period: int) -> int:
    """Validations a trial makes (ASHA's clock), plus one so ASHA never cuts a trial's last report."""
    trainer = train_cfg.trainer
    every = int(trainer.get("check_val_every_n_epoch") or 1)
    per_epoch = (train_cfg.get("data") or {}).get("datamodule", {}).get("batches_per_epoch")
    validations = None
    if int(trainer.get("max_steps") or -1) > 0 and per_epoch:
        validations = math.ceil(int(trainer.max_steps) / (int(per_epoch) * every))
    if int(trainer.get("max_epochs") or -1) > 0:
        by_epochs = math.ceil(int(trainer.max_epochs) / every)
        validations = min(validations, by_epochs) if validations else by_epochs
    return max(int(validations or 1000) + 1, grace_period + 1)


def build_scheduler(spec: dict[str, Any], train_cfg: DictConfig) -> Any:
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    options = dict(spec["scheduler"])
    kind = options.pop("type")
    if kind == "fifo":
        return FIFOScheduler()
    grace = int(options.pop("grace_period", 1) or 1)
    max_t = options.pop("max_t", None) or default_max_t(train_cfg, grace)
    try:
        return ASHAScheduler(time_attr="training_iteration", max_t=int(max_t), grace_period=grace, **options)
    except (TypeError, AssertionError) as err:
        raise SeqgenError(f"sweep {spec['name']}: bad scheduler options {spec['scheduler']}: {err}") from err


def build_searcher(spec: dict[str, Any]) -> Any:
    """The search algorithm, with `max_concurrent_trials` built in.

    Tune ignores TuneConfig.max_concurrent_trials for a BasicVariantGenerator passed in (it only
    wraps `Searcher`s), so the limit is set on the searcher itself, where it is also saved with
    the sweep and found again on restore (`enforce_concurrency`).
    """
    limit = int(spec.get("max_concurrent_trials") or 0)
    if spec["search"] == "optuna":
        import optuna
        from ray.tune.search import ConcurrencyLimiter
        from ray.tune.search.optuna import OptunaSearch

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        searcher = OptunaSearch(seed=int(spec["seed"]))
        return ConcurrencyLimiter(searcher, max_concurrent=limit) if limit else searcher
    from ray.tune.search.basic_variant import BasicVariantGenerator

    return BasicVariantGenerator(random_state=int(spec["seed"]), max_concurrent=limit)  # random sampling; grid axes enumerated


def enforce_concurrency(tuner: Any, limit: int | None) -> None:
    """On a restored sweep, apply this command's `max_concurrent_trials` to the restored searcher.

    Tune restores the searcher's saved state (its old limit, or none) over the object it
    unpickles; the limit is re-applied after that restore, so it holds whatever the sweep was
    started with.
    """
    search_alg = getattr(getattr(getattr(tuner, "_local_tuner", None), "_tune_config", None), "search_alg", None)
    if search_alg is None or not limit:
        return
    original = search_alg.restore_from_dir

    def restore_from_dir(dirpath: str) -> None:
        original(dirpath)
        _set_limit(search_alg, int(limit))

    search_alg.restore_from_dir = restore_from_dir  # type: ignore[method-assign]
    _set_limit(search_alg, int(limit))


def _set_limit(search_alg: Any, limit: int) -> None:
    target = search_alg
    while target is not None:
        if hasattr(target, "max_concurrent"):
            target.max_concurrent = limit
            return
        target = getattr(target, "searcher", None)


# --- the sweep ------------------------------------------------------------------------------------
def check_definition(sweep_dir: Path, identity: dict[str, Any], resuming: bool) -> None:
    """A sweep folder belongs to one definition; resuming it with another would mix trials."""
    path = sweep_dir / DEFINITION_FILE
    if resuming and path.exists():
        before = json.loads(path.read_text())
        changed = [key for key in IDENTITY_KEYS if before.get(key) != identity.get(key)]
        if changed:
            raise SeqgenError(
                f"{sweep_dir} holds sweep '{identity['name']}' started with a different {', '.join(changed)}: "
                "rerun it unchanged to resume it, or start a new one with sweep.name=<new name> (or delete the folder)"
            )
    if not resuming or not path.exists():
        write_json(path, identity)


def run_sweep(cfg: DictConfig, sweep_dir: Path) -> dict[str, Any]:
    """Run (or resume) the sweep of `cfg.sweep`; returns the best trial's record."""
    spec = validate(cfg.sweep)
    extra = [str(o) for o in (cfg.get("trial_overrides") or [])]
    sweep_dir = Path(sweep_dir).resolve()
    setup = TrialSetup(
        sweep_name=spec["name"],
        sweep_dir=str(sweep_dir),
        metric=spec["metric"],
        base=list(spec["base"]),
        extra=extra,
        paths=absolute_paths(cfg),
        checkpoint_every=int(spec["checkpoint_every"]),
    )
    # One trial's config, composed and validated now: a typo or a missing value fails here, once,
    # and not in every trial.
    probe = check_trial_config(spec, setup)

    quiet_ray_environment(int(cfg.ray.get("verbose", 0)))
    from ray import tune

    resources = {"cpu": float(spec["resources_per_trial"].get("cpu") or 1), "gpu": float(spec["resources_per_trial"].get("gpu") or 0)}
    workers = ddp_workers(spec["resources_per_trial"])  # > 1: each trial trains DDP on that many Ray Train workers
    resuming = tune.Tuner.can_restore(str(sweep_dir))
    if resuming:  # before Ray unpickles anything of the folder
        verify_sweep_folder(sweep_dir, trust=bool(spec.get("trust_folder")))
    check_definition(sweep_dir, {**spec, "trial_overrides": extra}, resuming)
    end_recorded_processes(sweep_dir)  # Ray processes left by a killed earlier command on this sweep
    init_ray(cfg.ray, spec.get("address"), resources["cpu"] * workers, resources["gpu"] * workers)
    record_ray_processes(sweep_dir)
    with sigterm_as_interrupt(), recording_state(sweep_dir):  # SIGTERM ends the sweep like Ctrl-C: Ray is shut down below
        results = _fit(cfg, spec, setup, sweep_dir, probe, resources, workers, resuming)
    return summarise(results, spec, setup, sweep_dir)


def check_trial_config(spec: dict[str, Any], setup: TrialSetup) -> DictConfig:
    """A representative trial's train config, validated as `train` would; its data's metadata read
    when this machine runs the trials (local Ray)."""
    try:
        cfg = trial_config(setup, representative(spec), "check", Path(setup.sweep_dir) / "check")
        validate_config(cfg, "train")
        if not spec.get("address"):
            build_datamodule(cfg)
    except SeqgenError as err:
        raise SeqgenError(
            f"sweep {spec['name']}: no trial could start: {err} "
            "(a sweep passes train settings in its definition's base, or as '+trial_overrides=[key=value,...]')"
        ) from err
    return cfg


def _fit(
    cfg: DictConfig,
    spec: dict[str, Any],
    setup: TrialSetup,
    sweep_dir: Path,
    probe: DictConfig,
    resources: dict[str, float],
    workers: int,
    resuming: bool,
) -> Any:
    from ray import tune

    try:
        if workers > 1:  # the Tune trial only launches a TorchTrainer; its workers hold the resources
            trainable = tune.with_resources(
                tune.with_parameters(run_ddp_trial, setup=setup, workers=workers, cpus_per_worker=resources["cpu"], gpus_per_worker=resources["gpu"]),
                DDP_DRIVER_RESOURCES,
            )
        else:
            trainable = tune.with_resources(tune.with_parameters(run_trial, setup=setup), resources)
        if resuming:
            say(f"resuming sweep {spec['name']} from {sweep_dir} (finished trials are kept)")
            tuner = tune.Tuner.restore(
                str(sweep_dir), trainable, resume_unfinished=True, resume_errored=bool(cfg.get("resume_errored", False))
            )
            enforce_concurrency(tuner, spec.get("max_concurrent_trials"))
        else:
            events = TrialEvents(spec["metric"], int(spec["max_failures"]), trial_count(spec))
            say(f"sweep {spec['name']}: {trial_count(spec)} trials, {spec['search']} search, {spec['scheduler']['type']} scheduler -> {sweep_dir}")
            tuner = tune.Tuner(
                trainable,
                param_space=param_space(spec),
                tune_config=tune.TuneConfig(
                    metric=spec["metric"],
                    mode=spec["mode"],
                    search_alg=build_searcher(spec),
                    scheduler=build_scheduler(spec, probe),
                    num_samples=int(spec["num_samples"]),
                    max_concurrent_trials=None,  # built into the searcher (build_searcher)
                    trial_name_creator=_trial_name,
                    trial_dirname_creator=_trial_dirname,
                    reuse_actors=False,
                ),
                run_config=tune.RunConfig(
                    name=sweep_dir.name,
                    storage_path=str(sweep_dir.parent),
                    failure_config=tune.FailureConfig(max_failures=int(spec["max_failures"])),
                    checkpoint_config=tune.CheckpointConfig(num_to_keep=1),  # the latest: what a retry resumes from
                    callbacks=[events, *quiet_progress(int(cfg.ray.get("verbose", 0)))],
                    stop=events,  # ends the sweep when its first trials all fail on the same user error
                    verbose=int(cfg.ray.get("verbose", 0)),
                    log_to_file=True,  # each trial's stdout/stderr, copied into its folder:
                    sync_config=tune.SyncConfig(sync_artifacts=True),
                ),
            )
        record_state(sweep_dir)  # the tuner.pkl the Tuner has just written
        return tuner.fit()
    finally:
        import ray

        ray.shutdown()
        end_recorded_processes(sweep_dir)  # whatever the shutdown left behind


def _trial_name(trial: Any) -> str:
    return str(trial.trial_id)


def _trial_dirname(trial: Any) -> str:
    return trial_dirname(str(trial.trial_id))


try:  # Tune's callback and stopper only make sense where Ray is installed
    from ray.tune import Callback as _TuneCallback
    from ray.tune import Stopper as _TuneStopper
    from ray.tune.progress_reporter import TrialProgressCallback as _TrialProgressCallback
except ImportError:  # pragma: no cover
    _TuneCallback = _TuneStopper = _TrialProgressCallback = object  # type: ignore[assignment,misc]


class TrialEvents(_TuneCallback, _TuneStopper):  # type: ignore[misc,valid-type]
    """One console line per trial event, instead of Ray's large tables; and the sweep's stop rule.

    A trial that failed on a user error (a SeqgenError: `trial.USER_ERROR_FILE`) is not retried.
    When the first trials to end (two, or all if fewer) all failed on the same user error and no
    trial reported a result yet, every other trial would fail the same way: the sweep stops
    (`stop_all`) and `summarise` says why, once.
    """

    def __init__(self, metric: str, max_failures: int, trials: int = 2) -> None:
        self.metric = metric
        self.max_failures = max_failures
        self.enough = max(1, min(2, trials))
        self.user_errors: list[str] = []
        self.reported = False

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        params = " ".join(params_to_overrides(trial.config))
        say(f"trial {trial.trial_id} started: {params}")

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        say(
            f"trial {trial.trial_id} failed{_reason(trial)}; retrying from its last checkpoint "
            f"(attempt {trial.run_metadata.num_failures + 1} of {self.max_failures + 1})"
        )

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        user_error = read_user_error(Path(trial.path))
        if user_error is not None:
            self.user_errors.append(user_error)
            say(f"trial {trial.trial_id} failed on a problem to fix (not retried): {Path(trial.path) / USER_ERROR_FILE}")
            return
        value = (trial.last_result or {}).get(self.metric)
        shown = f"{self.metric}={value:.4g}" if isinstance(value, (int, float)) else "no metric"
        say(f"trial {trial.trial_id} done after {trial.last_result.get('training_iteration', 0)} validations: {shown}")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        say(f"trial {trial.trial_id} failed {trial.run_metadata.num_failures} times{_reason(trial)}; traceback: {trial.path}/error.txt")

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        # A trial reported its metric: the configuration works. (A trial that returns without a
        # report still passes Tune's closing result through here, without the metric.)
        self.reported = self.reported or self.metric in result
        return False

    def stop_all(self) -> bool:
        return not self.reported and len(self.user_errors) >= self.enough and len(set(self.user_errors)) == 1


def _reason(trial: Any) -> str:
    """`: <message>` of the SeqgenError that ended a trial (from its error.txt), or nothing."""
    try:
        text = Path(trial.error_file).read_text(errors="replace") if trial.error_file else ""
    except OSError:
        return ""
    lines = [line.split("SeqgenError: ", 1)[1] for line in text.splitlines() if "SeqgenError: " in line]
    return f": {lines[-1].strip()}" if lines else ""


def quiet_progress(verbose: int) -> list[Any]:
    """At verbose=0, a progress callback that prints nothing: in its place Tune would print its own
    "Trial ... completed. Last result: ..." lines (TrialEvents prints one line per event)."""
    return [] if verbose else [SilentProgress()]


class SilentProgress(_TrialProgressCallback):  # type: ignore[misc,valid-type]
    def log_result(self, trial: Any, result: dict, error: bool = False) -> None:
        pass

    def _print(self, msg: str) -> None:
        pass


# --- summary --------------------------------------------------------------------------------------
def _best_of(values: list[float], mode: str) -> float | None:
    finite = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    if not finite:
        return None
    return min(finite) if mode == "min" else max(finite)


def _lightning_checkpoint(run_dir: Path) -> str | None:
    """The trial's best Lightning checkpoint (usable by seqgen-eval / seqgen-sample)."""
    from seqgen.core.checkpoints import checkpoint_in_folder

    found = checkpoint_in_folder(run_dir)
    return str(found) if found is not None else None


def trial_statuses(sweep_dir: Path) -> dict[str, str]:
    """Tune's status of every trial (PENDING, RUNNING, PAUSED, TERMINATED, ERROR), by trial id."""
    from ray.tune import ExperimentAnalysis

    try:
        return {trial.trial_id: trial.status for trial in ExperimentAnalysis(str(sweep_dir)).trials}
    except Exception as err:  # the summary must not fail on it
        log.warning("could not read the trial states of %s: %s", sweep_dir, err)
        return {}


def summarise(results: Any, spec: dict[str, Any], setup: TrialSetup, sweep_dir: Path) -> dict[str, Any]:
    metric, mode = spec["metric"], spec["mode"]
    statuses = trial_statuses(sweep_dir)
    rows: list[dict[str, Any]] = []
    user_errors: list[str] = []
    for result in results:
        run_dir = Path(result.path)
        trial_id = run_dir.name.removeprefix("trial_")
        params = {k: v for k, v in (result.config or {}).items()}
        frame = result.metrics_dataframe
        history = list(frame[metric]) if frame is not None and metric in frame.columns else []
        last = (result.metrics or {}).get(metric)
        user_error = read_user_error(run_dir)
        user_errors += [user_error] if user_error else []
        if user_error or result.error or statuses.get(trial_id) == "ERROR":
            status = "error"
        elif statuses.get(trial_id, "TERMINATED") != "TERMINATED":
            status = "unfinished"  # the sweep was interrupted (Ctrl-C): rerunning the command resumes it
        else:  # Tune ends a trial ASHA stops as TERMINATED too; only a finished run writes metrics.json
            status = "completed" if (run_dir / "metrics.json").exists() else "stopped_early"
        rows.append(
            {
                "trial_id": trial_id,
                "status": status,
                **{f"param:{k}": v for k, v in params.items()},
                f"best_{metric}": _best_of(history, mode),
                f"last_{metric}": last,
                "validations": (result.metrics or {}).get("training_iteration"),
                "step": (result.metrics or {}).get("step"),
                "run_dir": str(run_dir),
                "checkpoint": _lightning_checkpoint(run_dir),
                "tune_checkpoint": result.checkpoint.path if result.checkpoint else None,
                "error": user_error or (" ".join(str(result.error).split())[:300] if result.error else None),
                "overrides": setup.overrides(params),
            }
        )
    scored = [row for row in rows if row[f"best_{metric}"] is not None]
    if user_errors and not scored and len(set(user_errors)) == 1:  # TrialEvents.stop_all, or every trial failed so
        for row in rows:
            row["status"] = "error" if row["error"] else "cancelled"
        write_trials(sweep_dir, rows)
        forget_tune_state(sweep_dir)
        raise SeqgenError(
            f"sweep {spec['name']} stopped: {len(user_errors)} trial(s) failed on the same problem (not retried), "
            f"so every trial would; fix it and rerun the same command: {user_errors[0]}"
        )
    write_trials(sweep_dir, rows)
    for message in dict.fromkeys(user_errors):
        say(f"{user_errors.count(message)} trial(s) failed (not retried): {message}")
    counts = {s: sum(row["status"] == s for row in rows) for s in ("completed", "stopped_early", "error", "unfinished")}
    say(
        f"sweep {spec['name']}: {len(rows)} trials ({counts['completed']} completed, "
        f"{counts['stopped_early']} stopped early, {counts['error']} failed"
        + (f", {counts['unfinished']} unfinished: rerun the same command to resume)" if counts["unfinished"] else ")")
    )
    if not scored:
        raise SeqgenError(f"sweep {spec['name']}: no trial reported '{metric}'; see the trials' error.txt in {sweep_dir}")
    best_row = (min if mode == "min" else max)(scored, key=lambda row: row[f"best_{metric}"])
    best = {
        "sweep": spec["name"],
        "metric": metric,
        "mode": mode,
        "value": best_row[f"best_{metric}"],
        "trial_id": best_row["trial_id"],
        "params": {k.removeprefix("param:"): v for k, v in best_row.items() if k.startswith("param:")},
        "overrides": best_row["overrides"],
        "command": "seqgen-train "
        + " ".join(shlex.quote(o) for o in [*best_row["overrides"], f"paths.data_dir={setup.paths.get('data_dir')}"]),
        "checkpoint": best_row["checkpoint"],
        "tune_checkpoint": best_row["tune_checkpoint"],
        "run_dir": best_row["run_dir"],
        "config": _load_config(Path(best_row["run_dir"])),
    }
    write_json(sweep_dir / "best.json", best)
    say(f"best trial {best['trial_id']}: {metric}={best['value']:.4g}")
    say(f"  params:     {' '.join(params_to_overrides(best['params']))}")
    say(f"  checkpoint: {best['checkpoint']}")
    say(f"  rerun:      {best['command']}")
    say(f"  summary:    {sweep_dir / 'best.json'}, {sweep_dir / 'trials.csv'}, {sweep_dir / 'trials.json'}")
    return best


def forget_tune_state(sweep_dir: Path) -> None:
    """Remove what Tuner.restore reads, so that rerunning the command starts the sweep afresh
    (a sweep stopped on a user error has no result worth resuming)."""
    for pattern in ("tuner.pkl", "experiment_state-*.json", "searcher-state-*.pkl", "basic-variant-state-*.json", DEFINITION_FILE):
        for path in sweep_dir.glob(pattern):
            path.unlink(missing_ok=True)


def _load_config(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / "config_resolved.yaml"
    return OmegaConf.to_container(OmegaConf.load(path)) if path.exists() else None  # type: ignore[return-value]


def write_trials(sweep_dir: Path, rows: list[dict[str, Any]]) -> None:
    write_json(sweep_dir / "trials.json", rows)
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns and key != "overrides"]
    with atomic_open(sweep_dir / "trials.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
