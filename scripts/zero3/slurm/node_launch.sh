#!/usr/bin/env bash
# One copy runs on every node of the job (srun --ntasks-per-node=1). It starts the stage script,
# which starts the per-node launcher (torchrun / deepspeed) with NNODES, NODE_RANK, NPROC_PER_NODE,
# MASTER_ADDR and MASTER_PORT from the environment.
#
# Preemption reaches the training processes two ways: the stop file $LLAVA_PREEMPT_FILE (written by
# train.sbatch, polled every step by llava/train/preemption.py), and SIGUSR1 itself when Slurm
# signals the whole step. SIGUSR1 is ignored here and inherited as ignored by the stage script and
# torchrun (whose default action would be to die); only the training processes install a handler.
set -uo pipefail
trap '' USR1

export NODE_RANK="${SLURM_NODEID:-${SLURM_PROCID:-0}}"
export OUTPUT_DIR="$LLAVA_OUTPUT_DIR"  # the stage scripts' own variable (scripts/zero3/common.sh)
resume_args=()
if [[ -n "${LLAVA_RESUME_FROM:-}" ]]; then
    resume_args=(--resume_from_checkpoint "$LLAVA_RESUME_FROM")
fi
echo "[node $NODE_RANK/$NNODES on $(hostname)] master $MASTER_ADDR:$MASTER_PORT, $NPROC_PER_NODE process(es)," \
     "resume: ${LLAVA_RESUME_FROM:-none}"
exec bash "$LLAVA_STAGE" --output_dir "$LLAVA_OUTPUT_DIR" "${resume_args[@]}" "$@"
