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
  STAGE_MODEL="$TINY_CHECKPOINT"; STAGE_VISION_TOWER="$TINY_VISION_TOWER"; STAGE_DATA_CONFIG="$TINY_DATA_EXTRACT"
  STAGE_OUTPUT_DIR="${CKPT_ROOT:-$TINY_DIR/runs}/extract"; STAGE_GLOBAL_BATCH=4
else
  STAGE_MODEL="${CKPT_ROOT:-checkpoints}/caption"; STAGE_VISION_TOWER="google/siglip-so400m-patch14-384"
  STAGE_DATA_CONFIG="$REPO_ROOT/data_configs/stage4_extract.yaml"
  STAGE_OUTPUT_DIR="${CKPT_ROOT:-checkpoints}/extract"; STAGE_GLOBAL_BATCH=512
fi
STAGE_PER_DEVICE_BATCH=1
STAGE_LR=1e-5
STAGE_VISION_LR=2e-6
STAGE_TUNABLE_PARTS=mm_vision_tower,mm_mlp_adapter,mm_language_model
STAGE_CONV_TEMPLATE=qwen_1_5
STAGE_IMAGE_ASPECT_RATIO=anyres_max_9

llava_launch "$@"
