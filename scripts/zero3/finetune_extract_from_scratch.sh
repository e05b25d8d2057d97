#!/usr/bin/env bash
# "Extract+Think (from scratch)": visual extraction tuning right after S0 connector pretraining,
# on the extraction data only. Same settings as finetune_extract.sh; the default start is the
# S0 output (checkpoints/projector).
#
#   DATA_ROOT=/data MODEL=checkpoints/projector bash scripts/zero3/finetune_extract_from_scratch.sh
# Every setting is an environment variable (see common.sh); extra arguments go to llava-train.
STAGE=finetune_extract_from_scratch
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if [[ "$TINY" == 1 ]]; then
  STAGE_MODEL="$TINY_CHECKPOINT"; STAGE_DATA_CONFIG="$TINY_DATA_EXTRACT"
else
  STAGE_MODEL="$STAGE_RUNS/projector"; STAGE_DATA_CONFIG="$REPO_ROOT/data_configs/stage4_extract.yaml"
fi
STAGE_OUTPUT_DIR="$STAGE_RUNS/extract_from_scratch"
llava_full_model_stage

llava_launch "$@"
