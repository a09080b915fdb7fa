"""Lightning's DDP launcher under Hydra, single runs and multiruns (`-m`).

Lightning starts ranks 1..N-1 of a single-node DDP run by re-running the command line
(`sys.argv`) with `hydra.run.dir=<rank 0's run dir> hydra.output_subdir=null` appended. That is
right for a single run, but in a multirun the re-run command still holds `-m` and the sweep: each
child process would start the whole sweep again (its own sweep folder, its own jobs), and after
the first job rank 0 keeps the launcher's environment (LOCAL_RANK...) and a process group whose
other members have exited.

`hydra_ddp_job()` wraps one job: in a multirun it rewrites the command line Lightning copies into
this job's single-run equivalent (its own overrides, its own output folder), and afterwards it
tears the process group down and restores the environment, so the next job launches its own
ranks. Processes created outside Lightning (torchrun, SLURM's srun) are left alone.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Iterator

# Set by Lightning's subprocess launcher in the launching process (and by torchrun/SLURM outside).
LAUNCHER_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")
# Hydra command-line flags that take a value and must reach the child processes unchanged.
VALUE_FLAGS = ("-cp", "--config-path", "-cn", "--config-name", "-cd", "--config-dir")
# Hydra overrides that belong to the multirun (or that Lightning sets for the children itself).
MULTIRUN_ONLY = ("hydra.mode", "hydra.sweep", "hydra.sweeper", "hydra/sweeper", "hydra.launcher", "hydra/launcher",
                 "hydra.run", "hydra.job.name", "hydra.output_subdir", "hydra.job.num", "hydra.job.id")


def is_global_zero() -> bool:
    """Rank 0 of a distributed run (Lightning keeps the rank here once the strategy is set up)."""
    from pytorch_lightning.utilities.rank_zero import rank_zero_only

    return getattr(rank_zero_only, "rank", 0) == 0


def _launched_externally() -> bool:
    """True in a rank started by someone else: a Lightning child, torchrun, srun."""
    return "LOCAL_RANK" in os.environ or "SLURM_PROCID" in os.environ or "TORCHELASTIC_RUN_ID" in os.environ


def single_run_argv(argv: list[str], task_overrides: list[str], hydra_overrides: list[str]) -> list[str]:
    """The command line of one multirun job as a single run (without `-m` and the sweep)."""
    out = [argv[0]]
    args = iter(argv[1:])
    for arg in args:
        if arg in ("-m", "--multirun"):
            continue
        if arg in VALUE_FLAGS:
            out += [arg, next(args, "")]
        elif arg.startswith("--") and "=" in arg and arg.split("=", 1)[0] in VALUE_FLAGS:
            out.append(arg)
    kept_hydra = [o for o in hydra_overrides if not o.lstrip("+~").split("=", 1)[0].startswith(MULTIRUN_ONLY)]
    return out + kept_hydra + list(task_overrides)


@contextmanager
def hydra_ddp_job() -> Iterator[None]:
    """Run one Hydra job so that Lightning's DDP child processes run exactly this job."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import read_write

    saved_env = {key: os.environ.get(key) for key in LAUNCHER_ENV}
    saved_argv = list(sys.argv)
    external = _launched_externally()
    if HydraConfig.initialized() and not external:
        hydra_cfg = HydraConfig.get()
        if hydra_cfg.mode == RunMode.MULTIRUN:
            sys.argv = single_run_argv(saved_argv, list(hydra_cfg.overrides.task), list(hydra_cfg.overrides.hydra))
            # Lightning passes `hydra.run.dir=<HydraConfig run.dir>` to the children: make it this job's folder.
            with read_write(hydra_cfg):
                hydra_cfg.run.dir = hydra_cfg.runtime.output_dir
    try:
        yield
    finally:
        sys.argv = saved_argv
        if not external:  # this process launched the ranks: undo what the launch left behind
            _destroy_process_group()
            for key, value in saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def _destroy_process_group() -> None:
    """The next job's ranks are new processes: they cannot join this job's process group."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
