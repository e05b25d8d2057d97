#!/usr/bin/env bash
# Submit a training stage to Slurm through train.sbatch.
#
#   scripts/zero3/slurm/submit.sh --stage scripts/zero3/s1_single_image.sh --output-dir runs/s1 \
#       --nodes 4 --gpus-per-node 8 --partition gpu --account myproj --time 2-00:00:00 [-- extra llava-train args]
#
# Every site-specific value is a flag or an environment variable (flags win):
#   --nodes N            LLAVA_NODES (1)           --gpus-per-node G    LLAVA_GPUS_PER_NODE (8; 0 = CPU only)
#   --procs-per-node P   LLAVA_PROCS_PER_NODE (G)  --cpus-per-task C    LLAVA_CPUS_PER_TASK
#   --partition P        LLAVA_PARTITION           --account A          LLAVA_ACCOUNT
#   --qos Q              LLAVA_QOS                 --time T             LLAVA_TIME
#   --signal-lead S      LLAVA_SIGNAL_LEAD (300 s: checkpoint this long before the time limit)
#   --log-dir D          LLAVA_LOG_DIR (<output-dir>/logs)   --job-name J   LLAVA_JOB_NAME (llava-<stage>)
#   --sbatch-arg ARG     passed to sbatch as is (repeatable), e.g. --sbatch-arg=--exclusive
#   --dry-run            print the sbatch command instead of running it
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
source "$here/../secrets.sh"  # the printed sbatch line never shows a token

stage="" output_dir="" dry_run=0 extra_sbatch=()
nodes="${LLAVA_NODES:-1}" gpus="${LLAVA_GPUS_PER_NODE:-8}" procs="${LLAVA_PROCS_PER_NODE:-}"
cpus="${LLAVA_CPUS_PER_TASK:-}" partition="${LLAVA_PARTITION:-}" account="${LLAVA_ACCOUNT:-}"
qos="${LLAVA_QOS:-}" time_limit="${LLAVA_TIME:-}" lead="${LLAVA_SIGNAL_LEAD:-300}"
log_dir="${LLAVA_LOG_DIR:-}" job_name="${LLAVA_JOB_NAME:-}"

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
need() { [[ $# -ge 2 && -n "$2" ]] || { echo "submit.sh: $1 needs a value" >&2; exit 2; }; }
while [[ $# -gt 0 ]]; do
    case "$1" in
        --stage) need "$@"; stage="$2"; shift 2 ;;
        --output-dir) need "$@"; output_dir="$2"; shift 2 ;;
        --nodes) need "$@"; nodes="$2"; shift 2 ;;
        --gpus-per-node) need "$@"; gpus="$2"; shift 2 ;;
        --procs-per-node) need "$@"; procs="$2"; shift 2 ;;
        --cpus-per-task) need "$@"; cpus="$2"; shift 2 ;;
        --partition) need "$@"; partition="$2"; shift 2 ;;
        --account) need "$@"; account="$2"; shift 2 ;;
        --qos) need "$@"; qos="$2"; shift 2 ;;
        --time) need "$@"; time_limit="$2"; shift 2 ;;
        --signal-lead) need "$@"; lead="$2"; shift 2 ;;
        --log-dir) need "$@"; log_dir="$2"; shift 2 ;;
        --job-name) need "$@"; job_name="$2"; shift 2 ;;
        --sbatch-arg) need "$@"; extra_sbatch+=("$2"); shift 2 ;;
        --sbatch-arg=*) extra_sbatch+=("${1#--sbatch-arg=}"); shift ;;
        --dry-run) dry_run=1; shift ;;
        -h|--help) usage 0 ;;
        --) shift; break ;;
        *) echo "submit.sh: unknown option $1 (use -- before llava-train arguments)" >&2; usage 2 ;;
    esac
done

[[ -n "$stage" ]] || { echo "submit.sh: --stage SCRIPT is required (a stage script under scripts/zero3/)" >&2; exit 2; }
[[ -f "$stage" ]] || { echo "submit.sh: stage script $stage does not exist" >&2; exit 2; }
[[ -n "$output_dir" ]] || { echo "submit.sh: --output-dir DIR is required" >&2; exit 2; }
for v in nodes gpus lead; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || { echo "submit.sh: --${v/gpus/gpus-per-node} must be a number, got '${!v}'" >&2; exit 2; }
done
procs="${procs:-$gpus}"
((procs > 0)) || { echo "submit.sh: with --gpus-per-node 0 set --procs-per-node (CPU processes per node)" >&2; exit 2; }

stage="$(cd "$(dirname "$stage")" && pwd)/$(basename "$stage")"
mkdir -p "$output_dir"
output_dir="$(cd "$output_dir" && pwd)"
log_dir="${log_dir:-$output_dir/logs}"
mkdir -p "$log_dir"
log_dir="$(cd "$log_dir" && pwd)"
job_name="${job_name:-llava-$(basename "$stage" .sh)}"

args=(sbatch --parsable --job-name="$job_name" --nodes="$nodes" --ntasks-per-node=1
      --output="$log_dir/%x-%j.out" --open-mode=append --requeue --signal="B:USR1@$lead"
      --chdir="$repo"
      --export="ALL,LLAVA_STAGE=$stage,LLAVA_OUTPUT_DIR=$output_dir,LLAVA_LOG_DIR=$log_dir,LLAVA_PROCS_PER_NODE=$procs,LLAVA_REPO_DIR=$repo")
((gpus > 0)) && args+=(--gpus-per-node="$gpus")
[[ -n "$cpus" ]] && args+=(--cpus-per-task="$cpus")
[[ -n "$partition" ]] && args+=(--partition="$partition")
[[ -n "$account" ]] && args+=(--account="$account")
[[ -n "$qos" ]] && args+=(--qos="$qos")
[[ -n "$time_limit" ]] && args+=(--time="$time_limit")
args+=("${extra_sbatch[@]}" "$here/train.sbatch" "$@")

if ((dry_run)); then
    llava_mask_array "${args[@]}"
    printf '%q ' "${LLAVA_MASKED[@]}"; echo
    exit 0
fi
job_id="$("${args[@]}")"
echo "submitted job $job_id; logs: $log_dir/$job_name-$job_id.out"
