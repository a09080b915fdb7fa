"""seqgen's Hydra configs (conf/) and sweep definitions (sweeps/), as package data.

In the repository they stay at the top level (conf/, sweeps/, cluster/slurm/); `seqgen/_config/conf`,
`seqgen/_config/sweeps` and `seqgen/_config/slurm` are symlinks to them, so an editable install reads the checkout's files
and a wheel carries copies (setuptools package-data follows the links). Code finds them here,
never through paths relative to a checkout.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def config_dir() -> Path:
    """The folder of the Hydra configs (train.yaml, data/, model/, ...)."""
    return Path(str(files(__name__) / "conf"))


def sweeps_dir() -> Path:
    """The folder of the bundled sweep definitions (sweeps/*.yaml)."""
    return Path(str(files(__name__) / "sweeps"))


def sbatch_template() -> Path:
    """The SLURM batch template (cluster/slurm/train.sbatch in the repository)."""
    return Path(str(files(__name__) / "slurm" / "train.sbatch"))
