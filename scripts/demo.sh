#!/usr/bin/env bash
# The whole method on a laptop (issue 7): a synthetic shapes world, run through the real pipeline.
#
#   bash scripts/demo.sh                 # everything under ./demo_run (DEMO_DIR overrides)
#
# Stages that exist so far:
#   1. world      images, VQA input, captions, reasoner data, MMStar-layout benchmark (llava.demo.build)
#   2. tokenizer  the word-level tokenizer shared by the tiny perception model and reasoner
#   3. datagen    llava-datagen with the deterministic shapes teacher -> visual-extraction data
# Still to be wired (integration step): perception training through scripts/zero3 (projector ->
# caption -> extraction), reasoner training, llava-eval for the three systems, results table.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEMO_DIR="${DEMO_DIR:-$PWD/demo_run}"
PYTHON="${PYTHON:-python}"
SEED="${SEED:-0}"
log() { echo "[$(date -u +%H:%M:%S)] [demo] $*"; }

log "shapes-world demo in $DEMO_DIR (seed $SEED); synthetic data and tiny random models only"
mkdir -p "$DEMO_DIR"

log "1/3 world"
"$PYTHON" -m llava.demo.build "$DEMO_DIR/world" --seed "$SEED" > "$DEMO_DIR/world_summary.json"

log "2/3 tokenizer"
"$PYTHON" -c "import sys; from llava.demo.tokenizer import build_demo_tokenizer; build_demo_tokenizer(sys.argv[1])" \
  "$DEMO_DIR/tokenizer"

log "3/3 visual-extraction data (llava-datagen, shapes teacher)"
llava-datagen run --datasets "$DEMO_DIR/world/datagen.yaml" --output-dir "$DEMO_DIR/datagen" \
  --backend llava.demo.scene_teacher:ShapesTeacher
llava-datagen merge --output-dir "$DEMO_DIR/datagen"

log "done so far: world, tokenizer, extraction data ($DEMO_DIR/datagen/final/extraction_data.yaml)"
