"""Data-parallel scaling on the CPU: training samples per second with 1 and 2 DDP processes (gloo).

    .venv/bin/python benchmarks/ddp_scaling.py [--hidden 128] [--layers 1] [--batch 32] [--steps 50 450] [--rounds 2] [--threads]

Each configuration trains the text model through `seqgen-train trainer=ddp` (the real launcher,
data pipeline and gradient all-reduce) twice, for two step counts; the difference of the two wall
times is the training time of the extra steps, so process start, data preparation and Hydra are
left out. samples/s = batch per process x processes x extra steps / extra seconds (a sample is one
segment of `--segment` characters). Every process uses one thread, so 1 -> 2 processes also means
1 -> 2 cores; `--threads` adds "1 process, 2 threads", the other way to use the second core (its
OpenMP threads spin-wait, so on a machine other work also uses it can be many times slower).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import run_command_seconds  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BIN = REPO / ".venv" / "bin"


def wall(cmd: list[str], cwd: Path) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("LOCAL_RANK", "RANK", "WORLD_SIZE", "MASTER_PORT")}
    return run_command_seconds(cmd, cwd, env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--segment", type=int, default=100)
    parser.add_argument("--steps", type=int, nargs=2, default=[50, 450])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", action="store_true", help="also 1 process with 2 threads (very slow on a busy machine)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ddp-bench-"))
    try:
        data = work / "data"
        wall([str(BIN / "seqgen-prepare"), "data=text_embedded", f"paths.data_dir={data}", f"hydra.run.dir={work / 'prepare'}"], work)
        common = [
            "trainer=ddp", "trainer.accelerator=cpu", "data=text_embedded", f"paths.data_dir={data}", "logger=csv", "test=false",
            f"model.hidden_size={args.hidden}", f"model.num_layers={args.layers}", f"data.datamodule.batch_size={args.batch}",
            f"data.datamodule.segment_length={args.segment}", "data.datamodule.num_workers=0",
            "data.datamodule.batches_per_epoch=100000",  # no validation inside the timed steps
            "callbacks.samples=null", "callbacks.last_checkpoint.every_n_steps=0", "callbacks.model_checkpoint=null",
            "trainer.enable_progress_bar=false", "callbacks.progress=null", "trainer.enable_model_summary=false",
        ]
        configs = [("1 process, 1 thread", 1, 1), ("2 processes, 1 thread each", 2, 1)]
        if args.threads:
            configs.insert(1, ("1 process, 2 threads", 1, 2))
        short, long = args.steps
        times: dict[tuple[str, int], list[float]] = {}
        # Interleaved rounds, fastest of each: other load on a shared machine only ever slows a run down.
        for round_ in range(args.rounds):
            for label, procs, threads in configs:
                for steps in (short, long):
                    run_dir = work / "runs" / f"{round_}-{procs}-{threads}-{steps}"
                    times.setdefault((label, steps), []).append(
                        wall([str(BIN / "seqgen-train"), *common, f"trainer.devices={procs}", f"num_threads={threads}",
                              f"trainer.max_steps={steps}", f"hydra.run.dir={run_dir}"], work)
                    )
        rates = {
            label: args.batch * procs * (long - short) / (min(times[(label, long)]) - min(times[(label, short)]))
            for label, procs, _ in configs
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)

    base = rates["1 process, 1 thread"]
    print(f"text model {args.layers} x {args.hidden}, batch {args.batch} per process, segments of {args.segment}, "
          f"steps {short}->{long}, best of {args.rounds} rounds, {os.cpu_count()} CPU cores")
    for label, rate in rates.items():
        print(f"  {label:28s} {rate:8.1f} samples/s  ({rate * args.segment:9.0f} chars/s)  x{rate / base:.2f}")


if __name__ == "__main__":
    main()
