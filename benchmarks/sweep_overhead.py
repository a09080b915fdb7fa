"""What a Ray Tune sweep costs over plain runs: N tiny trials as one `seqgen-sweep` vs the same N
configurations as N sequential `seqgen-train` processes, side by side in one run.

    .venv/bin/python benchmarks/sweep_overhead.py [--trials 4] [--steps 10] [--concurrency 1 2] [--rounds 2]

Both sides train the `tiny_test` sweep's model (1 x hidden LSTM, a few steps) with the same
overrides, W&B offline logging and no test pass, so the difference is the sweep machinery: Ray's
start, a worker process per trial, Tune's reporting and checkpoints. FIFO scheduling (no early
stopping) and a search space of one value keep the work identical.
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
sys.path.insert(0, str(REPO))

from omegaconf import OmegaConf  # noqa: E402

from seqgen.sweep.spec import SWEEPS_ENV, load_definition  # noqa: E402
from seqgen.sweep.trial import FIXED_OVERRIDES  # noqa: E402

TEXT = "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of foolishness.\n" * 60


run = run_command_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, os.cpu_count() or 1])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="sweep-bench-"))
    try:
        corpus = work / "input.txt"
        corpus.write_text(TEXT)
        data = work / "data"
        run([str(BIN / "seqgen-prepare"), "data=text_file", f"data.corpus.path={corpus}", "data.prepare.chunk_length=200",
             "data.prepare.eval_chunk_length=100", "data.prepare.samples_per_shard=2", "data.prepare.min_train_shards=4",
             f"paths.data_dir={data}", f"hydra.run.dir={work / 'prepare'}"], work)

        tiny = load_definition(REPO / "sweeps" / "tiny_test.yaml")
        # The tiny corpus written above, in place of the embedded one tiny_test names.
        base = [*tiny.base, "data=text_file", f"data.corpus.path={corpus}", f"trainer.max_steps={args.steps}", "optim.optimizer.lr=0.003"]
        # The sweep's one "search" dimension has a single value: every trial trains the same model.
        sweeps_dir = work / "sweeps"
        sweeps_dir.mkdir()
        definition = {**OmegaConf.to_container(tiny), "name": "bench", "base": base, "space": {"model.hidden_size": {"choice": [16]}},
                      "search": "random", "scheduler": "fifo", "num_samples": args.trials}
        OmegaConf.save(OmegaConf.create(definition), sweeps_dir / "bench.yaml")
        overrides = [*FIXED_OVERRIDES, *base, "model.hidden_size=16", f"paths.data_dir={data}"]

        # Interleaved rounds, fastest of each: other load on a shared machine only ever slows a run down.
        sequential_rounds: list[float] = []
        sweep_rounds: dict[int, list[float]] = {c: [] for c in args.concurrency}
        for round_ in range(args.rounds):
            total = 0.0
            for index in range(args.trials):
                total += run([str(BIN / "seqgen-train"), *overrides, "trainer.enable_progress_bar=false",
                              f"hydra.run.dir={work / 'runs' / f'{round_}-{index}'}"], work)
            sequential_rounds.append(total)
            for concurrency in args.concurrency:
                sweep_rounds[concurrency].append(run(
                    [str(BIN / "seqgen-sweep"), "sweep=bench", f"sweep.name=bench{round_}-{concurrency}",
                     f"sweep.max_concurrent_trials={concurrency}", f"ray.num_cpus={max(concurrency, 1)}",
                     f"paths.data_dir={data}", f"paths.log_dir={work / 'out'}"],
                    work,
                    env={**os.environ, SWEEPS_ENV: str(sweeps_dir)},
                ))
        # Reference: what one process spends starting Python and importing before any training.
        imports = min(run([str(BIN / "python"), "-c", "import seqgen.cli.train, seqgen.sweep.trial, wandb"], work) for _ in range(args.rounds))
        sequential = min(sequential_rounds)
        sweeps = {c: min(times) for c, times in sweep_rounds.items()}
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"{args.trials} trials of {args.steps} steps (tiny_test model), best of {args.rounds} rounds, {os.cpu_count()} CPU cores")
    print(f"  python start + imports (reference):     {imports:7.1f} s")
    print(f"  {args.trials} sequential seqgen-train processes: {sequential:7.1f} s  ({sequential / args.trials:.1f} s per run)")
    for concurrency, seconds in sweeps.items():
        print(f"  seqgen-sweep, {concurrency} trial(s) at a time:    {seconds:7.1f} s  "
              f"({seconds / args.trials:.1f} s per trial)  sweep / sequential = {seconds / sequential:.2f}")


if __name__ == "__main__":
    main()
