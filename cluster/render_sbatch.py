#!/usr/bin/env python
"""Render cluster/slurm/train.sbatch for an experiment, nodes and GPUs per node.

    .venv/bin/python cluster/render_sbatch.py --experiment text_wikipedia --nodes 2 --gpus-per-node 4 \
        --time 48:00:00 --partition gpu -o job.sbatch -- model.num_layers=7 trainer.precision=bf16-mixed
    sbatch job.sbatch
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # runnable without installing seqgen

from seqgen.cluster import experiments, render_sbatch  # noqa: E402
from seqgen.errors import SeqgenError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiment", required=True, help=f"one of: {', '.join(experiments())}")
    parser.add_argument("--nodes", type=int, default=1)
    parser.add_argument("--gpus-per-node", type=int, default=1)
    parser.add_argument("--cpus-per-task", type=int, default=8)
    parser.add_argument("--mem", default="0", help="memory per node (SLURM syntax); 0 = all of it")
    parser.add_argument("--time", default="24:00:00")
    parser.add_argument("--partition")
    parser.add_argument("--account")
    parser.add_argument("--job-name")
    parser.add_argument("--data-dir", help="exported as SEQGEN_DATA (prepared shards)")
    parser.add_argument("--log-dir", default=str(REPO / "outputs" / "slurm" / "logs"), help="where SLURM writes the job's output")
    parser.add_argument("-o", "--output", help="write here instead of stdout")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides of the train config")
    args = parser.parse_args(argv)
    try:
        text = render_sbatch(
            args.experiment,
            args.nodes,
            args.gpus_per_node,
            time=args.time,
            cpus_per_task=args.cpus_per_task,
            mem=args.mem,
            partition=args.partition,
            account=args.account,
            job_name=args.job_name,
            overrides=args.overrides,
            data_dir=args.data_dir,
            log_dir=args.log_dir,
            repo_dir=REPO,
            template=REPO / "cluster" / "slurm" / "train.sbatch",
        )
    except SeqgenError as err:
        print(f"seqgen: error: {err}", file=sys.stderr)
        return 2
    if args.output:
        Path(args.log_dir).mkdir(parents=True, exist_ok=True)  # sbatch does not create the --output folder
        Path(args.output).write_text(text)
        print(f"wrote {args.output}; submit with: sbatch {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
