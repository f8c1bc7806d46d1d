#!/usr/bin/env bash
# Write the podman configuration the lab uses (never /etc/containers): runc, cgroupfs, and
# ulimits at or under this process's hard limits (podman's defaults need CAP_SYS_RESOURCE).
# Usage: podman-env.sh OUTPUT_FILE
set -euo pipefail
out=${1:?output file}
nofile=$(ulimit -Hn); nproc=$(ulimit -Hu)
[ "$nofile" = unlimited ] && nofile=65536
[ "$nproc" = unlimited ] && nproc=65536
# Tried here: a hard nproc equal to a large caller limit (96365) still fails with EPERM,
# 8192 works; so cap both limits well under the caller's.
nofile=$(( nofile < 20000 ? nofile : 20000 ))
nproc=$(( nproc < 8192 ? nproc : 8192 ))
soft_nofile=$nofile
soft_nproc=$(( nproc < 4096 ? nproc : 4096 ))
mkdir -p "$(dirname "$out")"
cat > "$out.tmp" <<CONF
# Written by molecule/_lab/podman-env.sh; used through CONTAINERS_CONF.
[containers]
default_ulimits = ["nofile=${soft_nofile}:${nofile}", "nproc=${soft_nproc}:${nproc}"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
CONF
mv "$out.tmp" "$out"
