#!/usr/bin/env bash
# Stop the Slurm started by start_slurm.sh (same SCRATCH_DIR) and its munged. Safe to run twice.
set -uo pipefail

dir="${1:-${LLAVA_SLURM_DIR:-/tmp/llava-slurm}}"
[[ -d "$dir" ]] || exit 0
export SLURM_CONF="$dir/slurm.conf"
[[ -f "$SLURM_CONF" ]] && scontrol shutdown >/dev/null 2>&1
for pidfile in "$dir/run/slurmd.pid" "$dir/run/slurmctld.pid" "$dir/munge/munged.pid"; do
    [[ -f "$pidfile" ]] || continue
    pid="$(cat "$pidfile")"
    for _ in $(seq 1 20); do
        kill -0 "$pid" 2>/dev/null || break
        [[ "$pidfile" == *munged.pid ]] && kill "$pid" 2>/dev/null
        sleep 0.25
    done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
    rm -f "$pidfile"
done
exit 0
