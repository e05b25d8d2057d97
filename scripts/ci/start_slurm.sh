#!/usr/bin/env bash
# Start a throw-away single-node Slurm (munged + slurmctld + slurmd) on this machine for tests/CI.
#
#   eval "$(scripts/ci/start_slurm.sh [SCRATCH_DIR])"   # exports SLURM_CONF for sbatch/squeue/...
#   scripts/ci/stop_slurm.sh [SCRATCH_DIR]
#
# Needs the Debian packages slurmctld slurmd slurm-client munge (nothing else is configured or
# started system-wide: config, key, sockets, state and logs all live in SCRATCH_DIR). Runs as the
# current user (root in CI containers). Ports: LLAVA_SLURMCTLD_PORT / LLAVA_SLURMD_PORT (6817/6818).
set -euo pipefail

dir="${1:-${LLAVA_SLURM_DIR:-/tmp/llava-slurm}}"
ctld_port="${LLAVA_SLURMCTLD_PORT:-6817}"
slurmd_port="${LLAVA_SLURMD_PORT:-6818}"
for bin in munged slurmctld slurmd sbatch scontrol sinfo; do
    command -v "$bin" >/dev/null || {
        echo "start_slurm.sh: '$bin' not found; install it: apt-get install -y --no-install-recommends" \
             "slurmctld slurmd slurm-client munge" >&2
        exit 3
    }
done
mkdir -p "$dir"/{state,spool,log,run,munge}
dir="$(cd "$dir" && pwd)"
host="$(hostname -s)"
user="$(id -un)"

# munge: own key, socket and pid file, so a system munged (if any) is left alone.
key="$dir/munge/munge.key"
if [[ ! -s "$key" ]]; then
    head -c 1024 /dev/urandom > "$key"
fi
chmod 0400 "$key"
chmod 0700 "$dir/munge"
if [[ ! -f "$dir/munge/munged.pid" ]] || ! kill -0 "$(cat "$dir/munge/munged.pid")" 2>/dev/null; then
    munged --force --key-file="$key" --socket="$dir/munge/munge.socket" --pid-file="$dir/munge/munged.pid" \
           --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/munged.seed"
fi

# The node line as slurmd detects it, with RealMemory lowered a little so the node is never
# drained for "low memory" when a few MB are in use.
node_line="$(slurmd -C | head -n1)"
mem="$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$node_line")"
node_line="$(sed "s/RealMemory=[0-9]*/RealMemory=$((mem * 9 / 10))/; s/^NodeName=[^ ]*/NodeName=$host NodeAddr=127.0.0.1/" <<<"$node_line")"

conf="$dir/slurm.conf"
cat > "$conf" <<CONF
ClusterName=llava-ci
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=$user
SlurmdUser=$user
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket,cred_expire=10
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
JobRequeue=1
MinJobAge=600
KillWait=30
SchedulerParameters=sched_interval=1
$node_line State=UNKNOWN
PartitionName=ci Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF

export SLURM_CONF="$conf"
if ! scontrol ping >/dev/null 2>&1; then
    slurmctld -D -f "$conf" > "$dir/log/slurmctld.stdout" 2>&1 &
fi
if [[ ! -f "$dir/run/slurmd.pid" ]] || ! kill -0 "$(cat "$dir/run/slurmd.pid")" 2>/dev/null; then
    slurmd -D -f "$conf" > "$dir/log/slurmd.stdout" 2>&1 &
fi

for _ in $(seq 1 60); do
    state="$(sinfo -h -n "$host" -o %T 2>/dev/null || true)"
    if [[ "$state" == idle* ]]; then
        echo "export SLURM_CONF=$conf"
        exit 0
    fi
    sleep 0.5
done
echo "start_slurm.sh: node did not become idle (state '${state:-?}'); logs in $dir/log" >&2
tail -n 20 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2 || true
exit 1
