#!/usr/bin/env bash
# Install the Debian packages the lab and the module tests need on this machine (as root,
# or through sudo). Quick when they are all present already.
set -euo pipefail
packages=(podman runc debootstrap iptables postgresql-15 postgresql-client-15 python3-venv pgbouncer etcd-server etcd-client pgbackrest)
sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
installed=$(dpkg-query -W -f='${db:Status-Status}\n' "${packages[@]}" 2>/dev/null | grep -c '^installed$' || true)
if [ "$installed" = "${#packages[@]}" ]; then
  echo "host packages: present"
  exit 0
fi
echo "host packages: installing ${packages[*]}"
# Debian's postgresql package would create and start a cluster on localhost:5432 (where
# systemd runs); pgbouncer and etcd-server are for module tests, started by the tests.
$sudo mkdir -p /etc/postgresql-common/createcluster.d
echo "create_main_cluster = false" | $sudo tee /etc/postgresql-common/createcluster.d/pgha-host.conf >/dev/null
# No package may start its service with a default config during the install.
policy=/usr/sbin/policy-rc.d
own_policy=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod 755 "$policy"
  own_policy=1
fi
trap '[ -z "$own_policy" ] || $sudo rm -f "$policy"' EXIT
$sudo apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
echo "host packages: installed"
