"""cluster/render_sbatch.py's CPU mode (no SLURM needed): no GPU request, trainer.accelerator=cpu,
one DDP process per task; who owns the SLURM signal (LastCheckpoint, not Lightning); the hand-off
of a launcher's signal (submitit's USR2) after the save."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from conftest import CONF, REPO

from seqgen.cluster import render_sbatch
from seqgen.errors import SeqgenError


def srun_args(script: str, env: dict[str, str]) -> list[str]:
    import re
    import shlex

    block = script.split("srun ", 1)[1].split("\n\n", 1)[0].replace("\\\n", " ")
    words = shlex.split(block)
    return [re.sub(r"\$(\w+)", lambda m: env[m.group(1)], a) for a in words[words.index(".venv/bin/seqgen-train") + 1 :]]


def test_cpu_mode_requests_no_gpus_and_trains_on_cpu_processes(tmp_path: Path) -> None:
    script = render_sbatch("text_quickstart", nodes=2, cpu=True, tasks_per_node=4, cpus_per_task=2, time="1:00:00",
                           signal_s=120, run_root=str(tmp_path / "runs"))
    lines = script.splitlines()
    assert not any("gpu" in line.lower() for line in lines if line.startswith("#SBATCH"))
    for expected in ["#SBATCH --nodes=2", "#SBATCH --ntasks-per-node=4", "#SBATCH --cpus-per-task=2", "#SBATCH --signal=SIGUSR1@120"]:
        assert expected in lines, expected
    path = tmp_path / "job.sbatch"
    path.write_text(script)
    subprocess.run(["bash", "-n", str(path)], check=True)
    args = srun_args(script, {"SLURM_NNODES": "2", "SLURM_NTASKS_PER_NODE": "4", "SLURM_JOB_ID": "7"})
    assert {"trainer.accelerator=cpu", "trainer.devices=4", "trainer.num_nodes=2", f"hydra.run.dir={tmp_path / 'runs'}/7"} <= set(args)
    assert f'{tmp_path / "runs"}/"$SLURM_JOB_ID/metrics.json"' in script  # the requeue check reads the same folder
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=[a for a in args if not a.startswith("hydra.")])
    assert cfg.trainer.accelerator == "cpu" and cfg.trainer.devices == 4 and cfg.trainer.strategy == "ddp"


def test_gpu_mode_stays_the_default() -> None:
    script = render_sbatch("text_quickstart", gpus_per_node=2)
    assert "#SBATCH --gpus-per-node=2" in script and "#SBATCH --ntasks-per-node=2" in script
    assert "trainer.accelerator=gpu" in script and "trainer.devices=$SLURM_GPUS_PER_NODE" in script
    assert "#SBATCH --signal=SIGUSR1@90" in script and "hydra.run.dir=outputs/slurm/$SLURM_JOB_ID" in script


def test_cpu_mode_refuses_bad_input() -> None:
    with pytest.raises(SeqgenError, match="tasks per node"):
        render_sbatch("text_quickstart", cpu=True, tasks_per_node=0)
    with pytest.raises(SeqgenError, match="one task per GPU"):
        render_sbatch("text_quickstart", gpus_per_node=4, tasks_per_node=2)
    with pytest.raises(SeqgenError, match="signal_s"):
        render_sbatch("text_quickstart", cpu=True, signal_s=0)


def test_render_script_cpu_flag(tmp_path: Path) -> None:
    out = tmp_path / "job.sbatch"
    proc = subprocess.run(
        [sys.executable, str(REPO / "cluster" / "render_sbatch.py"), "--experiment", "text_quickstart", "--cpu", "--tasks-per-node", "3",
         "--log-dir", str(tmp_path / "logs"), "-o", str(out)],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert "#SBATCH --ntasks-per-node=3" in text and "trainer.accelerator=cpu" in text and "#SBATCH --gpus" not in text


def test_lightning_auto_requeue_is_off_under_slurm_when_last_checkpoint_owns_the_signal(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from lightning_fabric.plugins.environments import SLURMEnvironment

    from seqgen.training.callbacks import LastCheckpoint, cluster_plugins

    ours = [LastCheckpoint(dirpath=str(tmp_path))]
    for key in [k for k in os.environ if k.startswith("SLURM_")]:
        monkeypatch.delenv(key)
    assert cluster_plugins(ours) == []  # outside SLURM: Lightning's defaults
    monkeypatch.setenv("SLURM_NTASKS", "2")
    monkeypatch.setenv("SLURM_NTASKS_PER_NODE", "2")
    monkeypatch.setenv("SLURM_JOB_NAME", "seqgen")
    (plugin,) = cluster_plugins(ours)
    assert isinstance(plugin, SLURMEnvironment) and plugin.auto_requeue is False
    assert cluster_plugins([]) == []  # no LastCheckpoint: Lightning keeps its own requeue handler


def test_last_checkpoint_hands_a_launchers_signal_on_after_saving(tmp_path: Path) -> None:
    """submitit's USR2 handler (requeue + exit) runs only after LastCheckpoint saved last.ckpt; a
    hand-off signal nobody handles is left alone."""
    import signal
    from types import SimpleNamespace

    from seqgen.training.callbacks import LastCheckpoint

    calls: list[str] = []
    launcher = lambda signum, frame: calls.append(f"launcher {signum}")  # noqa: E731  (submitit's checkpoint_and_try_requeue)
    trainer = SimpleNamespace(save_checkpoint=lambda path, **options: calls.append(f"save {Path(path).name}"), should_stop=False)
    before = signal.signal(signal.SIGUSR2, launcher)
    try:
        callback = LastCheckpoint(dirpath=str(tmp_path))
        callback.setup(trainer, None, "fit")  # type: ignore[arg-type]
        assert signal.getsignal(signal.SIGUSR2) == callback._handler
        os.kill(os.getpid(), signal.SIGUSR2)
        assert callback.requested and calls == []  # the handler only notes it
        callback._save_and_stop(trainer)  # type: ignore[arg-type]
        assert calls == ["save last.ckpt", f"launcher {int(signal.SIGUSR2)}"] and trainer.should_stop
        callback.teardown(trainer, None, "fit")  # type: ignore[arg-type]
        assert signal.getsignal(signal.SIGUSR2) == launcher
        signal.signal(signal.SIGUSR2, signal.SIG_DFL)
        alone = LastCheckpoint(dirpath=str(tmp_path))
        alone.setup(trainer, None, "fit")  # type: ignore[arg-type]
        assert signal.getsignal(signal.SIGUSR2) == signal.SIG_DFL  # nobody handles it: not taken over
        alone.teardown(trainer, None, "fit")  # type: ignore[arg-type]
    finally:
        signal.signal(signal.SIGUSR2, before)


def test_a_time_limit_warning_after_the_fit_does_not_kill_the_run(tmp_path: Path) -> None:
    """SLURM's --signal=USR1 may come while a finished run writes metrics.json and its figures: after
    teardown a USR1 is noted, not the default action (which would end the process)."""
    import signal
    from types import SimpleNamespace

    from seqgen.training.callbacks import LastCheckpoint

    before = signal.signal(signal.SIGUSR1, signal.SIG_DFL)
    try:
        callback = LastCheckpoint(dirpath=str(tmp_path))
        trainer = SimpleNamespace()
        callback.setup(trainer, None, "fit")  # type: ignore[arg-type]
        callback.teardown(trainer, None, "fit")  # type: ignore[arg-type]
        assert signal.getsignal(signal.SIGUSR1) == LastCheckpoint._late_warning
        os.kill(os.getpid(), signal.SIGUSR1)  # would end this test process with the default action
        assert not callback.requested
    finally:
        signal.signal(signal.SIGUSR1, before)
