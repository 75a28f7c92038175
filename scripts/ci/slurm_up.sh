#!/usr/bin/env bash
# Start a throw-away single-node SLURM cluster on this machine for the `slurm` tests.
# Needs root and apt (Debian: slurm 22.05); no systemd. Writes the PIDs it starts to
# $TWINS_SLURM_STATE (default /tmp/twins-slurm) so slurm_down.sh stops only those processes.
# The node advertises two fake GPUs (gres on /dev/null and /dev/zero) so `gpu: 1` jobs schedule.
set -euo pipefail

STATE=${TWINS_SLURM_STATE:-/tmp/twins-slurm}
PARTITION=${TWINS_SLURM_TEST_PARTITION:-twins}

if [[ $(id -u) -ne 0 ]]; then
    echo "slurm_up: needs root (installs packages, writes /etc/slurm)" >&2
    exit 2
fi
if sinfo -h -o %T 2>/dev/null | grep -q idle; then
    echo "slurm_up: a SLURM cluster already answers; leaving it alone" >&2
    exit 0
fi
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
    command -v apt-get >/dev/null || { echo "slurm_up: slurm is not installed and apt-get is missing" >&2; exit 2; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        slurmctld slurmd slurm-client munge >"$STATE.apt.log" 2>&1 \
        || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
             --no-install-recommends slurmctld slurmd slurm-client munge >"$STATE.apt.log" 2>&1; }
fi

mkdir -p "$STATE" /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge
host=$(hostname -s)
cpus=$(nproc)
mem_mb=$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)

# slurm.conf must live at /etc/slurm/slurm.conf: the executor plugin strips SLURM_CONF inside jobs.
cat >/etc/slurm/slurm.conf <<CONF
ClusterName=twins
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# no accounting, so status checks use squeue: keep finished jobs visible long enough
MinJobAge=3600
ReturnToService=2
GresTypes=gpu
NodeName=$host CPUs=$cpus RealMemory=$mem_mb Gres=gpu:fake:2 State=UNKNOWN
PartitionName=$PARTITION Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
cat >/etc/slurm/gres.conf <<CONF
NodeName=$host Name=gpu Type=fake File=/dev/null
NodeName=$host Name=gpu Type=fake File=/dev/zero
CONF

[[ -s /etc/munge/munge.key ]] || { mkdir -p /etc/munge; dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 2>/dev/null; }
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
chmod 400 /etc/munge/munge.key
# munged runs as its own user, so its PID file goes where that user may write
runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/twins-munged.pid
for _ in $(seq 20); do [[ -s /run/munge/twins-munged.pid ]] && break; sleep 0.2; done
cp /run/munge/twins-munged.pid "$STATE/munged.pid"
/usr/sbin/slurmctld -i
/usr/sbin/slurmd

for _ in $(seq 60); do
    if sinfo -h -o %T 2>/dev/null | grep -q idle; then
        echo "slurm_up: node $host idle in partition $PARTITION ($cpus CPUs, $mem_mb MB, 2 fake GPUs)"
        exit 0
    fi
    sleep 1
done
echo "slurm_up: the node did not become idle; see /var/log/slurm/*.log" >&2
sinfo >&2 || true
exit 1
