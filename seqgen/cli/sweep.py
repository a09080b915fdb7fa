"""`seqgen-sweep`: hyperparameter sweeps with Ray Tune (Optuna + ASHA by default), tracked in W&B.

    seqgen-sweep sweep=text_depth_width
    seqgen-sweep sweep=text_lr sweep.num_samples=16 sweep.resources_per_trial.gpu=1
    seqgen-sweep sweep=tiny_test '+trial_overrides=[trainer.max_steps=50]'
    seqgen-sweep sweep=text_lr sweep.address=auto          # on a running Ray cluster (ray/cluster.yaml)

Rerunning the same command resumes the sweep from `${paths.log_dir}/sweep/<name>`.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from seqgen.cli.common import CONFIG_PATH, quiet_libraries, run_dir
from seqgen.errors import friendly_errors
from seqgen.sweep.runner import run_sweep
from seqgen.sweep.spec import register_sweeps

register_sweeps()  # sweeps/*.yaml become the options of the `sweep` config group


@friendly_errors
def run(cfg: DictConfig) -> dict:
    quiet_libraries()
    return run_sweep(cfg, run_dir())


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="sweep")
def main(cfg: DictConfig) -> float | None:
    return run(cfg).get("value")


if __name__ == "__main__":
    main()
