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
  STAGE_MODEL="$TINY_CHECKPOINT"; STAGE_VISION_TOWER="$TINY_VISION_TOWER"; STAGE_DATA_CONFIG="$TINY_DATA_EXTRACT"
  STAGE_OUTPUT_DIR="${CKPT_ROOT:-$TINY_DIR/runs}/extract_from_scratch"; STAGE_GLOBAL_BATCH=4
else
  STAGE_MODEL="${CKPT_ROOT:-checkpoints}/projector"; STAGE_VISION_TOWER="google/siglip-so400m-patch14-384"
  STAGE_DATA_CONFIG="$REPO_ROOT/data_configs/stage4_extract.yaml"
  STAGE_OUTPUT_DIR="${CKPT_ROOT:-checkpoints}/extract_from_scratch"; STAGE_GLOBAL_BATCH=512
fi
STAGE_PER_DEVICE_BATCH=1
STAGE_LR=1e-5
STAGE_VISION_LR=2e-6
STAGE_TUNABLE_PARTS=mm_vision_tower,mm_mlp_adapter,mm_language_model
STAGE_CONV_TEMPLATE=qwen_1_5
STAGE_IMAGE_ASPECT_RATIO=anyres_max_9

llava_launch "$@"
