"""Cluster launch files, rendered and checked without a cluster: the SLURM batch template, the Hydra
submitit launcher config, the Ray cluster YAML, the torchrun script; and the compile / bf16 switches."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import OmegaConf, open_dict

from conftest import BIN, CONF, REPO, read_json, tiny_train_cfg

from seqgen.cluster import render_sbatch, submitit_sbatch_preview
from seqgen.errors import SeqgenError


def srun_overrides(script: str, env: dict[str, str]) -> list[str]:
    """The seqgen-train overrides of the srun line, with SLURM's variables filled in."""
    block = script.split("srun ", 1)[1].split("\n\n", 1)[0].replace("\\\n", " ")
    words = shlex.split(block)
    args = words[words.index(".venv/bin/seqgen-train") + 1 :]
    return [re.sub(r"\$(\w+)", lambda m: env[m.group(1)], a) for a in args]


def test_sbatch_template_renders_multi_node_ddp(tmp_path: Path) -> None:
    script = render_sbatch("text_wikipedia", nodes=2, gpus_per_node=4, time="48:00:00", partition="gpu", overrides=["model.num_layers=7"])
    lines = script.splitlines()
    for expected in [
        "#SBATCH --nodes=2",
        "#SBATCH --ntasks-per-node=4",  # one task per GPU
        "#SBATCH --gpus-per-node=4",
        "#SBATCH --time=48:00:00",
        "#SBATCH --signal=SIGUSR1@90",
        "#SBATCH --requeue",
        "#SBATCH --partition=gpu",
    ]:
        assert expected in lines, expected
    assert "{{" not in script
    assert any(line.startswith("srun ") and ".venv/bin/seqgen-train" in line for line in lines)
    path = tmp_path / "job.sbatch"
    path.write_text(script)
    subprocess.run(["bash", "-n", str(path)], check=True)

    args = srun_overrides(script, {"SLURM_NNODES": "2", "SLURM_GPUS_PER_NODE": "4", "SLURM_JOB_ID": "123"})
    assert {"trainer=ddp", "trainer.num_nodes=2", "trainer.devices=4", "resume=auto", "experiment=text_wikipedia"} <= set(args)
    assert "hydra.run.dir=outputs/slurm/123" in args and args[-1] == "model.num_layers=7"
    # The srun command composes into the intended train config.
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=[a for a in args if not a.startswith("hydra.")])
    assert cfg.trainer.strategy == "ddp" and cfg.trainer.num_nodes == 2 and cfg.trainer.devices == 4
    assert cfg.model.num_layers == 7 and cfg.resume == "auto"
    # The callback that turns the sbatch --signal into a saved last.ckpt.
    callback = instantiate(cfg.callbacks.last_checkpoint, dirpath=str(tmp_path))
    assert "SIGUSR1" in callback.signals and "SIGTERM" in callback.signals


def test_sbatch_renderer_refuses_bad_input() -> None:
    with pytest.raises(SeqgenError, match="unknown experiment"):
        render_sbatch("no_such_experiment")
    with pytest.raises(SeqgenError, match=">= 1"):
        render_sbatch("text_quickstart", nodes=0)
    with pytest.raises(SeqgenError, match="time"):
        render_sbatch("text_quickstart", time="two days")


def test_render_sbatch_script(tmp_path: Path) -> None:
    out = tmp_path / "job.sbatch"
    proc = subprocess.run(
        [sys.executable, str(REPO / "cluster" / "render_sbatch.py"), "--experiment", "text_quickstart", "--nodes", "1",
         "--gpus-per-node", "2", "--log-dir", str(tmp_path / "logs"), "-o", str(out), "--", "trainer.precision=bf16-mixed"],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert "#SBATCH --ntasks-per-node=2" in text and "trainer.precision=bf16-mixed" in text
    assert f"#SBATCH --output={tmp_path / 'logs'}/%x-%j.out" in text and (tmp_path / "logs").is_dir()
    bad = subprocess.run([sys.executable, str(REPO / "cluster" / "render_sbatch.py"), "--experiment", "nope"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown experiment" in bad.stderr


@pytest.mark.filterwarnings("ignore:(?s).*validated against ConfigStore schema")
def test_submitit_launcher_config_submits_one_task_per_gpu() -> None:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3", job_name="train"):
        cfg = compose(
            "train",
            overrides=[
                "hydra/launcher=submitit_slurm",
                "experiment=text_wikipedia",
                "trainer=ddp",
                "trainer.devices=4",
                "trainer.num_nodes=2",
                "hydra.launcher.gpus_per_node=4",
                "hydra.launcher.nodes=2",
                "hydra.launcher.partition=gpu",
                "hydra.sweep.dir=/sweeps/x",
                "paths.root_dir=/repo",
            ],
            return_hydra_config=True,
        )
    HydraConfig.instance().set_config(cfg)  # ${hydra:...} interpolations of the launcher need it
    try:
        launcher_cfg = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
        launcher = instantiate(cfg.hydra.launcher)
    finally:
        HydraConfig.instance().cfg = None  # type: ignore[assignment]  # leave no global state behind
    assert launcher_cfg["tasks_per_node"] == 4  # follows gpus_per_node
    assert type(launcher).__name__ == "SlurmLauncher"
    sbatch = submitit_sbatch_preview(launcher_cfg, command="seqgen-train").splitlines()
    for expected in ["#SBATCH --nodes=2", "#SBATCH --ntasks-per-node=4", "#SBATCH --gpus-per-node=4", "#SBATCH --partition=gpu"]:
        assert expected in sbatch, expected
    assert any(line.startswith("#SBATCH --signal=") for line in sbatch)  # submitit's requeue-before-timeout signal
    assert any(line.startswith("srun ") for line in sbatch)


def test_ray_cluster_yaml_is_valid() -> None:
    import jsonschema
    import ray

    config = yaml.safe_load((REPO / "cluster" / "ray" / "cluster.yaml").read_text())
    schema = json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())
    jsonschema.validate(config, schema)
    assert any("ray start --head" in c for c in config["head_start_ray_commands"])
    assert "seqgen-sweep" in (REPO / "cluster" / "ray" / "cluster.yaml").read_text()


def test_torchrun_script_is_valid_bash() -> None:
    subprocess.run(["bash", "-n", str(REPO / "cluster" / "torchrun" / "train.sh")], check=True)
    assert os.access(REPO / "cluster" / "torchrun" / "train.sh", os.X_OK)


@pytest.mark.slow
def test_torchrun_two_cpu_processes(tmp_path: Path, tiny_text_data: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("LOCAL_RANK", "RANK", "WORLD_SIZE", "SLURM_PROCID")}
    env.update(RUN_DIR=str(tmp_path / "run"), MASTER_PORT="29561")
    proc = subprocess.run(
        [str(REPO / "cluster" / "torchrun" / "train.sh"), "--gpus", "2", "--cpu", f"paths.data_dir={tiny_text_data}", "data=text_file",
         "logger=csv", "test=false", "model.hidden_size=8", "model.num_layers=1", "data.datamodule.batch_size=4",
         "data.datamodule.segment_length=20", "data.datamodule.batches_per_epoch=5", "data.datamodule.num_workers=0",
         "trainer.max_steps=5", "trainer.enable_progress_bar=false", "callbacks.progress=null"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "MEMBER: 2/2" in proc.stdout + proc.stderr
    assert read_json(tmp_path / "run" / "metrics.json")["global_step"] == 5


# --- compile and mixed precision ------------------------------------------------------------------
def test_compile_network_compiles_the_lstm_in_place(tmp_path: Path, tiny_text_data: Path, tiny_text_file: Path) -> None:
    from seqgen.training.run import build_datamodule, build_model

    cfg = tiny_train_cfg(tmp_path, tiny_text_data, tiny_text_file)
    model = build_model(cfg, build_datamodule(cfg).info)
    keys = list(model.state_dict())
    assert model.compile_network() == ["lstm"]
    assert list(model.state_dict()) == keys  # checkpoints stay interchangeable with eager runs


@pytest.mark.slow
@pytest.mark.parametrize("switch", ["compile=true", "trainer.precision=bf16-mixed"])
def test_compile_and_bf16_train_on_cpu(tmp_path: Path, tiny_text_data: Path, tiny_text_file: Path, switch: str) -> None:
    from seqgen.training.run import train

    key, value = switch.split("=")
    cfg = tiny_train_cfg(tmp_path, tiny_text_data, tiny_text_file, ["trainer.max_steps=5", "data.datamodule.batches_per_epoch=5", "test=false"])
    with open_dict(cfg):
        OmegaConf.update(cfg, key, yaml.safe_load(value))
    result = train(cfg, tmp_path / "run")
    assert result["global_step"] == 5 and result["metrics"]["val/bpc"] > 0
