#!/usr/bin/env bash
# Visual extraction tuning ("Extract+Think"): question-specific fine-grained descriptions (the 382K
# extraction data), all parts trained, lr 1e-5 / vision tower 2e-6, anyres_max_9, from the previous
# stage's checkpoint (default: the caption stage's output).
#
#   DATA_ROOT=/data MODEL=checkpoints/caption bash scripts/zero3/finetune_extract.sh
#   bash scripts/zero3/finetune_extract.sh          # no data configured: tiny embedded smoke run
# Every setting is an environment variable (see common.sh); extra arguments go to llava-train.
STAGE=finetune_extract
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if [[ "$TINY" == 1 ]]; then
  STAGE_MODEL="$TINY_CHECKPOINT"; STAGE_DATA_CONFIG="$TINY_DATA_EXTRACT"
else
  STAGE_MODEL="$STAGE_RUNS/caption"; STAGE_DATA_CONFIG="$REPO_ROOT/data_configs/stage4_extract.yaml"
fi
STAGE_OUTPUT_DIR="$STAGE_RUNS/extract"
llava_full_model_stage

llava_launch "$@"
