"""Ray Tune sweeps end to end on the CPU: a 3-trial sweep of a tiny model (ASHA, W&B offline,
a crash retried from its checkpoint), the summary files, and resuming a sweep folder."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from conftest import BIN, REPO

from seqgen.cli.sweep import quote_trial_overrides
from seqgen.errors import SeqgenError
from seqgen.sweep.spec import load_definition, param_space, params_to_overrides, representative, validate
from seqgen.sweep.trial import TrialSetup, compose_train

SWEEP = BIN / "seqgen-sweep"


def sweep_command(data_root: Path, log_dir: Path, *extra: str, corpus: Path) -> list[str]:
    """The tiny sweep on the prepared `corpus` (text_file data is found by the corpus's path and content)."""
    extra_list = list(extra)
    given = [i for i, arg in enumerate(extra_list) if arg.startswith("+trial_overrides=[")]
    corpus_overrides = f"data=text_file,data.corpus.path={corpus}"
    if given:
        extra_list[given[0]] = extra_list[given[0]].replace("+trial_overrides=[", f"+trial_overrides=[{corpus_overrides},", 1)
    else:
        extra_list.append(f"+trial_overrides=[{corpus_overrides}]")
    return [str(SWEEP), "sweep=tiny_test", f"paths.data_dir={data_root}", f"paths.log_dir={log_dir}", "ray.num_cpus=2", *extra_list]


def run_sweep(cmd: list[str], cwd: Path, timeout: int = 240) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    # Ray workers import the test-only callbacks (tests/sweep_hooks.py) by module name.
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "tests"), env.get("PYTHONPATH", "")])
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def wandb_group(run_file: Path) -> bytes:
    """The run_group of an offline run: field 6 (length-delimited, tag 0x32) of its RunRecord."""
    data = run_file.read_bytes()
    for name in (b"tiny_test",):
        if b"\x32" + bytes([len(name)]) + name in data:
            return name
    return b""


# --- the definition -------------------------------------------------------------------------------
def test_definitions_load_validate_and_compose() -> None:
    """Every shipped sweep composes a train config (a typo in a key fails here, not in each trial)."""
    for path in sorted((REPO / "sweeps").glob("*.yaml")):
        spec = validate(load_definition(path))
        assert spec["name"] == path.stem
        assert set(param_space(spec)) == set(spec["space"])
        setup = TrialSetup(sweep_name=spec["name"], sweep_dir="/unused", metric=spec["metric"], base=list(spec["base"]))
        cfg = compose_train([*setup.overrides(representative(spec)), "paths.root_dir=/unused"])
        assert cfg.logger.wandb is not None and cfg.test is False


def test_bad_definitions_are_refused(tmp_path: Path) -> None:
    base = OmegaConf.to_container(load_definition(REPO / "sweeps" / "tiny_test.yaml"))
    for change, needle in [
        ({"metric": None}, "metric"),
        ({"space": {"model.hidden_size": {"normal": [1, 2]}}}, "space.model.hidden_size"),
        ({"space": {"model.hidden_size": {"uniform": [5, 1]}}}, "low < high"),
        ({"search": "optuna", "space": {"model.hidden_size": {"grid": [8, 16]}}}, "Optuna"),
        ({"search": "grid", "space": {"optim.optimizer.lr": {"loguniform": [1e-3, 1e-2]}}}, "discrete"),
        ({"scheduler": {"type": "pbt"}}, "scheduler"),
    ]:
        with pytest.raises(SeqgenError, match=needle):
            validate(OmegaConf.create({**base, **change}))


def test_override_formatting() -> None:
    assert params_to_overrides({"model.hidden_size": 8, "a.flag": True, "o": None, "lr": 0.001, "s": "two words"}) == [
        "model.hidden_size=8",
        "a.flag=true",
        "o=null",
        "lr=0.001",
        "s='two words'",
    ]
    assert quote_trial_overrides(["+trial_overrides=[trainer.max_steps=50,model.x=[1,2]]"]) == [
        '+trial_overrides=["trainer.max_steps=50","model.x=[1,2]"]'
    ]


# --- a sweep --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sweep_run(tmp_path_factory: pytest.TempPathFactory, tiny_text_data: Path, tiny_text_file: Path) -> dict:
    """One 3-trial sweep whose first trial to reach step 7 crashes once (after its first report)."""
    tmp = tmp_path_factory.mktemp("sweep")
    flag = tmp / "crash.flag"
    hooks = f"+callbacks.crash._target_=sweep_hooks.CrashOnce,+callbacks.crash.flag={flag},+callbacks.crash.at_step=7"
    cmd = sweep_command(tiny_text_data, tmp / "out", f"+trial_overrides=[{hooks}]", corpus=tiny_text_file)
    started = time.perf_counter()
    proc = run_sweep(cmd, tmp)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return {"cmd": cmd, "tmp": tmp, "flag": flag, "proc": proc, "dir": tmp / "out" / "sweep" / "tiny_test", "seconds": time.perf_counter() - started}


def test_sweep_reports_best_trial(sweep_run: dict) -> None:
    out = sweep_run["proc"].stdout
    assert "best trial" in out, out
    best = json.loads((sweep_run["dir"] / "best.json").read_text())
    assert best["metric"] == "val/bpc" and best["mode"] == "min"
    assert math.isfinite(best["value"])
    assert set(best["params"]) == {"model.hidden_size", "optim.optimizer.lr"}
    assert any(o.startswith("model.hidden_size=") for o in best["overrides"])
    assert best["command"].startswith("seqgen-train ")
    assert Path(best["checkpoint"]).exists()
    assert best["config"]["sweep"]["trial_id"] == best["trial_id"]


def test_each_trial_uses_the_cpus_ray_assigned_it(sweep_run: dict) -> None:
    for row in json.loads((sweep_run["dir"] / "trials.json").read_text()):
        if row["status"] == "completed":
            threads = json.loads((Path(row["run_dir"]) / "metrics.json").read_text())["threads"]
            assert threads == {"threads": 1, "reason": "Ray assigned 1 CPU(s): one thread", "calibrate": False}


def test_sweep_writes_trial_summaries(sweep_run: dict) -> None:
    rows = list(csv.DictReader(open(sweep_run["dir"] / "trials.csv")))
    trials = json.loads((sweep_run["dir"] / "trials.json").read_text())
    assert len(rows) == len(trials) == 3
    assert {row["status"] for row in rows} <= {"completed", "stopped_early"}
    assert "completed" in {row["status"] for row in rows}
    for row in trials:
        assert row["best_val/bpc"] is not None
        assert Path(row["run_dir"]).is_dir()
    best = json.loads((sweep_run["dir"] / "best.json").read_text())
    assert best["value"] == min(row["best_val/bpc"] for row in trials)


def test_sweep_logs_each_trial_to_wandb_grouped_by_sweep(sweep_run: dict) -> None:
    trials = json.loads((sweep_run["dir"] / "trials.json").read_text())
    for row in trials:
        runs = list(Path(row["run_dir"], "wandb").glob("offline-run-*/run-*.wandb"))
        assert runs, f"no offline W&B run in {row['run_dir']}"
        if row["status"] == "completed":  # stopped trials are killed by Ray and may lose their last records
            assert any(wandb_group(run) == b"tiny_test" for run in runs)
        resolved = OmegaConf.load(Path(row["run_dir"]) / "config_resolved.yaml")
        assert resolved.logger.wandb.group == "tiny_test" and resolved.logger.wandb.name == row["trial_id"]
        assert set(resolved.sweep.params) == {"model.hidden_size", "optim.optimizer.lr"}


def test_crashed_trial_is_retried_from_its_checkpoint(sweep_run: dict) -> None:
    flag: Path = sweep_run["flag"]
    assert flag.exists(), "no trial crashed"
    crashed = flag.read_text().strip()
    starts = [line.split() for line in Path(f"{flag}.starts").read_text().splitlines()]
    steps = [int(step) for run_dir, step in starts if run_dir == crashed]
    assert steps == [0, 5], steps  # first attempt from scratch, the retry from the step-5 Tune checkpoint
    trials = {row["run_dir"]: row for row in json.loads((sweep_run["dir"] / "trials.json").read_text())}
    assert trials[crashed]["status"] != "error" and trials[crashed]["step"] == 10
    assert "retrying" in sweep_run["proc"].stdout


def test_rerun_resumes_without_rerunning_finished_trials(sweep_run: dict) -> None:
    flag: Path = sweep_run["flag"]
    starts_before = Path(f"{flag}.starts").read_text()
    progress = {p: p.stat().st_mtime_ns for p in sweep_run["dir"].glob("trial_*/progress.csv")}
    proc = run_sweep(sweep_run["cmd"], sweep_run["tmp"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "resuming sweep tiny_test" in proc.stdout
    assert "started:" not in proc.stdout
    assert Path(f"{flag}.starts").read_text() == starts_before  # no trial trained again
    assert {p: p.stat().st_mtime_ns for p in progress} == progress
    assert len(json.loads((sweep_run["dir"] / "trials.json").read_text())) == 3


def test_changed_definition_is_not_resumed(sweep_run: dict) -> None:
    proc = run_sweep([*sweep_run["cmd"], "sweep.num_samples=5"], sweep_run["tmp"])
    assert proc.returncode == 2
    assert "different num_samples" in proc.stderr


@pytest.mark.slow
def test_interrupted_sweep_resumes_unfinished_trials_only(tmp_path: Path, tiny_text_data: Path, tiny_text_file: Path) -> None:
    """SIGINT (Ctrl-C) after the first trial finishes; the rerun completes the other two only."""
    flag = tmp_path / "never.flag"
    hooks = f"+callbacks.crash._target_=sweep_hooks.CrashOnce,+callbacks.crash.flag={flag},+callbacks.crash.at_step=1000000"
    cmd = sweep_command(
        tiny_text_data,
        tmp_path / "out",
        "sweep.max_concurrent_trials=1",
        "sweep.scheduler=fifo",
        f"+trial_overrides=[{hooks},trainer.max_steps=40]",
        corpus=tiny_text_file,
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "tests"), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sweep_dir = tmp_path / "out" / "sweep" / "tiny_test"
    deadline = time.time() + 240
    while not list(sweep_dir.glob("trial_*/metrics.json")) and time.time() < deadline:
        time.sleep(0.5)
    assert list(sweep_dir.glob("trial_*/metrics.json")), "the first trial did not finish"
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=120)
    finished = {p.parent for p in sweep_dir.glob("trial_*/metrics.json")}
    assert len(finished) < 3

    resumed = run_sweep(cmd, tmp_path, timeout=400)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    starts = [line.split() for line in Path(f"{flag}.starts").read_text().splitlines()]
    for run_dir in finished:
        assert sum(1 for d, _ in starts if d == str(run_dir)) == 1  # finished trials ran once
    trials = json.loads((sweep_dir / "trials.json").read_text())
    assert len(trials) == 3 and all(row["status"] == "completed" for row in trials)


@pytest.mark.slow
def test_sweep_trial_trains_ddp_on_ray_train_workers(tmp_path: Path, tiny_text_data: Path, tiny_text_file: Path) -> None:
    """resources_per_trial.workers=2: the trial is a 2-worker Ray Train TorchTrainer (CPU DDP, gloo)."""
    cmd = sweep_command(
        tiny_text_data,
        tmp_path / "out",
        "sweep.num_samples=1",
        "sweep.scheduler=fifo",
        "sweep.max_failures=0",
        "sweep.resources_per_trial.workers=2",
        corpus=tiny_text_file,
    )
    proc = run_sweep(cmd, tmp_path, timeout=400)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    sweep_dir = tmp_path / "out" / "sweep" / "tiny_test"
    (row,) = json.loads((sweep_dir / "trials.json").read_text())
    assert row["status"] == "completed" and row["step"] == 10
    assert math.isfinite(row["best_val/bpc"]) and math.isfinite(row["last_val/bpc"])
    run_dir = Path(row["run_dir"])
    metrics = json.loads((run_dir / "metrics.json").read_text())  # written by rank 0
    assert metrics["world_size"] == 2 and metrics["global_step"] == 10
    assert metrics["threads"]["threads"] == 1 and metrics["threads"]["reason"].startswith("Ray assigned 1 CPU(s)")
    ranks = sorted(json.loads(p.read_text())["rank"] for p in (run_dir / "workers").glob("rank_*.json"))
    assert ranks == [0, 1]  # both workers trained, to the same step, and reported every validation
    for path in (run_dir / "workers").glob("rank_*.json"):
        worker = json.loads(path.read_text())
        assert worker["world_size"] == 2 and worker["global_step"] == 10 and worker["reports"] == 2
    progress = list(csv.DictReader(open(run_dir / "progress.csv")))  # Tune's results: rank 0's reports
    assert len(progress) == 2 and {r["world_size"] for r in progress} == {"2"}
    assert Path(row["checkpoint"]).exists()
    assert list((run_dir / "ray_train").glob("**/checkpoint_*/last.ckpt")), "no Ray Train checkpoint from rank 0"


# --- failing fast -----------------------------------------------------------------------------------
def test_a_config_no_trial_can_start_with_fails_before_ray(tmp_path: Path, tiny_text_data: Path) -> None:
    """A missing mandatory value (text_file without its corpus) is one error line, before Ray starts."""
    cmd = [str(SWEEP), "sweep=tiny_test", f"paths.data_dir={tiny_text_data}", f"paths.log_dir={tmp_path / 'out'}", "+trial_overrides=[data=text_file]"]
    proc = run_sweep(cmd, tmp_path, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        "seqgen: error: sweep tiny_test: no trial could start: data.corpus.path is mandatory and not set (???): pass "
        "data.corpus.path=<value> on the command line (a sweep passes train settings in its definition's base, "
        "or as '+trial_overrides=[key=value,...]')"
    ]
    assert not (tmp_path / "out" / "sweep" / "tiny_test" / "tuner.pkl").exists()


def test_trials_failing_on_the_same_user_error_stop_the_sweep_without_retries(tmp_path: Path, tiny_text_data: Path, tiny_text_file: Path) -> None:
    """Every trial would fail on a metric the model does not log: the first two end the sweep, not
    retried (max_failures=2 would have run each three times), the error printed once."""
    cmd = sweep_command(tiny_text_data, tmp_path / "out", "sweep.num_samples=4", "sweep.metric=val/bits", "sweep.max_concurrent_trials=2",
                        corpus=tiny_text_file)
    proc = run_sweep(cmd, tmp_path, timeout=400)
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
    errors = proc.stderr.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("seqgen: error: sweep tiny_test stopped: ") and "'val/bits' was not logged" in errors[0]
    assert "Traceback" not in proc.stdout + proc.stderr and "retrying" not in proc.stdout
    assert proc.stdout.count("failed on a problem to fix (not retried)") >= 2
    sweep_dir = tmp_path / "out" / "sweep" / "tiny_test"
    trials = json.loads((sweep_dir / "trials.json").read_text())
    failed = [row for row in trials if row["status"] == "error"]
    assert 2 <= len(failed) < 4 and all("'val/bits' was not logged" in row["error"] for row in failed)
    assert not (sweep_dir / "tuner.pkl").exists()  # nothing to resume: the same command, fixed, starts afresh


def test_the_stop_rule_needs_the_same_error_and_no_result(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from seqgen.sweep.runner import TrialEvents
    from seqgen.sweep.trial import USER_ERROR_FILE

    def ended(events: TrialEvents, name: str, error: str | None) -> None:
        folder = tmp_path / name
        folder.mkdir()
        if error:
            (folder / USER_ERROR_FILE).write_text(error)
        events.on_trial_complete(0, [], SimpleNamespace(trial_id=name, path=str(folder), last_result={"training_iteration": 1}))

    same = TrialEvents("val/bpc", 2, trials=8)
    ended(same, "a", "bad value")
    assert not same.stop_all()
    ended(same, "b", "bad value")
    assert same.stop_all()
    different = TrialEvents("val/bpc", 2, trials=8)
    ended(different, "c", "bad value")
    ended(different, "d", "another problem")
    assert not different.stop_all()
    reported = TrialEvents("val/bpc", 2, trials=8)
    reported("x", {"training_iteration": 1, "done": True})  # Tune's closing result of a trial that never reported
    ended(reported, "y", "bad value")
    ended(reported, "z", "bad value")
    assert reported.stop_all()
    reported = TrialEvents("val/bpc", 2, trials=8)
    reported("e", {"val/bpc": 1.0})
    ended(reported, "f", "bad value")
    ended(reported, "g", "bad value")
    assert not reported.stop_all()
    single = TrialEvents("val/bpc", 2, trials=1)
    ended(single, "h", "bad value")
    assert single.stop_all()


# --- every sweep's documented command -------------------------------------------------------------
@pytest.fixture(scope="module")
def documented_data(tmp_path_factory: pytest.TempPathFactory, embedded_text_data: Path) -> Path:
    """One data folder with what the sweeps' headers prepare: the embedded corpus and a (tiny)
    handwriting_hershey corpus."""
    import sys

    sys.path.insert(0, str(REPO / "tests" / "families" / "handwriting"))
    from handwriting_helpers import prepare_tiny

    root = prepare_tiny(tmp_path_factory.mktemp("documented"))
    (root / "text_embedded").symlink_to(embedded_text_data / "text_embedded")
    return root


@pytest.mark.parametrize("path", sorted((REPO / "sweeps").glob("*.yaml")), ids=lambda p: p.stem)
def test_each_sweeps_documented_command_can_start_its_trials(path: Path, tmp_path: Path, documented_data: Path) -> None:
    """The commands in a definition's header: its trials' data is the data it prepares, and a trial
    of `seqgen-sweep sweep=<name> ...` passes the check the sweep makes before it starts Ray."""
    import re
    import shlex

    from conftest import compose_cfg

    from seqgen.sweep.runner import check_trial_config

    header = "\n".join(line.lstrip("# ") for line in path.read_text().splitlines() if line.startswith("#"))
    header = header.replace("$PWD", str(tmp_path))
    commands = [(kind, shlex.split(args)) for kind, args in re.findall(r"seqgen-(prepare|sweep) ([^\n&]*)", header)]
    prepared = {arg.split("=", 1)[1] for kind, args in commands if kind == "prepare" for arg in args if arg.startswith("data=")}
    sweeps = [args for kind, args in commands if kind == "sweep" and f"sweep={path.stem}" in args]
    assert sweeps and prepared, f"{path.name}: its header shows no `seqgen-prepare data=...` and `seqgen-sweep sweep={path.stem}` commands"
    for args in sweeps:
        cfg = compose_cfg("sweep", tmp_path, [*quote_trial_overrides(args), f"paths.data_dir={documented_data}"])
        spec = validate(cfg.sweep)
        setup = TrialSetup(sweep_name=spec["name"], sweep_dir=str(tmp_path / "sweep"), metric=spec["metric"], base=list(spec["base"]),
                           extra=[str(o) for o in cfg.get("trial_overrides") or []],
                           paths={"root_dir": str(tmp_path), "data_dir": str(documented_data), "log_dir": str(tmp_path)})
        trial = check_trial_config(spec, setup)
        assert trial.data.name in prepared, f"{path.name}: trials train on {trial.data.name}, the header prepares {sorted(prepared)}"
