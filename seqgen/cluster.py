"""Cluster launch helpers: fill the SLURM batch template, preview what the Hydra submitit launcher
would submit. Nothing here needs SLURM; `sbatch` runs the rendered files.

    python cluster/render_sbatch.py --experiment text_wikipedia --nodes 2 --gpus-per-node 4 -o job.sbatch
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any, Iterable

from seqgen.errors import SeqgenError

from seqgen._config import config_dir, sbatch_template

_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
_TIME = re.compile(r"^(\d+-)?\d{1,2}(:\d{2}){0,2}$")


def experiments() -> list[str]:
    return sorted(p.stem for p in (config_dir() / "experiment").glob("*.yaml"))


def fill(template: str, values: dict[str, str]) -> str:
    """Replace `{{name}}` placeholders; every placeholder must have a value."""
    missing = sorted({name for name in _PLACEHOLDER.findall(template) if name not in values})
    if missing:
        raise SeqgenError(f"the template needs values for {', '.join(missing)}")
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


def render_sbatch(
    experiment: str,
    nodes: int = 1,
    gpus_per_node: int = 1,
    *,
    time: str = "24:00:00",
    cpus_per_task: int = 8,
    mem: str = "0",
    partition: str | None = None,
    account: str | None = None,
    job_name: str | None = None,
    overrides: Iterable[str] = (),
    data_dir: str | None = None,
    repo_dir: str | Path | None = None,
    log_dir: str | None = None,
    template: Path | None = None,
) -> str:
    """The SLURM batch script of a DDP training run of `experiment` on nodes x gpus_per_node GPUs.

    `repo_dir`: the folder the job runs in (default: the current one); `template`: default the
    bundled cluster/slurm/train.sbatch."""
    repo_dir = Path(repo_dir) if repo_dir is not None else Path.cwd()
    template = Path(template) if template is not None else sbatch_template()
    if experiment not in experiments():
        raise SeqgenError(f"unknown experiment '{experiment}'; choose one of: {', '.join(experiments())}")
    if nodes < 1 or gpus_per_node < 1 or cpus_per_task < 1:
        raise SeqgenError("nodes, gpus per node and cpus per task must be >= 1")
    if not _TIME.match(time):
        raise SeqgenError(f"time '{time}' is not a SLURM time limit (HH:MM:SS or D-HH:MM:SS)")
    extra = [f"#SBATCH --{key}={value}" for key, value in (("partition", partition), ("account", account)) if value]
    environment = [f"export SEQGEN_DATA={shlex.quote(data_dir)}"] if data_dir else []
    override_text = "".join(f" \\\n  {shlex.quote(o)}" for o in overrides)
    return fill(
        Path(template).read_text(),
        {
            "job_name": job_name or f"seqgen-{experiment}",
            "nodes": str(nodes),
            "gpus_per_node": str(gpus_per_node),
            "cpus_per_task": str(cpus_per_task),
            "mem": mem,
            "time": time,
            "log_dir": log_dir or str(Path(repo_dir) / "outputs" / "slurm" / "logs"),  # SLURM does not create it
            "extra_sbatch": "\n".join(extra),
            "repo_dir": shlex.quote(str(repo_dir)),
            "environment": "\n".join(environment),
            "experiment": experiment,
            "overrides": override_text,
        },
    )


def submitit_sbatch_preview(launcher: dict[str, Any], command: str = "seqgen-train") -> str:
    """The sbatch file that `hydra/launcher=submitit_slurm` would submit with these launcher settings.

    Mirrors the plugin's parameter translation (shared keys kept, the others prefixed `slurm_`),
    then asks submitit for the file text; nothing is submitted.
    """
    import tempfile
    from unittest import mock

    import submitit
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
    from omegaconf import OmegaConf
    from submitit.slurm.slurm import SlurmExecutor

    params = {k: v for k, v in launcher.items() if k != "_target_"}
    init_keys = {"submitit_folder", "max_num_timeout"}
    shared = set(OmegaConf.structured(BaseQueueConf).keys())
    # The executor refuses to start where there is no `srun`; a preview submits nothing.
    with tempfile.TemporaryDirectory() as folder, mock.patch.object(SlurmExecutor, "affinity", classmethod(lambda cls: 2)):
        executor = submitit.AutoExecutor(folder=folder, cluster="slurm")
        executor.update_parameters(**{(k if k in shared else f"slurm_{k}"): v for k, v in params.items() if k not in init_keys})
        return executor._executor._make_submission_file_text(command, "preview")  # the text sbatch would get
