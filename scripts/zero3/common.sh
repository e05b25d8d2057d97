# Shared logic of the stage scripts in scripts/zero3/. Source it; do not run it.
#
# A stage script sources this file, sets its STAGE_* defaults (start model, data config, output
# folder name and its hyper-parameters, or `llava_full_model_stage` for the stages that train every
# part) and calls `llava_launch "$@"`.
# Every value can be overridden from the environment; extra arguments ("$@") are passed to
# llava-train last, so they win over everything here.
#
#   model / data      MODEL (alias LLM), VISION_TOWER, DATA_CONFIG (alias DATA_PATH), DATA_ROOT,
#                     IMAGE_FOLDER, OUTPUT_DIR, CKPT_ROOT (where stage outputs go, default ./checkpoints)
#   optimisation      LR, VISION_LR, PROJECTOR_LR, EPOCHS, MAX_STEPS, WARMUP_RATIO, WEIGHT_DECAY,
#                     (WARMUP_RATIO < 1 is a fraction of the steps), LR_SCHEDULER, GLOBAL_BATCH, PER_DEVICE_BATCH (-> gradient accumulation),
#                     MODEL_MAX_LENGTH, PRECISION (bf16|fp16|fp32), GRADIENT_CHECKPOINTING, SEED,
#                     TUNABLE_PARTS, CONV_TEMPLATE, IMAGE_ASPECT_RATIO, LORA (1 = LoRA on the LLM)
#   DeepSpeed         DEEPSPEED_CONFIG (default zero3.json; zero3_offload.json offloads to CPU;
#                     zero3_tiny.json, the tiny default's: one gradient bucket, see below)
#   checkpoints       SAVE_STEPS, SAVE_TOTAL_LIMIT, RESUME (auto = newest complete checkpoint-N in
#                     OUTPUT_DIR), CONTINUE=1 (train a finished run further, with a larger MAX_STEPS),
#                     TRUST_CHECKPOINT=1 (resume from a checkpoint whose pickles hold more than weights:
#                     only for checkpoints you trust, see docs/reliability.md)
#   launch            NNODES, NODE_RANK, MASTER_ADDR, MASTER_PORT, NPROC_PER_NODE, PYTHON,
#                     DRY_RUN=1 (print the command, do not launch)
#   monitoring        REPORT_TO (auto|wandb|none), RUN_NAME, WANDB_PROJECT, NUM_WORKERS
#
# With neither DATA_ROOT nor DATA_CONFIG set there is no real data to train on: the scripts then
# use the embedded tiny default (tiny random models + tiny shapes data built on the fly) and say so
# in their first log line. Without CUDA they run 2 CPU processes in fp32 on the gloo backend.

set -euo pipefail

ZERO3_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$ZERO3_DIR/../.." && pwd)"
PYTHON="${PYTHON:-python}"

llava_log() { echo "[$(date -u +%H:%M:%S)] [${STAGE}] $*"; }
llava_die() { echo "[${STAGE}] error: $*" >&2; exit 2; }

# --- tiny embedded default ---------------------------------------------------------------------
TINY=0
if [[ -z "${DATA_ROOT:-}" && -z "${DATA_CONFIG:-}" && -z "${DATA_PATH:-}" ]]; then
  TINY=1
  TINY_DIR="${TINY_DIR:-${TMPDIR:-/tmp}/llava_tiny_default}"
  llava_log "!!!!!!!!!! TINY EMBEDDED DEFAULT: neither DATA_ROOT nor DATA_CONFIG is set, so this trains the demo's TINY RANDOM model on its TINY SYNTHETIC shapes world (assets in $TINY_DIR). This is a smoke test, NOT a real training run. Set DATA_ROOT (and MODEL) for real training. !!!!!!!!!!"
  llava_log "preparing the embedded default in $TINY_DIR (built once, about a minute; reused afterwards)"
  tiny_log="$(mktemp "${TMPDIR:-/tmp}/llava_tiny_build.XXXXXX")"
  # NUL-terminated KEY=value records: any byte may appear in a path, and nothing is evaluated.
  while IFS= read -r -d '' record; do
    key="${record%%=*}"
    if [[ "$key" =~ ^TINY_[A-Z_]+$ ]]; then printf -v "$key" '%s' "${record#*=}"; fi
  done < <("$PYTHON" -m llava.embedded_default "$TINY_DIR" 2>"$tiny_log" || printf 'TINY_FAILED=1\0')
  if [[ -n "${TINY_FAILED:-}" || -z "${TINY_CHECKPOINT:-}" ]]; then
    cat "$tiny_log" >&2
    llava_die "could not prepare the embedded default in $TINY_DIR (run: $PYTHON -m llava.embedded_default \"$TINY_DIR\")"
  fi
  rm -f "$tiny_log"
fi

# --- defaults every stage shares -----------------------------------------------------------------
# STAGE_RUNS: where stage outputs go (and where a stage finds the previous stage's output).
if [[ "$TINY" == 1 ]]; then
  STAGE_RUNS="${CKPT_ROOT:-$TINY_DIR/runs}"; STAGE_VISION_TOWER="$TINY_VISION_TOWER"; STAGE_GLOBAL_BATCH=4
  # zero3.json's "auto" gradient bucket is hidden_size^2 elements: 16K for a 128-wide model, so
  # hundreds of tiny reduce-scatters a step (caption stage on 2 CPU ranks: 0.64 s/step, 0.38 s
  # with one 1e8-element bucket; reasoner 0.50 -> 0.25 s). Real models keep "auto".
  STAGE_DEEPSPEED_CONFIG="$ZERO3_DIR/zero3_tiny.json"
else
  STAGE_RUNS="${CKPT_ROOT:-checkpoints}"; STAGE_VISION_TOWER="google/siglip-so400m-patch14-384"
  STAGE_GLOBAL_BATCH=512
fi

# The stages after S0 (caption, extraction): every part trained, lr 1e-5 with the vision tower at
# 2e-6, qwen_1_5 chat format, anyres_max_9, one sample per device.
llava_full_model_stage() {
  STAGE_PER_DEVICE_BATCH=1
  STAGE_LR=1e-5
  STAGE_VISION_LR=2e-6
  STAGE_TUNABLE_PARTS=mm_vision_tower,mm_mlp_adapter,mm_language_model
  STAGE_CONV_TEMPLATE=qwen_1_5
  STAGE_IMAGE_ASPECT_RATIO=anyres_max_9
}

# --- hardware ---------------------------------------------------------------------------------
# nvidia-smi instead of importing torch: seconds saved on every launch.
GPU_COUNT="$( (command -v nvidia-smi >/dev/null && nvidia-smi -L 2>/dev/null | grep -c '^GPU') || true)"
GPU_COUNT="${GPU_COUNT:-0}"
if [[ -n "${CUDA_VISIBLE_DEVICES:-}" && "$GPU_COUNT" -gt 0 ]]; then
  GPU_COUNT="$(awk -F, '{print NF}' <<<"$CUDA_VISIBLE_DEVICES")"
fi
HAS_CUDA=$([[ "$GPU_COUNT" -gt 0 ]] && echo 1 || echo 0)
if [[ "$HAS_CUDA" == 1 ]]; then
  DEFAULT_NPROC="$GPU_COUNT"
  DEFAULT_PRECISION=bf16
  DEFAULT_WORKERS=4
else
  DEFAULT_NPROC=2       # CPU: 2 ranks on the gloo backend (docs/training.md)
  export DS_ACCELERATOR="${DS_ACCELERATOR:-cpu}"
  DEFAULT_PRECISION=fp32
  DEFAULT_WORKERS=0
fi
NNODES="${NNODES:-1}"
NODE_RANK="${NODE_RANK:-0}"
MASTER_ADDR="${MASTER_ADDR:-127.0.0.1}"
MASTER_PORT="${MASTER_PORT:-29500}"
NPROC_PER_NODE="${NPROC_PER_NODE:-$DEFAULT_NPROC}"
PRECISION="${PRECISION:-$DEFAULT_PRECISION}"
NUM_WORKERS="${NUM_WORKERS:-$DEFAULT_WORKERS}"
export TORCH_EXTENSIONS_DIR="${TORCH_EXTENSIONS_DIR:-${TMPDIR:-/tmp}/torch_extensions}"
export TOKENIZERS_PARALLELISM="${TOKENIZERS_PARALLELISM:-false}"

# --- the launch ---------------------------------------------------------------------------------
source "$ZERO3_DIR/secrets.sh"  # llava_mask_args: what is printed never shows a token

llava_launch() {
  local world=$((NNODES * NPROC_PER_NODE))
  local per_device="${PER_DEVICE_BATCH:-${STAGE_PER_DEVICE_BATCH:-1}}"
  local global="${GLOBAL_BATCH:-${STAGE_GLOBAL_BATCH}}"
  (( global % (per_device * world) == 0 )) \
    || llava_die "GLOBAL_BATCH=$global is not a multiple of PER_DEVICE_BATCH=$per_device x $world processes"
  local accum=$((global / (per_device * world)))

  local model="${MODEL:-${LLM:-$STAGE_MODEL}}"
  local data="${DATA_CONFIG:-${DATA_PATH:-$STAGE_DATA_CONFIG}}"
  local output="${OUTPUT_DIR:-$STAGE_OUTPUT_DIR}"
  local run_name="${RUN_NAME:-$(basename "$output")}"
  local ds_config="${DEEPSPEED_CONFIG:-${STAGE_DEEPSPEED_CONFIG:-$ZERO3_DIR/zero3.json}}"

  local precision_args=()
  case "$PRECISION" in
    bf16) precision_args=(--bf16 True) ;;
    fp16) precision_args=(--fp16 True) ;;
    fp32) precision_args=() ;;
    *) llava_die "PRECISION=$PRECISION: use bf16, fp16 or fp32" ;;
  esac
  [[ "$HAS_CUDA" == 1 ]] && precision_args+=(--tf32 True)

  local report="${REPORT_TO:-auto}"
  if [[ "$report" == auto ]]; then
    if [[ -n "${WANDB_API_KEY:-}" || -n "${WANDB_MODE:-}" ]] || grep -qs api.wandb.ai ~/.netrc; then
      report=wandb
    else
      report=none
      llava_log "W&B is not configured (no WANDB_API_KEY / WANDB_MODE / wandb login): not logging to W&B. Set REPORT_TO=wandb (or WANDB_MODE=offline) to log."
    fi
  fi
  export WANDB_PROJECT="${WANDB_PROJECT:-llava-extract-think}"

  local optional=()
  [[ -n "${MAX_STEPS:-}" ]] && optional+=(--max_steps "$MAX_STEPS")
  [[ -n "${VISION_LR:-${STAGE_VISION_LR:-}}" ]] && optional+=(--mm_vision_tower_lr "${VISION_LR:-$STAGE_VISION_LR}")
  [[ -n "${PROJECTOR_LR:-${STAGE_PROJECTOR_LR:-}}" ]] && optional+=(--mm_projector_lr "${PROJECTOR_LR:-$STAGE_PROJECTOR_LR}")
  [[ -n "${IMAGE_FOLDER:-}" ]] && optional+=(--image_folder "$IMAGE_FOLDER")
  [[ "${LORA:-0}" == 1 ]] && optional+=(--lora_enable True)
  [[ -n "${RESUME:-auto}" && "${RESUME:-auto}" != none ]] && optional+=(--resume_from_checkpoint "${RESUME:-auto}")
  [[ "${CONTINUE:-0}" == 1 ]] && optional+=(--continue_training True)
  [[ "${TRUST_CHECKPOINT:-0}" == 1 ]] && optional+=(--trust_checkpoint True)

  llava_log "model=$(llava_mask_value "$model")"
  llava_log "data=$(llava_mask_value "$data") output=$(llava_mask_value "$output")"
  llava_log "nodes=$NNODES x procs=$NPROC_PER_NODE, global batch $global = $per_device per device x $world x accumulation $accum, precision $PRECISION, deepspeed $(basename "$ds_config")"

  # llava.train.launch is torchrun, ending a failed run with its root error in one line.
  local cmd=(
    "$PYTHON" -m llava.train.launch
    --nnodes "$NNODES" --node_rank "$NODE_RANK" --nproc_per_node "$NPROC_PER_NODE"
    --master_addr "$MASTER_ADDR" --master_port "$MASTER_PORT"
    -m llava.train.train
    --deepspeed "$ds_config"
    --model_name_or_path "$model"
    --vision_tower "${VISION_TOWER:-$STAGE_VISION_TOWER}"
    --data_path "$data"
    --conv_template "${CONV_TEMPLATE:-$STAGE_CONV_TEMPLATE}"
    --image_aspect_ratio "${IMAGE_ASPECT_RATIO:-$STAGE_IMAGE_ASPECT_RATIO}"
    --mm_tunable_parts "${TUNABLE_PARTS:-$STAGE_TUNABLE_PARTS}"
    --learning_rate "${LR:-$STAGE_LR}"
    --output_dir "$output"
    --run_name "$run_name"
    --num_train_epochs "${EPOCHS:-1}"
    --per_device_train_batch_size "$per_device"
    --gradient_accumulation_steps "$accum"
    --lr_scheduler_type "${LR_SCHEDULER:-cosine}"
    --warmup_steps "${WARMUP_RATIO:-0.03}"
    --weight_decay "${WEIGHT_DECAY:-0.0}"
    --model_max_length "${MODEL_MAX_LENGTH:-32768}"
    --gradient_checkpointing "${GRADIENT_CHECKPOINTING:-True}"
    --save_strategy steps --save_steps "${SAVE_STEPS:-1000}" --save_total_limit "${SAVE_TOTAL_LIMIT:-2}"
    --logging_steps 1
    --dataloader_num_workers "$NUM_WORKERS"
    --seed "${SEED:-42}"
    --report_to "$report"
    "${precision_args[@]}"
    "${optional[@]}"
    "$@"
  )
  llava_log "launch: $(llava_mask_args "${cmd[@]}")"
  if [[ "${DRY_RUN:-0}" == 1 ]]; then
    llava_log "DRY_RUN=1: not launching"
    return 0
  fi
  exec "${cmd[@]}"
}
