"""The CPU thread policy: how many threads torch uses in this process (`num_threads: auto | N`).

    cores    = min(CPUs in the affinity mask, the cgroup's CPU quota, the launcher's grant)
               grant: the CPUs Ray assigned to this trial or worker, or SLURM_CPUS_PER_TASK
    budget   = cores // ranks sharing them        DDP ranks on this node (trainer.devices), when
                                                  nothing pinned this process to its own cores
    auto     = 1                                  budget is 1, or the per-step work is small:
                                                  batch_size x parameters < SMALL_STEP_MACS
             = calibrated (training on a CPU)     otherwise: on the first batch, one forward and
                                                  backward pass with 1 and one with `budget` threads
                                                  must give bitwise the same loss, gradients and
                                                  gradient norm; then the next training steps
                                                  alternate 1 and `budget` threads, timed, and
                                                  `budget` is kept only when at least MIN_GAIN faster;
                                                  timed again every RECHECK_STEPS steps
             = budget (on a GPU)                  the CPU threads only feed the device
    N        = N                                  an explicit setting always wins

Why the bitwise check: BLAS and reductions may split a sum differently with more threads, and a
different rounding gives a different model. The calibration may only pick a count that trains the
same model as 1 thread, so `auto` trains the same model on every machine (1 thread is available
everywhere). Where results depend on the count, `auto` stays at 1 thread and says so; an explicit
`num_threads=N` is the way to trade that for speed. The two check passes restore the model's
tensors, its attributes and the random state, and the timed steps are ordinary training steps
(bitwise those of 1 thread): training continues as if no calibration had run.

Waiting OpenMP threads spin by default, taking a core from whatever else runs on a shared
machine; `quiet_openmp_waits` asks them to sleep instead (`OMP_WAIT_POLICY=PASSIVE`). OpenMP
reads it once, when torch loads it, so the console entry points set it before importing torch
(`seqgen/cli/__init__.py`), and Ray workers inherit it through the sweep's runtime environment.
DataLoader workers run one thread each (torch sets it in every worker).
"""

from __future__ import annotations

import logging
import math
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from seqgen.errors import SeqgenError

log = logging.getLogger(__name__)

AUTO = "auto"
# Below this many multiply-adds per step (batch x parameters), a parallel region costs more to
# start than it saves: one thread, no calibration (docs/cluster.md, CPU threads).
SMALL_STEP_MACS = 2_000_000
# Generation (seqgen-sample, seqgen-serve) runs one time step at a time, with no whole-sequence
# matrix product: each operation is far smaller than in training, so the bound is higher.
SMALL_GENERATION_STEP_MACS = 50_000_000
MIN_GAIN = 0.03  # N threads must be at least 3% faster than 1 to be kept: the idle target allows 5% lost
CALIBRATION_ROUNDS = 3  # timed training steps per thread count
RECHECK_STEPS = 200  # the timing is repeated this many steps after the last one
OPENMP_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}


@dataclass(frozen=True)
class ThreadDecision:
    threads: int
    reason: str
    calibrate: bool = False  # whether the first training batch decides between 1 and `threads`

    def record(self) -> dict[str, Any]:
        return asdict(self)


# --- what this process may use -----------------------------------------------------------------
def quiet_openmp_waits(environ: dict[str, str] | None = None) -> None:
    """Sleeping instead of spinning OpenMP threads; a value the user set is kept."""
    env = os.environ if environ is None else environ
    for key, value in OPENMP_ENV.items():
        env.setdefault(key, value)


def affinity_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _ratio(quota: str | None, period: str | None) -> float | None:
    try:
        value = int(quota or "") / int(period or "")
    except (ValueError, ZeroDivisionError):  # "max", missing, unreadable
        return None
    return value if value > 0 else None


def _quota_v2(folder: Path) -> float | None:
    text = _read(folder / "cpu.max") or ""  # "max 100000" or "<quota> <period>"
    return _ratio(*(text.split() + ["", ""])[:2])


def _quota_v1(folder: Path) -> float | None:
    return _ratio(_read(folder / "cpu.cfs_quota_us"), _read(folder / "cpu.cfs_period_us"))


def cgroup_cpu_quota(proc_cgroup: Path = Path("/proc/self/cgroup"), root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPUs this process's cgroup may use (the smallest quota on its path), None without a quota.

    cgroup v2: `<root>/<path>/cpu.max`; v1: `<root>/cpu[,cpuacct]/<path>/cpu.cfs_quota_us` over
    `cpu.cfs_period_us`. Every folder from the process's own cgroup up to the mount point counts.
    """
    quotas = []
    for line in (_read(proc_cgroup) or "").splitlines():
        hierarchy, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if hierarchy == "0" and controllers == "":
            mounts, reader = [root], _quota_v2
        elif "cpu" in controllers.split(","):
            mounts, reader = [root / controllers, root / "cpu", root / "cpu,cpuacct"], _quota_v1
        else:
            continue
        for mount in (m for m in mounts if m.is_dir()):
            folder = mount / path.lstrip("/")
            while True:  # in a container the path may not exist below the mount: its root still counts
                if folder.is_dir():
                    quotas += [q for q in [reader(folder)] if q is not None]
                if folder == mount or mount not in folder.parents:
                    break
                folder = folder.parent
            break
    return min(quotas) if quotas else None


def launcher_grant(environ: Mapping[str, str] | None = None) -> tuple[float | None, str]:
    """CPUs a launcher assigned to this process: Ray (a trial or Ray Train worker), or SLURM."""
    env = os.environ if environ is None else environ
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        try:
            cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
        except Exception:  # the driver, not a task or actor: nothing assigned
            cpus = None
        if cpus:
            return float(cpus), f"Ray assigned {cpus:g} CPU(s)"
    if env.get("SLURM_CPUS_PER_TASK", "").isdigit() and env.get("SLURM_STEP_ID") is not None:
        return float(env["SLURM_CPUS_PER_TASK"]), f"SLURM_CPUS_PER_TASK={env['SLURM_CPUS_PER_TASK']}"
    return None, ""


def local_ranks(trainer_cfg: Mapping[str, Any] | None) -> int:
    """Processes of this run on this node: trainer.devices under a DDP strategy, else 1."""
    trainer_cfg = trainer_cfg or {}
    if "ddp" not in str(trainer_cfg.get("strategy") or ""):
        return 1
    devices = trainer_cfg.get("devices")
    if isinstance(devices, (list, tuple)):
        return max(1, len(devices))
    return devices if isinstance(devices, int) and devices > 0 else 1


def cpu_budget(ranks: int = 1, launcher: bool = True) -> tuple[int, str]:
    """(threads this process may use, why), from what it sees; `launcher=False` leaves out a grant."""
    grant = launcher_grant() if launcher else (None, "")
    return budget_from(ranks, affinity_cpus(), cgroup_cpu_quota(), grant, os.cpu_count() or 1)


def budget_from(ranks: int, affinity: int, quota: float | None, grant: tuple[float | None, str], machine_cpus: int) -> tuple[int, str]:
    """The smallest of the affinity mask, the cgroup quota and the launcher's grant; divided among
    DDP ranks when nothing pinned this process to its own cores."""
    grant_cpus, grant_why = grant
    cores, why = affinity, f"{affinity} CPU(s) in the affinity mask"
    if quota is not None and quota < cores:
        cores, why = max(1, math.floor(quota)), f"cgroup CPU quota {quota:g}"
    if grant_cpus is not None and grant_cpus < cores:
        cores, why = max(1, math.floor(grant_cpus)), grant_why
    # Ranks pinned to their own cores (affinity narrower than the machine) already have their share.
    if ranks > 1 and affinity >= machine_cpus and grant_cpus is None:
        cores, why = max(1, cores // ranks), f"{why}, shared by {ranks} DDP ranks"
    return cores, why


# --- the decision --------------------------------------------------------------------------------
def parse_setting(value: Any) -> int | None:
    """`auto` (or null) -> None; a whole number >= 1 -> that number; anything else is refused."""
    if value is None or (isinstance(value, str) and value.strip().lower() == AUTO):
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SeqgenError(f"num_threads={value!r} is invalid: give auto or a whole number >= 1")
    return value


def step_work(model: Any, batch_size: int) -> int:
    """Multiply-adds per step, roughly: every weight used once per example (per time step)."""
    return int(batch_size) * sum(p.numel() for p in model.parameters())


def decide(
    setting: Any, budget: tuple[int, str], work: int | None, on_cpu: bool = True, training: bool = True, small: int | None = None
) -> ThreadDecision:
    """`small`: the per-step work below which one thread is used (SMALL_STEP_MACS by default)."""
    small = SMALL_STEP_MACS if small is None else small
    explicit = parse_setting(setting)
    if explicit is not None:
        return ThreadDecision(explicit, f"num_threads={explicit} set explicitly")
    cores, why = budget
    if cores <= 1:
        return ThreadDecision(1, f"{why}: one thread")
    if not on_cpu:
        return ThreadDecision(cores, f"the model runs on an accelerator; {why} feed it")
    if work is not None and work < small:
        return ThreadDecision(1, f"small per-step work ({work:,} multiply-adds < {small:,}): one thread")
    if not training:
        return ThreadDecision(cores, f"{why}")
    return ThreadDecision(cores, f"{why}; calibrating 1 against {cores} threads on the first steps", calibrate=True)


def set_threads(threads: int) -> None:
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def apply_thread_policy(
    setting: Any,
    model: Any = None,
    batch_size: int | None = None,
    trainer_cfg: Mapping[str, Any] | None = None,
    training: bool = True,
    small: int | None = None,
) -> ThreadDecision:
    """Decide (`decide`), set torch's thread count, log the choice; a calibration is the caller's."""
    accelerator = str((trainer_cfg or {}).get("accelerator", "cpu"))
    on_cpu = accelerator == "cpu" or (accelerator == "auto" and not _cuda_available())
    work = step_work(model, batch_size) if model is not None and batch_size else None
    decision = decide(setting, cpu_budget(local_ranks(trainer_cfg)), work, on_cpu=on_cpu, training=training, small=small)
    set_threads(1 if decision.calibrate else decision.threads)
    log.info("threads: %d (%s)", 1 if decision.calibrate else decision.threads, decision.reason)
    return decision


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


# --- the start-up calibration --------------------------------------------------------------------
def _snapshot(module: Any) -> tuple[dict[str, Any], list[tuple[Any, dict[str, Any]]]]:
    import torch

    tensors = {k: v.detach().clone() for k, v in module.state_dict(keep_vars=True).items() if isinstance(v, torch.Tensor)}
    return tensors, [(m, dict(m.__dict__)) for m in module.modules()]


def _restore(module: Any, snapshot: tuple[dict[str, Any], list[tuple[Any, dict[str, Any]]]]) -> None:
    """Parameters and buffers copied back; attributes a pass replaced (a carried RNN state) put back."""
    import torch

    tensors, attributes = snapshot
    with torch.no_grad():
        current = module.state_dict(keep_vars=True)
        for key, value in tensors.items():
            current[key].copy_(value)
    for child, saved in attributes:
        for key in set(child.__dict__) - set(saved):
            del child.__dict__[key]
        child.__dict__.update(saved)


def _pass(module: Any, batch: Any, loss_fn: Callable[[Any], Any], rng: Any) -> list[Any]:
    """Loss, gradients and their norm of one forward and backward pass from the random state `rng`.

    `autograd.grad`, not `backward`: nothing accumulates into `.grad`, and no DDP hook fires.
    """
    import torch

    torch.set_rng_state(rng)
    params = [p for p in module.parameters() if p.requires_grad]
    loss = loss_fn(batch)
    grads = [g for g in torch.autograd.grad(loss, params, allow_unused=True) if g is not None]
    norm = torch.nn.utils.get_total_norm(grads) if grads else torch.zeros(())
    return [loss.detach(), norm.detach(), *grads]


def same_numbers(module: Any, batch: Any, loss_fn: Callable[[Any], Any], threads: int) -> bool:
    """Whether 1 and `threads` threads give bitwise the same loss, gradients and gradient norm on
    `batch`. The module's tensors and attributes and torch's CPU random state are as before."""
    import torch

    rng = torch.get_rng_state()
    snapshot = _snapshot(module)
    before = torch.get_num_threads()
    outputs = []
    try:
        for count in (1, threads):
            set_threads(count)
            outputs.append(_pass(module, batch, loss_fn, rng))
            _restore(module, snapshot)
    finally:
        torch.set_rng_state(rng)
        _restore(module, snapshot)
        set_threads(before)
    return len(outputs[0]) == len(outputs[1]) and all(torch.equal(a, b) for a, b in zip(*outputs))


def choose(seconds: dict[int, list[float]], threads: int, identical: bool) -> tuple[int, str]:
    """The calibration's verdict from the timed steps of 1 and `threads` threads."""
    median = {count: statistics.median(values) for count, values in seconds.items()}
    speed = f"{median[1] * 1000:.1f} ms per step with 1 thread, {median[threads] * 1000:.1f} ms with {threads}"
    faster = median[threads] < (1 - MIN_GAIN) * median[1]
    if faster and identical:
        return threads, f"{speed}: {threads} threads are faster and train the same model"
    if faster:
        return 1, (f"{speed}, but {threads} threads round differently (another model than 1 thread): one thread, "
                   f"the same on every machine; num_threads={threads} trades that for speed")
    return 1, f"{speed}: one thread is as fast"


def thread_calibration_callback(decision: ThreadDecision, record: dict[str, Any], rounds: int = CALIBRATION_ROUNDS) -> Any:
    """A Lightning callback: on the first batch, `same_numbers` (two passes, which also warm up);
    when they agree, the next 2 x `rounds` training steps alternate 1 and N threads and are timed,
    and `choose` keeps the faster. The same timing is repeated every RECHECK_STEPS steps, since
    the other work on a shared machine comes and goes. The timed steps train the model as 1
    thread would: nothing is thrown away. Fills `record` (metrics.json) and logs each verdict
    that changes the count."""
    import pytorch_lightning as pl

    class ThreadCalibration(pl.Callback):
        def __init__(self) -> None:
            self.schedule: list[int] | None = None
            self.seconds: dict[int, list[float]] = {}
            self.started = 0.0
            self.next_check = 0

        def on_train_batch_start(self, trainer: pl.Trainer, pl_module: Any, batch: Any, batch_idx: int) -> None:
            if self.schedule is None:
                identical = same_numbers(pl_module, batch, lambda b: pl_module.compute_loss(b)[0], decision.threads)
                record["identical"] = identical
                self.schedule = []
                if not identical:
                    self._finish(1, f"{decision.threads} threads round differently from 1 (another model): one thread, "
                                    f"the same on every machine; num_threads={decision.threads} trades that for speed")
                    self.next_check = -1  # never: the count is settled
            if not self.schedule and self.next_check >= 0 and trainer.global_step >= self.next_check:
                self.schedule = [1, decision.threads] * rounds
                self.seconds = {1: [], decision.threads: []}
            if self.schedule:
                set_threads(self.schedule[0])
                self.started = time.perf_counter()

        def on_train_batch_end(self, trainer: pl.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
            if not self.schedule:
                return
            self.seconds[self.schedule.pop(0)].append(time.perf_counter() - self.started)
            if not self.schedule:
                self._finish(*choose(self.seconds, decision.threads, identical=True))
                self.next_check = trainer.global_step + RECHECK_STEPS

        def _finish(self, threads: int, reason: str) -> None:
            set_threads(threads)
            changed = record.get("threads") != threads or "checks" not in record
            record.update(threads=threads, reason=reason, checks=record.get("checks", 0) + 1)
            if any(self.seconds.values()):
                record["seconds_per_step"] = {str(k): statistics.median(v) for k, v in self.seconds.items() if v}
            if changed:
                log.info("threads: %d (%s)", threads, reason)

    return ThreadCalibration()
