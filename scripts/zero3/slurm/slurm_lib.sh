# Helpers shared by train.sbatch and node_launch.sh. Pure functions of their arguments and the
# environment, so tests can call them without Slurm:  bash -c 'source slurm_lib.sh; llava_master_port 123'

# First host of the allocation: rank 0 of torch.distributed listens there.
llava_master_addr() {
    local nodelist="${1:-${SLURM_JOB_NODELIST:-}}"
    if [[ -z "$nodelist" ]]; then
        hostname
        return
    fi
    scontrol show hostnames "$nodelist" | head -n1
}

# Deterministic per-job port in [10000, 60000) so that jobs sharing a node do not collide; if it is
# taken on this host (when this host is the master), the next free one is used.
llava_master_port() {
    local job_id="${1:?job id}" check_host="${2:-}"
    local port=$((10000 + job_id % 50000)) tries=0
    while [[ -n "$check_host" ]] && ! llava_port_free "$port" && ((tries < 200)); do
        port=$((10000 + (port - 10000 + 1) % 50000))
        tries=$((tries + 1))
    done
    echo "$port"
}

llava_port_free() {
    python3 - "$1" <<'PY' 2>/dev/null
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
try:
    s.bind(("", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
PY
}

# Latest *complete* checkpoint-N (the Trainer writes trainer_state.json last) or nothing.
llava_latest_checkpoint() {
    local out_dir="${1:?output dir}" best="" best_n=-1 dir n
    [[ -d "$out_dir" ]] || return 0
    for dir in "$out_dir"/checkpoint-*; do
        [[ -d "$dir" && -f "$dir/trainer_state.json" ]] || continue
        n="${dir##*/checkpoint-}"
        [[ "$n" =~ ^[0-9]+$ ]] || continue
        if ((n > best_n)); then best_n=$n; best="$dir"; fi
    done
    [[ -n "$best" ]] && echo "$best"
    return 0
}

# W&B run id kept across requeues (and resubmissions into the same output dir): created once,
# stored in the output dir, reused afterwards.
llava_wandb_run_id() {
    local out_dir="${1:?output dir}" job_id="${2:?job id}" file
    file="$out_dir/.wandb_run_id"
    if [[ ! -s "$file" ]]; then
        mkdir -p "$out_dir"
        echo "slurm-${job_id}-$(date +%s)" > "$file.tmp.$$" && mv -n "$file.tmp.$$" "$file"
        rm -f "$file.tmp.$$"
    fi
    cat "$file"
}
