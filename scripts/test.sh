#!/usr/bin/env bash
# Install everything the tests need (CPU torch 2.13.0) and run the whole test suite.
# This is the command the README gives and the one CI (.ci/run) calls.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q -c constraints.txt "torch==2.13.0"
python -m pip install -q -c constraints.txt -e ".[dev]"
export WANDB_MODE=offline HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
python -m pytest "$@"
