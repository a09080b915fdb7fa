"""Sweeps: finished trials are not trained again, max_concurrent_trials holds on restore, and no
Ray process outlives the command. The pieces are tested without Ray; the slow test runs a sweep."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from seqgen.sweep.processes import RECORD, descendants, end_recorded_processes, sigterm_as_interrupt
from seqgen.sweep.runner import build_searcher, enforce_concurrency
from seqgen.sweep.trial import finished_result


def test_a_finished_trial_is_recognised_from_its_run_folder(tmp_path: Path) -> None:
    assert finished_result(tmp_path, "val/bpc") is None
    (tmp_path / "metrics.json").write_text(json.dumps({"metrics": {"val/bpc": 2.5}, "global_step": 40, "epoch": 3, "preempted": False}))
    assert finished_result(tmp_path, "val/bpc") == {"val/bpc": 2.5, "step": 40, "epoch": 3, "restored_finished": True}
    (tmp_path / "metrics.json").write_text(json.dumps({"metrics": {"val/bpc": 2.5}, "preempted": True}))
    assert finished_result(tmp_path, "val/bpc") is None  # stopped by a signal: it continues
    (tmp_path / "metrics.json").write_text("{truncated")
    assert finished_result(tmp_path, "val/bpc") is None


def test_the_concurrency_limit_lives_in_the_searcher() -> None:
    spec = {"search": "random", "seed": 0, "max_concurrent_trials": 1}
    assert build_searcher(spec).max_concurrent == 1
    assert build_searcher({**spec, "max_concurrent_trials": None}).max_concurrent == 0


def test_restore_reapplies_the_limit_after_tune_restores_the_searcher_state() -> None:
    class Searcher:
        max_concurrent = 0

        def restore_from_dir(self, dirpath: str) -> None:
            self.max_concurrent = 0  # Tune's saved state of a sweep started without a limit

    class Tuner:
        class _local_tuner:  # noqa: N801 - the shape of Tune's private object
            class _tune_config:  # noqa: N801
                search_alg = Searcher()

    tuner = Tuner()
    enforce_concurrency(tuner, 2)
    searcher = Tuner._local_tuner._tune_config.search_alg
    searcher.restore_from_dir("somewhere")
    assert searcher.max_concurrent == 2


def test_leftover_ray_processes_of_a_killed_command_are_ended(tmp_path: Path) -> None:
    # A stand-in for a Ray process tree left by a SIGKILLed driver ("ray" in its command line).
    parent = subprocess.Popen([sys.executable, "-c", "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)', 'raylet']); time.sleep(60)", "fake_ray_gcs"])
    try:
        deadline = time.time() + 10
        while len(descendants([parent.pid])) < 2 and time.time() < deadline:
            time.sleep(0.1)
        tree = descendants([parent.pid])
        assert len(tree) == 2
        dead_driver = subprocess.Popen(["true"])
        dead_driver.wait()
        (tmp_path / RECORD).write_text(json.dumps({"driver": dead_driver.pid, "pids": [parent.pid]}))
        left = end_recorded_processes(tmp_path, grace_s=5)
        assert left == []
        parent.wait(timeout=10)
        for pid in tree:
            assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
        assert not (tmp_path / RECORD).exists()
    finally:
        if parent.poll() is None:
            parent.kill()


def test_unrelated_processes_with_a_recorded_pid_are_left_alone(tmp_path: Path) -> None:
    other = subprocess.Popen(["sleep", "30"])
    try:
        (tmp_path / RECORD).write_text(json.dumps({"driver": 1 << 22, "pids": [other.pid]}))
        end_recorded_processes(tmp_path, grace_s=0.5)
        assert other.poll() is None  # not a Ray process (pid reuse): untouched
    finally:
        other.kill()
        other.wait()


def test_sigterm_becomes_an_interrupt_so_ray_is_shut_down() -> None:
    with pytest.raises(KeyboardInterrupt):
        with sigterm_as_interrupt():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
    assert signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, signal.default_int_handler) or callable(signal.getsignal(signal.SIGTERM))


@pytest.mark.slow
def test_sweep_killed_after_a_trial_resumes_without_redoing_it_and_leaves_no_ray(tmp_path: Path, tiny_text_data: Path, tiny_text_file: Path) -> None:
    """SIGKILL the sweep once a trial has finished; the rerun keeps that trial, runs one trial at a
    time (max_concurrent_trials=1 on the restored sweep) and no Ray process survives either command."""
    from conftest import BIN, REPO

    flag = tmp_path / "never.flag"
    intervals = tmp_path / "intervals.log"
    hooks = (
        f"+callbacks.crash._target_=sweep_hooks.CrashOnce,+callbacks.crash.flag={flag},+callbacks.crash.at_step=1000000,"
        f"+callbacks.intervals._target_=hardening_hooks.Intervals,+callbacks.intervals.log={intervals}"
    )
    cmd = [
        str(BIN / "seqgen-sweep"), "sweep=tiny_test", f"paths.data_dir={tiny_text_data}", f"paths.log_dir={tmp_path / 'out'}",
        "ray.num_cpus=2", "sweep.max_concurrent_trials=1", "sweep.scheduler=fifo",
        f"+trial_overrides=[data=text_file,data.corpus.path={tiny_text_file},{hooks},trainer.max_steps=20]",
    ]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "tests"), str(REPO / "tests" / "core"), os.environ.get("PYTHONPATH", "")]))
    sweep_dir = tmp_path / "out" / "sweep" / "tiny_test"
    log = open(tmp_path / "first.log", "w")
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 400
    while not list(sweep_dir.glob("trial_*/metrics.json")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    finished = {p.parent for p in sweep_dir.glob("trial_*/metrics.json")}
    log.close()
    assert finished, "no trial finished: " + (tmp_path / "first.log").read_text()[-3000:]
    proc.kill()  # SIGKILL: no shutdown code runs in the driver
    proc.wait()
    killed_at = time.time()
    recorded = json.loads((sweep_dir / RECORD).read_text())["pids"]

    resumed = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    starts = [line.split() for line in Path(f"{flag}.starts").read_text().splitlines()]
    for run_dir in finished:
        assert sum(1 for d, _ in starts if d == str(run_dir)) == 1  # the finished trial trained once
    trials = json.loads((sweep_dir / "trials.json").read_text())
    assert len(trials) == 3 and all(row["status"] == "completed" for row in trials)
    # one at a time, also on the restored sweep: at most one fit runs at any moment
    running, most = 0, 0
    events = [line.split() for line in intervals.read_text().splitlines()]
    for kind, _, _ in sorted((w for w in events if float(w[1]) > killed_at), key=lambda w: float(w[1])):
        running += 1 if kind == "start" else -1
        most = max(most, running)
    assert most == 1
    for pid in descendants(recorded):
        assert not Path(f"/proc/{pid}").exists() or "ray" not in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").lower()
    assert not (sweep_dir / RECORD).exists()
