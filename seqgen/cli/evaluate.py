"""`seqgen-eval`: validation and test metrics of a trained model, written as metrics.json.

    seqgen-eval ckpt=outputs/train/runs/<run>
    seqgen-eval ckpt=<synthesis run> recognizer=<recogniser run>   # + legibility: test/cer, test/cer_bias<b>, ...
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, open_dict

from seqgen.cli.common import CONFIG_PATH, finished, quiet_libraries, run_dir, say
from seqgen.errors import friendly_errors
from seqgen.families.base import family_of
from seqgen.io import write_json
from seqgen.training.checkpoints import find_checkpoint, load_model, run_config
from seqgen.training.loggers import build_loggers
from seqgen.training.run import final_metrics


@friendly_errors
def run(cfg: DictConfig) -> dict:
    quiet_libraries()
    ckpt = find_checkpoint(cfg.ckpt)
    model = load_model(ckpt)  # first: an unsafe or foreign file is refused before anything else
    trained = run_config(ckpt)
    if cfg.data_dir:
        with open_dict(trained):
            trained.data.datamodule.data_dir = str(cfg.data_dir)
    datamodule = instantiate(trained.data.datamodule)
    datamodule.load_info()
    trainer = pl.Trainer(accelerator=cfg.device, devices=1, logger=False, enable_checkpointing=False, use_distributed_sampler=False)
    trainer.validate(model, dataloaders=datamodule.val_dataloader(), verbose=False)
    metrics = final_metrics(trainer)
    trainer.test(model, dataloaders=datamodule.test_dataloader(), verbose=False)
    metrics.update(final_metrics(trainer))
    out = run_dir()
    result = {"checkpoint": str(ckpt), "metrics": metrics}
    result.update(family_of(model).report(model, out, datamodule, metrics))
    if cfg.get("recognizer"):
        result.update(legibility(cfg, model, datamodule, metrics, out))
    loggers = build_loggers(cfg.get("logger"), out)
    for logger in loggers:
        logger.log_metrics(metrics, step=0)
        logger.finalize("success")
        if hasattr(logger, "experiment") and hasattr(logger.experiment, "finish"):
            logger.experiment.finish()  # W&B: close the run (and its files) before the process ends
    write_json(out / "metrics.json", result)
    say(", ".join(f"{k}={v:.4f}" for k, v in sorted(metrics.items())))
    finished("evaluation", out)
    return result


def legibility(cfg: DictConfig, model: Any, datamodule: Any, metrics: dict, out: Path) -> dict[str, Any]:
    """Write the test texts at each bias, read them with the recogniser; adds test/cer... to `metrics`."""
    from seqgen.eval.legibility import legibility_of_model, load_recognizer, write_legibility

    recognizer = load_recognizer(cfg.recognizer, cfg.device)
    result = legibility_of_model(model, recognizer, datamodule, "test", int(cfg.legibility_lines), list(cfg.biases), int(cfg.seed))
    metrics.update(result.metrics("test", float(cfg.select_bias)))
    return {"recognizer": str(cfg.recognizer), **write_legibility(result, out, float(cfg.select_bias))}


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="eval")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
