"""`seqgen-train`: fit a model. Thin Hydra entry point over `seqgen.training.run.train`.

    seqgen-train experiment=text_quickstart
    seqgen-train experiment=text_quickstart trainer.max_steps=500 model.hidden_size=512
    seqgen-train resume=outputs/train/runs/<run>            # continue a stopped run
"""

from __future__ import annotations

import sys

from omegaconf import DictConfig

from seqgen.cli.common import finished, say, seqgen_main, shown_path, start, task_overrides
from seqgen.errors import friendly_errors
from seqgen.core.family import get_family
from seqgen.training.hydra_ddp import hydra_ddp_job, is_global_zero
from seqgen.training.resume import resolve_run
from seqgen.training.run import PREEMPTED_EXIT_CODE, train
from seqgen.validate import validate_config


@friendly_errors
def run(cfg: DictConfig) -> dict:
    start(cfg, "train")
    cfg, out, checkpoint = resolve_run(cfg, task_overrides())
    if cfg.get("resume") == "auto":
        validate_config(cfg, "train")  # a resumed run's re-composed config, with this command's overrides
    with hydra_ddp_job():  # DDP ranks started by Lightning run exactly this job (also under -m)
        result = train(cfg, out, checkpoint=checkpoint)
    if not is_global_zero():
        if result.get("preempted"):
            sys.exit(PREEMPTED_EXIT_CODE)
        return result  # one summary per run, from rank 0
    metrics = ", ".join(f"{k}={v:.4g}" for k, v in sorted(result["metrics"].items()) if k.startswith(("val/", "test/")))
    if result.get("preempted"):
        # Not "finished": a scheduler reading the exit status requeues the job, a user resumes it.
        say(f"[seqgen] step {result['global_step']}: {metrics}")
        say(
            f"[seqgen] training preempted (stopped by a signal) at step {result['global_step']}; checkpoint saved. "
            f"Resume with: seqgen-train resume={out}  (exit status {PREEMPTED_EXIT_CODE}: requeue)"
        )
        sys.exit(PREEMPTED_EXIT_CODE)
    say(f"[seqgen] step {result['global_step']}: {metrics}")
    if "fit_cpu_seconds" in result:  # a run that trained (a finished run's resume trains nothing)
        say(f"[seqgen] training took {result['fit_seconds'] / 60:.1f} min wall clock, {result['fit_cpu_seconds'] / 60:.1f} CPU min "
            f"(training and validation, this process), for {result['global_step']} steps")
    finished("training", out)
    if result.get("family"):  # metrics.json names it; a result without one has no summary to give
        for line in get_family(result["family"]).summary(shown_path(out), result):
            say(line)
    return result


@seqgen_main("train")
def main(cfg: DictConfig) -> float | None:
    result = run(cfg)
    # A returned number lets Hydra sweepers (Optuna, Ax) optimise it.
    metric = cfg.get("optimized_metric")
    return result["metrics"].get(metric) if metric else None


if __name__ == "__main__":
    main()
