#!/usr/bin/env bash
# Reasoner training (the "Think" half of Extract+Think): a plain Qwen3 causal LM trained on
# text-only LLaVA-format conversations (description + question -> thinking + answer) with the same
# trainer, `llava-train --text_only True`. Prompts are rendered with the tokenizer's chat template
# exactly as `llava-eval reason` renders them (THINKING=True|False = --enable_thinking, match the
# evaluation's --thinking); the loss covers only the assistant turns. The output folder is a plain
# causal-LM folder for `llava-eval reason --reasoner OUTPUT_DIR`.
#
#   DATA_CONFIG=data_configs/my_reasoner.yaml MODEL=Qwen/Qwen3-1.7B bash scripts/zero3/train_reasoner.sh
#   bash scripts/zero3/train_reasoner.sh          # no data configured: tiny embedded smoke run
# Every setting is an environment variable (see common.sh); extra arguments go to llava-train.
# There is no shipped real reasoner mixture: point DATA_CONFIG (or DATA_PATH) at yours; the
# samples must have no `image` (those are skipped and listed in OUTPUT_DIR/skipped_samples.json).
STAGE=train_reasoner
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if [[ "$TINY" == 1 ]]; then
  STAGE_MODEL="$TINY_REASONER"; STAGE_DATA_CONFIG="$TINY_DATA_REASONER"  # the demo reasoner on the world's reasoning data
  STAGE_LR=5e-3  # a tiny random LM needs a large rate to learn anything in a few steps
else
  [[ -n "${DATA_CONFIG:-${DATA_PATH:-}}" ]] \
    || llava_die "DATA_ROOT is set but there is no shipped reasoner mixture: set DATA_CONFIG to your text-only YAML/JSON"
  STAGE_MODEL="Qwen/Qwen3-1.7B"; STAGE_DATA_CONFIG=""
  STAGE_LR=1e-5
fi
STAGE_OUTPUT_DIR="$STAGE_RUNS/reasoner"
STAGE_PER_DEVICE_BATCH=$([[ "$TINY" == 1 ]] && echo 1 || echo 4)
STAGE_GLOBAL_BATCH=$([[ "$TINY" == 1 ]] && echo 4 || echo 64)
STAGE_TUNABLE_PARTS=mm_language_model
# Not used in text-only mode (the chat template decides the format; no images), but common.sh passes them.
STAGE_CONV_TEMPLATE=qwen_1_5
STAGE_IMAGE_ASPECT_RATIO=anyres_max_9

llava_launch --text_only True --enable_thinking "${THINKING:-True}" "$@"
