"""Training speed of each family's quick start next to other busy processes, per thread setting.

    .venv/bin/python benchmarks/contention.py [--families text handwriting_synthesis ...] [--seconds 40]
        [--loads 0 1 2] [--settings auto 1 all spin] [--rounds 1]
    .venv/bin/python benchmarks/contention.py --weights [--steps 30]   # does the thread count change the model?

Speed: for every quick start, load (0, 1 or 2 competing processes that each keep a core busy with a
Python loop) and thread setting, a fresh process trains the quick start's model through the real
`seqgen.training.run.train` for `--seconds` seconds (validation, checkpoints and samples off) and
counts the steps; start-up (imports, data) is outside the window, the thread calibration inside.
Settings: `auto` (the default policy: seqgen/training/threads.py, OpenMP waits passive), `1`
(num_threads=1), `all` (num_threads = every core of the affinity mask, passive waits), `spin` (every
core with OpenMP's own spin-waiting: what torch does unconfigured, the previous default). The
settings of one load run one after another, so they see the same machine. Prints steps/s and the
default's ratio to the best fixed setting (targets: >= 0.90 with one busy process, >= 0.95 alone).

Weights (`--weights`): each quick start trains `--steps` steps with num_threads=1 and with every
core, from the same seed, and the two final models are compared bitwise.

Missing data is prepared into `--data-dir` (outputs/data by default) with seqgen-prepare.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BIN = REPO / ".venv" / "bin"

# family -> (experiment, the documented prepare overrides of its data)
QUICK_STARTS: dict[str, tuple[str, list[str]]] = {
    "text": ("text_quickstart", ["data=text_embedded"]),
    "handwriting_prediction": ("handwriting_prediction_quickstart", ["data=handwriting_hershey"]),
    "handwriting_synthesis": ("handwriting_synthesis_quickstart", ["data=handwriting_hershey"]),
    "recognizer": ("recognizer_quickstart", ["data=handwriting_hershey"]),
    "speech": ("speech_quickstart", ["data=speech_espeak"]),
    "image": ("image_quickstart", ["data=image_digits"]),
    "atari": ("atari_quickstart", ["data=atari", "data.prepare.games=[pong,breakout]"]),
}
QUIET = [
    "logger=none", "test=false", "trainer.max_time=null", "trainer.limit_val_batches=0", "trainer.num_sanity_val_steps=0",
    "callbacks.samples=null", "callbacks.last_checkpoint=null", "callbacks.model_checkpoint=null", "callbacks.progress=null",
    "callbacks.lr_monitor=null", "+trainer.enable_checkpointing=false", "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
]


# --- one measurement, in its own process (OpenMP reads its settings when torch loads) ------------
def child(args: argparse.Namespace) -> None:
    if args.setting != "spin":
        from seqgen.training.threads import quiet_openmp_waits

        quiet_openmp_waits()  # what every seqgen command does before torch loads
    import pytorch_lightning as pl
    import torch
    from hydra import compose, initialize_config_dir

    from seqgen._config import config_dir
    from seqgen.io import atomic_path
    from seqgen.training.run import train
    from seqgen.training.threads import affinity_cpus

    threads = {"auto": "auto", "1": 1}.get(args.setting, affinity_cpus())
    experiment, _ = QUICK_STARTS[args.family]
    run_dir = Path(tempfile.mkdtemp(prefix="contention-"))
    overrides = [f"experiment={experiment}", f"paths.root_dir={REPO}", f"paths.data_dir={args.data_dir}", f"paths.log_dir={run_dir}",
                 f"paths.output_dir={run_dir}", f"num_threads={threads}", *QUIET]
    if args.steps:
        overrides.append(f"trainer.max_steps={args.steps}")
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3", job_name="contention"):
        cfg = compose(config_name="train", overrides=overrides)

    class Clock(pl.Callback):
        """Steps in `seconds` from the start of training (the calibration included)."""

        started = 0.0
        cpu = 0.0

        def on_train_start(self, trainer: pl.Trainer, pl_module: Any) -> None:
            self.started, self.cpu = time.perf_counter(), time.process_time()

        def on_train_batch_end(self, trainer: pl.Trainer, *rest: Any) -> None:
            if args.seconds and time.perf_counter() - self.started >= args.seconds:
                trainer.should_stop = True

        def on_train_end(self, trainer: pl.Trainer, pl_module: Any) -> None:
            if args.weights_out:
                with atomic_path(args.weights_out) as tmp:
                    torch.save({k: v.detach().clone() for k, v in pl_module.state_dict().items()}, tmp)

    clock = Clock()
    result = train(cfg, run_dir, extra_callbacks=[clock])
    seconds = time.perf_counter() - clock.started
    record = {"steps": result["global_step"], "seconds": seconds, "cpu_seconds": time.process_time() - clock.cpu,
              "threads": result["threads"], "torch_threads": torch.get_num_threads()}
    print("RESULT " + json.dumps(record), flush=True)


# --- the driver -----------------------------------------------------------------------------------
def prepare(family: str, data_dir: Path) -> None:
    overrides = QUICK_STARTS[family][1]
    name = overrides[0].removeprefix("data=")
    if any((data_dir / name).glob("meta.json")):
        return
    print(f"preparing {' '.join(overrides)} into {data_dir} ...", flush=True)
    subprocess.run([str(BIN / "seqgen-prepare"), *overrides, f"paths.data_dir={data_dir}",
                    f"hydra.run.dir={tempfile.mkdtemp(prefix='contention-prepare-')}"], check=True, cwd=REPO)


def measure(family: str, setting: str, args: argparse.Namespace, steps: int = 0, weights_out: Path | None = None) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", "--family", family, "--setting", setting, "--data-dir", str(args.data_dir),
           "--seconds", str(0 if steps else args.seconds), "--steps", str(steps)]
    if weights_out:
        cmd += ["--weights-out", str(weights_out)]
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    line = next((l for l in proc.stdout.splitlines() if l.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        raise SystemExit(f"{family} {setting} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return json.loads(line[len("RESULT "):])


def busy_processes(count: int) -> list[subprocess.Popen]:
    """Python loops that keep a core busy each, and end with this script (however it ends)."""
    loop = f"import os\nwhile os.getppid() == {os.getpid()}: pass"
    return [subprocess.Popen([sys.executable, "-c", loop]) for _ in range(count)]


def speed_table(args: argparse.Namespace) -> None:
    print(f"load average before: {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs; {args.seconds:g} s per run, "
          f"median of {args.rounds} round(s)", flush=True)
    print("| quick start | busy processes | " + " | ".join(f"{s} (steps/s)" for s in args.settings) + " | auto's threads | auto / best fixed |")
    print("|---|---:|" + "---:|" * len(args.settings) + "---|---:|")
    for family in args.families:
        for load in args.loads:
            busy = busy_processes(load)
            try:
                rates: dict[str, list[float]] = {s: [] for s in args.settings}
                auto_threads = []
                for _ in range(args.rounds):  # the settings alternate: each round sees the same machine
                    for setting in args.settings:
                        record = measure(family, setting, args)
                        rates[setting].append(record["steps"] / record["seconds"])
                        if setting == "auto":
                            threads = record["threads"]
                            auto_threads.append(f"{threads['threads']}{auto_label(threads)}")
            finally:
                for proc in busy:
                    proc.kill()
                    proc.wait()
            rate = {s: statistics.median(v) for s, v in rates.items()}
            fixed = [rate[s] for s in rate if s != "auto"]
            ratio = f"{rate['auto'] / max(fixed):.2f}" if "auto" in rate and fixed else "-"
            print(f"| {family} | {load} | " + " | ".join(f"{rate[s]:.2f}" for s in args.settings)
                  + f" | {', '.join(auto_threads)} | {ratio} |", flush=True)


def auto_label(threads: dict) -> str:
    """How `auto` came to its count: the calibration timed it, or the bitwise check settled it."""
    if not threads.get("calibrate"):
        return ""
    return " (check: differs)" if threads.get("identical") is False else " (calibrated)"


def weights_table(args: argparse.Namespace) -> None:
    import torch

    from seqgen.training.threads import affinity_cpus

    cores = affinity_cpus()
    print(f"| quick start | steps | 1 thread vs {cores} threads | largest difference | auto's calibration |")
    print("|---|---:|---|---:|---|")
    folder = Path(tempfile.mkdtemp(prefix="contention-weights-"))
    for family in args.families:
        one, many = folder / f"{family}-1.pt", folder / f"{family}-all.pt"
        measure(family, "1", args, steps=args.steps, weights_out=one)
        measure(family, "all", args, steps=args.steps, weights_out=many)
        auto = measure(family, "auto", args, steps=2)["threads"]
        a, b = torch.load(one, weights_only=True), torch.load(many, weights_only=True)
        diff = max(float((a[k].double() - b[k].double()).abs().max()) for k in a)
        same = all(torch.equal(a[k], b[k]) for k in a)
        check = ("bitwise identical" if auto.get("identical") else "differ") if auto.get("calibrate") else f"not run: {auto['reason']}"
        print(f"| {family} | {args.steps} | {'identical' if same else 'different'} | {diff:.3g} | {check} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", nargs="+", default=list(QUICK_STARTS), choices=list(QUICK_STARTS))
    parser.add_argument("--settings", nargs="+", default=["auto", "1", "all", "spin"], choices=["auto", "1", "all", "spin"])
    parser.add_argument("--loads", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--rounds", type=int, default=1, help="repeat the settings, alternating; report the median")
    parser.add_argument("--weights", action="store_true", help="compare the models trained with 1 thread and every core")
    parser.add_argument("--steps", type=int, default=0)
    parser.add_argument("--data-dir", type=Path, default=REPO / "outputs" / "data")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--family", help=argparse.SUPPRESS)
    parser.add_argument("--setting", help=argparse.SUPPRESS)
    parser.add_argument("--weights-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.data_dir = args.data_dir.resolve()
    if args.child:
        child(args)
        return
    for family in args.families:
        prepare(family, args.data_dir)
    if args.weights:
        args.steps = args.steps or 30
        weights_table(args)
    else:
        speed_table(args)


if __name__ == "__main__":
    main()
