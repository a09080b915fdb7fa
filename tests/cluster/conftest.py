"""A one-node SLURM cluster from Debian's packages (`slurm-wlm`, `munge`), started for the session.

Everything lives in one temporary folder: a munge key and socket (munged runs with its own key,
not the system's), slurm.conf, the controller's state, slurmd's spool, the daemons' logs. The
daemons run in the foreground as children of the test process (slurmctld and slurmd as root,
as SLURM needs for launching jobs), on free ports of 127.0.0.1, and are stopped by process id at
the end of the session, after every job of the cluster is cancelled. Clients reach this cluster,
and only it, through `SLURM_CONF` (`SlurmCluster.env`).

slurm.conf is the smallest that runs real jobs in a container: `ProctrackType=proctrack/linuxproc`
and `TaskPlugin=task/none` (no cgroups, no cgroup.conf), `SelectType=select/cons_tres`, one node
with this machine's CPUs and memory as `slurmd -C` reports them, and short timeouts so that a
requeued job starts again within seconds (`cred_expire=10`: a requeued job waits that long, 120 s
by default). SLURM checks time limits (and sends `--signal` warnings) every 30 s, so a job with a
limit of T minutes and `--signal=USR1@S` gets the signal between T*60-S-30 and T*60-S seconds after
it started, and is killed between T*60 and T*60+30.

If a package is missing, this is not root, or a daemon does not come up, the tests skip with the
reason (`make test-cluster` installs the packages).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest

BINARIES = ("munged", "munge", "slurmctld", "slurmd", "sbatch", "scontrol", "squeue", "sinfo", "scancel", "srun")
PARTITION = "short"
PARTITION_MAX_MINUTES = 5  # no job of the tests may run longer
START_TIMEOUT_S = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no {path.name})"


@dataclass
class SlurmCluster:
    root: Path
    conf: Path
    partition: str = PARTITION
    daemons: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        """The caller's environment pointed at this cluster (and no SLURM variables of an outer job)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_", "SRUN_", "SALLOC_"))}
        env["SLURM_CONF"] = str(self.conf)
        return env

    def run(self, *args: str, timeout: float = 30, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(list(args), env=self.env, capture_output=True, text=True, timeout=timeout, check=check)

    def job(self, job_id: str) -> dict[str, str]:
        """`scontrol show job` as a dict (JobState, Restarts, RunTime, ...); {} once it is forgotten."""
        out = self.run("scontrol", "show", "job", "-o", job_id, check=False)
        if out.returncode != 0:
            return {}
        return dict(word.split("=", 1) for word in out.stdout.split() if "=" in word)

    def wait_job(self, job_id: str, timeout: float, done: tuple[str, ...] = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY")) -> dict[str, str]:
        deadline = time.time() + timeout
        info = self.job(job_id)
        while info.get("JobState") not in done and time.time() < deadline:
            time.sleep(2)
            info = self.job(job_id)
        return info

    def daemon_logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{tail(p)}" for p in sorted((self.root / "log").glob("*.log")))


def _node_line(hostname: str) -> str:
    """This machine as slurmd sees it (CPUs, sockets, cores, threads, memory)."""
    probe = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, timeout=30)
    line = next((l for l in probe.stdout.splitlines() if l.startswith("NodeName=")), "")
    if not line:
        raise RuntimeError(f"slurmd -C printed no node line: {probe.stdout}{probe.stderr}")
    words = [w for w in line.split() if not w.startswith(("NodeName=", "UpTime="))]
    return f"NodeName={hostname} NodeAddr=127.0.0.1 {' '.join(words)} State=UNKNOWN"


def write_slurm_conf(root: Path, hostname: str) -> Path:
    conf = root / "slurm.conf"  # = SlurmCluster.conf
    conf.write_text(
        f"""# seqgen test cluster (tests/cluster/conftest.py)
ClusterName=seqgentest
SlurmctldHost={hostname}(127.0.0.1)
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={root}/run/munge.socket,cred_expire=10
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/run/slurmctld.pid
SlurmdPidFile={root}/run/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
MpiDefault=none
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MinJobAge=600
KillWait=10
OverTimeLimit=0
InactiveLimit=0
SlurmctldTimeout=10
SlurmdTimeout=10
MessageTimeout=5
{_node_line(hostname)}
PartitionName={PARTITION} Nodes={hostname} Default=YES MaxTime={PARTITION_MAX_MINUTES} State=UP
"""
    )
    return conf


def _start(cluster: SlurmCluster, name: str, args: list[str]) -> None:
    with open(cluster.root / "log" / f"{name}.stdout", "ab") as out:
        cluster.daemons[name] = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=cluster.env, start_new_session=True)


def _wait(what: str, ready, cluster: SlurmCluster, timeout: float = START_TIMEOUT_S) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        dead = [name for name, proc in cluster.daemons.items() if proc.poll() is not None]
        if dead:
            raise RuntimeError(f"{', '.join(dead)} exited while waiting for {what}")
        if ready():
            return
        time.sleep(0.5)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


def start_cluster(cluster: SlurmCluster) -> None:
    root = cluster.root
    for sub in ("munge", "run", "state", "spool", "log"):
        (root / sub).mkdir()
    # munged refuses a socket folder others cannot traverse, and a key others can read.
    os.chmod(root, 0o755)
    os.chmod(root / "run", 0o755)
    os.chmod(root / "munge", 0o700)
    key = root / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    os.chmod(key, 0o400)
    hostname = socket.gethostname().split(".")[0]
    write_slurm_conf(root, hostname)
    munge_socket = root / "run" / "munge.socket"
    _start(cluster, "munged", ["munged", "--foreground", f"--key-file={key}", f"--socket={munge_socket}",
                               f"--pid-file={root / 'run' / 'munged.pid'}", f"--log-file={root / 'log' / 'munged.log'}",
                               f"--seed-file={root / 'munge' / 'munged.seed'}"])
    _wait("munged's socket", munge_socket.exists, cluster)
    _start(cluster, "slurmctld", ["slurmctld", "-D", "-f", str(cluster.conf)])
    _wait("slurmctld", lambda: cluster.run("scontrol", "ping", check=False).stdout.count("UP") > 0, cluster)
    _start(cluster, "slurmd", ["slurmd", "-D", "-f", str(cluster.conf), "-N", hostname])
    _wait("the node to be idle", lambda: cluster.run("sinfo", "-h", "-o", "%T", check=False).stdout.strip() == "idle", cluster)


def stop_cluster(cluster: SlurmCluster) -> None:
    """Cancel every job of this cluster, then stop the daemons this fixture started, by pid."""
    if cluster.daemons.get("slurmctld") and cluster.daemons["slurmctld"].poll() is None:
        cluster.run("scancel", f"--partition={cluster.partition}", check=False)
        deadline = time.time() + 60
        while time.time() < deadline and cluster.run("squeue", "-h", check=False).stdout.strip():
            time.sleep(1)
    for name in ("slurmd", "slurmctld", "munged"):  # the reverse of the start order
        proc = cluster.daemons.get(name)
        if proc is None or proc.poll() is not None:
            continue
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[SlurmCluster]:
    missing = [b for b in BINARIES if shutil.which(b) is None]
    if missing:
        pytest.skip(f"SLURM test cluster: {', '.join(missing)} not found; `apt-get install slurm-wlm munge` (or `make test-cluster`)")
    if os.geteuid() != 0:
        pytest.skip("SLURM test cluster: slurmd must run as root to launch jobs")
    root = Path(tempfile.mkdtemp(prefix="seqgen-slurm-", dir="/tmp"))
    cluster = SlurmCluster(root=root, conf=root / "slurm.conf")
    try:
        start_cluster(cluster)
    except (RuntimeError, OSError, subprocess.SubprocessError) as err:
        logs = cluster.daemon_logs() if cluster.daemons else ""
        stop_cluster(cluster)
        pytest.skip(f"SLURM test cluster did not start: {err}\n{logs}")
    try:
        yield cluster
    finally:
        stop_cluster(cluster)
        if not os.environ.get("SEQGEN_KEEP_SLURM"):  # keep the logs for a post-mortem if asked
            shutil.rmtree(root, ignore_errors=True)
