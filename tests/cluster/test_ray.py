"""`seqgen-sweep sweep.address=auto` on an existing Ray cluster (`ray start --head`, reached on 127.0.0.1):
the trials run on that cluster, not on a private local Ray, and `ray stop` leaves nothing running.

`ray stop` stops every Ray process it can see on the machine, so the whole scenario runs in its
own PID namespace (`unshare --pid --fork --kill-child --mount-proc`): it sees, and stops, only the
Ray it started, never another user's (or another test run's) Ray; and if the scenario fails or
times out, the end of the namespace's first process takes every process left in it along.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import BIN, REPO, read_json

from .conftest import free_port

pytestmark = pytest.mark.cluster

SCENARIO = r"""
set -euo pipefail
export PYTHONPATH="$REPO" RAY_USAGE_STATS_ENABLED=0 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
# A fresh home: a ~/.ray/auth_token left by someone else makes `ray start` turn on token
# authentication, which a driver without RAY_AUTH_MODE=token then fails to pass (InvalidAuthToken).
export HOME="$OUT/home"
mkdir -p "$HOME"
start=$(date +%s.%N)
"$BIN/ray" start --head --port="$PORT" --node-ip-address=127.0.0.1 --num-cpus=2 --include-dashboard=false \
  --object-store-memory=200000000 --temp-dir="$RAY_TMP" --disable-usage-stats > "$OUT/ray_start.txt" 2>&1
echo "$(date +%s.%N) $start" > "$OUT/ray_start_time.txt"
ps -eo pid=,args= > "$OUT/ps_head.txt"
export RAY_ADDRESS=127.0.0.1:$PORT  # what sweep.address=auto connects to
# docs/cluster.md: tiny_test trains on the embedded corpus (`seqgen-prepare data=text_embedded`, in $DATA)
"$BIN/seqgen-sweep" sweep=tiny_test sweep.num_samples=2 sweep.address=auto "paths.data_dir=$DATA" "paths.log_dir=$OUT/outputs" \
  > "$OUT/sweep.txt" 2>&1 || echo "sweep failed: $?" >> "$OUT/sweep.txt"
ps -eo pid=,args= > "$OUT/ps_after_sweep.txt"
"$BIN/python" -c "import json, ray; ray.init(address='auto', logging_level='ERROR'); print(json.dumps(ray.nodes()))" > "$OUT/nodes.json"
"$BIN/ray" stop > "$OUT/ray_stop.txt" 2>&1
sleep 1
ps -eo pid=,args= > "$OUT/ps_after_stop.txt"
"""


def ray_processes(ps_file: Path) -> list[str]:
    """The Ray processes in a `ps` listing of the namespace (not the scenario's shell or ps)."""
    names = ("raylet", "gcs_server", "ray::", "default_worker", "dashboard", "log_monitor", "monitor.py", "runtime_env", "ray/_private")
    lines = [line.split(None, 1) for line in ps_file.read_text().splitlines() if line.strip()]
    return [" ".join(parts) for parts in lines
            if parts[0] != "1" and not parts[1].startswith("ps ") and any(name in parts[1] for name in names)]  # pid 1: the scenario


def test_sweep_runs_its_trials_on_an_existing_ray_cluster_and_ray_stop_cleans_up(tmp_path: Path, embedded_text_data: Path) -> None:
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) not found: the Ray cluster test needs its own PID namespace for `ray stop`")
    probe = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"no PID namespace here (unshare: {probe.stderr.strip()}); `ray stop` would stop every Ray on the machine")
    out = tmp_path / "scenario"
    out.mkdir()
    ray_tmp = Path(tempfile.mkdtemp(prefix="seqgen-ray-", dir="/tmp"))  # short: Ray's socket paths must fit in 107 bytes
    env = {**os.environ, "REPO": str(REPO), "BIN": str(BIN), "PORT": str(free_port()), "OUT": str(out), "DATA": str(embedded_text_data),
           "RAY_TMP": str(ray_tmp)}
    started = time.time()
    try:
        proc = subprocess.run(["unshare", "--pid", "--fork", "--kill-child", "--mount-proc", "bash", "-c", SCENARIO], env=env, capture_output=True, text=True,
                              timeout=10 * 60)
        elapsed = time.time() - started
        check_scenario(out, ray_tmp, proc, elapsed)
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)


def check_scenario(out: Path, ray_tmp: Path, proc: subprocess.CompletedProcess, elapsed: float) -> None:
    sweep_log = (out / "sweep.txt").read_text() if (out / "sweep.txt").exists() else ""
    assert proc.returncode == 0, proc.stderr[-3000:] + sweep_log[-3000:]
    assert "sweep failed" not in sweep_log, sweep_log[-4000:]

    # The head: one node, this machine, with its session under our --temp-dir. (`ray start` turns
    # --node-ip-address=127.0.0.1 into this machine's own interface address, `resolve_ip_for_localhost`;
    # the sweep still connects through 127.0.0.1.)
    local_ip = re.search(r"Local node IP: (\S+)", (out / "ray_start.txt").read_text()).group(1)
    nodes = json.loads((out / "nodes.json").read_text().strip().splitlines()[-1])
    assert len(nodes) == 1 and nodes[0]["Alive"]
    assert nodes[0]["NodeManagerAddress"] == local_ip and nodes[0]["NodeManagerHostname"] == socket.gethostname()
    session = Path(os.path.realpath(ray_tmp / "session_latest"))
    head_pids = {int(line.split()[0]) for line in ray_processes(out / "ps_head.txt")}
    assert any("gcs_server" in line for line in ray_processes(out / "ps_head.txt"))

    # The sweep connected to it: no second GCS or raylet appeared, and every trial ran in a worker
    # process of the head's session (its log file is named after the worker's pid).
    after_sweep = ray_processes(out / "ps_after_sweep.txt")
    assert sum("gcs_server" in line for line in after_sweep) == 1 and sum("/raylet" in line for line in after_sweep) == 1
    assert {int(line.split()[0]) for line in after_sweep if "gcs_server" in line or "/raylet" in line} <= head_pids
    sweep_dir = out / "outputs" / "sweep" / "tiny_test"
    trials = read_json(sweep_dir / "trials.json")
    assert len(trials) == 2 and all(t["status"] in ("completed", "stopped_early") for t in trials), trials
    worker_logs = {int(m.group(1)) for p in (session / "logs").glob("worker-*") if (m := re.search(r"-(\d+)\.(out|err)$", p.name))}
    placement = []
    for trial in trials:
        result = json.loads((Path(trial["run_dir"]) / "result.json").read_text().strip().splitlines()[-1])
        assert result["node_ip"] == local_ip and result["pid"] in worker_logs, (result["pid"], sorted(worker_logs))
        placement.append(f"{trial['trial_id']}: node {result['node_ip']} pid {result['pid']}")
    assert (sweep_dir / "best.json").exists()

    # ray stop: nothing of Ray is left in the namespace.
    assert ray_processes(out / "ps_after_stop.txt") == [], (out / "ps_after_stop.txt").read_text()
    head_up = (lambda a, b: float(a) - float(b))(*(out / "ray_start_time.txt").read_text().split())
    print(f"[figures] ray: head up in {head_up:.1f} s; trials on the head's session {session.name}: {'; '.join(placement)}; "
          f"scenario {elapsed:.0f} s")
