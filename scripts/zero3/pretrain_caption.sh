#!/usr/bin/env bash
# Caption training of the whole model (the paper's captioning stage, "Caption+Think"): detailed
# descriptions in the qwen_1_5 chat format, anyres_max_9, all parts trained, lr 1e-5 with the
# vision tower at 2e-6. Starts from a previous stage's checkpoint (default: the S0 output).
#
#   DATA_ROOT=/data MODEL=checkpoints/projector bash scripts/zero3/pretrain_caption.sh
# Every setting is an environment variable (see common.sh); extra arguments go to llava-train.
STAGE=pretrain_caption
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if [[ "$TINY" == 1 ]]; then
  STAGE_MODEL="$TINY_CHECKPOINT"; STAGE_DATA_CONFIG="$TINY_DATA_CAPTION"
else
  STAGE_MODEL="$STAGE_RUNS/projector"; STAGE_DATA_CONFIG="$REPO_ROOT/data_configs/stage3_caption.yaml"
fi
STAGE_OUTPUT_DIR="$STAGE_RUNS/caption"
llava_full_model_stage

llava_launch "$@"
