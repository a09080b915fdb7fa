#!/usr/bin/env bash
# Multi-GPU / multi-node training with torchrun, for machines without SLURM.
# torchrun starts one process per GPU and sets RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR and
# MASTER_PORT; Lightning's TorchElasticEnvironment reads them (it does not launch processes itself).
#
# One machine, 4 GPUs:
#   cluster/torchrun/train.sh --gpus 4 experiment=text_wikipedia
# Two machines (run on each; NODE_RANK 0 on the one whose address is MASTER_ADDR):
#   NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 cluster/torchrun/train.sh --gpus 4 experiment=text_wikipedia
#   NNODES=2 NODE_RANK=1 MASTER_ADDR=10.0.0.1 cluster/torchrun/train.sh --gpus 4 experiment=text_wikipedia
# CPU check (gloo): cluster/torchrun/train.sh --gpus 2 --cpu data=text_embedded trainer.max_steps=20
#
# Every rank must write to the same run folder: RUN_DIR (default outputs/torchrun/<RUN_ID>) is given
# to all of them; set RUN_ID to the same value on every node (the default uses the date to the minute).
# Rerunning the same command with the same RUN_ID resumes from <RUN_DIR>/checkpoints/last.ckpt.
set -euo pipefail
cd "$(dirname "$0")/../.."

GPUS=1
ACCELERATOR=gpu
while [[ $# -gt 0 ]]; do
  case "$1" in
    --gpus) GPUS="$2"; shift 2 ;;
    --cpu) ACCELERATOR=cpu; shift ;;
    *) break ;;
  esac
done

NNODES="${NNODES:-1}"
NODE_RANK="${NODE_RANK:-0}"
MASTER_ADDR="${MASTER_ADDR:-127.0.0.1}"
MASTER_PORT="${MASTER_PORT:-29500}"
RUN_ID="${RUN_ID:-$(date +%Y-%m-%d_%H-%M)}"
RUN_DIR="${RUN_DIR:-outputs/torchrun/$RUN_ID}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"

exec .venv/bin/torchrun \
  --nnodes="$NNODES" --node_rank="$NODE_RANK" --nproc_per_node="$GPUS" \
  --master_addr="$MASTER_ADDR" --master_port="$MASTER_PORT" \
  -m seqgen.cli.train \
  trainer=ddp \
  trainer.accelerator="$ACCELERATOR" \
  trainer.devices="$GPUS" \
  trainer.num_nodes="$NNODES" \
  hydra.run.dir="$RUN_DIR" \
  resume=auto \
  "$@"
