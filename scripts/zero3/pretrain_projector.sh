#!/usr/bin/env bash
# S0 connector pretraining: a fresh mlp2x_gelu projector between SigLIP and the LLM, trained alone
# on captions in the `plain` format (square 384 px images), lr 1e-3. The output is a complete
# LLaVA-NeXT-layout checkpoint (LLM + tower + projector) that every later stage starts from.
#
#   DATA_ROOT=/data bash scripts/zero3/pretrain_projector.sh            # paper defaults
#   MODEL=Qwen/Qwen3-0.6B GLOBAL_BATCH=256 bash scripts/zero3/pretrain_projector.sh --max_steps 10
# Every setting is an environment variable (see common.sh); extra arguments go to llava-train.
STAGE=pretrain_projector
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if [[ "$TINY" == 1 ]]; then
  STAGE_MODEL="$TINY_LLM"; STAGE_DATA_CONFIG="$TINY_DATA_PRETRAIN"
else
  STAGE_MODEL="Qwen/Qwen3-1.7B"; STAGE_DATA_CONFIG="$REPO_ROOT/data_configs/stage0_projector.yaml"
fi
STAGE_OUTPUT_DIR="$STAGE_RUNS/projector"
STAGE_PER_DEVICE_BATCH=$([[ "$TINY" == 1 ]] && echo 1 || echo 16)
STAGE_LR=1e-3
STAGE_TUNABLE_PARTS=mm_mlp_adapter
STAGE_CONV_TEMPLATE=plain
STAGE_IMAGE_ASPECT_RATIO=square

llava_launch "$@"
