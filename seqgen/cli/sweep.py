"""`seqgen-sweep`: hyperparameter sweeps with Ray Tune (Optuna + ASHA by default), tracked in W&B.

    seqgen-sweep sweep=text_depth_width
    seqgen-sweep sweep=text_lr sweep.num_samples=16 sweep.resources_per_trial.gpu=1
    seqgen-sweep sweep=tiny_test '+trial_overrides=[trainer.max_steps=50,model.dropout=0.1]'
    seqgen-sweep sweep=text_lr sweep.address=auto          # on a running Ray cluster (cluster/ray/cluster.yaml)

Rerunning the same command resumes the sweep from `${paths.log_dir}/sweep/<name>`.
"""

from __future__ import annotations

import re
import sys

from omegaconf import DictConfig

from seqgen.cli.common import run_dir, seqgen_main, start
from seqgen.errors import friendly_errors
from seqgen.sweep.runner import run_sweep
from seqgen.sweep.spec import register_sweeps

register_sweeps()  # sweeps/*.yaml become the options of the `sweep` config group

_TRIAL_OVERRIDES = re.compile(r"^\+?trial_overrides=\[(.*)\]$", re.DOTALL)


def _split_top_level(text: str) -> list[str]:
    """Split at commas outside brackets, braces and quotes."""
    items, depth, quote, current = [], 0, "", []
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[{(":
            depth += 1
        elif char in "]})":
            depth -= 1
        elif char == "," and depth == 0:
            items.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    if "".join(current).strip():
        items.append("".join(current).strip())
    return items


def quote_trial_overrides(argv: list[str]) -> list[str]:
    """`+trial_overrides=[trainer.max_steps=50]` -> `+trial_overrides=["trainer.max_steps=50"]`.

    Hydra's grammar does not allow a bare `=` inside a list value; quoting each element lets the
    natural spelling work (already quoted elements are kept as they are).
    """
    out = []
    for arg in argv:
        match = _TRIAL_OVERRIDES.match(arg)
        if match:
            items = []
            for item in _split_top_level(match.group(1)):
                if item[:1] in "'\"" and item[-1:] == item[:1]:
                    items.append(item)
                else:
                    items.append('"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"')
            arg = "+trial_overrides=[" + ",".join(items) + "]"
        out.append(arg)
    return out


@friendly_errors
def run(cfg: DictConfig) -> dict:
    start(cfg, "sweep")
    return run_sweep(cfg, run_dir())


@seqgen_main("sweep")
def _main(cfg: DictConfig) -> float | None:
    return run(cfg).get("value")


def main() -> None:
    sys.argv = [sys.argv[0], *quote_trial_overrides(sys.argv[1:])]
    _main()


if __name__ == "__main__":
    main()
