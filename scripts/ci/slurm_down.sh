#!/usr/bin/env bash
# Stop the processes slurm_up.sh started (by the PID files it wrote), nothing else.
set -uo pipefail
STATE=${TWINS_SLURM_STATE:-/tmp/twins-slurm}
for daemon in slurmd slurmctld munged; do
    pidfile="$STATE/$daemon.pid"
    [[ -s $pidfile ]] || continue
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null && for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    rm -f "$pidfile"
done
