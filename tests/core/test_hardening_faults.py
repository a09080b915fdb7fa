"""Faults that end a command part-way (a full disk, a read-only folder, kill -9) leave everything
already written as it was, and end in one `seqgen: error:` line naming the folder and the reason."""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from conftest import BIN


@pytest.fixture
def finished_run(finished_text_run: Path) -> Path:
    return finished_text_run


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _one_error_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("seqgen: error:")]
    assert len(lines) == 1, proc.stderr[-3000:]
    return lines[0]


def _file_size_limit(limit: int):  # type: ignore[no-untyped-def]
    def limit_files() -> None:  # in the child: writes past `limit` bytes fail (EFBIG), like a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return limit_files


def test_a_full_disk_keeps_the_last_good_checkpoint(finished_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    (run / "metrics.json").unlink()  # an interrupted run: resume continues it
    before = _files(run / "checkpoints")
    limit = min(len(data) for data in before.values()) // 2  # config files fit, no checkpoint does
    proc = subprocess.run(
        [str(BIN / "seqgen-train"), f"resume={run}", "trainer.max_steps=20", f"hydra.run.dir={tmp_path / 'log'}"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300, preexec_fn=_file_size_limit(limit),
    )
    line = _one_error_line(proc)
    assert "cannot write" in line and str(run / "checkpoints") in line and "size limit" in line, line
    assert _files(run / "checkpoints") == before  # the checkpoints already there are untouched
    assert not [p for p in (run / "checkpoints").iterdir() if p.name.startswith(".")]  # no temp file left


@contextlib.contextmanager
def _read_only(folder: Path) -> Iterator[None]:
    """`folder` read-only: a read-only bind mount as root (permissions do not bind root), else chmod."""
    if os.geteuid() == 0:
        if subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True).returncode != 0:
            pytest.skip("root without mount(8): cannot make a read-only folder")
        try:
            subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], check=True, capture_output=True)
            yield
        finally:
            subprocess.run(["umount", str(folder)], capture_output=True)
    else:
        modes = {p: p.stat().st_mode for p in [folder, *folder.rglob("*")]}
        for p in modes:
            p.chmod(modes[p] & ~0o222)
        try:
            yield
        finally:
            for p, mode in modes.items():
                p.chmod(mode)


def test_read_only_folders_are_named_with_the_reason(finished_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    (run / "metrics.json").unlink()
    before = _files(run)
    ro_out = tmp_path / "samples"
    ro_out.mkdir()
    with _read_only(run), _read_only(ro_out):
        resumed = subprocess.run(
            [str(BIN / "seqgen-train"), f"resume={run}", "trainer.max_steps=20", f"hydra.run.dir={tmp_path / 'log'}"],
            capture_output=True, text=True, cwd=tmp_path, timeout=300,
        )
        sampled = subprocess.run(
            [str(BIN / "seqgen-sample"), f"ckpt={run}", "length=5", f"hydra.run.dir={ro_out / 'x'}"],
            capture_output=True, text=True, cwd=tmp_path, timeout=300,
        )
    line = _one_error_line(resumed)
    assert str(run) in line and ("read-only" in line or "not writable" in line), line
    line = _one_error_line(sampled)
    assert f"cannot write the output folder {ro_out / 'x'}" in line and "hydra.run.dir=" in line, line
    assert _files(run) == before


@pytest.mark.slow
def test_handwriting_resume_after_kill_9_is_bit_identical(tmp_path: Path) -> None:
    """An uninterrupted run and one killed (SIGKILL) at step 7 and resumed end with equal weights,
    bit for bit: the resumed run applies its own num_threads, and nothing of the killed run is lost."""
    import sys

    import torch

    from conftest import REPO

    sys.path.insert(0, str(REPO / "tests" / "families" / "handwriting"))
    from handwriting_helpers import TINY_DATA, TINY_MODEL, TINY_TRAIN as HW_TRAIN, prepare_tiny

    data = prepare_tiny(tmp_path)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "tests" / "core"), os.environ.get("PYTHONPATH", "")]))
    common = [*TINY_DATA, *TINY_MODEL["synthesis"], *HW_TRAIN, "logger=none", "test=false", f"paths.data_dir={data}", "trainer.max_steps=12", "callbacks.samples=null"]

    def train_cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "seqgen-train"), *args], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)

    assert train_cli(*common, f"hydra.run.dir={tmp_path / 'straight'}").returncode == 0
    flag = tmp_path / "killed.flag"
    killed = train_cli(*common, f"hydra.run.dir={tmp_path / 'killed'}", "+callbacks.kill._target_=hardening_hooks.KillOnce", f"+callbacks.kill.flag={flag}", "+callbacks.kill.at_step=7")
    assert killed.returncode == -signal.SIGKILL and flag.exists(), killed.stderr[-2000:]
    kept = _files(tmp_path / "killed" / "checkpoints")
    assert "last.ckpt" in kept  # step 6: written before the kill, complete
    # another thread count in the environment: the resumed run must apply its own (num_threads=1)
    resumed = subprocess.run(
        [str(BIN / "seqgen-train"), f"resume={tmp_path / 'killed'}", f"hydra.run.dir={tmp_path / 'log'}"],
        capture_output=True, text=True, cwd=tmp_path, env={**env, "OMP_NUM_THREADS": "2"}, timeout=600,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a = torch.load(tmp_path / "straight" / "checkpoints" / "last.ckpt", weights_only=True)
    b = torch.load(tmp_path / "killed" / "checkpoints" / "last.ckpt", weights_only=True)
    assert a["global_step"] == b["global_step"] == 12
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key


def test_resume_applies_the_runs_own_thread_count(finished_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`resume=<run>` sets the thread count the run was trained with, not the one before it re-read
    the run's config (6e-6 apart after a kill -9 for handwriting, before: other sums of floats).
    The thread policy is applied inside `train` (`seqgen.training.run.thread_policy`), to the
    config `resolve_run` returned: the fake `train` applies it as the real one does."""
    import torch
    import yaml
    from hydra import initialize_config_dir
    from omegaconf import OmegaConf

    from conftest import CONF
    from seqgen.cli import train as train_cli

    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    saved = run / ".hydra" / "overrides.yaml"
    saved.write_text(yaml.safe_dump([*yaml.safe_load(saved.read_text()), "num_threads=1"]))
    (run / "metrics.json").unlink()
    seen = {}

    def fake_train(cfg, out, checkpoint=None):  # type: ignore[no-untyped-def]
        from seqgen.training.run import thread_policy

        seen["setting"] = cfg.get("num_threads")
        thread_policy(cfg, None)  # type: ignore[arg-type]  # an explicit count needs no model
        seen["threads"] = torch.get_num_threads()
        return {"metrics": {}, "global_step": 10}

    monkeypatch.setattr(train_cli, "train", fake_train)
    monkeypatch.setattr(train_cli, "task_overrides", lambda: [])
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            train_cli.run.__wrapped__(OmegaConf.create({"resume": str(run), "num_threads": None}))
    finally:
        torch.set_num_threads(threads)
    assert seen["setting"] == 1 and seen["threads"] == 1
