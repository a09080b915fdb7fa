"""`seqgen-sample`: generate from a trained model (text, handwriting, ...).

    seqgen-sample ckpt=outputs/train/runs/<run> prime="The " temperature=0.7 length=400
    seqgen-sample ckpt=<synthesis run> text="hello world|second line" bias=1.0
"""

from __future__ import annotations

import hydra
import torch
from omegaconf import DictConfig

from seqgen.cli.common import CONFIG_PATH, finished, run_dir, start
from seqgen.errors import friendly_errors
from seqgen.core.family import family_of
from seqgen.core.checkpoints import load_model
from seqgen.training.threads import SMALL_GENERATION_STEP_MACS, apply_thread_policy


# Options of every `seqgen-sample` run; the others in conf/sample.yaml belong to one family each.
PLATFORM_OPTIONS = frozenset({"ckpt", "seed", "num_samples", "device", "num_threads", "max_memory_gb", "task_name", "paths", "hydra"})


@friendly_errors
def run(cfg: DictConfig) -> dict:
    start(cfg, "sample")
    torch.manual_seed(int(cfg.seed))
    model = load_model(cfg.ckpt).to(cfg.device)
    apply_thread_policy(cfg.get("num_threads"), model, int(cfg.num_samples), {"accelerator": str(cfg.device)}, training=False,
                        small=SMALL_GENERATION_STEP_MACS)
    family = family_of(model)
    family.check_sample_options(cfg, frozenset(cfg.keys()) - PLATFORM_OPTIONS, model)
    out = run_dir()
    result = family.generate(model, cfg, out)
    finished("sampling", out)
    return result


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="sample")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
