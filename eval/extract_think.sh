#!/usr/bin/env bash
# The paper's two Extract+Think configurations on MMStar and the in-domain VMCBench sets, thinking
# on with a 4096-token budget, under the paper's stage-2 protocol (llava-eval's default:
# docs/evaluation.md):
#   perception Qwen3-0.6B + reasoning Qwen3-1.7B   (paper: In-Domain 80.3, MMStar 46.6)
#   perception Qwen3-1.7B + reasoning Qwen3-4B     (paper: In-Domain 85.3, MMStar 52.6)
# Usage: bash eval/extract_think.sh [extra llava-eval arguments, e.g. --limit 50, --protocol improved]
# (--backend vllm is faster but does not reproduce every budget rule of the paper's protocol.)
# Focus (stage 0) is written once by Qwen3-8B and shared by both pairs; each stage is cached under
# $RESULTS_DIR and the script resumes where it stopped when rerun.
set -euo pipefail

RESULTS_DIR=${RESULTS_DIR:-results/eval}
FOCUS_MODEL=${FOCUS_MODEL:-Qwen/Qwen3-8B}
# Use FOCUS_FILE=... to reuse the authors' {index: focus} JSON instead of generating it.
FOCUS_ARGS=(--focus-model "$FOCUS_MODEL")
if [[ -n "${FOCUS_FILE:-}" ]]; then FOCUS_ARGS=(--focus-file "$FOCUS_FILE"); fi
BENCHMARKS=${BENCHMARKS:-mmstar vmcbench}
# The paper's "In-Domain" score covers six VMCBench tasks; set their category names here
# (space separated, as in the dataset's `category` field) -- empty means all of VMCBench.
VMCBENCH_CATEGORIES=${VMCBENCH_CATEGORIES:-}
# PROTOCOL=improved runs this project's stage-2 variant instead of the paper's.

PAIRS=(
  "markendo/llava-extract-qwen3-0.6B Qwen/Qwen3-1.7B"
  "markendo/llava-extract-qwen3-1.7B Qwen/Qwen3-4B"
)

for benchmark in $BENCHMARKS; do
  for pair in "${PAIRS[@]}"; do
    read -r perception reasoner <<<"$pair"
    CATEGORY_ARGS=()
    if [[ "$benchmark" == vmcbench && -n "$VMCBENCH_CATEGORIES" ]]; then
      read -r -a cats <<<"$VMCBENCH_CATEGORIES"; CATEGORY_ARGS=(--categories "${cats[@]}")
    fi
    llava-eval extract-think --benchmark "$benchmark" --results-dir "$RESULTS_DIR" \
      "${FOCUS_ARGS[@]}" --perception "$perception" --reasoner "$reasoner" \
      --thinking on --budget 4096 --protocol "${PROTOCOL:-paper}" "${CATEGORY_ARGS[@]}" "$@"
  done
done
