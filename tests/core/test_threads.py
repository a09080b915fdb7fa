"""The CPU thread policy's decisions (seqgen/training/threads.py): affinity mask, cgroup quota,
launcher grants, DDP division, explicit settings, DataLoader workers, the calibration's choice and
that it leaves no trace. No timings are asserted."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch
from torch.utils.data import IterableDataset

from conftest import BIN, read_json

from seqgen.errors import SeqgenError
from seqgen.training import threads
from seqgen.training.threads import budget_from, cgroup_cpu_quota, decide, launcher_grant, local_ranks, parse_setting

NO_GRANT = (None, "")
BIG = threads.SMALL_STEP_MACS * 10


@pytest.fixture
def one_thread_after() -> None:
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


# --- the budget ----------------------------------------------------------------------------------
def test_the_affinity_mask_bounds_the_threads_of_a_real_process() -> None:
    """A process pinned to one core gets one thread, whatever the machine has."""
    code = (
        "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
        "from seqgen.training.threads import apply_thread_policy; import torch; "
        "d = apply_thread_policy('auto', torch.nn.Linear(1000, 1000), 64, {'accelerator': 'cpu'}); "
        "print(d.threads, torch.get_num_threads(), d.reason)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout.split(maxsplit=2)
    assert out[:2] == ["1", "1"] and "1 CPU(s) in the affinity mask" in out[2]


def test_budget_is_the_smallest_of_affinity_quota_and_grant() -> None:
    assert budget_from(1, 8, None, NO_GRANT, 8) == (8, "8 CPU(s) in the affinity mask")
    assert budget_from(1, 8, 2.5, NO_GRANT, 8) == (2, "cgroup CPU quota 2.5")
    assert budget_from(1, 8, 0.5, NO_GRANT, 8)[0] == 1
    assert budget_from(1, 8, 4, (3.0, "Ray assigned 3 CPU(s)"), 8) == (3, "Ray assigned 3 CPU(s)")
    assert budget_from(1, 2, None, (4.0, "Ray assigned 4 CPU(s)"), 2)[0] == 2


def test_ddp_ranks_divide_the_cores_unless_each_rank_is_pinned() -> None:
    assert budget_from(4, 16, None, NO_GRANT, 16) == (4, "16 CPU(s) in the affinity mask, shared by 4 DDP ranks")
    assert budget_from(2, 2, None, NO_GRANT, 2)[0] == 1
    assert budget_from(3, 2, None, NO_GRANT, 2)[0] == 1
    # A launcher that pinned this rank to 4 of 16 cores already gave it its share.
    assert budget_from(4, 4, None, NO_GRANT, 16)[0] == 4
    assert local_ranks({"strategy": "ddp", "devices": 4}) == 4
    assert local_ranks({"strategy": "ddp_spawn", "devices": [0, 1]}) == 2
    assert local_ranks({"strategy": "auto", "devices": 4}) == 1
    assert local_ranks({"devices": "auto", "strategy": "ddp"}) == 1


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cgroup_v2_quota_is_the_smallest_on_the_path(tmp_path: Path) -> None:
    root = tmp_path / "fs"
    write(tmp_path / "cgroup", "0::/user.slice/job\n")
    write(root / "cpu.max", "max 100000\n")
    write(root / "user.slice" / "cpu.max", "300000 100000\n")
    write(root / "user.slice" / "job" / "cpu.max", "150000 100000\n")
    assert cgroup_cpu_quota(tmp_path / "cgroup", root) == 1.5
    write(root / "user.slice" / "job" / "cpu.max", "max 100000\n")
    assert cgroup_cpu_quota(tmp_path / "cgroup", root) == 3.0


def test_cgroup_v1_quota_and_no_quota(tmp_path: Path) -> None:
    root = tmp_path / "fs"
    write(tmp_path / "cgroup", "4:memory:/x\n3:cpu,cpuacct:/docker/abc\n")
    write(root / "cpu,cpuacct" / "docker" / "abc" / "cpu.cfs_quota_us", "200000\n")
    write(root / "cpu,cpuacct" / "docker" / "abc" / "cpu.cfs_period_us", "100000\n")
    assert cgroup_cpu_quota(tmp_path / "cgroup", root) == 2.0
    write(root / "cpu,cpuacct" / "docker" / "abc" / "cpu.cfs_quota_us", "-1\n")
    assert cgroup_cpu_quota(tmp_path / "cgroup", root) is None
    # In a container the path of /proc/self/cgroup may not exist below the mount: its root counts.
    write(tmp_path / "cgroup2", "0::/not/here\n")
    write(root / "cpu.max", "100000 100000\n")
    assert cgroup_cpu_quota(tmp_path / "cgroup2", root) == 1.0


def test_launcher_grants_from_ray_and_slurm(monkeypatch: pytest.MonkeyPatch) -> None:
    context = types.SimpleNamespace(get_assigned_resources=lambda: {"CPU": 2.0})
    fake_ray = types.SimpleNamespace(is_initialized=lambda: True, get_runtime_context=lambda: context)
    monkeypatch.setitem(sys.modules, "ray", fake_ray)
    assert launcher_grant({}) == (2.0, "Ray assigned 2 CPU(s)")
    monkeypatch.delitem(sys.modules, "ray")
    assert launcher_grant({"SLURM_CPUS_PER_TASK": "3", "SLURM_STEP_ID": "0"}) == (3.0, "SLURM_CPUS_PER_TASK=3")
    assert launcher_grant({"SLURM_CPUS_PER_TASK": "3"}) == (None, "")  # the batch script itself, not a task of srun


# --- the decision --------------------------------------------------------------------------------
def test_an_explicit_setting_wins_and_bad_settings_are_refused() -> None:
    assert decide(3, (1, "1 CPU(s)"), work=10) == threads.ThreadDecision(3, "num_threads=3 set explicitly")
    assert parse_setting("auto") is None and parse_setting(None) is None and parse_setting(2) == 2
    for bad in (0, -1, "lots", 1.5, True):
        with pytest.raises(SeqgenError, match="num_threads"):
            parse_setting(bad)


def test_auto_picks_one_thread_for_one_core_and_small_work_and_calibrates_otherwise() -> None:
    assert decide("auto", (1, "1 CPU(s) in the affinity mask"), work=BIG).threads == 1
    small = decide("auto", (8, "8 CPU(s)"), work=threads.SMALL_STEP_MACS - 1)
    assert (small.threads, small.calibrate) == (1, False) and "small per-step work" in small.reason
    big = decide("auto", (8, "8 CPU(s)"), work=BIG)
    assert (big.threads, big.calibrate) == (8, True)
    assert decide("auto", (8, "8 CPU(s)"), work=BIG, training=False) == threads.ThreadDecision(8, "8 CPU(s)")
    assert decide("auto", (8, "8 CPU(s)"), work=BIG, on_cpu=False).threads == 8


def test_the_config_accepts_auto_and_whole_numbers_only(tmp_path: Path) -> None:
    from omegaconf import OmegaConf

    from seqgen.validate import validate_config

    validate_config(OmegaConf.create({"num_threads": "auto"}))
    validate_config(OmegaConf.create({"num_threads": 4}))
    with pytest.raises(SeqgenError, match="num_threads=0 is out of range.*auto or an integer >= 1"):
        validate_config(OmegaConf.create({"num_threads": 0}))


class ThreadsInWorker(IterableDataset):
    def __iter__(self):
        yield torch.tensor([torch.get_num_threads()])


def test_dataloader_workers_run_one_thread(one_thread_after: None) -> None:
    from seqgen.data.stream import make_worker_loader

    torch.set_num_threads(2)
    assert [int(t) for t in make_worker_loader(ThreadsInWorker(), num_workers=1)] == [1]


# --- the calibration -----------------------------------------------------------------------------
class Carried(torch.nn.Module):
    """A model with dropout (random state) and a carried attribute, like the text model's state."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(64, 64)
        self.drop = torch.nn.Dropout(0.5)
        self.carried = None

    def loss(self, batch: torch.Tensor, depends: bool = False) -> torch.Tensor:
        out = self.drop(self.linear(batch))
        self.carried = out.detach()
        return out.square().mean() + (1e-3 * torch.get_num_threads() if depends else 0.0)


def test_the_bitwise_check_leaves_the_model_the_random_state_and_attributes_as_they_were(one_thread_after: None) -> None:
    torch.manual_seed(0)
    model, batch = Carried(), torch.randn(8, 64)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    torch.set_num_threads(2)
    assert threads.same_numbers(model, batch, model.loss, threads=2)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.equal(rng, torch.get_rng_state()) and model.carried is None and torch.get_num_threads() == 2
    assert all(p.grad is None for p in model.parameters())
    assert not threads.same_numbers(model, batch, lambda b: model.loss(b, depends=True), threads=2)


def test_more_threads_are_kept_only_when_faster_and_bitwise_equal() -> None:
    fast_two = {1: [0.30, 0.31, 0.29], 2: [0.15, 0.16, 0.14]}
    assert threads.choose(fast_two, 2, identical=True) == (2, "300.0 ms per step with 1 thread, 150.0 ms with 2: 2 threads are faster and train the same model")
    kept, why = threads.choose(fast_two, 2, identical=False)
    assert kept == 1 and "round differently" in why and "num_threads=2 trades that for speed" in why
    close = {1: [0.30, 0.30, 0.30], 2: [0.295, 0.295, 0.295]}  # less than MIN_GAIN faster
    assert threads.choose(close, 2, identical=True) == (1, "300.0 ms per step with 1 thread, 295.0 ms with 2: one thread is as fast")


def trained_weights(cfg, run_dir: Path) -> tuple[dict, dict]:
    from seqgen.training.run import train

    result = train(cfg, run_dir)
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    return result, state


def test_a_calibrated_run_trains_bitwise_the_model_of_one_thread(
    tmp_path: Path, tiny_text_data: Path, tiny_text_file: Path, monkeypatch: pytest.MonkeyPatch, one_thread_after: None
) -> None:
    """auto with 2 cores and (here) any model calibrated: the check passes, the timed steps alternate
    1 and 2 threads (twice), and the model is the one num_threads=1 trains."""
    from conftest import tiny_train_cfg

    monkeypatch.setattr(threads, "SMALL_STEP_MACS", 0)
    monkeypatch.setattr(threads, "RECHECK_STEPS", 1)  # timed again right after: steps 1-6, then 8-13
    monkeypatch.setattr(threads, "cpu_budget", lambda *a, **k: (2, "2 CPU(s) in the affinity mask"))
    extra = ["trainer.max_steps=14", "test=false", "callbacks.samples=null", "data.datamodule.num_workers=0"]
    auto, auto_state = trained_weights(tiny_train_cfg(tmp_path / "auto", tiny_text_data, tiny_text_file, [*extra, "num_threads=auto"]), tmp_path / "auto" / "run")
    one, one_state = trained_weights(tiny_train_cfg(tmp_path / "one", tiny_text_data, tiny_text_file, [*extra, "num_threads=1"]), tmp_path / "one" / "run")
    record = auto["threads"]
    assert record["calibrate"] and record["identical"] and record["threads"] in (1, 2) and record["checks"] == 2, record
    assert set(record["seconds_per_step"]) == {"1", "2"} and "ms per step with 1 thread" in record["reason"]
    assert one["threads"]["reason"] == "num_threads=1 set explicitly"
    assert auto_state.keys() == one_state.keys() and all(torch.equal(auto_state[k], one_state[k]) for k in one_state)


# --- through the launchers -----------------------------------------------------------------------
def test_resume_applies_the_runs_own_thread_setting(tmp_path: Path, tiny_text_data: Path, tiny_text_file: Path) -> None:
    """resume=<run> re-reads the run's config before the thread count is set."""
    from conftest import TINY_TRAIN

    env = {**os.environ, "SEQGEN_OUTPUTS": str(tmp_path)}
    run = tmp_path / "run"
    first = [str(BIN / "seqgen-train"), *TINY_TRAIN, f"data.corpus.path={tiny_text_file}", f"paths.data_dir={tiny_text_data}",
             "num_threads=1", "trainer.max_steps=5", "test=false", "callbacks.samples=null", f"hydra.run.dir={run}"]
    subprocess.run(first, cwd=tmp_path, env=env, check=True, capture_output=True, timeout=300)
    resumed = subprocess.run([str(BIN / "seqgen-train"), f"resume={run}", "trainer.max_steps=8"], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    metrics = read_json(run / "metrics.json")
    assert metrics["global_step"] == 8 and metrics["threads"] == {"threads": 1, "reason": "num_threads=1 set explicitly", "calibrate": False}
