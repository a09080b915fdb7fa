"""`seqgen-eval`: validation and test metrics of a trained model, written as metrics.json.

    seqgen-eval ckpt=outputs/train/runs/<run>
    seqgen-eval ckpt=<synthesis run> recognizer=<recogniser run>   # + legibility: test/cer, test/cer_bias<b>, ...
    seqgen-eval ckpt=<speech run> recognizer=<phoneme recogniser run>  # + intelligibility: test/per, ...
    seqgen-eval ckpt=<run> dynamic=true          # + dynamic evaluation (text, handwriting prediction)
    seqgen-eval ckpt=<text run> test_file=FILE   # score and compress FILE in place of the test split
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from seqgen.cli.common import finished, run_dir, say, seqgen_main, start
from seqgen.data.identity import check_data_identity
from seqgen.errors import SeqgenError, friendly_errors
from seqgen.core.family import family_of
from seqgen.io import write_json
from seqgen.core.checkpoints import find_checkpoint, load_model, read_checkpoint, run_config, run_dir_of
from seqgen.training.loggers import build_loggers, log_media
from seqgen.training.run import final_metrics
from seqgen.training.threads import apply_thread_policy
from seqgen.validate import validate_loaded


@friendly_errors
def run(cfg: DictConfig) -> dict:
    start(cfg, "eval")
    ckpt = find_checkpoint(cfg.ckpt)
    model = load_model(ckpt)  # first: an unsafe or foreign file is refused before anything else
    family = family_of(model)
    family.check_evaluate(model, cfg)  # e.g. recognizer=: checked before any evaluation
    trained = run_config(ckpt)
    validate_loaded(trained, str(run_dir_of(ckpt) / "config_resolved.yaml"))  # ranges, as on the command line
    if cfg.data_dir:
        with open_dict(trained):
            trained.data.datamodule.data_dir = str(cfg.data_dir)
    test_file = cfg.get("test_file")
    if test_file:
        if trained.data.get("family") != "text":
            raise SeqgenError(f"test_file= is scored by text models; {ckpt} is a {trained.data.get('family')} model")
        with open_dict(trained):
            trained.data.datamodule.test_file = str(test_file)
    datamodule = instantiate(trained.data.datamodule)
    datamodule.load_info()
    batch = OmegaConf.select(trained, "data.datamodule.eval_batch_size", default=None) or OmegaConf.select(trained, "data.datamodule.batch_size", default=1)
    apply_thread_policy(cfg.get("num_threads"), model, int(batch), {"accelerator": str(cfg.device)}, training=False)
    check_data_identity(read_checkpoint(ckpt)["seqgen"].get("data"), datamodule.info, datamodule.data_dir, "seqgen-eval", "data_dir")
    dynamic = dynamic_plan(cfg, family, model, datamodule)  # refused before any evaluation runs
    trainer = pl.Trainer(accelerator=cfg.device, devices=1, logger=False, enable_checkpointing=False, use_distributed_sampler=False)
    metrics: dict[str, float] = {}
    errors: dict[str, str] = {}
    # Corrupt or missing shards are skipped and counted (datamodule.skipped_shards); a split with
    # no readable shard at all is reported in metrics.json instead of ending the evaluation.
    # test_file: the file replaces the test split in the report and the dynamic evaluation
    loops = (("valid", trainer.validate),) if test_file else (("valid", trainer.validate), ("test", trainer.test))
    for split, step in loops:
        try:
            loader = datamodule.val_dataloader() if split == "valid" else datamodule.test_dataloader()
            step(model, dataloaders=loader, verbose=False)
            metrics.update(final_metrics(trainer))
        except SeqgenError as err:
            errors[split] = str(err)
            say(f"[seqgen] {split} skipped: {err}")
    out = run_dir()
    result = {"checkpoint": str(ckpt), "metrics": metrics, "skipped_shards": datamodule.skipped_shards}
    if errors:
        result["errors"] = errors
    write_json(out / "metrics.json", result)  # always written, also if the report fails below
    if dynamic is not None:
        result.update(dynamic_evaluation(cfg, *dynamic, metrics))
    try:
        result.update(family.report(model, out, datamodule, metrics) or {})
    except SeqgenError as err:
        result["report_error"] = str(err)
        say(f"[seqgen] report skipped: {err}")
    result.update(family.evaluate(model, cfg, datamodule, metrics, out))
    result["skipped_shards"] = datamodule.skipped_shards
    log_eval_metrics(cfg, out, metrics, media={k: v for k, v in result.items() if isinstance(v, str) and v.endswith((".wav", ".png"))})
    write_json(out / "metrics.json", result)
    say(", ".join(f"{k}={v:.4f}" for k, v in sorted(metrics.items())))
    finished("evaluation", out)
    return result


def dynamic_plan(cfg: DictConfig, family: Any, model: Any, datamodule: Any) -> tuple[Any, Any] | None:
    """dynamic=true|tune: the family's task and the settings (seqgen/eval/dynamic.py), checked
    before any evaluation runs; None when dynamic=false."""
    from seqgen.eval.dynamic import DynamicSettings

    mode = cfg.get("dynamic", False)
    if mode in (None, False):
        return None
    if mode not in (True, "tune"):
        raise SeqgenError(f"dynamic={mode!r}: use false, true or tune (choose the settings on the validation split)")
    task = family.dynamic_task(model, datamodule)
    options = OmegaConf.to_container(cfg.get("dynamic_eval") or OmegaConf.create(), resolve=True)
    method = options.get("method") or "rms"
    if method not in task.defaults:
        raise SeqgenError(f"dynamic_eval.method={method!r}: use {' or '.join(task.defaults)}")
    return task, DynamicSettings.from_config(options, task.defaults[method])


def dynamic_evaluation(cfg: DictConfig, task: Any, settings: Any, metrics: dict) -> dict[str, Any]:
    """Static and dynamic figures of the test split with `settings`, or the best of the grid on the
    validation split (dynamic=tune); adds them to `metrics`."""
    from seqgen.eval.dynamic import run_dynamic

    grid = OmegaConf.select(cfg, "dynamic_eval.grid") if cfg.get("dynamic") == "tune" else None
    outcome = run_dynamic(task, settings, OmegaConf.to_container(grid, resolve=True) if grid is not None else None, say)
    metrics.update(outcome["metrics"])
    return {"dynamic": outcome["dynamic"]}


def log_eval_metrics(cfg: DictConfig, out: Path, metrics: dict[str, float], media: dict[str, str] | None = None) -> None:
    """`logger=wandb|csv`: the evaluation's metrics to that logger too (default none); W&B also
    gets the report's figures and audio (`media`: {name: .png or .wav path}) under `eval/`."""
    from pytorch_lightning.loggers import WandbLogger

    for logger in build_loggers(cfg.get("logger"), out):
        logger.log_metrics(metrics, step=0)
        log_media([logger], {f"eval/{name}": Path(path) for name, path in (media or {}).items()}, step=0)
        logger.finalize("success")
        if isinstance(logger, WandbLogger):
            logger.experiment.finish()  # close the W&B run (and its files) before the process ends


@seqgen_main("eval")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
